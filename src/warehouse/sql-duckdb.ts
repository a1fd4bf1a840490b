// DuckDB dialect: identifier quoting and the BigQuery ↔ DuckDB type mapping.
//
// Type mapping (BigQuery → DuckDB):
//   STRING → VARCHAR, BYTES → BLOB, INT64 → BIGINT, FLOAT64 → DOUBLE, BOOL → BOOLEAN,
//   NUMERIC → DECIMAL(38,9) (exact: BigQuery NUMERIC is 38 digits, scale 9),
//   BIGNUMERIC → DECIMAL(38,9) too. Precision compromise: DuckDB decimals stop at 38
//   digits, BigQuery BIGNUMERIC has 76 with scale 38. Storing it like NUMERIC keeps the
//   NUMERIC → BIGNUMERIC widening lossless (a DECIMAL(38,18) would lose 9 integer digits);
//   values beyond NUMERIC's range or scale are rejected/rounded. The table comment records
//   the BigQuery type so observe reads BIGNUMERIC back.
//   TIMESTAMP → TIMESTAMPTZ (sessions run in UTC), DATETIME → TIMESTAMP, DATE, TIME as is,
//   JSON → JSON (the json extension ships with @duckdb/node-api), GEOGRAPHY → VARCHAR (WKT),
//   RECORD → STRUCT(...), REPEATED → LIST (T[]). REQUIRED → NOT NULL on top-level columns;
//   DuckDB cannot enforce NOT NULL inside a STRUCT, so nested modes live in the comment.

import type { ColumnSchema, ColumnType } from '../model/schema.js';

/** `"name"` with embedded quotes doubled: safe for any user-supplied identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** A SQL string literal. */
export function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

const SCALAR: Record<Exclude<ColumnType, 'RECORD'>, string> = {
  STRING: 'VARCHAR',
  BYTES: 'BLOB',
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  NUMERIC: 'DECIMAL(38,9)',
  BIGNUMERIC: 'DECIMAL(38,9)',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMPTZ',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'TIMESTAMP',
  GEOGRAPHY: 'VARCHAR',
  JSON: 'JSON',
};

/** The DuckDB type of a column's values, ignoring mode. */
export function duckElementType(c: Pick<ColumnSchema, 'type' | 'fields'>): string {
  if (c.type === 'RECORD') {
    const fields = c.fields ?? [];
    return `STRUCT(${fields.map((f) => `${quoteIdent(f.name)} ${duckType(f)}`).join(', ')})`;
  }
  return SCALAR[c.type];
}

/** The DuckDB type of a column, REPEATED as a list. */
export function duckType(c: Pick<ColumnSchema, 'type' | 'fields' | 'mode'>): string {
  const t = duckElementType(c);
  return c.mode === 'REPEATED' ? `${t}[]` : t;
}

/** A column definition for CREATE TABLE / ADD COLUMN. */
export function columnDefinition(c: ColumnSchema, topLevel = true): string {
  return `${quoteIdent(c.name)} ${duckType(c)}${topLevel && c.mode === 'REQUIRED' ? ' NOT NULL' : ''}`;
}

// ---- Reading DuckDB types back (duckdb_columns().data_type) ----

export type DuckTypeNode =
  | { kind: 'scalar'; name: string; args: number[] }
  | { kind: 'list'; element: DuckTypeNode }
  | { kind: 'struct'; fields: { name: string; type: DuckTypeNode }[] };

/** Parses DuckDB's rendering of a type: `STRUCT("a b" BIGINT, c VARCHAR[])[]`, `DECIMAL(38,9)`... */
export function parseDuckType(text: string): DuckTypeNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const ident = (): string => {
    ws();
    if (text[i] === '"') {
      let out = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated identifier in ${text}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            out += '"';
            i += 2;
            continue;
          }
          i++;
          return out;
        }
        out += text[i++];
      }
    }
    const m = /^[^\s,()[\]]+/.exec(text.slice(i));
    if (!m) throw new Error(`expected a name at ${i} in ${text}`);
    i += m[0].length;
    return m[0];
  };
  const type = (): DuckTypeNode => {
    ws();
    let node: DuckTypeNode;
    const head = /^[A-Za-z_][A-Za-z0-9_ ]*?(?=\s*(\(|\[|,|\)|$))/.exec(text.slice(i));
    if (!head) throw new Error(`expected a type at ${i} in ${text}`);
    const name = head[0].trim().toUpperCase();
    i += head[0].length;
    ws();
    if (name === 'STRUCT' && text[i] === '(') {
      i++;
      const fields: { name: string; type: DuckTypeNode }[] = [];
      for (;;) {
        ws();
        if (text[i] === ')') {
          i++;
          break;
        }
        const n = ident();
        const t = type();
        fields.push({ name: n, type: t });
        ws();
        if (text[i] === ',') i++;
      }
      node = { kind: 'struct', fields };
    } else if (text[i] === '(') {
      const close = text.indexOf(')', i);
      const args = text
        .slice(i + 1, close)
        .split(',')
        .map((s) => Number(s.trim()));
      i = close + 1;
      node = { kind: 'scalar', name, args };
    } else {
      node = { kind: 'scalar', name, args: [] };
    }
    ws();
    while (text.startsWith('[]', i)) {
      node = { kind: 'list', element: node };
      i += 2;
      ws();
    }
    return node;
  };
  return type();
}

const FROM_DUCK: Record<string, ColumnType> = {
  VARCHAR: 'STRING',
  BLOB: 'BYTES',
  BIGINT: 'INT64',
  INTEGER: 'INT64',
  SMALLINT: 'INT64',
  TINYINT: 'INT64',
  HUGEINT: 'NUMERIC',
  UBIGINT: 'NUMERIC',
  UINTEGER: 'INT64',
  USMALLINT: 'INT64',
  UTINYINT: 'INT64',
  DOUBLE: 'FLOAT64',
  FLOAT: 'FLOAT64',
  DECIMAL: 'NUMERIC',
  BOOLEAN: 'BOOL',
  'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP',
  TIMESTAMPTZ: 'TIMESTAMP',
  TIMESTAMP: 'DATETIME',
  DATE: 'DATE',
  TIME: 'TIME',
  JSON: 'JSON',
  UUID: 'STRING',
};

/**
 * The BigQuery view of a DuckDB column. `hint` (from the table comment) refines what the
 * DuckDB type cannot say (BIGNUMERIC vs NUMERIC, GEOGRAPHY vs STRING, nested REQUIRED,
 * descriptions) — used only where it agrees with the catalog, so a hand-made ALTER still
 * observes truthfully.
 */
export function columnFromDuck(name: string, node: DuckTypeNode, notNull: boolean, hint: ColumnSchema | undefined, nested = false): ColumnSchema {
  let mode: ColumnSchema['mode'] = notNull ? 'REQUIRED' : 'NULLABLE';
  let el = node;
  if (node.kind === 'list') {
    mode = 'REPEATED';
    el = node.element;
  } else if (!notNull && hint?.mode === 'REQUIRED' && nested) {
    mode = 'REQUIRED';
  }
  let type: ColumnType;
  let fields: ColumnSchema[] | undefined;
  if (el.kind === 'struct') {
    type = 'RECORD';
    const hf = hint?.type === 'RECORD' ? hint.fields ?? [] : [];
    fields = el.fields.map((f) => {
      const h = hf.find((x) => x.name.toLowerCase() === f.name.toLowerCase());
      return columnFromDuck(f.name, f.type, false, h, true);
    });
  } else if (el.kind === 'list') {
    // A list of lists has no BigQuery equivalent; show it as JSON so it is at least visible.
    type = 'JSON';
  } else {
    type = FROM_DUCK[el.name] ?? 'STRING';
    if (type === 'NUMERIC' && hint?.type === 'BIGNUMERIC') type = 'BIGNUMERIC';
    if (type === 'STRING' && hint?.type === 'GEOGRAPHY') type = 'GEOGRAPHY';
  }
  const out: ColumnSchema = { name, type, mode };
  if (hint?.description !== undefined && hint.type === type) out.description = hint.description;
  if (fields) out.fields = fields;
  return out;
}
