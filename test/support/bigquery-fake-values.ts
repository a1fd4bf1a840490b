// Value codecs for the BigQuery fake: JSON (NDJSON loads, insertAll) → DuckDB SQL
// literals, and DuckDB result values → BigQuery's tabledata f/v cells.

import { SqlError, duckType, legacyType } from './bigquery-fake-sql.js';
import type { RestFieldLike } from './bigquery-fake-sql.js';

function sqlStr(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

/**
 * A DuckDB literal for a JSON value destined for `field` (BigQuery's load/insertAll
 * coercions). JSON columns: a load job takes the raw JSON value ("loaded with the raw JSON
 * values"); insertAll takes a string of JSON text (`jsonText`).
 */
export function literal(v: unknown, f: RestFieldLike, path = f.name, jsonText = false): string {
  if ((f.mode ?? '').toUpperCase() === 'REPEATED') {
    if (v === null || v === undefined) return `CAST([] AS ${duckType(f)})`;
    if (!Array.isArray(v)) throw new SqlError(`Array specified for non-repeated field: ${path}.`);
    return `CAST([${v.map((x) => scalar(x, f, path, jsonText)).join(', ')}] AS ${duckType(f)})`;
  }
  if (v === null || v === undefined) {
    if ((f.mode ?? '').toUpperCase() === 'REQUIRED') throw new SqlError(`Missing required field: ${path}.`);
    return 'NULL';
  }
  return scalar(v, f, path, jsonText);
}

function scalar(v: unknown, f: RestFieldLike, path: string, jsonText: boolean): string {
  if (v === null || v === undefined) return `CAST(NULL AS ${duckType(f, false)})`;
  const t = legacyType(f.type);
  switch (t) {
    case 'RECORD': {
      if (typeof v !== 'object' || Array.isArray(v)) throw new SqlError(`JSON object specified for non-record field: ${path}`);
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!(f.fields ?? []).some((c) => c.name.toLowerCase() === k.toLowerCase())) throw new SqlError(`no such field: ${path}.${k}.`);
      }
      const entries = (f.fields ?? []).map((c) => {
        const key = Object.keys(obj).find((k) => k.toLowerCase() === c.name.toLowerCase());
        return `${sqlStr(c.name)}: ${literal(key === undefined ? null : obj[key], c, `${path}.${c.name}`, jsonText)}`;
      });
      return `CAST({${entries.join(', ')}} AS ${duckType(f, false)})`;
    }
    case 'INTEGER': {
      const s = String(v);
      if (!/^-?\d+$/.test(s)) throw new SqlError(`Could not parse '${s}' as INT64 for field ${path}`);
      return `CAST(${s} AS BIGINT)`;
    }
    case 'FLOAT':
      if (Number.isNaN(Number(v))) throw new SqlError(`Could not parse '${String(v)}' as a double for field ${path}`);
      return `CAST(${sqlStr(String(v))} AS DOUBLE)`;
    case 'BOOLEAN':
      if (v !== true && v !== false && v !== 'true' && v !== 'false') throw new SqlError(`Could not parse '${String(v)}' as BOOL for field ${path}`);
      return String(v) === 'true' ? 'TRUE' : 'FALSE';
    case 'BYTES':
      return `from_base64(${sqlStr(String(v))})`;
    case 'TIMESTAMP':
      if (typeof v === 'number') return `to_timestamp(${v})`;
      return `CAST(${sqlStr(String(v))} AS TIMESTAMPTZ)`;
    case 'JSON':
      if (jsonText && typeof v === 'string') return `CAST(${sqlStr(v)} AS JSON)`;
      return `CAST(${sqlStr(JSON.stringify(v))} AS JSON)`;
    default:
      return `CAST(${sqlStr(typeof v === 'string' ? v : JSON.stringify(v))} AS ${duckType(f, false)})`;
  }
}

/** DuckDB TIMESTAMPTZ text ("2024-01-01 01:02:03.123456+00") → µs since the epoch. */
export function timestampMicros(s: string): bigint {
  const m = /^(-?\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:Z|([+-])(\d\d)(?::?(\d\d))?)?$/.exec(s);
  if (!m) throw new Error(`fake: unparseable timestamp ${s}`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const frac = BigInt((m[7] ?? '').padEnd(6, '0').slice(0, 6) || '0');
  const off = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10] ?? 0)) : 0;
  return BigInt(ms) * 1000n + frac - BigInt(off) * 60_000_000n;
}

export interface Cell {
  v: unknown;
}

/** A DuckDB JSON-ified value → the f/v cell BigQuery returns for `field`. */
export function cell(v: unknown, f: RestFieldLike, int64Timestamp: boolean): Cell {
  if ((f.mode ?? '').toUpperCase() === 'REPEATED') {
    const items = Array.isArray(v) ? v : [];
    return { v: items.map((x) => ({ v: scalarCell(x, f, int64Timestamp) })) };
  }
  return { v: scalarCell(v, f, int64Timestamp) };
}

function scalarCell(v: unknown, f: RestFieldLike, int64Timestamp: boolean): unknown {
  if (v === null || v === undefined) return null;
  switch (legacyType(f.type)) {
    case 'RECORD': {
      const obj = v as Record<string, unknown>;
      return { f: (f.fields ?? []).map((c) => cell(obj[c.name] ?? obj[Object.keys(obj).find((k) => k.toLowerCase() === c.name.toLowerCase()) ?? ''], c, int64Timestamp)) };
    }
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const s = String(v);
      return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
    }
    case 'TIMESTAMP': {
      const micros = timestampMicros(String(v));
      return int64Timestamp ? micros.toString() : (Number(micros) / 1e6).toString();
    }
    case 'DATETIME':
      return String(v).replace(' ', 'T');
    case 'BYTES':
      // Top-level BYTES are selected as base64() already; nested ones arrive as text.
      return typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? v : Buffer.from(String(v), 'latin1').toString('base64');
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

/** A REST field for a DuckDB result column type (SELECT results). */
export function fieldForDuckType(name: string, t: { typeId: number; toString(): string } & Record<string, unknown>): RestFieldLike {
  const id = t.typeId;
  // DuckDBTypeId values (see @duckdb/node-api DuckDBTypeId).
  if (id === 24 || id === 33) {
    const inner = fieldForDuckType(name, t.valueType as never);
    return { ...inner, mode: 'REPEATED' };
  }
  if (id === 25) {
    const names = t.entryNames as string[];
    const types = t.entryTypes as Array<{ typeId: number; toString(): string } & Record<string, unknown>>;
    return { name, type: 'RECORD', mode: 'NULLABLE', fields: names.map((n, i) => fieldForDuckType(n, types[i]!)) };
  }
  const simple: Record<number, string> = {
    1: 'BOOLEAN', 2: 'INTEGER', 3: 'INTEGER', 4: 'INTEGER', 5: 'INTEGER', 6: 'INTEGER', 7: 'INTEGER', 8: 'INTEGER', 9: 'INTEGER',
    16: 'NUMERIC', 10: 'FLOAT', 11: 'FLOAT', 12: 'DATETIME', 13: 'DATE', 14: 'TIME', 17: 'STRING', 18: 'BYTES', 19: 'NUMERIC',
    31: 'TIMESTAMP', 36: 'STRING',
  };
  const alias = String((t as { alias?: string }).alias ?? '');
  return { name, type: alias === 'JSON' ? 'JSON' : simple[id] ?? 'STRING', mode: 'NULLABLE' };
}
