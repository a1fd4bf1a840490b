// The row diff: how staged rows compare with a mapping's current table. Pure, like
// engine/schema-diff.ts: every rule has a name, and both warehouses compile the same
// rules into their SQL (DuckDB for the embedded target, GoogleSQL for BigQuery), so plan
// counts, apply's writes and the two targets can never disagree about what a category is.
//
// The predicates read one row of `j`: the latest accepted staged row of a key (columns
// _key, _version, _hash, operation, event_id, …) left-joined with the current row of that
// key (c_key, c_hash, c_version; NULL when the key is not in current) and d_version, from
// the DELETE rows the raw table logged for the key (NULL when none):
//   events    the highest _version such a DELETE records in its data `{"_version": "…"}`
//   snapshot  the latest time such a DELETE happened, when after the snapshot (deletedAtSql)
// Standard SQL only.
//
// Version guard: a staged row never replaces or deletes a current row with a higher
// _version (a row written by a newer event survives a reconcile of an older snapshot); in
// events mode an UPSERT never brings back a key deleted at the same or a higher version
// (a redelivered or late older event arriving after the delete; the delete wins a tie); and
// a snapshot never brings back a key deleted after it was taken (by serve, or as an orphan
// of a newer snapshot): its absence from current is newer than the snapshot.
//
// Kept (snapshot mode, rule newer-in-target): a staged row whose content differs from current
// while current's _version is higher changes nothing, as the guard says, but is not silent
// either: the diff counts it apart ('kept', counted as unchanged too) so the plan can say which
// rows the source disagrees with and why they stay (engine/changes/kept-rows.ts).

import type { KeptRows, RowCategory, RowDiffResult, StageMode } from '../model/staged.js';

/** The category of rule newer-in-target: no change, but reported (see the header). */
export const KEPT = 'kept';

export interface RowRule {
  /** Stable name, shown in docs and tests. */
  name: string;
  category: Exclude<RowCategory, 'quarantine'> | typeof KEPT;
  /** A boolean SQL expression over the columns of `j`. */
  when: string;
  why: string;
}

const UPSERT = `operation = 'UPSERT'`;

/** Rules in the order they are tried; the first that holds decides a row's category. */
export function rowRules(mode: StageMode): RowRule[] {
  const rules: RowRule[] = [
    mode === 'snapshot'
      ? {
          name: 'new-key',
          category: 'insert',
          when: `${UPSERT} AND c_key IS NULL AND (d_version IS NULL OR d_version <= _version)`,
          why: 'in the source, not in the current table, and not deleted after the snapshot (by serve, or as an orphan of a newer snapshot)',
        }
      : {
          name: 'new-key',
          category: 'insert',
          when: `${UPSERT} AND c_key IS NULL AND (d_version IS NULL OR d_version < _version)`,
          why: 'not in the current table, and not deleted by an event of the same or a higher version',
        },
  ];
  if (mode === 'snapshot') {
    rules.push({
      name: 'content-changed',
      category: 'update',
      when: `${UPSERT} AND c_key IS NOT NULL AND c_hash <> _hash AND c_version <= _version`,
      why: 'the mapped columns differ and the current row is not newer than the snapshot',
    });
    rules.push({
      name: 'newer-in-target',
      category: KEPT,
      when: `${UPSERT} AND c_key IS NOT NULL AND c_hash <> _hash AND c_version > _version`,
      why: 'the mapped columns differ but the current row is newer than the snapshot: the version guard keeps it (reported, not written)',
    });
  } else {
    rules.push(
      {
        name: 'newer-version',
        category: 'update',
        when: `${UPSERT} AND c_key IS NOT NULL AND (c_version < _version OR (c_version = _version AND c_hash <> _hash))`,
        why: 'the event is newer than the current row',
      },
      {
        name: 'delete-event',
        category: 'delete',
        when: `operation = 'DELETE' AND c_key IS NOT NULL AND c_version <= _version`,
        why: 'the entity was deleted and the current row is not newer than the delete',
      },
    );
  }
  return rules;
}

/** `CASE … END` naming each row's category ('unchanged' when no rule holds). */
export function categorySql(mode: StageMode): string {
  return `CASE ${rowRules(mode)
    .map((r) => `WHEN ${r.when} THEN '${r.category}'`)
    .join(' ')} ELSE 'unchanged' END`;
}

/**
 * Orphans (snapshot mode): a current row whose key the snapshot lacks — the entity was
 * deleted — unless the row is newer than the snapshot. Over current `c`, with `staged`
 * naming the stage table (every staged key counts, quarantined ones too: their entity exists).
 */
export function orphanSql(staged: string, snapshotVersion: string): string {
  checkVersion(snapshotVersion);
  return `c._version <= ${snapshotVersion} AND NOT EXISTS (SELECT 1 FROM ${staged} s WHERE s._key = c._key)`;
}

/**
 * Quarantine: a rejected staged row `r` (reason set) not quarantined before (same event_id)
 * and, for a snapshot, whose content is not already what current holds: a record accepted
 * earlier is not re-judged while it does not change. `quarantined` names the quarantine table.
 */
export function quarantineSql(mode: StageMode, quarantined: string): string {
  const fresh = `NOT EXISTS (SELECT 1 FROM ${quarantined} q WHERE q.event_id = r.event_id)`;
  return mode === 'snapshot' ? `r.reason IS NOT NULL AND (c._key IS NULL OR c._hash <> r._hash) AND ${fresh}` : `r.reason IS NOT NULL AND ${fresh}`;
}

/**
 * The event_id of an orphan's DELETE, computed in SQL: must equal record/event-id.ts's
 * changeEventId({kind, key, version: snapshotVersion, operation: 'DELETE'}) byte for byte.
 * `sha256Hex` wraps an expression into the dialect's lowercase hex sha256.
 */
export function orphanEventIdSql(kindEncoded: string, keyColumn: string, snapshotVersion: string, literal: (s: string) => string, sha256Hex: (expr: string) => string): string {
  return `SUBSTR(${sha256Hex(`CONCAT(${literal(`${kindEncoded}\n`)}, ${keyColumn}, ${literal(`\n${snapshotVersion}\nDELETE\n`)})`)}, 1, 32)`;
}

const CATEGORIES: RowCategory[] = ['insert', 'update', 'delete', 'quarantine', 'unchanged'];

/**
 * The columns a diff's rows grouped by category carry beside category, n and keys, read for
 * the kept group only (collectDiff): of its smallest key, current's and the staged version
 * (`<current> <staged>`), and the highest staged and the lowest current version among its rows.
 * Cheap aggregates over the relation the counts already read: no second join.
 */
export function keptColumnsSql(d: StageDialect): string {
  // Built for the kept group's rows only: the other groups hold every unchanged row.
  const versions = `CASE WHEN category = '${KEPT}' THEN CONCAT(CAST(COALESCE(c_version, -1) AS ${d.string}), ' ', CAST(COALESCE(_version, -1) AS ${d.string})) END`;
  return `${d.firstByKey(versions)} AS kept_versions, MAX(_version) AS kept_source_max, MIN(c_version) AS kept_target_min`;
}

/** keptColumnsSql's columns in a part of the diff's UNION ALL that holds no kept row. */
export const NO_KEPT_COLUMNS = 'NULL AS kept_versions, NULL AS kept_source_max, NULL AS kept_target_min';

type DiffRow = { category?: unknown; n?: unknown; keys?: unknown; kept_versions?: unknown; kept_source_max?: unknown; kept_target_min?: unknown };

/**
 * The diff result from the rows a diff query returns, one per (category, count, keys):
 * both targets' queries may return a category more than once (rejected rows count as
 * unchanged too); counts add up and the smallest `n` keys are kept. Kept rows (rule
 * newer-in-target) count as unchanged, and are described apart in `kept`.
 */
export function collectDiff(rows: readonly DiffRow[], n: number): RowDiffResult {
  const counts = { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 0 };
  const samples = Object.fromEntries(CATEGORIES.map((k) => [k, [] as string[]])) as Record<RowCategory, string[]>;
  let kept: KeptRows | undefined;
  for (const r of rows) {
    const keys = Array.isArray(r.keys) ? r.keys.map(String) : [];
    if (r.category === KEPT) {
      const count = Number(r.n ?? 0);
      counts.unchanged += count;
      if (count > 0) kept = addKept(kept, r, count, keys, n);
      continue;
    }
    const cat = String(r.category) as RowCategory;
    if (!(cat in counts)) continue;
    counts[cat] += Number(r.n ?? 0);
    samples[cat] = [...samples[cat], ...keys].sort().slice(0, n);
  }
  return kept ? { counts, samples, kept } : { counts, samples };
}

/** A kept group of a diff's rows (several with passes) added to what the earlier ones gave. */
function addKept(into: KeptRows | undefined, r: DiffRow, count: number, keys: string[], n: number): KeptRows {
  const raw = Array.isArray(r.kept_versions) ? r.kept_versions[0] : r.kept_versions;
  const [target = '', source = ''] = String(raw ?? '').split(' ');
  const first = keys.length > 0 ? { key: [...keys].sort()[0]!, targetVersion: target, sourceVersion: source } : undefined;
  const big = (v: unknown) => (v === null || v === undefined ? undefined : BigInt(String(v)));
  const sourceMax = big(r.kept_source_max);
  const targetMin = big(r.kept_target_min);
  if (!into) {
    return { count, samples: [...keys].sort().slice(0, n), ...(first ? { first } : {}), ...(sourceMax !== undefined ? { sourceMax: String(sourceMax) } : {}), ...(targetMin !== undefined ? { targetMin: String(targetMin) } : {}) };
  }
  const out: KeptRows = { ...into, count: into.count + count, samples: [...into.samples, ...keys].sort().slice(0, n) };
  if (first && (!out.first || first.key < out.first.key)) out.first = first;
  if (sourceMax !== undefined && (out.sourceMax === undefined || sourceMax > BigInt(out.sourceMax))) out.sourceMax = String(sourceMax);
  if (targetMin !== undefined && (out.targetMin === undefined || targetMin < BigInt(out.targetMin))) out.targetMin = String(targetMin);
  return out;
}

/** What the staged relations need from a SQL dialect; everything else is standard SQL. */
export interface StageDialect {
  /** The 64-bit integer type: BIGINT (DuckDB), INT64 (GoogleSQL). */
  int64: string;
  /** The version a DELETE raw row records in `data` ({"_version": "…"}), as an integer or NULL. */
  deletedVersion(dataColumn: string): string;
  /** A TIMESTAMP column as an integer of µs since the epoch (NULL stays NULL). */
  timeMicros(column: string): string;
  /** The string type: VARCHAR (DuckDB), STRING (GoogleSQL). */
  string: string;
  /** An aggregate: a string expression's value at the group's smallest `_key` among the rows where it is not NULL. */
  firstByKey(expr: string): string;
}

/** The relations `j` is built from: current, and raw (null while it does not exist: nothing was deleted). */
export interface JoinRelations {
  current: string;
  raw: string | null;
  /** Snapshot mode: the snapshot's version (RowDiffOptions.snapshotVersion); DELETEs raw logged after it guard new keys. */
  snapshotVersion?: string;
}

/**
 * When a DELETE raw row happened, in µs: the later of the version its data records and its
 * event_time. Either alone can be older than the delete: an Eventarc delete records the
 * entity's last version (old_value.version) and the delete's own time as event_time; a
 * Pub/Sub delete without a version has its publish time as both; a reconcile's orphan
 * DELETE records the snapshot's version and time (its event_time is NULL without one).
 */
export function deletedAtSql(d: StageDialect): string {
  const version = d.deletedVersion('data');
  const time = d.timeMicros('event_time');
  // GoogleSQL's GREATEST is NULL when an argument is: each side falls back on the other.
  return `GREATEST(COALESCE(${version}, ${time}), COALESCE(${time}, ${version}))`;
}

function checkVersion(snapshotVersion: string): void {
  if (!/^\d+$/.test(snapshotVersion)) throw new Error(`snapshot version must be an integer, got ${snapshotVersion}`);
}

/**
 * The LEFT JOIN giving `j` its d_version (see the header), or '' when raw does not exist or,
 * in snapshot mode, without a snapshot version. Snapshot mode: the DELETE raw rows are
 * filtered to those after the snapshot before they are grouped by key, so the relation joined
 * holds the keys deleted since the snapshot (a few), never all of raw.
 */
function deletesJoin(stage: string, rel: JoinRelations, mode: StageMode, d: StageDialect): string {
  if (rel.raw === null) return '';
  if (mode === 'events') {
    return `LEFT JOIN (SELECT _key AS d_key, MAX(${d.deletedVersion('data')}) AS d_version FROM ${rel.raw}
           WHERE operation = 'DELETE' AND _key IN (SELECT _key FROM ${stage}) GROUP BY _key) d ON d.d_key = s._key`;
  }
  if (rel.snapshotVersion === undefined) return '';
  checkVersion(rel.snapshotVersion);
  return `LEFT JOIN (SELECT _key AS d_key, MAX(deleted_at) AS d_version
           FROM (SELECT _key, ${deletedAtSql(d)} AS deleted_at FROM ${rel.raw} WHERE operation = 'DELETE') x
           WHERE deleted_at > ${rel.snapshotVersion} GROUP BY _key) d ON d.d_key = s._key`;
}

/** `j`'s d_version column: from the deletes joined, else NULL. */
function dVersion(deletes: string, d: StageDialect): string {
  return deletes ? 'd.d_version' : `CAST(NULL AS ${d.int64}) AS d_version`;
}

/**
 * `j`: the latest accepted staged row per key (a DELETE wins a version tie, as the rules
 * say) with its current row (c_key, c_hash, c_version), d_version (see the header), and its
 * category. Both targets' diff and merge read exactly this relation.
 */
export function joinedSql(stage: string, rel: JoinRelations, mode: StageMode, d: StageDialect, latest: string = latestStagedSql(stage)): string {
  const deletes = deletesJoin(stage, rel, mode, d);
  return `(SELECT j.*, ${categorySql(mode)} AS category FROM (
    SELECT s.*, c._key AS c_key, c._hash AS c_hash, c._version AS c_version, ${dVersion(deletes, d)}
    FROM ${latest} s
    LEFT JOIN ${rel.current} c ON c._key = s._key ${deletes}) j)`;
}

/**
 * Snapshot mode, over a stage where no accepted key is staged twice: `j` and the orphans in
 * one relation, from a full join of stage and current. Orphans (orphanSql: a current row
 * whose key the snapshot lacks, not newer than it) come out with category 'delete', _key NULL
 * and c_key set; rejected staged rows are left out, though their keys still keep current rows
 * from being orphans. One join instead of joinedSql's plus orphanSql's NOT EXISTS: over a
 * million rows, some 0.4 s instead of 0.7 s in DuckDB (which uses it where the staged rows
 * come mostly from the source memo's table, see duckdb-key-joins.ts). `raw` as JoinRelations'.
 */
export function fullJoinedSql(stage: string, current: string, snapshotVersion: string, d: StageDialect, raw: string | null): string {
  checkVersion(snapshotVersion);
  const deletes = deletesJoin(stage, { current, raw, snapshotVersion }, 'snapshot', d);
  return `(SELECT j.*, CASE WHEN j._key IS NULL THEN 'delete' ELSE ${categorySql('snapshot')} END AS category FROM (
    SELECT s.*, c._key AS c_key, c._hash AS c_hash, c._version AS c_version, ${dVersion(deletes, d)}
    FROM ${stage} s FULL JOIN ${current} c ON c._key = s._key ${deletes}) j
    WHERE (j._key IS NULL AND j.c_version <= ${snapshotVersion}) OR (j._key IS NOT NULL AND j.reason IS NULL))`;
}

/** The order that makes a staged row the latest of its key: highest version, a DELETE on a tie, then highest event_id. */
export const LATEST_FIRST = `_version DESC, CASE WHEN operation = 'DELETE' THEN 1 ELSE 0 END DESC, event_id DESC`;

/**
 * The latest accepted staged row per key, in standard SQL. A dialect may pass `joinedSql`
 * an equivalent relation that is cheaper for its engine (same rows, same order rule).
 */
export function latestStagedSql(stage: string): string {
  return `(SELECT * FROM ${stage} WHERE reason IS NULL
          QUALIFY ROW_NUMBER() OVER (PARTITION BY _key ORDER BY ${LATEST_FIRST}) = 1)`;
}

/**
 * Every accepted staged row: the latest of its key when the caller has checked that no key is
 * staged twice among them (a snapshot holds each entity once). Over a whole snapshot with its
 * rows, the window latestStagedSql needs (a sort of every staged column) costs more than the
 * rest of the merge.
 */
export function acceptedStagedSql(stage: string): string {
  return `(SELECT * FROM ${stage} WHERE reason IS NULL)`;
}

/** Rejected staged rows (one per event_id) with `fresh`: to be quarantined now (quarantineSql). */
export function rejectedSql(stage: string, current: string, quarantine: string, mode: StageMode): string {
  return `(SELECT r.*, (${quarantineSql(mode, quarantine)}) AS fresh
    FROM (SELECT * FROM ${stage} WHERE reason IS NOT NULL QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY _key) = 1) r
    LEFT JOIN ${current} c ON c._key = r._key)`;
}
