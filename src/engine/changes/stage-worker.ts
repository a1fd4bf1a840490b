// A worker thread of stageFilesInWorkers: reads the output files (or block ranges of them)
// it is handed, skips the records the source memo knows (marking them met: the main thread
// stages those from the memo, see record/source-memo.ts), stages each other entity of a
// mapped kind (record/stage-record.ts, the same code as a one-thread reconcile; with its
// record's print for an apply), and hands them over in batches — staged files when the stage
// loads files itself (DuckDB), else column batches — waiting for the main thread's
// acknowledgements so it is never more than WINDOW batches ahead. After each task:
// its record count (and how many the memo knew), the profile states learned from its
// accepted rows, and a range's block fingerprints.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import { ProfileLearner } from '../../record/profile.js';
import { stageRecord } from '../../record/stage-record.js';
import { entityToSyncRecord } from '../../record/sync-record.js';
import { canonicalKey } from '../../source/entity.js';
import { EntityDecoder } from '../../source/export/entity-proto.js';
import { recordNamespace } from '../../source/export/keys.js';
import { openStore } from '../../source/export/export-store.js';
import type { ByteRange } from '../../source/export/log-format.js';
import { readOutputFile, type FileTally } from '../../source/export/read-export.js';
import { recordPrinter } from '../../source/export/record-print.js';
import { findPrint, printHalves } from '../../model/print-set.js';
import type { Row } from '../../warehouse/warehouse.js';
import { mappingNamespaces, unchangedTest } from './rows.js';
import { NamespacesMet } from './namespace-check.js';
import { emptyColumns, pushRecord, type StagedColumns } from '../../model/staged-columns.js';
import { StagedFileBuffer } from '../../model/staged-file.js';
import type { StagedRecord } from '../../model/staged.js';
import { WINDOW, type StageWorkerSetup, type StageWorkerSets, type WorkerReply } from './stage-files.js';

const BATCH = 2048;
/** Records per staged file: one read_json statement each, a few MB. */
const FILE_BATCH = 16_384;
/** Bytes per staged file at most, whatever the records' size (large entities make few per file). */
const FILE_BYTES = 16 << 20;
const setup = workerData as StageWorkerSetup;
const port = parentPort!;
const { store } = await openStore(setup.location, setup.env);
const mappings = new Map(setup.mappings.map((m) => [m.kind, m]));
const namespaces = new Map(setup.mappings.map((m) => [m.kind, mappingNamespaces(m) ? new Set(mappingNamespaces(m)) : undefined]));
const profiles = new Map(setup.profiles);
const now = new Date(setup.snapshotTimeMs);
/** Loaded whether or not the memo has entries: an apply prints every record it stages. */
const printer = await recordPrinter();
/** Records of the current task found in the memo. */
let known = 0;
/** Namespaces each mapped kind was met in (namespace-check.ts), over every task of this worker. */
const met = new NamespacesMet();
/**
 * Per kind whose mapping lists namespaces, those this worker has not met it in yet: a memo hit
 * of the kind has its key's namespace read while any are left (a hit is in a listed namespace,
 * since the memo holds what the same mapping staged, but in which one only its key says).
 * Once all are met, hits cost nothing more.
 */
const unmet = new Map([...namespaces].flatMap(([kind, set]) => (set ? [[kind, new Set(set)] as const] : [])));
function meet(kind: string, namespace: string): void {
  met.add(kind, namespace);
  unmet.get(kind)?.delete(namespace);
}
/** Set from the main thread's first message (StageWorkerSets), before the first task. */
let unchanged = new Map<string, (key: string, hash: string) => boolean>();
let screen: ((bytes: Uint8Array) => bigint | null) | undefined;

function configure(sets: StageWorkerSets): void {
  unchanged = new Map(sets.fingerprints.map(([kind, fps]) => [kind, unchangedTest(fps)]));
  const memoSets = sets.memo.map(([, set]) => set);
  const memoKinds = sets.memo.map(([kind]) => kind);
  // readOutputFile's screen: a record the memo holds is marked there and skipped; any other is printed.
  screen =
    memoSets.length > 0 || setup.printRecords
      ? (bytes) => {
          const print = printer(bytes);
          if (memoSets.length > 0) {
            const [high, low] = printHalves(print);
            for (let i = 0; i < memoSets.length; i++) {
              const set = memoSets[i]!;
              const at = findPrint(set, high, low);
              if (at >= 0) {
                set.hits[at] = 1;
                known++;
                const kind = memoKinds[i]!;
                if (unmet.get(kind)?.size) {
                  const ns = recordNamespace(bytes);
                  if (ns !== undefined) meet(kind, ns);
                }
                return null;
              }
            }
          }
          return print;
        }
      : undefined;
}

let unacked = 0;
let wake: (() => void) | undefined;
const send = (m: WorkerReply) => port.postMessage(m);

async function flush(task: number, columns: StagedColumns): Promise<void> {
  if (columns.key.length === 0) return;
  while (unacked >= WINDOW) await new Promise<void>((r) => (wake = r));
  unacked++;
  send({ type: 'batch', task, columns });
}

/** Staged files this worker wrote (their names). */
let files = 0;

/** Writes one kind's staged file and hands it over (waiting while WINDOW are not yet appended). */
async function flushFile(task: number, kind: string, b: StagedFileBuffer): Promise<void> {
  if (b.rows === 0) return;
  while (unacked >= WINDOW) await new Promise<void>((r) => (wake = r));
  unacked++;
  const path = join(setup.fileDir!, `${threadId}-${++files}.ndjson`);
  await writeFile(path, b.contents());
  send({ type: 'staged-file', task, kind, file: { path, rows: b.rows } });
}

/** Where a file's staged records collect per kind: column batches, or staged-file lines. */
class KindBuffers {
  private readonly columns = new Map<string, StagedColumns>();
  private readonly lines = new Map<string, StagedFileBuffer>();
  constructor(private readonly task: number) {}

  async push(kind: string, staged: StagedRecord): Promise<void> {
    if (setup.fileDir !== undefined) {
      let b = this.lines.get(kind);
      if (!b) this.lines.set(kind, (b = new StagedFileBuffer()));
      b.push(staged);
      if (b.rows >= FILE_BATCH || b.bytes >= FILE_BYTES) {
        this.lines.delete(kind);
        await flushFile(this.task, kind, b);
      }
      return;
    }
    let columns = this.columns.get(kind);
    if (!columns) this.columns.set(kind, (columns = emptyColumns(kind)));
    pushRecord(columns, staged);
    if (columns.key.length >= BATCH) {
      this.columns.delete(kind);
      await flush(this.task, columns);
    }
  }

  async flushAll(): Promise<void> {
    for (const columns of this.columns.values()) await flush(this.task, columns);
    for (const [kind, b] of this.lines) await flushFile(this.task, kind, b);
    this.columns.clear();
    this.lines.clear();
  }
}

async function stageFile(task: number, path: string, range: ByteRange | undefined): Promise<void> {
  const tally: FileTally = { records: 0, damaged: false };
  const blocks: number[] = [];
  const learners = new Map<string, ProfileLearner>();
  const buffers = new KindBuffers(task);
  known = 0;
  for await (const batch of readOutputFile(store, path, { decoder: new EntityDecoder(), tally, range, blocks, screen })) {
    for (let i = 0; i < batch.entities.length; i++) {
      const entity = batch.entities[i]!;
      const kind = entity.key.path[entity.key.path.length - 1]!.kind;
      const mapping = mappings.get(kind);
      if (!mapping) continue;
      const ns = namespaces.get(kind);
      meet(kind, entity.key.partitionId.namespaceId ?? '');
      if (ns && !ns.has(entity.key.partitionId.namespaceId ?? '')) continue;
      let learner = learners.get(kind);
      if (!learner && setup.withRows) learners.set(kind, (learner = new ProfileLearner(mapping)));
      const record = entityToSyncRecord(entity, { origin: setup.origin, version: setup.version, eventTime: now });
      const staged = stageRecord(
        record,
        {
          mapping,
          now,
          profile: profiles.get(kind) ?? null,
          withRow: setup.withRows,
          ...(unchanged.has(kind) ? { unchanged: unchanged.get(kind)! } : {}),
          ...(learner ? { onAccepted: (row: Row) => learner.add(row) } : {}),
        },
        canonicalKey(entity.key),
      );
      if (setup.printRecords) staged.sourcePrint = BigInt.asIntN(64, batch.prints![i]!).toString();
      await buffers.push(kind, staged);
    }
  }
  await buffers.flushAll();
  send({
    type: 'file',
    task,
    records: tally.records,
    known,
    learned: [...learners].map(([k, l]) => [k, l.state()]),
    namespaces: met.entries(),
    ...(range ? { blocks } : {}),
  });
}

port.on('message', (m: { task: number; path: string; range?: ByteRange } | { sets: StageWorkerSets } | { ack: true } | { done: true }) => {
  if ('sets' in m) {
    configure(m.sets);
    return;
  }
  if ('ack' in m) {
    unacked--;
    wake?.();
    wake = undefined;
    return;
  }
  if ('done' in m) {
    port.close();
    return;
  }
  void stageFile(m.task, m.path, m.range).catch((e: unknown) =>
    send({
      type: 'error',
      task: m.task,
      error: e instanceof MlbridgeError ? { code: e.code, message: e.message, ...(e.resource !== undefined ? { resource: e.resource } : {}) } : { message: errorMessage(e) },
    }),
  );
});
