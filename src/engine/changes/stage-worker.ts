// A worker thread of stageFilesInWorkers: reads the output files (or block ranges of them)
// it is handed, stages each entity of a mapped kind (record/stage-record.ts, the same code
// as a one-thread reconcile), and hands them over in batches — staged files when the stage
// loads files itself (DuckDB), else column batches — waiting for the main thread's
// acknowledgements so it is never more than WINDOW batches ahead. After each task:
// its record count, the profile states learned from its accepted rows, and a range's block
// fingerprints.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import { ProfileLearner } from '../../record/profile.js';
import { stageRecord } from '../../record/stage-record.js';
import { entityToSyncRecord } from '../../record/sync-record.js';
import { canonicalKey } from '../../source/entity.js';
import { EntityDecoder } from '../../source/export/entity-proto.js';
import { openStore } from '../../source/export/locate.js';
import type { ByteRange } from '../../source/export/log-reader.js';
import { readOutputFile, type FileTally } from '../../source/export/read-export.js';
import type { Row } from '../../warehouse/warehouse.js';
import { mappingNamespaces, unchangedTest } from './rows.js';
import { emptyColumns, pushRecord, type StagedColumns } from '../../model/staged-columns.js';
import { stagedFileLine } from '../../model/staged-file.js';
import type { StagedRecord } from '../../model/staged.js';
import { WINDOW, type StageWorkerSetup, type WorkerReply } from './stage-files.js';

const BATCH = 2048;
/** Records per staged file: one read_json statement each, a few MB. */
const FILE_BATCH = 16_384;
const setup = workerData as StageWorkerSetup;
const port = parentPort!;
const { store } = await openStore(setup.location, setup.env);
const mappings = new Map(setup.mappings.map((m) => [m.kind, m]));
const namespaces = new Map(setup.mappings.map((m) => [m.kind, mappingNamespaces(m) ? new Set(mappingNamespaces(m)) : undefined]));
const profiles = new Map(setup.profiles);
const unchanged = new Map(setup.fingerprints.map(([kind, fps]) => [kind, unchangedTest(fps)]));
const now = new Date(setup.snapshotTimeMs);

let unacked = 0;
let wake: (() => void) | undefined;
const send = (m: WorkerReply) => port.postMessage(m);

async function flush(task: number, columns: StagedColumns): Promise<void> {
  if (columns.key.length === 0) return;
  while (unacked >= WINDOW) await new Promise<void>((r) => (wake = r));
  unacked++;
  send({ type: 'batch', task, columns });
}

/** One kind's records as lines of a staged file, when the stages load files themselves. */
interface FileBuffer {
  lines: string[];
}
let files = 0;

async function flushFile(task: number, kind: string, b: FileBuffer): Promise<void> {
  if (b.lines.length === 0) return;
  while (unacked >= WINDOW) await new Promise<void>((r) => (wake = r));
  unacked++;
  const path = join(setup.fileDir!, `${threadId}-${++files}.ndjson`);
  await writeFile(path, `${b.lines.join('\n')}\n`);
  send({ type: 'staged-file', task, kind, file: { path, rows: b.lines.length } });
}

/** Where a file's staged records collect per kind: column batches, or staged-file lines. */
class KindBuffers {
  private readonly columns = new Map<string, StagedColumns>();
  private readonly lines = new Map<string, FileBuffer>();
  constructor(private readonly task: number) {}

  async push(kind: string, staged: StagedRecord): Promise<void> {
    if (setup.fileDir !== undefined) {
      let b = this.lines.get(kind);
      if (!b) this.lines.set(kind, (b = { lines: [] }));
      b.lines.push(stagedFileLine(staged));
      if (b.lines.length >= FILE_BATCH) {
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
  for await (const batch of readOutputFile(store, path, { decoder: new EntityDecoder(), tally, range, blocks })) {
    for (const entity of batch.entities) {
      const kind = entity.key.path[entity.key.path.length - 1]!.kind;
      const mapping = mappings.get(kind);
      if (!mapping) continue;
      const ns = namespaces.get(kind);
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
      await buffers.push(kind, staged);
    }
  }
  await buffers.flushAll();
  send({ type: 'file', task, records: tally.records, learned: [...learners].map(([k, l]) => [k, l.state()]), ...(range ? { blocks } : {}) });
}

port.on('message', (m: { task: number; path: string; range?: ByteRange } | { ack: true } | { done: true }) => {
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
