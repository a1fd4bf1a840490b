// The source memo in DuckDB (record/source-memo.ts says what it is and why it holds): one
// table per current table, in the `_mlbridge_memo` schema, of (salt, print, _key, _hash).
// A plan or apply reads the prints of its mapping's salt; staging workers skip the records
// they meet there; the stage then reads those records' (_key, _hash) from the memo table in
// place (memoStageRows), never copying them. A snapshot merge keeps the memo in step in its
// own transaction: entries of another salt go, and so do those of every key staged with a
// print or deleted as an orphan, before the new prints go in.
// Also here: a mapping's profile state learned from its current table in SQL, for an apply
// that did not decode the records it already held (engine/changes/rows.ts).

import type { DuckDBConnection } from '@duckdb/node-api';
import { printSetOf, type PrintSet } from '../model/print-set.js';
import type { ProfileColumn, ProfileState, StageTables } from '../model/staged.js';
import type { DuckSql } from './duckdb-catalog.js';
import { LATEST_FIRST } from './row-rules.js';
import { MEMO_SCHEMA } from '../spec/defaults.js';
import { NUMERIC_SAMPLE_LIMIT } from '../record/profile.js';
import { qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';

export { MEMO_SCHEMA };

/** Prints takeMemo sorts in one statement at the plan's default 128MB, about: their ranges number a power of two, at most 64. */
const SORT_RANGE_PRINTS = 1_500_000;
const SORT_RANGE_AT_BYTES = 128e6;

/** Prints takeMemo may sort in one statement with `workBytes` of DuckDB memory free for it. */
export function memoSortRange(workBytes: number): number {
  return Math.max(100_000, Math.floor((SORT_RANGE_PRINTS * workBytes) / SORT_RANGE_AT_BYTES));
}

/** Numeric values a profile keeps per column. */
const PROFILE_SAMPLE = NUMERIC_SAMPLE_LIMIT;

export function memoName(tables: StageTables): string {
  return `${tables.dataset}.${tables.current}`;
}

export function memoTable(tables: StageTables): string {
  return `${quoteIdent(MEMO_SCHEMA)}.${quoteIdent(memoName(tables))}`;
}

export async function memoExists(sql: DuckSql, c: DuckDBConnection, tables: StageTables): Promise<boolean> {
  const r = await sql.rows(c, `SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?`, [MEMO_SCHEMA, memoName(tables)]);
  return r.length > 0;
}

/**
 * The prints of the memo's entries under `salt` as a PrintSet (read as halves in SQL: no
 * BigInt per entry), and the relation of (print, _key, _hash) memoStageRows reads. Nothing
 * else writes the memo meanwhile: a DuckDB file has one writing process, and in it only the
 * merge that ends the stage's use writes the memo.
 */
export async function takeMemo(c: DuckDBConnection, memo: string, salt: string, rangePrints = SORT_RANGE_PRINTS): Promise<{ set: PrintSet; from: string }> {
  const from = `(SELECT print, _key, _hash FROM ${memo} WHERE salt = ${quoteLiteral(salt)})`;
  // Counted first, then read chunk by chunk into shared memory: never a second copy of them all.
  const counted = await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${from}`);
  const total = Number(counted.getRows()[0]?.[0] ?? 0);
  const pairs = new Uint32Array(new SharedArrayBuffer(total * 8));
  // Streamed: a materialized result of millions of rows would stay in DuckDB's memory (and
  // count against its limit) until the JavaScript object holding it is collected. Sorted in
  // ranges of the print (its top bits, in signed order), one after the other, a million or
  // so prints each: one sort of the 5M prints of a memo that a drift apply had rewritten ran
  // out of memory at the plan's 128MB limit, where a million sort in one go.
  const bits = Math.min(6, Math.ceil(Math.log2(Math.max(1, total / rangePrints))));
  const ranges = 2 ** bits;
  let at = 0;
  for (let range = 0; range < ranges; range++) {
    const top = range - ranges / 2;
    const where = bits === 0 ? '' : `WHERE (print >> ${64 - bits}) = ${top}`;
    const result = await c.stream(`SELECT (print >> 32)::INTEGER AS hi, (print & 4294967295)::UINTEGER AS lo FROM ${from} ${where} ORDER BY print`);
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const highs = chunk.getColumnValues(0) as number[];
      const lows = chunk.getColumnValues(1) as number[];
      if (at + highs.length > total) throw new Error(`${memo}: more prints than counted (${total})`);
      for (let i = 0; i < highs.length; i++, at++) {
        pairs[2 * at] = highs[i]! >>> 0;
        pairs[2 * at + 1] = lows[i]!;
      }
    }
  }
  if (at !== total) throw new Error(`${memo}: ${at} prints read, ${total} counted`);
  return { set: printSetOf(pairs), from };
}

/**
 * The rows, in the stage table's columns and at `version`, of the entries takeMemo took
 * (`from`) but those of the `missed` prints: the records staging met in the memo and skipped.
 * The few missed prints, not the many met, go to DuckDB (into the temp table `missedName`).
 */
export async function memoStageRows(sql: DuckSql, c: DuckDBConnection, missedName: string, from: string, missed: BigInt64Array, version: string): Promise<string> {
  if (!/^\d+$/.test(version)) throw new Error(`snapshot version must be an integer, got ${version}`);
  const missedTable = `temp.main.${quoteIdent(missedName)}`;
  await sql.run(c, `CREATE OR REPLACE TEMP TABLE ${quoteIdent(missedName)} (print BIGINT)`);
  const a = await c.createAppender(missedName, 'main', 'temp');
  try {
    for (let i = 0; i < missed.length; i++) {
      a.appendBigInt(missed[i]!);
      a.endRow();
    }
    a.flushSync();
  } finally {
    a.closeSync();
  }
  return `SELECT _key, CAST(${version} AS BIGINT) AS _version, _hash, 'UPSERT' AS operation, CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS event_time,
      CAST(NULL AS DOUBLE) AS _score, CAST(NULL AS VARCHAR) AS flags, CAST(NULL AS VARCHAR) AS "row", CAST(NULL AS VARCHAR) AS data, CAST(NULL AS VARCHAR) AS reason,
      CAST(NULL AS BIGINT) AS src_print FROM ${from} m WHERE print NOT IN (SELECT print FROM ${missedTable})`;
}

/**
 * Brings the memo in step with a snapshot merge (in its transaction): drops entries of other
 * salts and of the keys staged with a print or deleted as orphans (`orphans`: a relation of
 * _key), then stores the accepted staged rows' prints (`keysUnique`: the stage holds no
 * accepted key twice). Creates the memo on first use.
 */
export async function storeMemo(sql: DuckSql, c: DuckDBConnection, tables: StageTables, stage: string, orphans: string, salt: string, keysUnique: boolean): Promise<void> {
  const memo = memoTable(tables);
  if (!(await memoExists(sql, c, tables))) {
    const [any] = await sql.rows(c, `SELECT count(*)::BIGINT AS n FROM ${stage} WHERE src_print IS NOT NULL`);
    if (Number(any?.n ?? 0) === 0) return;
    await sql.run(c, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(MEMO_SCHEMA)}`);
    await sql.run(c, `CREATE TABLE ${memo} (salt VARCHAR, print BIGINT, _key VARCHAR, _hash VARCHAR)`);
  }
  const s = quoteLiteral(salt);
  await sql.run(c, `DELETE FROM ${memo} WHERE salt <> ${s} OR _key IN (SELECT _key FROM ${stage} WHERE src_print IS NOT NULL UNION ALL SELECT _key FROM ${orphans})`);
  // One entry per key (a key staged twice keeps its latest row, as the merge does): a plan
  // checks only that a key is not both staged and taken from the memo.
  await sql.run(
    c,
    `INSERT INTO ${memo} SELECT ${s}, src_print, _key, _hash FROM ${stage} WHERE src_print IS NOT NULL AND reason IS NULL
     ${keysUnique ? '' : `QUALIFY ROW_NUMBER() OVER (PARTITION BY _key ORDER BY ${LATEST_FIRST}) = 1`}`,
  );
}

/** Drops the memo of a table (with the table), or of every table of a dataset (with the dataset). */
export async function dropMemos(sql: DuckSql, c: DuckDBConnection, dataset: string, table?: string): Promise<void> {
  const names = await sql.rows(c, `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?`, [MEMO_SCHEMA]);
  const prefix = `${dataset}.`.toLowerCase();
  for (const { table_name } of names) {
    const name = String(table_name);
    const lower = name.toLowerCase();
    if (table === undefined ? lower.startsWith(prefix) : lower === `${prefix}${table.toLowerCase()}`) {
      await sql.run(c, `DROP TABLE ${quoteIdent(MEMO_SCHEMA)}.${quoteIdent(name)}`);
    }
  }
}

/**
 * What record/profile.ts's learner would hold after adding every row of current: counts and
 * nulls per column, the finite values of numeric columns (a sample of PROFILE_SAMPLE, the
 * rows with the smallest hash of their key: the same rows each time), and the distinct values
 * of categorical ones while there are at most `maxCardinality`. Two scans of current whatever
 * its columns: exact distinct counts are taken only where an estimate (HyperLogLog) is
 * within twice maxCardinality, and the samples come from the rows under one hash bound.
 */
export async function profileState(sql: DuckSql, c: DuckDBConnection, tables: StageTables, columns: ProfileColumn[], maxCardinality: number): Promise<ProfileState> {
  const current = qualified(tables.dataset, tables.current);
  const q = (name: string) => quoteIdent(name);
  const nullish = (col: ProfileColumn) => (col.repeated ? `(${q(col.name)} IS NULL OR len(${q(col.name)}) = 0)` : `${q(col.name)} IS NULL`);
  const finite = (col: ProfileColumn) => `${q(col.name)} IS NOT NULL AND isfinite(CAST(${q(col.name)} AS DOUBLE))`;
  const text = (col: ProfileColumn) => `CAST(${q(col.name)} AS VARCHAR)`;
  const parts = ['count(*)::BIGINT AS "rows"'];
  columns.forEach((col, i) => {
    parts.push(`count(*) FILTER (WHERE ${nullish(col)})::BIGINT AS n${i}`);
    if (col.numeric) parts.push(`count(*) FILTER (WHERE ${finite(col)})::BIGINT AS f${i}`);
    if (col.categorical) parts.push(`approx_count_distinct(${text(col)})::BIGINT AS a${i}`);
  });
  const [totals] = await sql.rows(c, `SELECT ${parts.join(', ')} FROM ${current}`);
  const rows = Number(totals?.rows ?? 0);
  const state: ProfileState = { rows, fields: {} };
  const few = columns.flatMap((col, i) => (col.categorical && Number(totals?.[`a${i}`] ?? 0) <= 2 * maxCardinality ? [i] : []));
  const distinct = new Map<number, string[]>();
  if (few.length > 0) {
    const lists = await sql.rows(c, `SELECT ${few.map((i) => `list(DISTINCT ${text(columns[i]!)}) FILTER (WHERE ${q(columns[i]!.name)} IS NOT NULL) AS d${i}`).join(', ')} FROM ${current}`);
    for (const i of few) {
      const values = (lists[0]?.[`d${i}`] as string[] | null) ?? [];
      if (values.length <= maxCardinality) distinct.set(i, [...values].map(String).sort());
    }
  }
  const numeric = columns.flatMap((col, i) => (col.numeric && Number(totals?.[`f${i}`] ?? 0) > 0 ? [i] : []));
  const samples = await numericSamples(sql, c, current, columns, numeric, rows);
  for (const [i, col] of columns.entries()) {
    const field: ProfileState['fields'][string] = { count: rows, nulls: Number(totals?.[`n${i}`] ?? 0), numCount: 0, sample: [] };
    if (col.numeric) {
      field.numCount = Number(totals?.[`f${i}`] ?? 0);
      field.sample = samples.get(i) ?? [];
    }
    if (distinct.has(i)) field.distinct = distinct.get(i)!;
    state.fields[col.name] = field;
  }
  return state;
}

/**
 * Per numeric column, its first PROFILE_SAMPLE finite values in the order of hash(_key), _key.
 * One scan reads the rows under a hash bound that holds enough of them for every column (with
 * room for nulls); a column the bound leaves short is read on its own.
 */
async function numericSamples(sql: DuckSql, c: DuckDBConnection, current: string, columns: ProfileColumn[], numeric: number[], rows: number): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  if (numeric.length === 0) return out;
  const q = (name: string) => quoteIdent(name);
  const value = (i: number) => `CASE WHEN isfinite(CAST(${q(columns[i]!.name)} AS DOUBLE)) THEN CAST(${q(columns[i]!.name)} AS DOUBLE) END AS v${i}`;
  // hash() is a UBIGINT spread evenly: rows under fraction × 2^64 are about that fraction of all.
  const fraction = Math.min(1, (2 * PROFILE_SAMPLE) / Math.max(1, rows));
  const bound = fraction >= 1 ? null : BigInt(Math.floor(fraction * 2 ** 53)) << 11n;
  const picked = await sql.rows(
    c,
    `SELECT ${numeric.map(value).join(', ')} FROM ${current} ${bound === null ? '' : `WHERE hash(_key) < ${bound}`} ORDER BY hash(_key), _key`,
  );
  for (const i of numeric) {
    const values: number[] = [];
    for (const r of picked) {
      const v = r[`v${i}`];
      if (v === null || v === undefined) continue;
      values.push(Number(v));
      if (values.length === PROFILE_SAMPLE) break;
    }
    out.set(i, values);
  }
  for (const i of numeric) {
    if (bound === null || out.get(i)!.length === PROFILE_SAMPLE) continue;
    const col = q(columns[i]!.name);
    const own = await sql.rows(c, `SELECT CAST(${col} AS DOUBLE) AS v FROM ${current} WHERE ${col} IS NOT NULL AND isfinite(CAST(${col} AS DOUBLE)) ORDER BY hash(_key), _key LIMIT ${PROFILE_SAMPLE}`);
    out.set(i, own.map((r) => Number(r.v)));
  }
  return out;
}
