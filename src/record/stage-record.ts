// A record as it is staged in the warehouse for a reconcile or an event batch: the one
// row model of every write path (reconcile from an export or the live API, Eventarc and
// Pub/Sub events).
//   key       `_key`: canonical key, namespace and ancestors included (recordKey)
//   version   `_version`: the entity version (live reads, events), else the record's event
//             time in µs (exports: the export's start time), else the scoring time in µs
//   hash      `_hash`: sha256 of the mapped columns only (no clock, no fallback values)
//   eventId   deterministic (record/event-id.ts): re-runs and redeliveries produce it again
//   row       the mapped columns as JSON (partition column filled), for current and raw
//   reason    set when the record goes to quarantine: it cannot be coerced to the mapping's
//             types (type drift), or its score is below the mapping's quarantine threshold
// A record that cannot be coerced is never an error of the whole run: it is quarantined
// with a reason naming kind, key, property, expected and found type, and the rest goes on.

import { createHash } from 'node:crypto';
import { isMlbridgeError } from '../model/errors.js';
import type { FieldSpec, MappingSpec } from '../spec/types.js';
import type { RowValue } from '../warehouse/warehouse.js';
import { formatTimestampUs } from './coerce-time.js';
import { toJsonValue } from './coerce.js';
import { changeEventId } from './event-id.js';
import type { KindProfile } from './profile.js';
import { fillPartitionColumn, mappedColumns, rowHash } from './row.js';
import { scoreRecordFreshness } from './score.js';
import type { StagedRecord } from '../model/staged.js';

export type { StagedRecord } from '../model/staged.js';
import { parseVersion, recordEventTime, recordKey, type SyncRecord } from './sync-record.js';

export interface StageRecordContext {
  mapping: Pick<MappingSpec, 'kind' | 'fields' | 'partitioning' | 'scoring'>;
  /** When the record is scored. A snapshot scores against its own time (see score-policy). */
  now: Date;
  profile?: KindProfile | null;
  /**
   * Stage what a write needs (apply, serve: the mapped row, event id, event time, flags), or,
   * for an accepted record, only what a diff reads (plan: key, hash, version, score; the
   * event id is '', event time null and flags empty). A quarantined record is always whole.
   */
  withRow: boolean;
  /**
   * Whether current already holds this key with this content (model/content-fingerprint.ts):
   * such an accepted record is staged as a plan stages it, without its row and raw-log
   * fields, since no write will need them.
   */
  unchanged?: (key: string, hash: string) => boolean;
  /** Told the coerced columns of each accepted record (profile learning), without a re-parse. */
  onAccepted?: (columns: Record<string, RowValue>) => void;
}

const timeUs = (d: Date): bigint => BigInt(d.getTime()) * 1000n;

/**
 * The property a column path is read from, for messages: `ltv`, `address.city`, and through
 * REPEATED elements and RECORD sub-fields, `points[2]`, `lines[0].sku` (column names hold no
 * `.` or `[`, so the path splits unambiguously).
 */
function propertyOf(mapping: Pick<MappingSpec, 'fields'>, column: string): string {
  let fields: readonly FieldSpec[] | undefined = mapping.fields;
  const out: string[] = [];
  const steps = column.split('.');
  for (let i = 0; i < steps.length; i++) {
    const [, name, indexes] = /^(.*?)((?:\[\d+\])*)$/.exec(steps[i]!)!;
    const field: FieldSpec | undefined = fields?.find((f) => f.name === name);
    if (!field) return [...out, ...steps.slice(i)].join('.');
    out.push(`${field.from.join('.')}${indexes}`);
    fields = field.fields;
  }
  return out.join('.');
}

function dataJson(record: SyncRecord): string {
  return JSON.stringify(record.data === null ? null : toJsonValue(record.data, undefined));
}

/** The mapping's column names, sorted: the key order of `_hash`, worked out once per mapping. */
const sortedNames = new WeakMap<object, string[]>();
function sortedFieldNames(mapping: StageRecordContext['mapping']): string[] {
  let names = sortedNames.get(mapping.fields);
  if (!names) sortedNames.set(mapping.fields, (names = mapping.fields.map((f) => f.name).sort()));
  return names;
}

/** A snapshot stamps every record with the same time: format it once, not per record. */
let lastTime: { ms: number; text: string } | undefined;
function timeText(d: Date): string {
  const ms = d.getTime();
  if (lastTime?.ms !== ms) lastTime = { ms, text: formatTimestampUs(timeUs(d)) };
  return lastTime.text;
}

/**
 * Stages one UPSERT or DELETE record (a PATCH must be resolved against current first).
 * `key` is the record's `_key` when the caller has it (an entity's canonicalKey), else it
 * is derived from the record.
 */
export function stageRecord(record: SyncRecord, ctx: StageRecordContext, key: string = recordKey(record)): StagedRecord {
  const { mapping } = ctx;
  const eventTime = recordEventTime(record);
  const version = (parseVersion(record.version) ?? timeUs(eventTime ?? ctx.now)).toString();
  const eventTimeText = eventTime ? timeText(eventTime) : null;
  const operation = record.operation === 'DELETE' ? 'DELETE' : 'UPSERT';
  if (operation === 'DELETE') {
    return {
      key,
      version,
      hash: '',
      operation,
      eventId: changeEventId({ kind: mapping.kind, key, version, operation, contentHash: '' }),
      eventTime: eventTimeText,
      score: 1,
      flags: [],
      row: null,
      data: null,
      reason: null,
    };
  }
  let columns: Record<string, RowValue>;
  try {
    columns = mappedColumns(record, mapping);
  } catch (e) {
    if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
    const d = e.details ?? {};
    const column = typeof d.column === 'string' ? d.column : undefined;
    const reason = column
      ? `type drift: ${mapping.kind} ${key}: property ${propertyOf(mapping, column)} (column ${column}): expected ${String(d.expected)}, found ${String(d.found)}${d.value !== undefined && d.found !== 'NULL' ? ` ${String(d.value)}` : ''}`
      : `${mapping.kind} ${key}: ${e.message}`;
    const data = dataJson(record);
    // Content identity of what could not be coerced: the same bad entity is quarantined once.
    const hash = `q:${createHash('sha256').update(data).digest('hex')}`;
    return {
      key,
      version,
      hash,
      operation,
      eventId: changeEventId({ kind: mapping.kind, key, version: 'quarantine', operation, contentHash: hash }),
      eventTime: eventTimeText,
      score: 0,
      flags: [`type_drift:${column ?? 'record'}`],
      row: null,
      data,
      reason,
    };
  }
  const hash = rowHash(columns, sortedFieldNames(mapping));
  const score = scoreRecordFreshness(record, { mapping, now: ctx.now, coerced: columns, ...(ctx.profile ? { profile: ctx.profile } : {}) });
  const quarantined = score.action === 'quarantine';
  if (ctx.withRow || quarantined) fillPartitionColumn(columns, mapping, eventTime ?? ctx.now, record.operation);
  if (!quarantined) ctx.onAccepted?.(columns);
  // Planning compares an accepted record by key, hash and version only: its raw-log fields
  // (event id, event time, flags) are worked out when it is staged to be written.
  const planOnly = !quarantined && (!ctx.withRow || ctx.unchanged?.(key, hash) === true);
  return {
    key,
    version,
    hash,
    operation,
    // A quarantined record's id leaves the version out, so the same rejected content is
    // quarantined once, not again with every new snapshot.
    eventId: planOnly ? '' : changeEventId({ kind: mapping.kind, key, version: quarantined ? 'quarantine' : version, operation, contentHash: hash }),
    eventTime: planOnly ? null : eventTimeText,
    score: score.confidence,
    flags: planOnly ? [] : score.flags,
    row: planOnly ? null : JSON.stringify(columns),
    data: quarantined ? dataJson(record) : null,
    reason: quarantined
      ? `score ${score.confidence} below the quarantine threshold ${mapping.scoring.quarantine}${score.flags.length ? ` (${score.flags.join(', ')})` : ''}`
      : null,
  };
}
