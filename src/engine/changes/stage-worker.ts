// A worker thread of stageFilesInWorkers: reads the output files (or block ranges of them)
// it is handed, stages each entity of a mapped kind (record/stage-record.ts, the same code
// as a one-thread reconcile), and sends them in column batches, waiting for the main
// thread's acknowledgements so it is never more than WINDOW batches ahead. After each task:
// its record count, the profile states learned from its accepted rows, and a range's block
// fingerprints.

import { parentPort, workerData } from 'node:worker_threads';
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
import { mappingNamespaces } from './rows.js';
import { WINDOW, emptyColumns, pushRecord, type StageWorkerSetup, type StagedColumns, type WorkerReply } from './stage-files.js';

const BATCH = 2048;
const setup = workerData as StageWorkerSetup;
const port = parentPort!;
const { store } = await openStore(setup.location, setup.env);
const mappings = new Map(setup.mappings.map((m) => [m.kind, m]));
const namespaces = new Map(setup.mappings.map((m) => [m.kind, mappingNamespaces(m) ? new Set(mappingNamespaces(m)) : undefined]));
const profiles = new Map(setup.profiles);
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

async function stageFile(task: number, path: string, range: ByteRange | undefined): Promise<void> {
  const tally: FileTally = { records: 0, damaged: false };
  const blocks: number[] = [];
  const learners = new Map<string, ProfileLearner>();
  const buffers = new Map<string, StagedColumns>();
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
        { mapping, now, profile: profiles.get(kind) ?? null, withRow: setup.withRows, ...(learner ? { onAccepted: (row: Row) => learner.add(row) } : {}) },
        canonicalKey(entity.key),
      );
      let columns = buffers.get(kind);
      if (!columns) buffers.set(kind, (columns = emptyColumns(kind)));
      pushRecord(columns, staged);
      if (columns.key.length >= BATCH) {
        buffers.set(kind, emptyColumns(kind));
        await flush(task, columns);
      }
    }
  }
  for (const columns of buffers.values()) await flush(task, columns);
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
