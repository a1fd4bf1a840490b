// SyncRecord: one change to one entity, the unit that scoring and row building work on.
// It is what `mlbridge serve` receives from Pub/Sub, what the export/Datastore sources
// turn entities into, and what library users build in their own code.

import { MlbridgeError } from '../model/errors.js';
import { jsonText, shortened } from './coerce-error.js';
import { canonicalKey, type Entity, type Key, type Value } from '../source/entity.js';

export type SyncOperation = 'UPSERT' | 'DELETE' | 'PATCH';
export const SYNC_OPERATIONS: readonly SyncOperation[] = ['UPSERT', 'DELETE', 'PATCH'];

/** Where a record came from (the raw table's `origin` column). */
export type RecordOrigin = 'pubsub' | 'eventarc' | 'export' | 'datastore';
export const RECORD_ORIGINS: readonly RecordOrigin[] = ['pubsub', 'eventarc', 'export', 'datastore'];

/** Plain JS data of an entity: property name → value (see entityToSyncRecord for the mapping). */
export type RecordData = Record<string, unknown>;

export interface SyncRecord {
  /**
   * The entity's key path: canonical form `Kind:name/Child#123` (see canonicalKey), or any
   * other string, which is then read as the name of a single-element key of `kind`.
   * Without the namespace: that is `namespace`.
   */
  entityKey: string;
  kind: string;
  operation: SyncOperation;
  /** The entity's properties. UPSERT/PATCH: an object; DELETE: null (or ignored). */
  data: RecordData | null;
  /** When the change happened: a Date, an RFC 3339 string or epoch milliseconds. */
  eventTime?: Date | string | number;
  /** Monotonic per entity (Datastore entity version): a non-negative integer. */
  version?: number | string | bigint;
  namespace?: string;
  origin?: RecordOrigin;
}

/** details: `field` (the record field at fault) and `problem` (the message without it), for callers that name the field their own way. */
function invalid(field: string, problem: string): MlbridgeError {
  return new MlbridgeError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field, problem } });
}

/** A short, quoted rendering of a user value for error messages. */
export function describeValue(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = `'${v}'`;
  else if (typeof v === 'bigint') s = `${v}n`;
  else if (v === undefined) s = 'undefined';
  else if (v instanceof Date) s = `Date(${Number.isNaN(v.getTime()) ? 'Invalid' : v.toISOString()})`;
  else if (typeof v === 'number') s = String(v);
  else s = jsonText(v);
  return shortened(s);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * A calendar check of an RFC 3339 event time: JavaScript's Date rolls 2026-02-30 over
 * to March 2 without a word, which would score the record at a time nobody gave.
 */
export function eventTimeProblem(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/.exec(text.trim());
  if (!m) return undefined; // not RFC 3339 at all: the record's own check says so
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) return `month ${m[2]} does not exist`;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) return `${MONTHS[month - 1]} ${year} has ${days} days, so day ${m[3]} does not exist`;
  if (hour > 23 || minute > 59 || second > 59) return `${m[4]}:${m[5]}:${m[6]} is not a time of day`;
  if (m[7] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return `${m[7]}${m[8]}:${m[9]} is not a UTC offset`;
  return undefined;
}

/** Parses a record's eventTime into a Date; undefined when absent; throws on a bad value. */
export function parseEventTime(value: unknown, field = 'eventTime'): Date | undefined {
  if (value === undefined || value === null) return undefined;
  let d: Date | undefined;
  if (value instanceof Date) d = new Date(value.getTime());
  else if (typeof value === 'number' && Number.isFinite(value)) d = new Date(value);
  else if (typeof value === 'string' && RFC3339.test(value.trim())) {
    const problem = eventTimeProblem(value);
    if (problem) throw invalid(field, `${describeValue(value)} is not a real time: ${problem}`);
    d = new Date(value.trim().replace(' ', 'T'));
  }
  if (!d || Number.isNaN(d.getTime())) {
    throw invalid(field, `expected an RFC 3339 timestamp, a Date or epoch milliseconds, got ${describeValue(value)}`);
  }
  return d;
}

/** The record's event time as a Date, or undefined. Assumes a validated record. */
export function recordEventTime(record: Pick<SyncRecord, 'eventTime'>): Date | undefined {
  return parseEventTime(record.eventTime);
}

const INT64_MAX = (1n << 63n) - 1n;

/** Parses a version into a bigint; throws naming the field. */
export function parseVersion(value: unknown): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  let v: bigint | undefined;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else if (typeof value === 'string' && /^\d+$/.test(value)) v = BigInt(value);
  if (v === undefined || v < 0n || v > INT64_MAX) {
    throw invalid('version', `expected a non-negative 64-bit integer, got ${describeValue(value)}`);
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks an untrusted value (parsed JSON, a Pub/Sub message) and returns it as a
 * SyncRecord: a shallow copy with `data` set to null for a DELETE without data.
 * Throws MlbridgeError INVALID_ARGUMENT whose message starts with the bad field's name
 * (details: field, problem).
 */
export function validateSyncRecord(x: unknown): SyncRecord {
  if (!isPlainObject(x)) throw invalid('record', `expected an object, got ${describeValue(x)}`);
  const { entityKey, kind, operation, data, eventTime, version, namespace, origin } = x;
  if (typeof entityKey !== 'string' || entityKey.length === 0) {
    throw invalid('entityKey', `expected a non-empty string, got ${describeValue(entityKey)}`);
  }
  if (typeof kind !== 'string' || kind.length === 0) {
    throw invalid('kind', `expected a non-empty string, got ${describeValue(kind)}`);
  }
  if (typeof operation !== 'string' || !(SYNC_OPERATIONS as readonly string[]).includes(operation)) {
    throw invalid('operation', `expected UPSERT, DELETE or PATCH, got ${describeValue(operation)}`);
  }
  let recordData: RecordData | null;
  if (operation === 'DELETE') {
    if (data !== undefined && data !== null && !isPlainObject(data)) {
      throw invalid('data', `expected an object or null, got ${describeValue(data)}`);
    }
    recordData = (data as RecordData | null | undefined) ?? null;
  } else {
    if (!isPlainObject(data)) throw invalid('data', `expected an object for ${operation}, got ${describeValue(data)}`);
    recordData = data;
  }
  parseEventTime(eventTime);
  parseVersion(version);
  if (namespace !== undefined && typeof namespace !== 'string') {
    throw invalid('namespace', `expected a string, got ${describeValue(namespace)}`);
  }
  if (origin !== undefined && !(RECORD_ORIGINS as readonly unknown[]).includes(origin)) {
    throw invalid('origin', `expected pubsub, eventarc, export or datastore, got ${describeValue(origin)}`);
  }
  const out: SyncRecord = { entityKey, kind, operation: operation as SyncOperation, data: recordData };
  if (eventTime !== undefined && eventTime !== null) out.eventTime = eventTime as Date | string | number;
  if (version !== undefined && version !== null) out.version = version as number | string | bigint;
  if (namespace !== undefined) out.namespace = namespace;
  if (origin !== undefined) out.origin = origin as RecordOrigin;
  return out;
}

// ---------------------------------------------------------------------------------------
// Entity → SyncRecord

/**
 * Converts a Datastore value (v1 REST shape) to plain JS:
 * - integerValue → number when it is a safe integer, else the decimal string (never a
 *   bigint, so `data` stays JSON-serialisable; INT64 columns accept both);
 * - doubleValue → number ("Infinity", "-Infinity", "NaN" → the JS number);
 * - timestampValue → the RFC 3339 string as given (a Date would drop the microseconds);
 * - keyValue → canonical key string (canonicalKey); blobValue → Buffer;
 * - geoPointValue → {latitude, longitude}; entityValue → object of its properties
 *   (an embedded entity's own key is dropped); arrayValue → array; nullValue → null.
 */
export function valueToJs(v: Value): unknown {
  if ('nullValue' in v) return null;
  if ('booleanValue' in v) return v.booleanValue;
  if ('integerValue' in v) {
    const n = Number(v.integerValue);
    return Number.isSafeInteger(n) ? n : String(v.integerValue);
  }
  if ('doubleValue' in v) {
    const d = v.doubleValue;
    return typeof d === 'number' ? d : d === 'Infinity' ? Infinity : d === '-Infinity' ? -Infinity : NaN;
  }
  if ('timestampValue' in v) return v.timestampValue;
  if ('keyValue' in v) return canonicalKey(v.keyValue);
  if ('stringValue' in v) return v.stringValue;
  if ('blobValue' in v) return Buffer.from(v.blobValue, 'base64');
  if ('geoPointValue' in v) return { latitude: v.geoPointValue.latitude, longitude: v.geoPointValue.longitude };
  if ('entityValue' in v) return propertiesToJs(v.entityValue.properties ?? {});
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(valueToJs);
  return null;
}

export function propertiesToJs(properties: Record<string, Value>): RecordData {
  const out: RecordData = {};
  for (const name of Object.keys(properties)) out[name] = valueToJs(properties[name]!);
  return out;
}

/** The key path in canonical form without the namespace prefix. */
export function keyPathString(key: Key): string {
  return canonicalKey({ partitionId: { projectId: key.partitionId.projectId }, path: key.path });
}

export interface EntityRecordOptions {
  origin?: RecordOrigin;
  /** Default UPSERT. */
  operation?: 'UPSERT' | 'PATCH';
  eventTime?: Date | string | number;
  version?: number | string | bigint;
}

/**
 * A record for an entity read from an export or Datastore: entityKey is the key path in
 * canonical form, namespace the key's namespace (omitted when default), so that
 * `buildBigQueryRow(...)._key === canonicalKey(entity.key)`.
 */
export function entityToSyncRecord(entity: Entity, options: EntityRecordOptions = {}): SyncRecord {
  const last = entity.key.path[entity.key.path.length - 1];
  if (!last) throw invalid('key', 'entity key has an empty path');
  const record: SyncRecord = {
    entityKey: keyPathString(entity.key),
    kind: last.kind,
    operation: options.operation ?? 'UPSERT',
    data: propertiesToJs(entity.properties ?? {}),
  };
  const ns = entity.key.partitionId.namespaceId;
  if (ns) record.namespace = ns;
  if (options.eventTime !== undefined) record.eventTime = options.eventTime;
  if (options.version !== undefined) record.version = options.version;
  if (options.origin !== undefined) record.origin = options.origin;
  return record;
}

// ---------------------------------------------------------------------------------------
// Keys

export interface ParsedKeyElement {
  kind: string;
  name?: string;
  id?: string;
}

/**
 * Reads a record's entityKey back into path elements. A canonical path ending in the
 * record's kind (`Parent:name/Kind#123`, components URI-encoded) is decoded; anything
 * else is taken as the name of a single element of the record's kind (`customer-1001`).
 */
export function parseEntityKey(entityKey: string, kind: string): ParsedKeyElement[] {
  const segments = entityKey.split('/');
  const out: ParsedKeyElement[] = [];
  for (const seg of segments) {
    const m = /^([^:#|]+)([:#])([^:#|]*)$/.exec(seg);
    if (!m) return [{ kind, name: entityKey }];
    try {
      const k = decodeURIComponent(m[1]!);
      if (m[2] === '#') {
        if (!/^\d+$/.test(m[3]!)) return [{ kind, name: entityKey }];
        out.push({ kind: k, id: m[3]! });
      } else out.push({ kind: k, name: decodeURIComponent(m[3]!) });
    } catch {
      return [{ kind, name: entityKey }];
    }
  }
  // A canonical path ends in the record's own kind; `user:123` of kind CustomerProfile is
  // a name that happens to hold a colon.
  if (out[out.length - 1]!.kind !== kind) return [{ kind, name: entityKey }];
  return out;
}

/**
 * `_key`: the canonical key (canonicalKey's format) of the record's entity, so a record
 * sent as `customer-1001` of kind CustomerProfile and the same entity read from an export
 * land on the same row (`CustomerProfile:customer-1001`, prefixed `<namespace>|`).
 */
export function recordKey(record: Pick<SyncRecord, 'entityKey' | 'namespace' | 'kind'>): string {
  const path = parseEntityKey(record.entityKey, record.kind);
  return canonicalKey({ partitionId: { projectId: '', ...(record.namespace ? { namespaceId: record.namespace } : {}) }, path });
}

/**
 * `SyncRecord` as a value too, so `import { SyncRecord } from 'mlbridge'` works from
 * plain JavaScript and under `verbatimModuleSyntax`: `SyncRecord.validate(json)` checks
 * untrusted input, `SyncRecord.fromEntity(entity)` converts an exported entity.
 */
export const SyncRecord = {
  validate: validateSyncRecord,
  fromEntity: entityToSyncRecord,
  operations: SYNC_OPERATIONS,
} as const;
