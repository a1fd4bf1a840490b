// GoogleSQL → DuckDB translation for the BigQuery fake (test/support/bigquery-fake.ts).
// Covers the SQL mlbridge's BigQuery adapter emits: backtick-quoted names (`p`.`d`.`t`
// or `p.d.t`), BigQuery type names in CAST / SET DATA TYPE (incl. STRUCT<> and ARRAY<>),
// GoogleSQL string literals, MERGE without INTO. Not a general GoogleSQL implementation.

export interface RestFieldLike {
  name: string;
  type: string;
  mode?: string;
  description?: string;
  fields?: RestFieldLike[];
}

/** tables.get returns the legacy names; inputs may use either. */
const LEGACY: Record<string, string> = {
  INT64: 'INTEGER',
  INTEGER: 'INTEGER',
  FLOAT64: 'FLOAT',
  FLOAT: 'FLOAT',
  BOOL: 'BOOLEAN',
  BOOLEAN: 'BOOLEAN',
  STRUCT: 'RECORD',
  RECORD: 'RECORD',
  DECIMAL: 'NUMERIC',
  BIGDECIMAL: 'BIGNUMERIC',
};
export const KNOWN_TYPES = new Set([
  'STRING', 'BYTES', 'INTEGER', 'FLOAT', 'NUMERIC', 'BIGNUMERIC', 'BOOLEAN', 'TIMESTAMP', 'DATE', 'TIME', 'DATETIME',
  'GEOGRAPHY', 'JSON', 'RECORD',
]);

export function legacyType(t: string): string {
  const u = t.toUpperCase();
  return LEGACY[u] ?? u;
}

const DUCK: Record<string, string> = {
  STRING: 'VARCHAR',
  BYTES: 'BLOB',
  INTEGER: 'BIGINT',
  FLOAT: 'DOUBLE',
  NUMERIC: 'DECIMAL(38,9)',
  BIGNUMERIC: 'DECIMAL(38,9)',
  BOOLEAN: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMPTZ',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'TIMESTAMP',
  GEOGRAPHY: 'VARCHAR',
  JSON: 'JSON',
};

export function dq(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** DuckDB column type for a REST field (REPEATED → LIST, RECORD → STRUCT). */
export function duckType(f: RestFieldLike, withMode = true): string {
  const t = legacyType(f.type);
  const base = t === 'RECORD' ? `STRUCT(${(f.fields ?? []).map((c) => `${dq(c.name)} ${duckType(c)}`).join(', ')})` : DUCK[t] ?? 'VARCHAR';
  return withMode && (f.mode ?? '').toUpperCase() === 'REPEATED' ? `${base}[]` : base;
}

// ---- tokens -------------------------------------------------------------------------

export type Tok =
  | { k: 'id'; parts: string[] } // a dotted path of identifiers, quoted or not
  | { k: 'str'; v: string }
  | { k: 'w'; v: string } // keyword / bare word / number
  | { k: 'p'; v: string } // punctuation
  | { k: 'ws' };

export class SqlError extends Error {}

export function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const readBacktick = (): string => {
    let s = '';
    i++;
    while (i < sql.length && sql[i] !== '`') {
      if (sql[i] === '\\') {
        s += sql[i + 1];
        i += 2;
      } else s += sql[i++];
    }
    if (i >= sql.length) throw new SqlError('Syntax error: Unclosed identifier literal');
    i++;
    return s;
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) {
      while (i < sql.length && /\s/.test(sql[i]!)) i++;
      out.push({ k: 'ws' });
    } else if (ch === '`' || /[A-Za-z_]/.test(ch)) {
      // An identifier path: parts joined by dots, each `quoted` or bare.
      const parts: string[] = [];
      let quoted = false;
      for (;;) {
        if (sql[i] === '`') {
          quoted = true;
          parts.push(...readBacktick().split('.'));
        } else {
          const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i));
          if (!m) break;
          parts.push(m[0]);
          i += m[0].length;
        }
        if (sql[i] === '.' && (sql[i + 1] === '`' || /[A-Za-z_]/.test(sql[i + 1] ?? ''))) i++;
        else break;
      }
      if (!quoted && parts.length === 1) out.push({ k: 'w', v: parts[0]! });
      else out.push({ k: 'id', parts });
    } else if (ch === "'" || ch === '"') {
      let s = '';
      i++;
      while (i < sql.length && sql[i] !== ch) {
        if (sql[i] === '\\') {
          const n = sql[i + 1];
          s += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n;
          i += 2;
        } else s += sql[i++];
      }
      if (i >= sql.length) throw new SqlError('Syntax error: Unclosed string literal');
      i++;
      out.push({ k: 'str', v: s });
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(sql.slice(i))!;
      out.push({ k: 'w', v: m[0] });
      i += m[0].length;
    } else {
      out.push({ k: 'p', v: ch });
      i++;
    }
  }
  return out;
}

/** The non-whitespace tokens. */
export function solid(toks: Tok[]): Tok[] {
  return toks.filter((t) => t.k !== 'ws');
}

export function isWord(t: Tok | undefined, w: string): boolean {
  return !!t && t.k === 'w' && t.v.toUpperCase() === w;
}

export function identName(t: Tok | undefined): string | undefined {
  if (!t) return undefined;
  if (t.k === 'id') return t.parts.join('.');
  if (t.k === 'w') return t.v;
  return undefined;
}

/** Parses a GoogleSQL type at toks[i] (solid tokens) into a REST field shape. */
export function parseType(toks: Tok[], i: number): { field: RestFieldLike; next: number } {
  const t = toks[i];
  if (!t || t.k !== 'w') throw new SqlError('Syntax error: expected a type');
  const name = t.v.toUpperCase();
  if (name === 'ARRAY') {
    expectP(toks, i + 1, '<');
    const inner = parseType(toks, i + 2);
    expectP(toks, inner.next, '>');
    return { field: { ...inner.field, mode: 'REPEATED' }, next: inner.next + 1 };
  }
  if (name === 'STRUCT') {
    expectP(toks, i + 1, '<');
    let j = i + 2;
    const fields: RestFieldLike[] = [];
    for (;;) {
      const fname = identName(toks[j]);
      if (!fname) throw new SqlError('Syntax error: expected a field name in STRUCT');
      const ft = parseType(toks, j + 1);
      fields.push({ ...ft.field, name: fname });
      j = ft.next;
      if (toks[j]?.k === 'p' && (toks[j] as { v: string }).v === ',') j++;
      else break;
    }
    expectP(toks, j, '>');
    return { field: { name: '', type: 'RECORD', mode: 'NULLABLE', fields }, next: j + 1 };
  }
  let next = i + 1;
  // Parameterized types: NUMERIC(10, 2), STRING(20): the parameters are accepted and ignored.
  if (toks[next]?.k === 'p' && (toks[next] as { v: string }).v === '(') {
    while (next < toks.length && !(toks[next]!.k === 'p' && (toks[next] as { v: string }).v === ')')) next++;
    next++;
  }
  const lt = legacyType(name);
  if (!KNOWN_TYPES.has(lt)) throw new SqlError(`Type not found: ${t.v}`);
  return { field: { name: '', type: lt, mode: 'NULLABLE' }, next };
}

function expectP(toks: Tok[], i: number, p: string): void {
  const t = toks[i];
  if (!t || t.k !== 'p' || t.v !== p) throw new SqlError(`Syntax error: expected "${p}"`);
}

/** A table path's (dataset, table) from an identifier token: `p.d.t` / `d.t`. */
export function tablePath(t: Tok | undefined, defaultDataset?: string): { dataset: string; table: string } | undefined {
  if (!t || (t.k !== 'id' && t.k !== 'w')) return undefined;
  const parts = t.k === 'id' ? t.parts : [t.v];
  if (parts.length >= 3) return { dataset: parts[parts.length - 2]!, table: parts[parts.length - 1]! };
  if (parts.length === 2) return { dataset: parts[0]!, table: parts[1]! };
  if (defaultDataset) return { dataset: defaultDataset, table: parts[0]! };
  return undefined;
}

const TABLE_CONTEXT = new Set(['FROM', 'JOIN', 'INTO', 'MERGE', 'USING', 'UPDATE', 'TABLE']);

type TableRef = (dataset: string, table: string) => string;

/**
 * GoogleSQL DML/SELECT → DuckDB SQL. Identifier paths after FROM/JOIN/INTO/MERGE/USING/
 * UPDATE become the table's DuckDB name (`ref`; the project is dropped: one fake = one
 * project); other paths become "a"."b". Types after AS inside CAST become DuckDB types.
 * The explicit STRUCT building the adapter emits for replacements is translated too:
 * STRUCT(x AS a, …) → struct_pack, ARRAY(SELECT … FROM UNNEST(src) AS e WITH OFFSET AS o
 * ORDER BY o) → list_transform (which keeps the order).
 * Returns the tables referenced, so the caller can answer notFound like BigQuery.
 */
export function translate(sql: string, ref: TableRef = (d, t) => `${dq(d)}.${dq(t)}`): { sql: string; tables: Array<{ dataset: string; table: string }> } {
  const toks = tokenize(sql);
  const tables: Array<{ dataset: string; table: string }> = [];
  return { sql: emit(toks, 0, toks.length, tables, ref), tables };
}

const isP = (t: Tok | undefined, p: string) => !!t && t.k === 'p' && t.v === p;

/** Index of the next non-whitespace token at or after i. */
function skipWs(toks: Tok[], i: number): number {
  while (i < toks.length && toks[i]!.k === 'ws') i++;
  return i;
}

/** Index of the ')' closing the '(' at `open`. */
function closing(toks: Tok[], open: number): number {
  let depth = 0;
  for (let i = open; i < toks.length; i++) {
    if (isP(toks[i], '(')) depth++;
    if (isP(toks[i], ')') && --depth === 0) return i;
  }
  throw new SqlError('Syntax error: unbalanced parentheses');
}

/** Top-level (paren depth 0) indices in [from, to) where `match` holds. */
function topLevel(toks: Tok[], from: number, to: number, match: (t: Tok) => boolean): number[] {
  const out: number[] = [];
  let depth = 0;
  for (let i = from; i < to; i++) {
    const t = toks[i]!;
    if (isP(t, '(')) depth++;
    else if (isP(t, ')')) depth--;
    else if (depth === 0 && match(t)) out.push(i);
  }
  return out;
}

/** Solid token indices in [from, to). */
function solidAt(toks: Tok[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) if (toks[i]!.k !== 'ws') out.push(i);
  return out;
}

/** ARRAY(SELECT expr FROM UNNEST(src) AS e WITH OFFSET AS o ORDER BY o) at toks[i] (the ARRAY word). */
function emitArraySubquery(toks: Tok[], i: number, tables: Array<{ dataset: string; table: string }>, ref: TableRef): { sql: string; next: number } | undefined {
  const open = skipWs(toks, i + 1);
  if (!isP(toks[open], '(') || !isWord(toks[skipWs(toks, open + 1)], 'SELECT')) return undefined;
  const close = closing(toks, open);
  const select = skipWs(toks, open + 1);
  const from = topLevel(toks, select + 1, close, (t) => isWord(t, 'FROM'))[0];
  if (from === undefined) throw new SqlError('Syntax error: ARRAY subquery without FROM');
  const exprStart = select + 1;
  const asStruct = solidAt(toks, exprStart, from).slice(0, 2);
  const selectAsStruct = asStruct.length === 2 && isWord(toks[asStruct[0]!], 'AS') && isWord(toks[asStruct[1]!], 'STRUCT');
  if (selectAsStruct) throw new SqlError('The fake translates ARRAY(SELECT STRUCT(...) ...), not SELECT AS STRUCT');
  const u = skipWs(toks, from + 1);
  if (!isWord(toks[u], 'UNNEST')) throw new SqlError('Syntax error: the fake translates ARRAY subqueries over UNNEST only');
  const srcOpen = skipWs(toks, u + 1);
  const srcClose = closing(toks, srcOpen);
  const rest = solidAt(toks, srcClose + 1, close).map((k) => toks[k]!);
  // AS e WITH OFFSET AS o ORDER BY o
  const alias = identName(rest[1]);
  const offset = identName(rest[5]);
  if (!isWord(rest[0], 'AS') || !alias || !isWord(rest[2], 'WITH') || !isWord(rest[3], 'OFFSET') || !isWord(rest[4], 'AS') || !offset || !isWord(rest[6], 'ORDER') || !isWord(rest[7], 'BY') || identName(rest[8]) !== offset || rest.length !== 9) {
    throw new SqlError('Syntax error: expected AS e WITH OFFSET AS o ORDER BY o after UNNEST(...)');
  }
  const src = emit(toks, srcOpen + 1, srcClose, tables, ref);
  const body = emit(toks, exprStart, from, tables, ref);
  return { sql: `list_transform(${src}, lambda ${dq(alias)}: ${body})`, next: close };
}

/** STRUCT(expr AS name, …) at toks[i] (the STRUCT word) → struct_pack(name := expr, …). */
function emitStructConstructor(toks: Tok[], i: number, tables: Array<{ dataset: string; table: string }>, ref: TableRef): { sql: string; next: number } | undefined {
  const open = skipWs(toks, i + 1);
  if (!isP(toks[open], '(')) return undefined;
  const close = closing(toks, open);
  const commas = topLevel(toks, open + 1, close, (t) => isP(t, ','));
  const bounds = [open, ...commas, close];
  const parts: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const s = solidAt(toks, bounds[k]! + 1, bounds[k + 1]!);
    const name = identName(toks[s[s.length - 1]!]);
    if (s.length < 3 || !isWord(toks[s[s.length - 2]!], 'AS') || !name) throw new SqlError('Syntax error: the fake translates STRUCT(expr AS name, ...) only');
    parts.push(`${dq(name)} := ${emit(toks, bounds[k]! + 1, s[s.length - 2]!, tables, ref)}`);
  }
  return { sql: `struct_pack(${parts.join(', ')})`, next: close };
}

function emit(toks: Tok[], from: number, to: number, tables: Array<{ dataset: string; table: string }>, ref: TableRef): string {
  let out = '';
  let prevWord = '';
  const castDepth: number[] = [];
  let depth = 0;
  for (let i = from; i < to; i++) {
    const t = toks[i]!;
    if (t.k === 'ws') {
      out += ' ';
      continue;
    }
    if (t.k === 'p') {
      if (t.v === '(') depth++;
      if (t.v === ')') {
        if (castDepth[castDepth.length - 1] === depth) castDepth.pop();
        depth--;
      }
      out += t.v;
    } else if (t.k === 'str') {
      out += "'" + t.v.replace(/'/g, "''") + "'";
    } else if (t.k === 'id') {
      const parts = t.parts;
      if (TABLE_CONTEXT.has(prevWord) && parts.length >= 2) {
        const p = tablePath(t)!;
        tables.push(p);
        out += ref(p.dataset, p.table);
      } else out += parts.map(dq).join('.');
    } else {
      const u = t.v.toUpperCase();
      const special = u === 'ARRAY' ? emitArraySubquery(toks, i, tables, ref) : u === 'STRUCT' ? emitStructConstructor(toks, i, tables, ref) : undefined;
      if (special) {
        out += special.sql;
        i = special.next;
        prevWord = '';
        continue;
      }
      if (u === 'CAST' || u === 'SAFE_CAST') {
        // CAST( ... AS type ): remember the paren depth so AS inside it is a type.
        out += u === 'SAFE_CAST' ? 'TRY_CAST' : 'CAST';
        castDepth.push(depth + 1);
      } else if (u === 'AS' && castDepth[castDepth.length - 1] === depth) {
        const s = solid(toks.slice(i + 1, to));
        const parsed = parseType(s, 0);
        out += `AS ${duckType(parsed.field)}`;
        // Skip the type's tokens in the raw stream.
        let consumed = 0;
        while (consumed < parsed.next) {
          i++;
          if (toks[i]!.k !== 'ws') consumed++;
        }
      } else if (u === 'MERGE' && !isWord(solid(toks.slice(i + 1, to))[0], 'INTO')) {
        out += 'MERGE INTO';
      } else out += t.v;
      prevWord = u;
      continue;
    }
    prevWord = '';
  }
  return out;
}

/**
 * The CASTs whose operand is a bare column path, e.g. CAST(`address` AS STRUCT<…>), with
 * the target type: the fake checks them against the column's type (BigQuery casts STRUCTs
 * by position and only between equal field counts; ARRAYs only to the same array type).
 */
export function columnCasts(sql: string): Array<{ path: string[]; to: RestFieldLike }> {
  const s = solid(tokenize(sql));
  const out: Array<{ path: string[]; to: RestFieldLike }> = [];
  for (let i = 0; i + 4 < s.length; i++) {
    if (!(isWord(s[i], 'CAST') || isWord(s[i], 'SAFE_CAST')) || !isP(s[i + 1], '(') || !isWord(s[i + 3], 'AS')) continue;
    const operand = s[i + 2]!;
    if (operand.k !== 'id' && (operand.k !== 'w' || !/^[A-Za-z_]/.test(operand.v) || operand.v.toUpperCase() === 'NULL')) continue;
    const parsed = parseType(s, i + 4);
    if (!isP(s[parsed.next], ')')) continue;
    out.push({ path: operand.k === 'id' ? operand.parts : [operand.v], to: parsed.field });
  }
  return out;
}
