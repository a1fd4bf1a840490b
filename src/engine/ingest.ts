// The ingestor behind `mlbridge serve`: applies micro-batches of change events with an
// exactly-once effect under at-least-once delivery. It uses the row model reconcile uses
// (record/stage-record.ts) and the events-mode stage (warehouse/row-rules.ts):
//   - current holds the highest `_version` per key, whatever the order of arrival; raw holds
//     one row per distinct event (event_id comes from the change, never from the delivery),
//     so a redelivered batch changes nothing;
//   - a DELETE's version is remembered in raw, so an older UPSERT arriving after it does not
//     bring the row back (rule new-key in events mode);
//   - a PATCH is resolved here into a full UPSERT: the current row (or an earlier event of
//     the same batch, in version order) with the columns the PATCH carries laid over it, so
//     `_hash` covers the whole row and the columns it omits keep their values;
//   - an UPSERT or PATCH older than the current row, when that row is PATCHes laid on an older
//     base, is staged under them (patch-history.ts); a DELETE so makes them PATCHes of no row
//     (late-delete.ts); a PATCH quarantined for lack of a row is replayed when an older event
//     gives its key one (patch-replay.ts): the order of delivery does not matter;
//   - what can never succeed (a message that could not be decoded, a kind no mapping takes,
//     an invalid record) is stored with its reason and original payload — in the kind's
//     quarantine table, else in the shared `_mlbridge_rejected` — once per message, so it is
//     neither redelivered forever nor lost. Failures of the target throw (serve answers 503).
// Batches are applied one at a time: a PATCH is resolved against the state the previous batch left.

import { createHash } from 'node:crypto';
import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import type { RowMergeResult, StagedRecord } from '../model/staged.js';
import { formatTimestampUs, toTimestamp } from '../record/coerce-time.js';
import type { KindProfile } from '../record/profile.js';
import { recordKey, validateSyncRecord, type SyncRecord } from '../record/sync-record.js';
import type { MappingSpec, Spec } from '../spec/types.js';
import type { Row, RowValue, Warehouse } from '../warehouse/warehouse.js';
import { mappingNamespaces } from './changes/rows.js';
import { storedProfiles } from './profiles.js';
import { REJECTED_TABLE } from './desired.js';
import { safeJson, stageEvents, type ExtraRecord } from './stage-events.js';

// ---- the port `mlbridge serve` writes to (mirrors src/server/ports.ts of issue #10) ----

export interface IncomingChange {
  record: SyncRecord;
  /** original event, JSON-safe */
  payload: unknown;
  /**
   * The project and database the event names (a CloudEvent's source, else the entity key's
   * partition); what it leaves out is not checked against the spec's datastore source.
   */
  from?: EventOrigin;
}
export interface EventOrigin {
  project?: string;
  /** '' or '(default)': the default database. */
  database?: string;
}
export interface RejectedMessage {
  id: string /* sha256 of raw body */;
  kind?: string;
  /** The entity's canonical `_key`, when the message names a complete key. */
  key?: string;
  origin: 'eventarc' | 'pubsub';
  reason: string;
  payload: string;
  receivedAt: Date;
  /** The time the message gives its event (RFC 3339), when it gives a valid one. */
  eventTime?: string;
}
/**
 * What became of one message, for the answer to its push: accepted (logged in raw, whether
 * it changed current or not), quarantined (stored in its kind's quarantine table) or rejected
 * (stored in `_mlbridge_rejected`), with the stored row's `event_id` and its reason.
 */
export type Verdict = { status: 'accepted' } | { status: 'quarantined' | 'rejected'; id: string; reason: string };
/** Filled by a write: one verdict per change and per rejected message, in their order. */
export interface Verdicts {
  changes: Verdict[];
  rejected: Verdict[];
}
export interface IngestOutcome {
  written: number;
  duplicates: number;
  superseded: number;
  quarantined: number;
  rejected: number;
}
export interface ChangeSink {
  /** `verdicts`, when given, is filled with what became of each message. */
  write(changes: IncomingChange[], rejected: RejectedMessage[], verdicts?: Verdicts): Promise<IngestOutcome>;
  close(): Promise<void>;
}

/** The ingest path of serve: a sink that also reads the target's stored profiles once. */
export interface Ingestor extends ChangeSink {
  /**
   * Forgets what was read from the target (the stored profiles): serve released it while
   * idle, and another process (an apply run by hand) may have learned new profiles since.
   * The next batch reads them again.
   */
  forgetTarget(): void;
}

export interface IngestorOptions {
  /** Scoring time and `ingest_time`. Default: the system clock. */
  clock?: () => Date;
}

type Origin = RejectedMessage['origin'];

/** A message stored with its reason instead of applied; `mapping` null: the shared table. */
interface Rejection {
  id: string;
  key: string;
  kind: string | null;
  operation: string;
  origin: Origin;
  eventTime: string | null;
  reason: string;
  /** The original payload as a JSON value. */
  payload: RowValue;
}

/**
 * IngestOutcome, counted per distinct event of the batch (a PATCH replayed from quarantine, or
 * quarantined again because a late DELETE left it no row, counts as the event that caused it):
 *   written      accepted events that changed current (insert, update, delete)
 *   duplicates   events already logged in raw (or already stored in quarantine / rejected),
 *                and repeats within the batch
 *   superseded   new events that changed nothing: a newer version is in current or later in
 *                the batch, the key was deleted at a higher version, or a DELETE found no row
 *   quarantined  records newly quarantined by scoring or type drift
 *   rejected     messages newly stored as never applicable (kind quarantine or _mlbridge_rejected)
 */
export function createIngestor(spec: Spec, warehouse: Warehouse, options: IngestorOptions = {}): Ingestor {
  const clock = options.clock ?? (() => new Date());
  const dataset = spec.target.dataset;
  let profiles: Promise<Map<string, KindProfile>> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const loadProfiles = (): Promise<Map<string, KindProfile>> => {
    // Loaded once; a failed load is retried with the next batch.
    profiles ??= storedProfiles(warehouse, dataset).catch((e: unknown) => {
      profiles = undefined;
      throw e;
    });
    return profiles;
  };

  const run = async (changes: IncomingChange[], messages: RejectedMessage[], verdicts: Verdicts | undefined): Promise<IngestOutcome> => {
    const now = clock();
    const ingestTime = formatTimestampUs(BigInt(now.getTime()) * 1000n);
    const outcome: IngestOutcome = { written: 0, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 };
    const accepted = new Map<MappingSpec, SyncRecordWithOrigin[]>();
    const rejections: Array<{ mapping: MappingSpec | null; r: Rejection }> = [];
    const changeVerdicts: Verdict[] = changes.map(() => ({ status: 'accepted' }));
    const messageVerdicts: Verdict[] = [];
    const verdictOf = (mapping: MappingSpec | null, r: Rejection): Verdict => ({ status: mapping ? 'quarantined' : 'rejected', id: r.id, reason: r.reason });

    for (const m of messages) {
      const mapping = m.kind !== undefined ? (spec.mappings.find((x) => x.kind === m.kind) ?? null) : null;
      const r: Rejection = { id: m.id, key: m.key ?? '', kind: m.kind ?? null, operation: 'UNKNOWN', origin: m.origin, eventTime: eventTimeOf(m.eventTime), reason: m.reason, payload: m.payload };
      rejections.push({ mapping, r });
      messageVerdicts.push(verdictOf(mapping, r));
    }
    changes.forEach((change, index) => {
      const routed = route(spec, change);
      if ('reason' in routed) {
        const r = rejectionOf(change, routed.reason);
        rejections.push({ mapping: routed.mapping, r });
        changeVerdicts[index] = verdictOf(routed.mapping, r);
      } else push(accepted, routed.mapping, { record: routed.record, origin: originOf(routed.record), index });
    });

    const profilesRead = accepted.size > 0 ? await loadProfiles() : new Map<string, KindProfile>();
    for (const [mapping, records] of accepted) {
      const resolved = await stageEvents(warehouse, dataset, mapping, records.map((r) => r.record), { now, profile: profilesRead.get(mapping.kind) ?? null });
      resolved.staged.forEach((s, i) => {
        if (s.reason !== null) changeVerdicts[records[i]!.index] = { status: 'quarantined', id: s.eventId, reason: s.reason };
      });
      const staged = [
        ...resolved.staged.map((s, i) => ({ staged: s, origin: records[i]!.origin, extra: undefined })),
        ...resolved.extras.map((e) => ({ staged: e.staged, origin: e.origin, extra: e })),
      ];
      for (const [origin, group] of byOrigin(staged)) {
        const r = await mergeBatch(warehouse, dataset, mapping, group.map((s) => s.staged), origin, ingestTime);
        countEvents(outcome, group, r);
      }
    }

    // Rejections for a mapping go to its quarantine table, the rest to the shared table.
    const byMapping = new Map<MappingSpec, Rejection[]>();
    const shared: Rejection[] = [];
    for (const { mapping, r } of rejections) {
      if (!mapping) shared.push(r);
      else push(byMapping, mapping, r);
    }
    for (const [mapping, list] of byMapping) {
      for (const [origin, group] of byOrigin(list.map((r) => ({ staged: quarantineRecord(r), origin: r.origin })))) {
        const r = await mergeBatch(warehouse, dataset, mapping, group.map((s) => s.staged), origin, ingestTime);
        outcome.rejected += r.quarantined;
        outcome.duplicates += group.length - r.quarantined;
      }
    }
    if (shared.length > 0) {
      const rows = dedupe(shared).map((r) => sharedRow(r, ingestTime));
      // Keyed on the message id: storing the same message again replaces its row, never adds one.
      const r = await warehouse.mergeRows(dataset, REJECTED_TABLE, ['event_id'], rows);
      outcome.rejected += r.inserted;
      outcome.duplicates += shared.length - r.inserted;
    }
    if (verdicts) {
      verdicts.changes = changeVerdicts;
      verdicts.rejected = messageVerdicts;
    }
    return outcome;
  };

  return {
    write(changes, rejected, verdicts) {
      if (closed) return Promise.reject(new MlbridgeError('INTERRUPTED', 'the ingestor is closed; the batch was not written'));
      const next = queue.then(() => run(changes, rejected, verdicts));
      queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      closed = true;
      await queue;
    },
    forgetTarget() {
      profiles = undefined;
    },
  };
}

/**
 * Adds a merge's counts to `outcome`, for the batch's own events: the extras staged with them
 * (stage-events.ts) are left out. An extra that was fresh was logged (raw) or quarantined by
 * the merge; a change of current an extra staged is the effect of the batch's event that
 * caused it (a late DELETE, an UPSERT a quarantined PATCH was replayed over), so with extras
 * an event is superseded when it was logged and no change was made for it.
 */
function countEvents(outcome: IngestOutcome, group: Array<{ staged: StagedRecord; extra: ExtraRecord | undefined }>, r: RowMergeResult): void {
  const own = group.filter((s) => !s.extra).map((s) => s.staged);
  const extras = group.flatMap((s) => (s.extra ? [s.extra] : []));
  const acceptedCount = own.filter((s) => s.reason === null).length;
  const quarantinedCount = own.length - acceptedCount;
  const written = r.inserted + r.updated + r.deleted;
  const freshIds = (accepted: boolean) => new Set(extras.filter((e) => e.fresh && (e.staged.reason === null) === accepted).map((e) => e.staged.eventId)).size;
  const logged = r.logged - freshIds(true);
  const quarantined = r.quarantined - freshIds(false);
  outcome.written += written;
  outcome.superseded += extras.length === 0 ? r.superseded : Math.max(0, logged - written);
  outcome.quarantined += quarantined;
  outcome.duplicates += acceptedCount - logged + (quarantinedCount - quarantined);
}

// ---- routing: which mapping takes a change, or why none can ----

interface SyncRecordWithOrigin {
  record: SyncRecord;
  origin: Origin;
  /** Its change's place in the batch. */
  index: number;
}

type Routed = { mapping: MappingSpec; record: SyncRecord } | { mapping: MappingSpec | null; reason: string };

function route(spec: Spec, change: IncomingChange): Routed {
  const raw = change.record as unknown;
  const kind = raw && typeof raw === 'object' && typeof (raw as { kind?: unknown }).kind === 'string' ? (raw as { kind: string }).kind : undefined;
  const mapping = kind !== undefined ? (spec.mappings.find((m) => m.kind === kind) ?? null) : null;
  let record: SyncRecord;
  try {
    record = validateSyncRecord(raw);
  } catch (e) {
    if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
    return { mapping, reason: `invalid record: ${e.message}` };
  }
  const foreign = foreignSource(spec, change.from);
  if (foreign) return { mapping: null, reason: foreign };
  if (!mapping) return { mapping: null, reason: `no mapping for kind ${record.kind}` };
  const namespaces = mappingNamespaces(mapping);
  const ns = record.namespace ?? '';
  if (namespaces && !namespaces.includes(ns)) {
    const shown = (n: string) => (n === '' ? '(default)' : n);
    return { mapping: null, reason: `kind ${record.kind} is mapped for namespace ${namespaces.map(shown).join(', ')} only, not ${shown(ns)}` };
  }
  return { mapping, record };
}

const isDefaultDatabase = (d: string): boolean => d === '' || d === '(default)';
const shownDatabase = (d: string): string => (isDefaultDatabase(d) ? '(default)' : d);

/**
 * Why an event from another project or database than the spec's datastore source cannot be
 * taken (its `_key` names neither, so it would overwrite the source's entity of the same key),
 * else undefined. What the event does not name is not checked, nor is anything when the source
 * is an export, which names no project.
 */
function foreignSource(spec: Spec, from: EventOrigin | undefined): string | undefined {
  const source = spec.source;
  if (source?.kind !== 'datastore' || !from) return undefined;
  const database = source.databaseId ?? '';
  const otherProject = from.project !== undefined && from.project !== source.project;
  const otherDatabase = from.database !== undefined && shownDatabase(from.database) !== shownDatabase(database);
  if (!otherProject && !otherDatabase) return undefined;
  const named = [from.project !== undefined ? `project ${from.project}` : '', from.database !== undefined ? `database ${shownDatabase(from.database)}` : ''].filter(Boolean).join(', ');
  return `event from ${named}; this spec's source is project ${source.project}, database ${shownDatabase(database)}`;
}

/** A rejection's `event_time`: the message's own time with µs, when it gives a valid one. */
function eventTimeOf(time: unknown): string | null {
  if (typeof time !== 'string' && !(time instanceof Date)) return null;
  try {
    return toTimestamp(time, 'eventTime');
  } catch {
    return null;
  }
}

function originOf(record: SyncRecord): Origin {
  return record.origin === 'eventarc' ? 'eventarc' : 'pubsub';
}

function rejectionOf(change: IncomingChange, reason: string): Rejection {
  const raw = (change.record ?? {}) as Partial<Record<keyof SyncRecord, unknown>>;
  const payload = jsonValue(change.payload);
  const kind = typeof raw.kind === 'string' ? raw.kind : null;
  const operation = typeof raw.operation === 'string' && ['UPSERT', 'DELETE', 'PATCH'].includes(raw.operation) ? raw.operation : 'UNKNOWN';
  let key = '';
  if (typeof raw.entityKey === 'string' && raw.entityKey && kind) {
    key = recordKey({ entityKey: raw.entityKey, kind, ...(typeof raw.namespace === 'string' ? { namespace: raw.namespace } : {}) });
  }
  // No message id reaches this port for a decoded change: its content is its identity.
  const id = createHash('sha256').update(`rejected\n${safeJson(change.payload)}\n${safeJson(change.record)}`).digest('hex');
  return { id, key, kind, operation, origin: originOf(raw as SyncRecord), eventTime: eventTimeOf(raw.eventTime), reason, payload };
}

function jsonValue(v: unknown): RowValue {
  return JSON.parse(safeJson(v)) as RowValue;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function byOrigin<T extends { origin: Origin }>(items: T[]): Map<Origin, T[]> {
  const out = new Map<Origin, T[]>();
  for (const i of items) push(out, i.origin, i);
  return out;
}

function dedupe(rs: Rejection[]): Rejection[] {
  return [...new Map(rs.map((r) => [r.id, r])).values()];
}

/** A rejection as a quarantine row of its mapping (rejected rows never reach the row rules). */
function quarantineRecord(r: Rejection): StagedRecord {
  return {
    key: r.key,
    version: '0',
    hash: '',
    operation: r.operation === 'DELETE' ? 'DELETE' : 'UPSERT',
    eventId: r.id,
    eventTime: r.eventTime,
    score: 0,
    flags: ['rejected'],
    row: null,
    data: JSON.stringify(r.payload),
    reason: r.reason,
  };
}

function sharedRow(r: Rejection, ingestTime: string): Row {
  return {
    event_id: r.id,
    _key: r.key,
    operation: r.operation,
    origin: r.origin,
    event_time: r.eventTime,
    ingest_time: ingestTime,
    data: r.payload,
    score: null,
    flags: ['rejected'],
    reason: r.reason,
    kind: r.kind,
  };
}

// ---- staging: one stage, one merge (one transaction in DuckDB) per mapping and origin ----

async function mergeBatch(warehouse: Warehouse, dataset: string, m: MappingSpec, records: StagedRecord[], origin: Origin, ingestTime: string): Promise<RowMergeResult> {
  const stage = await warehouse.openStage({ kind: m.kind, dataset, current: m.tables.current, raw: m.tables.raw, quarantine: m.tables.quarantine });
  try {
    await stage.append(records);
    return await stage.merge({ mode: 'events', kind: m.kind, origin, ingestTime });
  } finally {
    await stage.close();
  }
}
