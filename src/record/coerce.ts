// Coercion of plain JS values to BigQuery column types, producing the warehouse's
// RowValue conventions (INT64/NUMERIC as decimal strings, TIMESTAMP as RFC 3339 UTC with
// microseconds, BYTES as base64, JSON as parsed JS values). Whatever cannot be coerced is
// rejected with a message naming the column path and the value (coerce-error.ts); the
// time types are converted in coerce-time.ts.

import { MlbridgeError } from '../model/errors.js';
import type { ColumnMode, ColumnType } from '../model/schema.js';
import type { RowValue } from '../warehouse/warehouse.js';
import { cannotCoerce } from './coerce-error.js';
import { formatTimestampUs, toDate, toDatetime, toTime, toTimestamp } from './coerce-time.js';


/** The part of a FieldSpec/ColumnSchema coercion needs. */
export interface CoercionField {
  name: string;
  type: ColumnType;
  mode: ColumnMode;
  /** Path inside the parent value (FieldSpec.from); defaults to [name]. */
  from?: string[];
  fields?: CoercionField[];
}

// ---------------------------------------------------------------------------------------
// Integers and decimals

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function toInt64(v: unknown, path: string): string {
  let b: bigint | undefined;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw cannotCoerce(path, v, 'INT64', 'not an integer');
    if (!Number.isSafeInteger(v)) throw cannotCoerce(path, v, 'INT64', 'beyond 2^53: pass a string or bigint');
    b = BigInt(v);
  } else if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) b = BigInt(v.trim());
  if (b === undefined) throw cannotCoerce(path, v, 'INT64');
  if (b < INT64_MIN || b > INT64_MAX) throw cannotCoerce(path, v, 'INT64', 'out of range');
  return b.toString();
}

interface Decimal {
  negative: boolean;
  int: string; // no leading zeros ('' for zero)
  frac: string; // no trailing zeros
}

/** Parses `-12.340`, `1e-3`, `.5` into digits; undefined when not a decimal number. */
function parseDecimal(s: string): Decimal | undefined {
  const m = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(s);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return undefined;
  let digits = (m[2] ?? '') + (m[3] ?? '');
  let point = (m[2] ?? '').length + Number(m[4] ?? 0);
  if (Math.abs(point) > 1000) return undefined;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  } else if (point > digits.length) digits = digits + '0'.repeat(point - digits.length);
  const int = digits.slice(0, point).replace(/^0+/, '');
  const frac = digits.slice(point).replace(/0+$/, '');
  return { negative: m[1] === '-' && (int !== '' || frac !== ''), int, frac };
}

function decimalString(d: Decimal): string {
  return `${d.negative ? '-' : ''}${d.int || '0'}${d.frac ? `.${d.frac}` : ''}`;
}

/** NUMERIC: precision 38, scale 9. BIGNUMERIC: 38 integer digits (76.76), scale 38. */
const DECIMAL_LIMITS = { NUMERIC: { int: 29, scale: 9 }, BIGNUMERIC: { int: 38, scale: 38 } } as const;

function toDecimal(v: unknown, path: string, type: 'NUMERIC' | 'BIGNUMERIC'): string {
  const lim = DECIMAL_LIMITS[type];
  let d: Decimal | undefined;
  if (typeof v === 'bigint') d = parseDecimal(v.toString());
  else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw cannotCoerce(path, v, type, 'not finite');
    // A JS number is already approximate: round it to the type's scale rather than
    // rejecting 0.1 + 0.2. Strings must be exact.
    d = parseDecimal(v.toFixed(Math.min(lim.scale, 20)));
    if (Math.abs(v) >= 1e21) d = parseDecimal(String(v));
  } else if (typeof v === 'string') d = parseDecimal(v);
  if (!d) throw cannotCoerce(path, v, type);
  if (d.int.length > lim.int) throw cannotCoerce(path, v, type, `more than ${lim.int} integer digits`);
  if (d.frac.length > lim.scale) throw cannotCoerce(path, v, type, `more than ${lim.scale} decimal places`);
  return decimalString(d);
}

function toFloat64(v: unknown, path: string): number | string {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'string') {
    const t = v.trim();
    if (t === 'NaN' || t === 'Infinity' || t === '-Infinity' || t === '+Infinity') n = Number(t);
    else if (parseDecimal(t)) n = Number(t);
  }
  if (n === undefined) throw cannotCoerce(path, v, 'FLOAT64');
  // BigQuery's JSON rows carry non-finite doubles as these strings.
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

function toBool(v: unknown, path: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
  }
  throw cannotCoerce(path, v, 'BOOL');
}

function toStringValue(v: unknown, path: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  throw cannotCoerce(path, v, 'STRING');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function toBytes(v: unknown, path: string): string {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (typeof v === 'string' && BASE64.test(v)) return v;
  throw cannotCoerce(path, v, 'BYTES', typeof v === 'string' ? 'not base64' : undefined);
}

// ---------------------------------------------------------------------------------------
// GEOGRAPHY, JSON, RECORD

/** What BigQuery takes as GEOGRAPHY text: WKT (by its leading type keyword) or GeoJSON. */
const WKT = /^(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)\s*(Z\s*|M\s*|ZM\s*)?(\(|EMPTY$)/i;

function toGeography(v: unknown, path: string): string {
  if (typeof v === 'string') {
    const t = v.trim();
    // Checked here so a bad value is refused with its column, not by the insert later.
    if (WKT.test(t) || t.startsWith('{')) return t;
    throw cannotCoerce(path, v, 'GEOGRAPHY', 'expected WKT such as POINT(lng lat), GeoJSON, or {latitude, longitude}');
  }
  if (typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string' && 'coordinates' in v) {
    return JSON.stringify(v); // a GeoJSON geometry object
  }
  if (typeof v === 'object' && v !== null && 'latitude' in v && 'longitude' in v) {
    const { latitude: lat, longitude: lng } = v as { latitude: unknown; longitude: unknown };
    if (typeof lat === 'number' && typeof lng === 'number' && Math.abs(lat) <= 90 && Math.abs(lng) <= 180) {
      return `POINT(${lng} ${lat})`;
    }
    throw cannotCoerce(path, v, 'GEOGRAPHY', 'latitude must be in -90..90 and longitude in -180..180');
  }
  throw cannotCoerce(path, v, 'GEOGRAPHY');
}

/**
 * A JSON-safe copy: Date → RFC 3339 (µs), bigint → number when safe else decimal string,
 * bytes → base64, undefined object members dropped. Non-finite numbers and other class
 * instances are rejected (when `path` is given) or rendered as strings (when not).
 */
export function toJsonValue(v: unknown, path: string | undefined, seen: Set<unknown> = new Set()): RowValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    if (path !== undefined) throw cannotCoerce(path, v, 'JSON', 'not finite');
    return String(v);
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw cannotCoerce(path ?? '?', v, 'JSON');
    return formatTimestampUs(BigInt(v.getTime()) * 1000n);
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (typeof v === 'object') {
    if (seen.has(v)) throw cannotCoerce(path ?? '?', '[circular]', 'JSON', 'circular reference');
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x, i) => toJsonValue(x, path === undefined ? undefined : `${path}[${i}]`, seen));
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        if (path !== undefined) throw cannotCoerce(path, v, 'JSON', 'not a plain object');
        return String(v);
      }
      const out: Record<string, RowValue> = {};
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = toJsonValue(x, path === undefined ? undefined : `${path}.${k}`, seen);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  }
  if (path !== undefined) throw cannotCoerce(path, v, 'JSON');
  return String(v);
}

/** Follows a `from` path (already split) into a value; undefined when a step is missing. */
export function getPath(value: unknown, path: readonly string[]): unknown {
  let cur: unknown = value;
  for (const step of path) {
    if (cur === null || cur === undefined || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[step];
  }
  return cur;
}

function toRecord(v: unknown, field: CoercionField, path: string): Record<string, RowValue> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date || v instanceof Uint8Array) {
    throw cannotCoerce(path, v, 'RECORD');
  }
  const out: Record<string, RowValue> = {};
  // Members not declared as sub-fields are not carried (the table has no column for them).
  for (const sub of field.fields ?? []) {
    out[sub.name] = coerceField(getPath(v, sub.from ?? [sub.name]), sub, `${path}.${sub.name}`);
  }
  return out;
}

function coerceScalar(v: unknown, field: CoercionField, path: string): RowValue {
  switch (field.type) {
    case 'INT64':
      return toInt64(v, path);
    case 'FLOAT64':
      return toFloat64(v, path);
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return toDecimal(v, path, field.type);
    case 'BOOL':
      return toBool(v, path);
    case 'STRING':
      return toStringValue(v, path);
    case 'BYTES':
      return toBytes(v, path);
    case 'TIMESTAMP':
      return toTimestamp(v, path);
    case 'DATE':
      return toDate(v, path);
    case 'DATETIME':
      return toDatetime(v, path);
    case 'TIME':
      return toTime(v, path);
    case 'GEOGRAPHY':
      return toGeography(v, path);
    case 'JSON':
      return toJsonValue(v, path);
    case 'RECORD':
      return toRecord(v, field, path);
  }
}

/**
 * Coerces one column value. null/undefined → null (REPEATED: []); a REQUIRED column
 * that is null throws; REPEATED wants an array without null elements.
 */
export function coerceField(v: unknown, field: CoercionField, path: string = field.name): RowValue {
  if (field.mode === 'REPEATED') {
    if (v === null || v === undefined) return [];
    if (!Array.isArray(v)) throw cannotCoerce(path, v, `ARRAY<${field.type}>`, 'expected an array');
    return v.map((x, i) => {
      if (x === null || x === undefined) {
        throw new MlbridgeError('INVALID_ARGUMENT', `column '${path}[${i}]': arrays cannot hold null`);
      }
      return coerceScalar(x, field, `${path}[${i}]`);
    });
  }
  if (v === null || v === undefined) {
    if (field.mode === 'REQUIRED') {
      throw new MlbridgeError('INVALID_ARGUMENT', `column '${path}': REQUIRED value is null or missing`, {
        details: { column: path, expected: `${field.type} (REQUIRED)`, found: 'NULL' },
      });
    }
    return null;
  }
  return coerceScalar(v, field, path);
}
