// Starts the real Cloud Datastore emulator for tests, on a free port, in its own process
// group, so stop() can take down the gcloud wrapper AND the Java server it spawns.
import { answersOk, freeLoopbackPort, startEmulatorProcess } from './emulator-process.js';

export interface DatastoreEmulator {
  /** 127.0.0.1:PORT */
  host: string;
  project: string;
  stop(): Promise<void>;
}

export async function startDatastoreEmulator(
  opts: { project?: string; timeoutMs?: number } = {},
): Promise<DatastoreEmulator> {
  const project = opts.project ?? 'mlbridge-test';
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const port = await freeLoopbackPort();
  const host = `127.0.0.1:${port}`;
  const proc = await startEmulatorProcess({
    label: 'Datastore emulator',
    args: ['beta', 'emulators', 'datastore', 'start', '--no-store-on-disk', `--host-port=${host}`, `--project=${project}`, '--consistency=1.0'],
    host,
    timeoutMs,
    healthy: () => answersOk(host),
  });

  let stopped = false;
  return {
    host,
    project,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await fetch(`http://${host}/shutdown`, { method: 'POST', signal: AbortSignal.timeout(3000) });
      } catch {
        // shutting down anyway
      }
      proc.kill();
    },
  };
}
