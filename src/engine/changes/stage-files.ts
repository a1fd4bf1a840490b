// Staging an export on every core: worker threads each read whole output files (or block
// ranges of large ones, when there are too few files for every thread), turn their entities
// into staged records (decode, coerce, hash, score: the CPU-bound part) and hand them back as
// staged files (a stage that loads files itself) or column batches; this thread only adds
// each batch to the warehouse stage, one statement per staged file. Files
// go to workers one at a time; a worker may be at most WINDOW batches ahead of the appends,
// so memory stays bounded whatever the export's size. Profiles are learned per task in the
// workers and merged here in task order (deterministic for the same export and threads).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MlbridgeError, errorMessage, type ErrorCode } from '../../model/errors.js';
import type { StagedColumns } from '../../model/staged-columns.js';
import type { StagedFile } from '../../model/staged-file.js';
import { rm } from 'node:fs/promises';
import type { KindProfile, LearnerState } from '../../record/profile.js';
import type { ExportTask } from '../../source/export/file-tasks.js';
import type { ExportFiles } from '../../source/snapshot-source.js';
import type { MappingSpec } from '../../spec/types.js';
import type { PrintSet } from '../../model/print-set.js';

/** Below this many entities (by the metadata's counts) threads cost more than they save. */
export const PARALLEL_MIN_ENTITIES = 20_000;
/**
 * A staging worker's young generation. A plan stages little per record (key, hash, version):
 * a 24 MB nursery costs no measurable time and keeps each worker some 15 MB smaller
 * (1M-entity plan: 417 → 390 MB peak RSS). A record staged to be written carries its row
 * and raw-log fields; a nursery that small then promotes live batches and the worker spends
 * some 16% more CPU per record (15.2 → 18.0 µs), so an apply's workers get 96 MB.
 */
const WORKER_YOUNG_GENERATION_MB = { plan: 24, write: 96 } as const;
/** Batches a worker may send before this thread has appended them. */
export const WINDOW = 2;

export interface StageWorkerSetup {
  location: string;
  env: NodeJS.ProcessEnv;
  mappings: MappingSpec[];
  profiles: [string, KindProfile][];
  snapshotTimeMs: number;
  version: string;
  origin: 'export' | 'datastore';
  withRows: boolean;
  /** Set when the stages load files themselves: workers write their batches there (staged-file.ts). */
  fileDir?: string;
  /** Stage each decoded record's print too (an apply: the merge stores them in the memo). */
  printRecords: boolean;
}

/**
 * What workers look records up in, read from the target while they start (sent before the
 * first task; shared memory, not copied).
 */
export interface StageWorkerSets {
  /** Per kind, current's sorted content fingerprints: records they hold are staged without content. */
  fingerprints: [string, BigInt64Array][];
  /**
   * Per kind, the source memo's prints (record/source-memo.ts): a record met there is counted
   * and marked in the set's hits, not decoded or staged (the stage takes it from the memo).
   */
  memo: [string, PrintSet][];
}

export type WorkerReply =
  | { type: 'batch'; task: number; columns: StagedColumns }
  | { type: 'staged-file'; task: number; kind: string; file: StagedFile }
  | {
      type: 'file';
      task: number;
      records: number;
      known: number;
      learned: [string, LearnerState][];
      /** Per mapped kind, the namespaces the worker has met it in so far (namespace-check.ts). */
      namespaces: [string, string[]][];
      blocks?: number[];
    }
  | { type: 'error'; task: number; error: { code?: ErrorCode; message: string; resource?: string } };

/**
 * Threads to use: one per core (at most 8), at most one per task (of files.split); 1 means
 * "read here".
 */
export function stagingJobs(expected: number | undefined): number {
  if (expected !== undefined && expected < PARALLEL_MIN_ENTITIES) return 1;
  return Math.max(1, Math.min(availableParallelism(), 8));
}

export interface StageFilesHandlers {
  /** Appends a batch of one kind's staged records to its stage (awaited before the worker is let on). */
  append(columns: StagedColumns): Promise<void>;
  /** Appends a file of one kind's staged records (workers write these when setup.fileDir is set). */
  appendFile(kind: string, file: StagedFile): Promise<void>;
  /** Each task's learned profile states, in task order, once all are read. */
  learned(states: [string, LearnerState][][]): void;
  /** Entities read so far (progress). */
  progress(records: number): void;
  /** Per mapped kind, namespaces a worker met it in (after each task; repeats what it sent before). */
  metNamespaces(namespaces: [string, string[]][]): void;
}

/**
 * Reads the tasks (files.split) in `jobs` workers and appends what they stage; the workers
 * start (load their modules) while `sets` is read, and get their first task after it. The first
 * failure (in file order among those seen) stops every worker and is thrown; the caller
 * drops the stages, so a failed read leaves nothing behind.
 */
export async function stageFilesInWorkers(
  files: ExportFiles,
  tasks: ExportTask[],
  jobs: number,
  setup: StageWorkerSetup,
  sets: Promise<StageWorkerSets>,
  handlers: StageFilesHandlers,
): Promise<void> {
  const url = new URL('./stage-worker.js', import.meta.url);
  const perFile: number[] = new Array(tasks.length).fill(-1);
  const learned: [string, LearnerState][][] = new Array(tasks.length);
  const blocks: (number[] | undefined)[] = new Array(tasks.length);
  const workers: Worker[] = [];
  let next = 0;
  let failure: MlbridgeError | undefined;
  // Appends run one after another, in arrival order, on this thread's stage connection.
  let appending: Promise<void> = Promise.resolve();
  try {
    await new Promise<void>((resolve, reject) => {
      let open = jobs;
      const fail = (e: MlbridgeError) => {
        if (!failure) failure = e;
        for (const w of workers) void w.terminate();
        reject(failure);
      };
      for (let w = 0; w < jobs; w++) {
        const worker = new Worker(url, { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB[setup.withRows ? 'write' : 'plan'] } });
        workers.push(worker);
        let done = false;
        const feed = () => {
          if (failure) return;
          if (next < tasks.length) {
            const task = next++;
            const { path, range } = tasks[task]!;
            worker.postMessage({ task, path, ...(range ? { range } : {}) });
          } else {
            done = true;
            worker.postMessage({ done: true });
          }
        };
        worker.on('message', (m: WorkerReply) => {
          if (failure) return;
          if (m.type === 'batch' || m.type === 'staged-file') {
            const rows = m.type === 'batch' ? m.columns.key.length : m.file.rows;
            appending = appending
              .then(() => (m.type === 'batch' ? handlers.append(m.columns) : handlers.appendFile(m.kind, m.file).finally(() => rm(m.file.path, { force: true }))))
              .then(() => {
                handlers.progress(rows);
                worker.postMessage({ ack: true });
              })
              .catch((e: unknown) => fail(e instanceof MlbridgeError ? e : new MlbridgeError('TARGET_ERROR', errorMessage(e), { cause: e })));
          } else if (m.type === 'file') {
            perFile[m.task] = m.records;
            learned[m.task] = m.learned;
            blocks[m.task] = m.blocks;
            handlers.metNamespaces(m.namespaces);
            appending = appending.then(() => {
              if (m.known > 0) handlers.progress(m.known);
              feed();
            });
          } else {
            fail(new MlbridgeError(m.error.code ?? 'SOURCE_ERROR', m.error.message, m.error.resource !== undefined ? { resource: m.error.resource } : {}));
          }
        });
        worker.on('error', (e) => fail(new MlbridgeError('SOURCE_ERROR', `staging the export in a worker thread failed: ${errorMessage(e)}`, { cause: e })));
        worker.on('exit', (code) => {
          if (!failure && (!done || code !== 0)) fail(new MlbridgeError('SOURCE_ERROR', `a worker thread staging the export stopped (exit code ${code}) before it finished`));
          if (--open === 0) void appending.then(() => resolve(), reject);
        });
        sets.then(
          (s) => {
            if (failure) return;
            worker.postMessage({ sets: s });
            feed();
          },
          (e: unknown) => fail(e instanceof MlbridgeError ? e : new MlbridgeError('TARGET_ERROR', errorMessage(e), { cause: e })),
        );
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  // Blocks copied between a file's ranges, then each part's records against its metadata
  // (the ranges of a file add up to it), as a sequential read checks them.
  files.checkRanges(tasks, blocks);
  const byPart = new Map<number, number>();
  tasks.forEach((t, i) => byPart.set(t.part, (byPart.get(t.part) ?? 0) + perFile[i]!));
  for (const [part, n] of byPart) files.checkPart(part, n);
  handlers.learned(learned);
}
