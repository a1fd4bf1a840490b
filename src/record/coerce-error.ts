// How a value that does not fit its column is described: the shortened rendering and type
// name of a JS value, and the INVALID_ARGUMENT error naming the column path. Separate
// from coerce.ts so the per-type converters (coerce.ts, coerce-time.ts) and the scorer
// share it without importing each other.

import { MlbridgeError } from '../model/errors.js';

/** JSON rendering of a value for messages, shortened. */
export function renderValue(v: unknown): string {
  let s: string;
  if (typeof v === 'bigint') s = `${v}`;
  else if (v === undefined) s = 'undefined';
  else if (v instanceof Date) s = Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  else if (v instanceof Uint8Array) s = `<${v.length} bytes>`;
  else if (typeof v === 'number') s = String(v);
  else s = jsonText(v);
  return shortened(s);
}

/** A value's JSON text, or String(v) where JSON has none (undefined, a function, a cycle). */
export function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Text for a message, cut to 80 characters. */
export function shortened(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function cannotCoerce(path: string, value: unknown, type: string, why?: string): MlbridgeError {
  return new MlbridgeError(
    'INVALID_ARGUMENT',
    `column '${path}': cannot coerce ${renderValue(value)} to ${type}${why ? ` (${why})` : ''}`,
    { details: { column: path, expected: type, found: valueTypeName(value), value: renderValue(value), ...(why ? { why } : {}) } },
  );
}

/** The type name of a JS value, for `wrong_type:age=STRING!=INT64` flags. */
export function valueTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return 'STRING';
  if (typeof v === 'boolean') return 'BOOL';
  if (typeof v === 'bigint') return 'INT64';
  // An integral double beyond 2^53 (1e300) is no INT64: naming it one made "expected INT64, found INT64".
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 'INT64' : 'FLOAT64';
  if (v instanceof Date) return 'TIMESTAMP';
  if (v instanceof Uint8Array) return 'BYTES';
  if (Array.isArray(v)) return 'ARRAY';
  if (typeof v === 'object' && 'latitude' in v && 'longitude' in v) return 'GEOGRAPHY';
  return 'RECORD';
}
