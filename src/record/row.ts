// buildBigQueryRow: a SyncRecord → a row of the mapping's current table, values coerced
// to the column types (coerce.ts), plus the system columns every current table has:
//   _key        canonical key of the record's entity (recordKey: `Kind:name` for a plain
//               entityKey, prefixed with `<namespace>|` when the record has a namespace)
//   _version    record.version, else eventTime in µs, else _synced_at in µs (INT64 string)
//   _hash       sha256 (hex) of the canonical JSON of the mapped columns (keys sorted)
//   _synced_at  options.now (default: the current time), RFC 3339 UTC with µs
//   _score      options.score, else scoreRecordFreshness(record, ...).confidence
// The partition column, when the mapping partitions on a field the record leaves empty,
// is filled from eventTime (else _synced_at), so every row lands in a real partition. That
// fill happens after hashing: `_hash` covers the record's own mapped values, never a clock,
// so the same entity hashes the same in every reconcile.
// DELETE rows carry the system columns and null mapped columns (the caller deletes by
// _key); PATCH rows carry only the columns the patch has (so a merge touches only them).

import { sha256Hex } from '../model/sha256.js';
import { MlbridgeError } from '../model/errors.js';
import type { FieldSpec, MappingSpec } from '../spec/types.js';
import type { Row, RowValue } from '../warehouse/warehouse.js';
import { formatTimestampUs } from './coerce-time.js';
import { coerceField, toJsonValue } from './coerce.js';
import type { ScoringConfig } from './defaults.js';
import { fieldValue, hasFieldValue } from './extract.js';
import type { KindProfile } from './profile.js';
import { scoreRecordFreshness, type RecordScore } from './score.js';
import { parseVersion, recordEventTime, recordKey, type SyncRecord } from './sync-record.js';

export const SYSTEM_COLUMNS = ['_key', '_version', '_hash', '_synced_at', '_score'] as const;

export interface BuildRowOptions {
  /** _synced_at and the time scoring is done at. Default: the current time. */
  now?: Date;
  /** A confidence or a score already computed; else the record is scored here. */
  score?: number | RecordScore;
  /** Used when the score is computed here. */
  scoring?: ScoringConfig;
  profile?: KindProfile | null;
}

/** JSON with object keys sorted at every level: the input of `_hash`. */
export function canonicalJson(v: RowValue): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k]!)}`).join(',')}}`;
}

/**
 * `_hash`: sha256 of the canonical JSON of the mapped columns, leaving out empty ones (null,
 * or an empty REPEATED array). So adding a column that no entity fills, or dropping one
 * that was always empty, rewrites no row; a column that gains a value changes the hash.
 */
export function rowHash(columns: Record<string, RowValue>, sortedKeys?: readonly string[]): string {
  // The canonical JSON of the filled columns, keys sorted, built in one pass; each key's
  // `"name":` is quoted once per mapping, not once per row.
  const keys = sortedKeys ?? Object.keys(columns).sort();
  const quoted = sortedKeys ? quotedKeys(sortedKeys) : keys.map((k) => `${JSON.stringify(k)}:`);
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const v = columns[keys[i]!];
    if (v === null || v === undefined) continue;
    const value = typeof v === 'object' ? (Array.isArray(v) && v.length === 0 ? undefined : canonicalJson(v)) : JSON.stringify(v);
    if (value === undefined) continue;
    text += text.length === 1 ? `${quoted[i]}${value}` : `,${quoted[i]}${value}`;
  }
  return sha256Hex(`${text}}`);
}

const quotedKeyLists = new WeakMap<readonly string[], string[]>();
function quotedKeys(keys: readonly string[]): string[] {
  let quoted = quotedKeyLists.get(keys);
  if (!quoted) quotedKeyLists.set(keys, (quoted = keys.map((k) => `${JSON.stringify(k)}:`)));
  return quoted;
}

function timeUs(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}

/**
 * The mapped columns of a record, coerced to their types; a PATCH carries only the columns
 * it has, a DELETE carries empty ones. No fallback values: this is what `_hash` covers.
 * Throws INVALID_ARGUMENT (details: column, expected, found) on a value it cannot coerce.
 */
export function mappedColumns(record: SyncRecord, mapping: Pick<MappingSpec, 'fields'>): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const field of mapping.fields) {
    if ((SYSTEM_COLUMNS as readonly string[]).includes(field.name)) {
      throw new MlbridgeError('INVALID_ARGUMENT', `column '${field.name}': the name is reserved for a system column`);
    }
  }
  const isDelete = record.operation === 'DELETE';
  for (const field of mapping.fields) {
    if (isDelete) {
      out[field.name] = field.mode === 'REPEATED' ? [] : null;
      continue;
    }
    if (record.operation === 'PATCH' && !hasFieldValue(record, field)) continue;
    out[field.name] = coerceField(fieldValue(record, field), field as FieldSpec);
  }
  return out;
}

/**
 * Fills an empty partition column with `fallbackTime` (in place), so the row lands in a
 * real partition. Call after hashing.
 */
export function fillPartitionColumn(
  columns: Record<string, RowValue>,
  mapping: Pick<MappingSpec, 'fields' | 'partitioning'>,
  fallbackTime: Date,
  operation: SyncRecord['operation'],
): void {
  const partitionField = mapping.partitioning?.field;
  if (!partitionField || operation === 'DELETE') return;
  const v = columns[partitionField];
  const field = mapping.fields.find((f) => f.name === partitionField);
  if ((v === null || v === undefined) && field) columns[partitionField] = coerceField(fallbackTime, field as FieldSpec);
}

/** Data of a record without a mapping: its own keys, values made JSON-safe. */
function passthroughColumns(record: SyncRecord): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const [k, v] of Object.entries(record.data ?? {})) {
    if (v === undefined) continue;
    if ((SYSTEM_COLUMNS as readonly string[]).includes(k)) {
      throw new MlbridgeError('INVALID_ARGUMENT', `column '${k}': the name is reserved for a system column`);
    }
    out[k] = toJsonValue(v, undefined);
  }
  return out;
}

/**
 * A row ready for BigQuery (or DuckDB): system columns first, then the mapped columns.
 * Throws MlbridgeError INVALID_ARGUMENT naming the column and the value it could not take.
 */
export function buildBigQueryRow(
  record: SyncRecord,
  mapping?: Pick<MappingSpec, 'kind' | 'fields' | 'partitioning' | 'scoring'>,
  options: BuildRowOptions = {},
): Row {
  const now = options.now ?? new Date();
  const eventTime = recordEventTime(record);
  const columns = mapping ? mappedColumns(record, mapping) : passthroughColumns(record);
  const hash = rowHash(columns);
  if (mapping) fillPartitionColumn(columns, mapping, eventTime ?? now, record.operation);
  const version = parseVersion(record.version) ?? (eventTime ? timeUs(eventTime) : timeUs(now));
  let score: number;
  if (typeof options.score === 'number') score = options.score;
  else if (options.score) score = options.score.confidence;
  else {
    score = scoreRecordFreshness(record, {
      ...(mapping ? { mapping } : {}),
      ...(options.scoring ? { scoring: options.scoring } : {}),
      ...(options.profile ? { profile: options.profile } : {}),
      now,
    }).confidence;
  }
  return {
    _key: recordKey(record),
    _version: version.toString(),
    _hash: hash,
    _synced_at: formatTimestampUs(timeUs(now)),
    _score: Number.isFinite(score) ? score : 0,
    ...columns,
  };
}
