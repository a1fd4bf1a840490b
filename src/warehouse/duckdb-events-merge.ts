// The events merge (`mlbridge serve`'s micro-batches) in DuckDB: the rules of row-rules.ts in
// events mode, written so that a batch costs about the same whatever the size of raw.
//   - Dedupe on event_id: raw's event_ids are summarised in memory (seen-filter.ts); only
//     the batch's ids the summary may hold (redeliveries, rare false positives) are looked up
//     in raw, by a semi join that builds on the batch's ids, not on raw. Ids the summary
//     certainly lacks are new: a Bloom filter has no false negatives.
//   - The DELETE guard (d_version) reads raw only for the batch's keys the summary may have
//     logged a DELETE for; a batch with none skips that read.
//   - The summary is trusted only while it covers every row of raw: each batch compares its
//     row count with raw's count(*) in the same transaction, and a mismatch (a reconcile or
//     another process wrote raw, a write was rolled back) reads raw again. Above
//     SUMMARY_MAX_ROWS raw rows no summary is kept (memory) and every id is looked up.
//   - The observed tables are remembered per stage tables until the warehouse runs DDL,
//     closes, or a merge fails (the warehouse and mergeEvents clear StageCaches).
// One transaction (the caller's): current, raw and quarantine change together or not at all.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { ObservedTable } from '../model/schema.js';
import type { RowMergeOptions, RowMergeResult, StageTables } from '../model/staged.js';
import type { DuckStageHost } from './duckdb-stage-host.js';
import { DUCK, currentInsertSql, missingTable, quarantineInsertSql, rawInsertSql } from './duckdb-merge-sql.js';
import { LATEST_FIRST, joinedSql, rejectedSql } from './row-rules.js';
import { emptyRawLogSummary, type RawLogSummary } from './seen-filter.js';
import { qualified } from './sql-duckdb.js';

/** Above this many raw rows no summary is kept (memory: 3.5–7 bytes a row); every batch looks its ids up in raw. */
export const SUMMARY_MAX_ROWS = 5_000_000;

export interface EventsStage {
  /** The stage table, qualified. */
  stage: string;
  /** The (empty) temp table this merge collects the changes of current in, qualified. */
  changes: string;
  tables: StageTables;
}


export async function mergeEvents(host: DuckStageHost, c: DuckDBConnection, st: EventsStage, options: RowMergeOptions): Promise<RowMergeResult> {
  try {
    return await merge(host, c, st, options);
  } catch (e) {
    // The transaction rolls back: forget what may describe a state that is not there.
    host.caches.clear();
    throw e;
  }
}

/** A VARCHAR[] relation of the JSON array of strings bound to parameter `n`. */
function listParam(n: number): string {
  return `(SELECT unnest(CAST(CAST($${n} AS VARCHAR) AS JSON)::VARCHAR[]))`;
}

// Statements run as plain SQL, not prepared once and re-run: DuckDB (1.5) plans with the
// tables' statistics, and a prepared plan re-run after the rows changed can drop a filter
// (a prepared `count(*) … WHERE reason IS NOT NULL` counted NULL rows once rows arrived).
async function rows(host: DuckStageHost, c: DuckDBConnection, text: string, values: string[] = []) {
  return host.sql.rows(c, text, values);
}

async function changed(host: DuckStageHost, c: DuckDBConnection, text: string, values: string[] = []): Promise<number> {
  return ((await host.sql.run(c, text, values)) as { rowsChanged: number }).rowsChanged;
}

async function observed(host: DuckStageHost, c: DuckDBConnection, tables: StageTables): Promise<ObservedTable[]> {
  const names = [tables.current, tables.raw, tables.quarantine];
  const key = JSON.stringify([tables.dataset, ...names]);
  const cached = host.caches.observed.get(key);
  if (cached) return cached;
  const found = await host.observe(c, tables.dataset, names);
  const out = found.map((t, i) => {
    if (!t) throw missingTable(tables.dataset, names[i]!);
    return t;
  });
  host.caches.observed.set(key, out);
  return out;
}

/** The summary of raw, read again when it does not cover exactly `rows` rows; null above the cap. */
async function rawSummary(host: DuckStageHost, c: DuckDBConnection, raw: string, rows: number): Promise<RawLogSummary | null> {
  const cached = host.caches.rawLogs.get(raw);
  if (cached && cached.rows === rows) return cached;
  host.caches.rawLogs.delete(raw);
  if (rows > SUMMARY_MAX_ROWS) return null;
  const summary = emptyRawLogSummary(Math.ceil(rows * 1.5));
  const result = await c.stream(`SELECT event_id, CASE WHEN operation = 'DELETE' THEN _key END AS deleted FROM ${raw}`);
  for await (const chunk of result.yieldRows()) {
    for (const [id, deleted] of chunk) {
      summary.ids.add(String(id));
      if (deleted !== null) summary.deletedKeys.add(String(deleted));
      summary.rows++;
    }
  }
  host.caches.summaryReads++;
  host.caches.rawLogs.set(raw, summary);
  return summary;
}

async function merge(host: DuckStageHost, c: DuckDBConnection, st: EventsStage, options: RowMergeOptions): Promise<RowMergeResult> {
  const [cur, rawTable, qt] = await observed(host, c, st.tables);
  const current = qualified(cur!.dataset, cur!.name);
  const raw = qualified(rawTable!.dataset, rawTable!.name);
  const quarantine = qualified(qt!.dataset, qt!.name);
  const ORIGIN = 'CAST($1 AS VARCHAR)';
  const INGEST = 'CAST($2 AS VARCHAR)';
  const written = [options.origin, options.ingestTime];

  // The batch's distinct accepted events, how many rows were rejected, and raw's row count.
  const [head] = await rows(
    host,
    c,
    `SELECT (SELECT count(*) FROM ${raw})::BIGINT AS raw_rows, (SELECT count(*) FROM ${st.stage} WHERE reason IS NOT NULL)::BIGINT AS rejected,
         (SELECT list([event_id, _key, operation]) FROM (SELECT event_id, any_value(_key) AS _key, any_value(operation) AS operation FROM ${st.stage} WHERE reason IS NULL GROUP BY event_id)) AS accepted`,
  );
  const accepted = (head?.accepted ?? []) as [string, string, string][];
  const summary = await rawSummary(host, c, raw, Number(head?.raw_rows ?? 0));

  // Already logged: exact, from raw, for the ids the summary may hold (all of them without one).
  const candidates = summary ? accepted.filter(([id]) => summary.ids.mayHave(id)) : accepted;
  const logged = new Set<string>();
  if (candidates.length > 0) {
    const found = await rows(host, c, `SELECT DISTINCT event_id FROM ${raw} WHERE event_id IN ${listParam(1)}`, [JSON.stringify(candidates.map(([id]) => id))]);
    for (const r of found) logged.add(String(r.event_id));
  }
  // The DELETE guard reads raw only for keys that may have a DELETE logged.
  const deleteKeys = summary ? [...new Set(accepted.filter(([, key]) => summary.deletedKeys.mayHave(key)).map(([, key]) => key))] : null;
  const deletes = deleteKeys === null ? raw : deleteKeys.length === 0 ? null : `(SELECT * FROM ${raw} WHERE _key IN ${listParam(1)})`;

  // Current's changes: the rules of row-rules.ts over the latest accepted row per key. DISTINCT
  // ON, not a window partitioned by key: DuckDB's partitioned window costs ~4 ms on 50 rows.
  const latest = `(SELECT DISTINCT ON (_key) * FROM ${st.stage} WHERE reason IS NULL ORDER BY _key, ${LATEST_FIRST})`;
  const changes = await rows(
    host,
    c,
    `INSERT INTO ${st.changes} BY NAME SELECT * FROM ${joinedSql(st.stage, { current, raw: deletes }, 'events', DUCK, latest)} WHERE category IN ('insert', 'update', 'delete')
     RETURNING category, event_id, operation`,
    deleteKeys && deleteKeys.length > 0 ? [JSON.stringify(deleteKeys)] : [],
  );
  const count = (category: string) => changes.filter((r) => r.category === category).length;
  const result: RowMergeResult = { inserted: count('insert'), updated: count('update'), deleted: count('delete'), quarantined: 0, logged: 0, superseded: 0 };

  // Raw: one row per distinct event (repeats in a batch are the same change), never twice.
  const fresh = accepted.filter(([id]) => !logged.has(id));
  const source = `SELECT DISTINCT ON (event_id) * FROM ${st.stage} WHERE reason IS NULL`;
  result.logged = await changed(host, c, rawInsertSql(raw, source, ORIGIN, INGEST, `event_id NOT IN ${listParam(3)}`), [...written, JSON.stringify([...logged])]);
  if (summary) {
    if (result.logged !== fresh.length || summary.rows + result.logged > SUMMARY_MAX_ROWS) {
      host.caches.rawLogs.delete(raw); // not what was expected: read raw again next time
    } else {
      for (const [id, key, operation] of fresh) {
        summary.ids.add(id);
        if (operation === 'DELETE') summary.deletedKeys.add(key);
      }
      summary.rows += result.logged;
    }
  }
  result.superseded = result.logged - changes.filter((r) => !logged.has(String(r.event_id))).length;

  // Quarantine: nothing dropped silently, nothing twice.
  if (Number(head?.rejected ?? 0) > 0) {
    result.quarantined = await changed(host, c, quarantineInsertSql(quarantine, rejectedSql(st.stage, current, quarantine, 'events'), ORIGIN, INGEST), written);
  }

  // Current: replace changed keys, drop deleted ones, in this same transaction.
  if (changes.length > 0) {
    // An insert is a key current does not hold (rule new-key): only updates and deletes have a row to remove.
    if (changes.some((r) => r.category !== 'insert')) await changed(host, c, `DELETE FROM ${current} WHERE _key IN (SELECT _key FROM ${st.changes})`);
    if (changes.some((r) => r.operation === 'UPSERT')) await changed(host, c, currentInsertSql(current, cur!, st.changes, INGEST.replace('$2', '$1')), [options.ingestTime]);
  }
  // Emptied here, in the transaction, so a stage kept for reuse needs no statement to clear it.
  await host.sql.run(c, `DELETE FROM ${st.stage}; DELETE FROM ${st.changes}`);
  return result;
}
