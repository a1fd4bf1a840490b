// Row codecs for the BigQuery adapter: tabledata.list f/v cells → Row (INT64/NUMERIC as
// decimal strings, TIMESTAMP as RFC 3339, JSON parsed), and Row → NDJSON objects for load jobs.

import type { Row, RowValue } from './warehouse.js';
import type { RestField } from './bigquery-schema.js';

export function decodeRow(fields: RestField[], r: { f: Array<{ v: unknown }> }): Row {
  const row: Row = {};
  fields.forEach((f, i) => {
    row[f.name] = decodeCell(f, r.f[i]?.v ?? null);
  });
  return row;
}

function decodeCell(f: RestField, v: unknown): RowValue {
  if (v === null || v === undefined) return f.mode === 'REPEATED' ? [] : null;
  if (f.mode === 'REPEATED') return (v as Array<{ v: unknown }>).map((x) => decodeScalar(f, x.v));
  return decodeScalar(f, v);
}

function decodeScalar(f: RestField, v: unknown): RowValue {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case 'RECORD':
    case 'STRUCT':
      return decodeRow(f.fields ?? [], v as { f: Array<{ v: unknown }> });
    case 'FLOAT':
    case 'FLOAT64':
      return Number(v);
    case 'BOOLEAN':
    case 'BOOL':
      return v === 'true' || v === true;
    case 'TIMESTAMP':
      return microsToRfc3339(String(v));
    case 'JSON':
      try {
        return JSON.parse(String(v)) as RowValue;
      } catch {
        return String(v);
      }
    default:
      return String(v);
  }
}

/** "1704067200123456" (µs) or "1.7040672E9" (s) → RFC 3339 with as many fraction digits as needed. */
export function microsToRfc3339(v: string): string {
  const micros = /^-?\d+$/.test(v) ? BigInt(v) : BigInt(Math.round(Number(v) * 1e6));
  const ms = micros / 1000n;
  let rem = Number(micros % 1000n);
  let msN = Number(ms);
  if (rem < 0) {
    rem += 1000;
    msN -= 1;
  }
  const iso = new Date(msN).toISOString(); // ...sss Z
  return rem === 0 ? iso : `${iso.slice(0, -1)}${String(rem).padStart(3, '0')}Z`;
}

export function encodeRow(fields: RestField[], row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const key = Object.keys(row).find((k) => k.toLowerCase() === f.name.toLowerCase());
    if (key === undefined) continue;
    const v = row[key] ?? null;
    if (v === null) continue;
    out[f.name] = f.mode === 'REPEATED' && Array.isArray(v) ? v.map((x) => encodeScalar(f, x)) : encodeScalar(f, v);
  }
  return out;
}

function encodeScalar(f: RestField, v: RowValue): unknown {
  if (v === null) return null;
  // JSON columns: a load job takes the raw JSON value (a string stays a JSON string).
  if (f.type === 'JSON') return v;
  if ((f.type === 'RECORD' || f.type === 'STRUCT') && typeof v === 'object' && !Array.isArray(v)) return encodeRow(f.fields ?? [], v);
  return v;
}

