// GoogleSQL constructs the staging SQL uses (src/warehouse/bigquery-stage.ts,
// bigquery-row-json.ts, bigquery-row-reads.ts), for the BigQuery fake: named query
// parameters bound as literals, and a token rewrite into what DuckDB runs, applied before
// translate() in bigquery-fake-sql.ts:
//   JSON_VALUE / JSON_QUERY / JSON_VALUE_ARRAY / JSON_QUERY_ARRAY / PARSE_JSON on JSON text,
//   TO_HEX(SHA256(...)) (SHA256 returns BYTES, as in BigQuery), ST_GEOGFROMTEXT/GEOJSON, UNIX_MICROS,
//   STRUCT(expr AS name, ...), ARRAY_AGG(x [IGNORE NULLS] ORDER BY x LIMIT n), x IN UNNEST(array),
//   UNNEST(a) AS e WITH OFFSET AS o.
// And it refuses what BigQuery refuses there: QUALIFY without WHERE, GROUP BY or HAVING;
// WHERE without FROM; a parameter the job does not define.

import { SqlError, isWord, tokenize } from './bigquery-fake-sql.js';
import type { Tok } from './bigquery-fake-sql.js';

/** DuckDB macros standing in for the GoogleSQL functions (renamed by rewriteGoogleSql). */
const MACROS = [
  `CREATE MACRO bq_json_value(j, p) AS CASE WHEN json_type(j, p) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(j, p) END`,
  `CREATE MACRO bq_json_query(j, p) AS CAST(json_extract(j, p) AS VARCHAR)`,
  `CREATE MACRO bq_json_value_array(j, p) AS CAST(json_extract(j, p) AS VARCHAR[])`,
  `CREATE MACRO bq_json_query_array(j, p) AS CAST(CAST(json_extract(j, p) AS JSON[]) AS VARCHAR[])`,
  `CREATE MACRO bq_parse_json(s) AS CAST(s AS JSON)`,
  `CREATE MACRO bq_sha256(s) AS unhex(sha256(s))`,
  `CREATE MACRO bq_to_hex(b) AS lower(hex(b))`,
  `CREATE MACRO bq_geog(s) AS s`,
  // UNIX_MICROS takes a TIMESTAMP only (stored here as TIMESTAMPTZ), not a DATETIME or DATE as epoch_us would.
  `CREATE MACRO bq_unix_micros(t) AS CASE WHEN typeof(t) = 'TIMESTAMP WITH TIME ZONE' THEN epoch_us(t) ELSE error('No matching signature for function UNIX_MICROS for argument types: ' || CASE typeof(t) WHEN 'TIMESTAMP' THEN 'DATETIME' WHEN 'VARCHAR' THEN 'STRING' WHEN 'BIGINT' THEN 'INT64' ELSE typeof(t) END || '. Supported signature: UNIX_MICROS(TIMESTAMP)') END`,
];

const RENAMES: Record<string, string> = {
  JSON_VALUE: 'bq_json_value',
  JSON_QUERY: 'bq_json_query',
  JSON_VALUE_ARRAY: 'bq_json_value_array',
  JSON_QUERY_ARRAY: 'bq_json_query_array',
  PARSE_JSON: 'bq_parse_json',
  SHA256: 'bq_sha256',
  TO_HEX: 'bq_to_hex',
  ST_GEOGFROMTEXT: 'bq_geog',
  ST_GEOGFROMGEOJSON: 'bq_geog',
  UNIX_MICROS: 'bq_unix_micros',
};

export async function installGoogleSqlFunctions(conn: { run(sql: string): Promise<unknown> }): Promise<void> {
  for (const m of MACROS) await conn.run(m);
}

const isP = (t: Tok | undefined, v: string) => !!t && t.k === 'p' && t.v === v;

/** Index of the ")" closing the "(" at `open` (tokens without whitespace). */
function closing(s: Tok[], open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (isP(s[i], '(')) depth++;
    else if (isP(s[i], ')') && --depth === 0) return i;
  }
  throw new SqlError('Syntax error: Unexpected end of script');
}

/** Splits s[from, to) at its top-level commas. */
function args(s: Tok[], from: number, to: number): Tok[][] {
  const out: Tok[][] = [[]];
  let depth = 0;
  for (let i = from; i < to; i++) {
    const t = s[i]!;
    if (isP(t, '(') || isP(t, '[')) depth++;
    if (isP(t, ')') || isP(t, ']')) depth--;
    if (depth === 0 && isP(t, ',')) out.push([]);
    else out[out.length - 1]!.push(t);
  }
  return out;
}

/** BigQuery's rules on a SELECT's clauses that DuckDB would let through. */
function checkClauses(s: Tok[]): void {
  const frames: Array<{ select: boolean; from: boolean; filtered: boolean }> = [{ select: false, from: false, filtered: false }];
  for (let i = 0; i < s.length; i++) {
    const t = s[i]!;
    const top = frames[frames.length - 1]!;
    if (isP(t, '(')) frames.push({ select: false, from: false, filtered: false });
    else if (isP(t, ')')) frames.pop();
    else if (isWord(t, 'SELECT')) Object.assign(top, { select: true, from: false, filtered: false });
    else if (isWord(t, 'FROM')) top.from = true;
    else if (isWord(t, 'WHERE') || isWord(t, 'HAVING') || (isWord(t, 'GROUP') && isWord(s[i + 1], 'BY'))) {
      if (isWord(t, 'WHERE') && top.select && !top.from) throw new SqlError('Query without FROM clause cannot have a WHERE clause');
      top.filtered = true;
    } else if (isWord(t, 'QUALIFY') && !top.filtered) {
      throw new SqlError('QUALIFY clause must be used in conjunction with WHERE or GROUP BY or HAVING clause');
    }
  }
}

function rewrite(s: Tok[]): Tok[] {
  const out: Tok[] = [];
  for (let i = 0; i < s.length; i++) {
    const t = s[i]!;
    const u = t.k === 'w' ? t.v.toUpperCase() : '';
    const call = isP(s[i + 1], '(');
    if (u in RENAMES && call) {
      out.push({ k: 'w', v: RENAMES[u]! });
    } else if (u === 'IN' && isWord(s[i + 1], 'UNNEST') && isP(s[i + 2], '(')) {
      // x IN UNNEST(a) → x IN (SELECT UNNEST(a))
      const end = closing(s, i + 2);
      out.push(t, { k: 'p', v: '(' }, { k: 'w', v: 'SELECT' }, { k: 'w', v: 'UNNEST' }, ...rewrite(s.slice(i + 2, end + 1)), { k: 'p', v: ')' });
      i = end;
    } else if (u === 'UNNEST' && call) {
      // UNNEST(a) AS e WITH OFFSET AS o → UNNEST(a) WITH ORDINALITY AS _u(e, o)
      const end = closing(s, i + 1);
      const before = s[i - 1];
      const from = isWord(before, 'FROM') || isWord(before, 'JOIN') || isP(before, ',');
      out.push(t, ...rewrite(s.slice(i + 1, end + 1)));
      let j = end + 1;
      if (isWord(s[j], 'AS')) j++;
      const e = s[j];
      const k = isWord(s[j + 1], 'WITH') && isWord(s[j + 2], 'OFFSET') ? j + 3 : -1;
      if (e && e.k === 'w' && k > 0) {
        // ARRAY(SELECT … FROM UNNEST(a) AS e WITH OFFSET AS o ORDER BY o): translate() in
        // bigquery-fake-sql.ts turns the whole subquery into list_transform; leave it whole.
        out.push(...s.slice(end + 1, isWord(s[k], 'AS') ? k + 2 : k + 1));
        i = isWord(s[k], 'AS') ? k + 1 : k;
      } else if (e && e.k === 'w' && j > end + 1 && from) {
        // FROM UNNEST(a) AS e: e is the element, not a one-column row
        out.push({ k: 'w', v: 'AS' }, { k: 'w', v: '_u' }, { k: 'p', v: '(' }, e, { k: 'p', v: ')' });
        i = j;
      } else i = end;
    } else if (u === 'ARRAY_AGG' && call) {
      // ARRAY_AGG(x ORDER BY x LIMIT n) → ARRAY_AGG(x ORDER BY x)[1:n]; with IGNORE NULLS
      // after x, the rows where x is NULL are filtered out of the aggregate.
      const end = closing(s, i + 1);
      let inner = s.slice(i + 2, end);
      const limit = inner.length >= 2 && isWord(inner[inner.length - 2], 'LIMIT') ? inner[inner.length - 1]! : undefined;
      if (limit) inner = inner.slice(0, -2);
      const ignore = inner.findIndex((x, n) => isWord(x, 'IGNORE') && isWord(inner[n + 1], 'NULLS'));
      const value = ignore >= 0 ? inner.slice(0, ignore) : [];
      if (ignore >= 0) inner = [...value, ...inner.slice(ignore + 2)];
      out.push(t, { k: 'p', v: '(' }, ...rewrite(inner), { k: 'p', v: ')' });
      if (ignore >= 0) out.push({ k: 'w', v: 'FILTER' }, { k: 'p', v: '(' }, { k: 'w', v: 'WHERE' }, { k: 'p', v: '(' }, ...rewrite(value), { k: 'p', v: ')' }, { k: 'w', v: 'IS' }, { k: 'w', v: 'NOT' }, { k: 'w', v: 'NULL' }, { k: 'p', v: ')' });
      if (limit) out.push({ k: 'p', v: '[' }, { k: 'w', v: '1' }, { k: 'p', v: ':' }, limit, { k: 'p', v: ']' });
      i = end;
    } else if (u === 'STRUCT' && call) {
      // STRUCT(expr AS name, ...) → struct_pack(name := expr, ...)
      const end = closing(s, i + 1);
      const parts = args(s, i + 2, end).map((a) => {
        let as = -1;
        let depth = 0;
        a.forEach((x, n) => {
          if (isP(x, '(')) depth++;
          if (isP(x, ')')) depth--;
          if (depth === 0 && isWord(x, 'AS')) as = n;
        });
        if (as < 0 || !a[as + 1]) throw new SqlError('The fake needs STRUCT(expr AS name, ...)');
        const name = a[as + 1]!;
        return [name.k === 'w' ? ({ k: 'id', parts: [name.v] } as Tok) : name, { k: 'p', v: ':=' } as Tok, ...rewrite(a.slice(0, as))];
      });
      out.push({ k: 'w', v: 'struct_pack' }, { k: 'p', v: '(' });
      parts.forEach((p, n) => out.push(...(n ? [{ k: 'p', v: ',' } as Tok] : []), ...p));
      out.push({ k: 'p', v: ')' });
      i = end;
    } else out.push(t);
  }
  return out;
}

/** Tokens back to text: a space between tokens unless both are punctuation (`<=` stays one operator). */
function text(toks: Tok[]): string {
  let out = '';
  toks.forEach((t, n) => {
    if (t.k === 'ws') return;
    const prev = toks[n - 1];
    if (prev && !(prev.k === 'p' && t.k === 'p')) out += ' ';
    if (t.k === 'id') out += '`' + t.parts.join('.').replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
    else if (t.k === 'str') out += "'" + t.v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + "'";
    else out += t.v;
  });
  return out;
}

/** GoogleSQL → GoogleSQL that translate() turns into runnable DuckDB (see the header). */
export function rewriteGoogleSql(sql: string): string {
  const s = tokenize(sql).filter((t) => t.k !== 'ws');
  checkClauses(s);
  return text(rewrite(s));
}

interface QueryParameter {
  name?: string;
  parameterType?: { type?: string; arrayType?: { type?: string } };
  parameterValue?: { value?: string; arrayValues?: Array<{ value?: string }> };
}

/** Replaces @name with the job's named parameter as a literal (STRING, INT64 and arrays of them). */
export function bindParameters(sql: string, query: { queryParameters?: QueryParameter[] }): string {
  const toks = tokenize(sql);
  if (!toks.some((t) => isP(t, '@'))) return sql;
  const params = new Map((query.queryParameters ?? []).map((p) => [String(p.name ?? '').toLowerCase(), p]));
  const lit = (type: string | undefined, v: string | undefined): Tok => {
    if (v === undefined || v === null) return { k: 'w', v: 'NULL' };
    if (type === 'INT64' || type === 'INTEGER') {
      if (!/^-?\d+$/.test(v)) throw new SqlError(`Invalid value for INT64 query parameter: ${v}`);
      return { k: 'w', v };
    }
    return { k: 'str', v };
  };
  const out: Tok[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const n = toks[i + 1];
    if (!isP(t, '@') || !n || n.k !== 'w') {
      out.push(t);
      continue;
    }
    const p = params.get(n.v.toLowerCase());
    if (!p) throw new SqlError(`Query parameter '${n.v}' not found`);
    const type = p.parameterType?.type?.toUpperCase();
    if (type === 'ARRAY') {
      const items = (p.parameterValue?.arrayValues ?? []).map((x) => lit(p.parameterType?.arrayType?.type?.toUpperCase(), x.value));
      out.push({ k: 'p', v: '[' });
      items.forEach((x, k) => out.push(...(k ? [{ k: 'p', v: ',' } as Tok] : []), x));
      out.push({ k: 'p', v: ']' });
    } else out.push(lit(type, p.parameterValue?.value));
    i++;
  }
  return text(out);
}
