// A worker thread of profileExport: reads the output files it is handed into one
// Profiler, answers each with its FileResult, and sends the statistics when told it is done.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from './export-store.js';
import { profileFile, type WorkerSetup } from './profile-export.js';
import { Profiler } from './profile.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const { store } = await openStore(setup.location, setup.env);
const profiler = new Profiler(setup.byNamespace);

port.on('message', (m: { task: number; path: string } | { done: true }) => {
  if ('done' in m) {
    port.postMessage({ profile: profiler.groups });
    port.close();
    return;
  }
  // Files come one at a time: the next is sent only after this answer.
  void profileFile(store, m.task, m.path, profiler, setup.skipCorrupt).then((r) => port.postMessage(r));
});
