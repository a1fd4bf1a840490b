// Shape statistics over a whole export (what `export stats` and `init --from-export`
// read), with the output files spread over worker threads. Decoding is CPU-bound and one
// thread manages about 190 MB/s, so a large export is read by as many threads as there
// are cores. Everything a user sees comes out as a sequential read gives it: damaged
// records in file order, the first failure in file order, the same statistics.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../../model/diagnostic.js';
import { MlbridgeError, errorMessage, type ErrorCode } from '../../model/errors.js';
import { EntityDecoder } from './entity-proto.js';
import type { CorruptRecord } from './log-format.js';
import { locateExport, skippedExportWarnings } from './locate.js';
import type { ExportStore } from './export-store.js';
import { Profiler, type GroupStats } from './profile.js';
import { checkPartCount, readOutputFile, type FileTally, type ShortPart } from './read-export.js';

export interface ProfileExportOptions {
  /** Group by namespace and kind (`export stats`) or by kind alone (`init`). */
  byNamespace: boolean;
  /** Threads reading files; 1 reads in this thread. Default: one per core (at most 8), at most one per file. */
  jobs?: number;
  /** In a folder of several exports, read this one instead of the newest. */
  exportId?: string;
  skipCorrupt?: boolean;
  /** Each skipped damaged record, in file order (only with skipCorrupt). */
  onCorrupt?: (c: CorruptRecord) => void;
  /** Damaged records skipped beyond the first KEEP_CORRUPT of a file, which are not listed one by one. */
  onCorruptOmitted?: (count: number) => void;
  onShortPart?: (s: ShortPart) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ExportProfile {
  exportId?: string;
  /** Groups sorted by namespace then kind. */
  groups: GroupStats[];
  /** The project of the first entity read (the export's own project). */
  project?: string;
  /** Newer exports passed over as unreadable (locate.ts). */
  warnings: Diagnostic[];
}

/** What reading one output file found; sent back from a worker as is. */
export interface FileResult {
  task: number;
  records: number;
  damaged: boolean;
  /** The first KEEP_CORRUPT damaged records skipped, and how many there were in all. */
  corrupt: CorruptRecord[];
  corruptCount: number;
  project?: string;
  error?: { code?: ErrorCode; message: string; resource?: string };
}

export interface WorkerSetup {
  location: string;
  env: NodeJS.ProcessEnv;
  byNamespace: boolean;
  skipCorrupt: boolean;
}

/** Damaged records listed per file; a report shows at most 100 anyway. */
export const KEEP_CORRUPT = 100;
/** Below this many entities (by the metadata's counts) threads cost more than they save. */
const PARALLEL_MIN_ENTITIES = 20_000;
/** Each thread holds its own heap (about 60 MB): the default stops here however many cores. */
const DEFAULT_MAX_JOBS = 8;

/** Reads one output file into the profiler; failures come back in the result, not thrown. */
export async function profileFile(store: ExportStore, task: number, path: string, profiler: Profiler, skipCorrupt: boolean): Promise<FileResult> {
  const tally: FileTally = { records: 0, damaged: false };
  const result: FileResult = { task, records: 0, damaged: false, corrupt: [], corruptCount: 0 };
  const onCorrupt = (c: CorruptRecord) => {
    if (result.corrupt.length < KEEP_CORRUPT) result.corrupt.push(c);
    result.corruptCount++;
  };
  try {
    for await (const batch of readOutputFile(store, path, { decoder: new EntityDecoder(), tally, skipCorrupt, onCorrupt })) {
      result.project ??= batch.entities[0]?.key.partitionId.projectId;
      for (let i = 0; i < batch.entities.length; i++) profiler.add(batch.entities[i]!, batch.sizes[i]!);
    }
  } catch (e) {
    result.error = e instanceof MlbridgeError ? { code: e.code, message: e.message, ...(e.resource !== undefined ? { resource: e.resource } : {}) } : { message: errorMessage(e) };
  }
  result.records = tally.records;
  result.damaged = tally.damaged;
  return result;
}

export async function profileExport(location: string, options: ProfileExportOptions): Promise<ExportProfile> {
  const env = options.env ?? process.env;
  const located = await locateExport(location, { env, ...(options.exportId !== undefined ? { exportId: options.exportId } : {}) });
  const tasks = located.parts.flatMap((part, partIndex) => part.outputs.map((path) => ({ partIndex, path })));
  const listed = located.parts.reduce((n, p) => (p.entityCount === undefined ? NaN : n + p.entityCount), 0);
  const jobs = Math.min(options.jobs ?? (listed < PARALLEL_MIN_ENTITIES ? 1 : Math.min(availableParallelism(), DEFAULT_MAX_JOBS)), tasks.length);
  const profiler = new Profiler(options.byNamespace);
  const skipCorrupt = Boolean(options.skipCorrupt);
  const results: (FileResult | undefined)[] = new Array(tasks.length);
  if (jobs <= 1) {
    for (let i = 0; i < tasks.length; i++) {
      const r = (results[i] = await profileFile(located.store, i, tasks[i]!.path, profiler, skipCorrupt));
      if (r.error) break;
    }
  } else {
    await runWorkers(jobs, tasks, results, profiler, { location, env, byNamespace: options.byNamespace, skipCorrupt });
  }

  // Replay in file order: damage reports, part counts, and the first failure.
  let project: string | undefined;
  const partTally: FileTally = { records: 0, damaged: false };
  for (let i = 0; i < tasks.length; i++) {
    const r = results[i];
    if (!r) throw new Error(`export file ${tasks[i]!.path} was not read`);
    for (const c of r.corrupt) options.onCorrupt?.(c);
    if (r.corruptCount > r.corrupt.length) options.onCorruptOmitted?.(r.corruptCount - r.corrupt.length);
    if (r.error) throw new MlbridgeError(r.error.code ?? 'SOURCE_ERROR', r.error.message, r.error.resource !== undefined ? { resource: r.error.resource } : {});
    project ??= r.project;
    partTally.records += r.records;
    partTally.damaged ||= r.damaged;
    if (tasks[i + 1]?.partIndex !== tasks[i]!.partIndex) {
      checkPartCount(located.store, located.parts[tasks[i]!.partIndex]!, partTally, { skipCorrupt, onShortPart: options.onShortPart });
      partTally.records = 0;
      partTally.damaged = false;
    }
  }
  return { groups: profiler.sorted(), warnings: skippedExportWarnings(located), ...(located.exportId !== undefined ? { exportId: located.exportId } : {}), ...(project !== undefined ? { project } : {}) };
}

type WorkerMessage = FileResult | { profile: Map<string, GroupStats> };

/**
 * Hands files to `jobs` workers in order, one at a time each. After a failure in file i,
 * files after i no longer matter: workers on them are stopped, the others finish theirs,
 * since an earlier file may fail too and its failure is the one to report.
 */
async function runWorkers(
  jobs: number,
  tasks: { path: string }[],
  results: (FileResult | undefined)[],
  profiler: Profiler,
  setup: WorkerSetup,
): Promise<void> {
  const url = new URL('./profile-worker.js', import.meta.url);
  const workers: Worker[] = [];
  /** The file each worker is reading (-1: none). */
  const busy: number[] = [];
  /**
   * Workers stopped on purpose after a failure in an earlier file. A result one of them
   * posted just before terminate() may still arrive (Node 24 delivers it): it is dropped
   * rather than handing the worker another file, and its exit code is expected.
   */
  const stopped = new Set<number>();
  let next = 0;
  let firstError = Infinity;
  try {
    await new Promise<void>((resolve, reject) => {
      let open = jobs;
      for (let w = 0; w < jobs; w++) {
        const worker = new Worker(url, { workerData: setup });
        workers.push(worker);
        let finished = false;
        const feed = () => {
          if (next < tasks.length && next < firstError) {
            busy[w] = next++;
            worker.postMessage({ task: busy[w], path: tasks[busy[w]!]!.path });
          } else {
            busy[w] = -1;
            worker.postMessage({ done: true });
          }
        };
        worker.on('message', (m: WorkerMessage) => {
          if (stopped.has(w)) return;
          if ('profile' in m) {
            profiler.merge(m.profile);
            finished = true;
            return;
          }
          results[m.task] = m;
          if (m.error && m.task < firstError) {
            firstError = m.task;
            // Work on later files is wasted now.
            for (let i = 0; i < workers.length; i++) {
              if (busy[i]! > firstError) {
                stopped.add(i);
                void workers[i]!.terminate();
              }
            }
          }
          feed();
        });
        worker.on('error', (e) => reject(new MlbridgeError('SOURCE_ERROR', `reading the export in a worker thread failed: ${errorMessage(e)}`, { cause: e })));
        worker.on('exit', (code) => {
          // A worker stopped on purpose, after a later failure, leaves no result to miss.
          if (!finished && !stopped.has(w) && busy[w]! < firstError && code !== 0) reject(new MlbridgeError('SOURCE_ERROR', `a worker thread reading the export exited with code ${code}`));
          if (--open === 0) resolve();
        });
        feed();
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
