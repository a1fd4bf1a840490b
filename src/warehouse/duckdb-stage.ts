// Staging in DuckDB: staged rows go into a TEMP table (connection-local, spills to disk under
// the memory limit, gone when the connection closes: `plan` leaves nothing behind), loaded
// from staging workers' files by read_json or, for batches made on this thread, through the
// appender, and the diff and the merge are SQL over it (row-rules.ts).
// A merge is one transaction: current, raw and quarantine change together or not at all,
// so a kill at any point leaves either the old state or the new one. The key joins the diff
// and the snapshot merge share are in duckdb-key-joins.ts, the merges in
// duckdb-snapshot-merge.ts and duckdb-events-merge.ts; this stage holds the staged rows
// (appends, the memo's hits) and the diff.

import type { DuckDBConnection } from '@duckdb/node-api';
import { tableAddress } from '../model/address.js';
import type {
  RowDiffOptions,
  RowDiffResult,
  RowMergeOptions,
  RowMergeResult,
  StageTables,
  StagedRecord,
} from '../model/staged.js';
import type { DuckStageHost, PooledStage, StageRelations } from './duckdb-stage-host.js';

import { orphanSql, collectDiff, keptColumnsSql, KEPT, NO_KEPT_COLUMNS, rejectedSql } from './row-rules.js';
import { DUCK } from './duckdb-merge-sql.js';
import { qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';
import { mergeEvents } from './duckdb-events-merge.js';
import { INCOMPLETE, mergeSnapshot, type SnapshotMergeStage } from './duckdb-snapshot-merge.js';
import { SnapshotKeyJoins } from './duckdb-key-joins.js';
import { toColumns, type StagedColumns } from '../model/staged-columns.js';
import { STAGED_FILE_FIELDS, type StagedFile } from '../model/staged-file.js';
import type { RowStage } from './warehouse.js';
import type { PrintSet } from '../model/print-set.js';
import type { ProfileColumn, ProfileState } from '../model/staged.js';
import { memoExists, memoSortRange, memoStageRows, memoTable, profileState, takeMemo } from './duckdb-memo.js';

/** A stage that held more rows than this is dropped at close, not kept for reuse (its space goes back). */
export const POOLED_STAGE_MAX_ROWS = 10_000;

const EMPTY_CURRENT = `(SELECT CAST(NULL AS VARCHAR) AS _key, CAST(NULL AS VARCHAR) AS _hash, CAST(NULL AS BIGINT) AS _version WHERE false)`;
const EMPTY_LOG = `(SELECT CAST(NULL AS VARCHAR) AS event_id WHERE false)`;

let counter = 0;

/** A staged file's fields as read_json reads them, and the stage columns they fill. */
const FILE_FIELDS = Object.entries(STAGED_FILE_FIELDS);
const FILE_COLUMNS = `{${FILE_FIELDS.map(([f, [, type]]) => `${quoteLiteral(f)}: ${quoteLiteral(type)}`).join(', ')}}`;
const FILE_SELECT = FILE_FIELDS.map(([f, [column]]) => (column === '_version' || column === 'src_print' ? `CAST(${f} AS BIGINT)` : f)).join(', ');
const FILE_TARGETS = FILE_FIELDS.map(([, [column]]) => quoteIdent(column)).join(', ');

/** Of a diff's rows grouped by category: the inserts and updates merge would refuse (INCOMPLETE). */
const INCOMPLETE_COUNT = `count(*) FILTER (WHERE category IN ('insert', 'update') AND ${INCOMPLETE})::BIGINT AS incomplete`;
/** Of a diff's rows grouped by category: what the kept group's description reads (row-rules.ts). */
const KEPT_COLUMNS = keptColumnsSql(DUCK);

export class DuckRowStage implements RowStage {
  private readonly name: string;
  private created = false;
  /** The events merge's table of changes (`<name>_ev`) exists. */
  private events = false;
  private count = 0;
  /** `count` when a committed events merge left the tables empty (-1: not since). */
  private emptiedAt = -1;
  /** The entries memoPrints took (their relation and count), until appendMemoHits stages them. */
  private memoTaken: { from: string; size: number } | undefined;
  /** The memo's rows the stage holds (see appendMemoHits), in the stage table's columns. */
  private memoRows: string | undefined;
  /** The snapshot version whose changes a diff left in the chg table (undefined: none valid). */
  private changesFor: string | undefined;
  /** The key joins of this stage's diff and merge, and what they worked out about its rows. */
  private readonly joins: SnapshotKeyJoins;

  constructor(
    private readonly host: DuckStageHost,
    private readonly tables: StageTables,
    /** Empty tables of a closed stage to reuse. */
    pooled?: PooledStage,
  ) {
    this.name = pooled?.name ?? `_mlbridge_stage_${process.pid}_${++counter}`;
    this.created = pooled !== undefined;
    this.events = pooled?.events ?? false;
    this.joins = new SnapshotKeyJoins(host, tables, {
      table: this.q,
      deletes: this.deletes,
      rows: () => this.rows,
      memoRows: () => this.memoRows,
      staged: () => this.count,
    });
  }

  get staged(): number {
    return this.count;
  }

  private get q(): string {
    return `temp.main.${quoteIdent(this.name)}`;
  }

  private async ensure(c: DuckDBConnection): Promise<void> {
    if (this.created) return;
    await this.host.sql.run(
      c,
      `CREATE OR REPLACE TEMP TABLE ${quoteIdent(this.name)} (_key VARCHAR, _version BIGINT, _hash VARCHAR, operation VARCHAR, event_id VARCHAR, event_time VARCHAR, _score DOUBLE, flags VARCHAR, "row" VARCHAR, data VARCHAR, reason VARCHAR, src_print BIGINT)`,
    );
    this.created = true;
  }

  append(records: StagedRecord[]): Promise<void> {
    return this.appendColumns(toColumns(this.tables.kind, records));
  }

  /**
   * Loads a file of staged rows (model/staged-file.ts) with read_json: DuckDB parses it in its
   * own threads, so staging workers' batches cost this thread one statement each.
   */
  appendFile(file: StagedFile): Promise<void> {
    if (file.rows === 0) return Promise.resolve();
    this.joins.reset();
    this.changesFor = undefined;
    return this.host.use(async (c) => {
      await this.ensure(c);
      await this.host.threadsFor(c, 'bulk');
      // read_json's default 16 MiB line limit holds any staged record: Datastore caps an entity
      // at 1 MiB, and its row and data, JSON-escaped, stay below it (a larger limit makes
      // read_json reserve buffers of twice its size, against the stage's memory limit).
      await this.host.sql.run(
        c,
        `INSERT INTO ${this.q} (${FILE_TARGETS}) SELECT ${FILE_SELECT} FROM read_json(${quoteLiteral(file.path)}, format = 'newline_delimited', records = true, columns = ${FILE_COLUMNS})`,
      );
      this.count += file.rows;
    });
  }

  /** Straight from the columns into the appender: no object per record on this thread. */
  appendColumns(b: StagedColumns): Promise<void> {
    const n = b.key.length;
    if (n === 0) return Promise.resolve();
    this.joins.reset();
    this.changesFor = undefined;
    return this.host.use(async (c) => {
      await this.ensure(c);
      const a = await c.createAppender(this.name, 'main', 'temp');
      try {
        // A snapshot stages every record at one version: parse each distinct one once.
        let versionText = '';
        let version = 0n;
        for (let i = 0; i < n; i++) {
          a.appendVarchar(b.key[i]!);
          if (b.version[i] !== versionText) version = BigInt((versionText = b.version[i]!));
          a.appendBigInt(version);
          a.appendVarchar(b.hash[i]!);
          a.appendVarchar(b.operation[i]!);
          const eventId = b.eventId[i]!;
          if (eventId === '') a.appendNull();
          else a.appendVarchar(eventId);
          const eventTime = b.eventTime[i]!;
          if (eventTime === null) a.appendNull();
          else a.appendVarchar(eventTime);
          a.appendDouble(b.score[i]!);
          a.appendVarchar(b.flags[i]!);
          const row = b.row[i]!;
          if (row === null) a.appendNull();
          else a.appendVarchar(row);
          const data = b.data[i]!;
          if (data === null) a.appendNull();
          else a.appendVarchar(data);
          const reason = b.reason[i]!;
          if (reason === null) a.appendNull();
          else a.appendVarchar(reason);
          a.appendNull(); // src_print: only staging workers print records
          a.endRow();
        }
        a.flushSync();
      } finally {
        a.closeSync();
      }
      this.count += n;
    });
  }

  /** The SQL relations the rules read, given which target tables exist now. */
  private async relations(c: DuckDBConnection): Promise<StageRelations> {
    await this.ensure(c);
    const { dataset } = this.tables;
    const [cur, raw, qt] = await this.host.observe(c, dataset, [this.tables.current, this.tables.raw, this.tables.quarantine]);
    return {
      current: cur ? qualified(cur.dataset, cur.name) : EMPTY_CURRENT,
      raw: raw ? qualified(raw.dataset, raw.name) : EMPTY_LOG,
      quarantine: qt ? qualified(qt.dataset, qt.name) : EMPTY_LOG,
      currentTable: cur,
    };
  }


  /**
   * The content fingerprints of current's rows, sorted (model/content-fingerprint.ts computes
   * the same value in JavaScript), or null when current does not exist yet.
   */
  currentFingerprints(): Promise<BigInt64Array | null> {
    return this.host.use(async (c) => {
      const [cur] = await this.host.observe(c, this.tables.dataset, [this.tables.current]);
      if (!cur) return null;
      // Streamed, not materialized (see duckdb-memo.ts takeMemo).
      const result = await c.stream(
        `SELECT ('0x' || substr(md5(_key || chr(10) || _hash), 1, 15))::BIGINT AS fp FROM ${qualified(cur.dataset, cur.name)} ORDER BY fp`,
      );
      const parts: BigInt64Array[] = [];
      let total = 0;
      for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
        const part = BigInt64Array.from(chunk.getColumnValues(0) as bigint[]);
        parts.push(part);
        total += part.length;
      }
      // Shared memory: staging workers search it without a copy each.
      const out = new BigInt64Array(new SharedArrayBuffer(total * 8));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    });
  }

  memoPrints(salt: string): Promise<PrintSet | null> {
    return this.host.use(async (c) => {
      const [cur] = await this.host.observe(c, this.tables.dataset, [this.tables.current]);
      if (!cur || !(await memoExists(this.host.sql, c, this.tables))) return null;
      await this.host.threadsFor(c, 'bulk');
      const { set, from } = await takeMemo(c, memoTable(this.tables), salt, memoSortRange(this.host.workMemoryBytes()));
      this.memoTaken = { from, size: set.hits.length };
      return set.hits.length > 0 ? set : null;
    });
  }

  /**
   * The memo's rows are not copied into the stage (over millions of rows, the copy cost more
   * time and memory than any statement that reads it): the stage's rows become the staged
   * table's plus the memo's entries but the missed prints, which wait in a temp table.
   */
  appendMemoHits(missed: BigInt64Array, version: string): Promise<number> {
    const taken = this.memoTaken;
    if (taken === undefined) return Promise.resolve(0);
    this.joins.reset();
    this.changesFor = undefined;
    return this.host.use(async (c) => {
      await this.ensure(c);
      this.memoRows = await memoStageRows(this.host.sql, c, this.missedName, taken.from, missed, version);
      const n = taken.size - missed.length;
      this.count += n;
      this.memoTaken = undefined;
      return n;
    });
  }

  /** The changes of a snapshot (insert, update and orphan delete rows of fullJoinedSql), kept from a diff for the merge. */
  private get chg(): string {
    return `temp.main.${quoteIdent(`${this.name}_chg`)}`;
  }

  /** The orphans a snapshot merge deletes (current's keys the snapshot lacks). */
  private get orph(): string {
    return `temp.main.${quoteIdent(`${this.name}_orph`)}`;
  }

  /** Every staged row: the stage table's, and the memo's when records were taken from it (appendMemoHits). */
  private get rows(): string {
    return this.memoRows === undefined ? this.q : `(SELECT * FROM ${this.q} UNION ALL ${this.memoRows})`;
  }

  /** The temp table of appendMemoHits' missed prints (dropped with the stage). */
  private get missedName(): string {
    return `${this.name}_missed`;
  }

  profileState(columns: ProfileColumn[], maxCardinality: number): Promise<ProfileState> {
    return this.host.use(async (c) => {
      await this.host.threadsFor(c, 'bulk');
      return profileState(this.host.sql, c, this.tables, columns, maxCardinality);
    });
  }

  /** The raw DELETE rows a snapshot's key joins look at, when found once for several passes. */
  private get deletes(): string {
    return `temp.main.${quoteIdent(`${this.name}_del`)}`;
  }

  diff(options: RowDiffOptions): Promise<RowDiffResult> {
    const n = Math.max(0, Math.floor(options.samples ?? 5));
    return this.host.use(async (c) => {
      await this.host.threadsFor(c, 'bulk');
      const rel = await this.relations(c);
      const sample = (col: string) => (n > 0 ? `min(${col}, ${n})` : `[]::VARCHAR[]`);
      const passes = await this.joins.passesFor(c, rel.current, options);
      const joinRel = await this.joins.withDeletes(c, rel, options, passes);
      const full = await this.joins.fullJoined(c, joinRel, options, passes);
      // The changes (a few) are kept for the merge, which would otherwise join again; the
      // unchanged rows are the accepted ones that are not among them. A read-only target
      // (plan) has no merge to come: it counts over the join instead, which carries only
      // what the counts need through it, not every staged column: a 5M plan after a drift
      // apply that kept the changes ran out of memory even in passes, at 128MB plus the
      // deletion info's allowance under DuckDB 1.5.5, and counting fits (the apply's larger limit keeps them).
      const keep = full !== undefined && !this.host.readOnly;
      const rows: Record<string, unknown>[] = [];
      for (let pass = 0; pass < passes; pass++) {
        const part = this.joins.pass(rel.current, passes, pass);
        // A rejected record already quarantined (or whose content current already holds) is unchanged.
        const parts = [
          `SELECT CASE WHEN fresh THEN 'quarantine' ELSE 'unchanged' END AS category, count(*)::BIGINT AS n, ${sample('_key')} AS keys, 0::BIGINT AS incomplete, ${NO_KEPT_COLUMNS} FROM ${rejectedSql(part.rows, part.current, rel.quarantine, options.mode)} GROUP BY 1`,
        ];
        if (keep) {
          // The kept rows (rule newer-in-target) too, to be counted and described below, then dropped.
          const changes = `SELECT * FROM ${full(part)} WHERE category IN ('insert', 'update', 'delete', '${KEPT}')`;
          await this.host.sql.run(c, pass === 0 ? `CREATE OR REPLACE TEMP TABLE ${this.chg} AS ${changes}` : `INSERT INTO ${this.chg} ${changes}`);
        } else if (full !== undefined) {
          parts.push(`SELECT category, count(*)::BIGINT AS n, ${sample('coalesce(_key, c_key)')} AS keys, ${INCOMPLETE_COUNT}, ${KEPT_COLUMNS} FROM ${full(part)} GROUP BY category`);
        } else {
          parts.push(`SELECT category, count(*)::BIGINT AS n, ${sample('_key')} AS keys, ${INCOMPLETE_COUNT}, ${KEPT_COLUMNS} FROM ${await this.joins.joined(c, joinRel, part, options, passes)} GROUP BY category`);
          if (options.mode === 'snapshot' && options.snapshotVersion !== undefined && rel.currentTable) {
            parts.push(`SELECT 'delete' AS category, count(*)::BIGINT AS n, ${sample('c._key')} AS keys, 0::BIGINT AS incomplete, ${NO_KEPT_COLUMNS} FROM ${part.current} c WHERE ${orphanSql(part.rows, options.snapshotVersion)}`);
          }
        }
        rows.push(...(await this.host.sql.rows(c, parts.join(' UNION ALL '))));
      }
      if (keep) {
        this.changesFor = options.snapshotVersion;
        rows.push(
          ...(await this.host.sql.rows(
            c,
            `SELECT category, count(*)::BIGINT AS n, ${sample('coalesce(_key, c_key)')} AS keys, ${INCOMPLETE_COUNT}, ${KEPT_COLUMNS} FROM ${this.chg} GROUP BY category
             UNION ALL SELECT 'unchanged' AS category, (SELECT count(*) FROM ${this.rows} WHERE reason IS NULL) - (SELECT count(*) FROM ${this.chg} WHERE _key IS NOT NULL) AS n, []::VARCHAR[] AS keys, 0::BIGINT AS incomplete, ${NO_KEPT_COLUMNS}`,
          )),
        );
        // The merge writes the changes only.
        await this.host.sql.run(c, `DELETE FROM ${this.chg} WHERE category = '${KEPT}'`);
      }
      await this.joins.dropDeletes(c);
      const incomplete = rows.reduce((sum, r) => sum + Number(r.incomplete ?? 0), 0);
      return { ...collectDiff(rows, n), incomplete };
    });
  }

  merge(options: RowMergeOptions): Promise<RowMergeResult> {
    const { dataset } = this.tables;
    const resource = tableAddress('duckdb', dataset, this.tables.current);
    if (options.mode === 'events') {
      const events = quoteIdent(`${this.name}_ev`);
      return this.host
        .use(async (c) => {
          await this.host.threadsFor(c, 'events');
          // Outside the transaction, so a rolled-back merge does not take the tables with it.
          await this.ensure(c);
          if (this.events) return;
          await this.host.sql.run(
            c,
            `CREATE OR REPLACE TEMP TABLE ${events} AS SELECT *, CAST(NULL AS VARCHAR) AS c_key, CAST(NULL AS VARCHAR) AS c_hash, CAST(NULL AS BIGINT) AS c_version, CAST(NULL AS BIGINT) AS d_version, CAST(NULL AS VARCHAR) AS category FROM ${this.q} WHERE false`,
          );
          this.events = true;
        })
        .then(() => this.host.tx(resource, (c) => mergeEvents(this.host, c, { stage: this.q, changes: `temp.main.${events}`, tables: this.tables }, options)))
        .then((result) => {
          this.emptiedAt = this.count; // the merge committed with the stage's tables emptied
          return result;
        });
    }
    return mergeSnapshot(this.host, this.snapshotMergeStage(), resource, options);
  }

  /** What the snapshot merge reads of this stage (see SnapshotMergeStage). */
  private snapshotMergeStage(): SnapshotMergeStage {
    return {
      tables: this.tables,
      table: this.q,
      chg: this.chg,
      orph: this.orph,
      joins: this.joins,
      relations: (c) => this.relations(c),
      changesFor: () => this.changesFor,
      forgetChanges: () => {
        this.changesFor = undefined;
      },
    };
  }

  close(): Promise<void> {
    if (!this.created) return Promise.resolve();
    const events = `temp.main.${quoteIdent(`${this.name}_ev`)}`;
    return this.host
      .use(async (c) => {
        this.created = false;
        if (this.count <= POOLED_STAGE_MAX_ROWS) {
          if (this.emptiedAt !== this.count) await this.host.sql.run(c, this.events ? `DELETE FROM ${this.q}; DELETE FROM ${events}` : `DELETE FROM ${this.q}`);
          if (this.host.release({ name: this.name, events: this.events })) return;
        }
        await this.host.sql.run(c, `DROP TABLE IF EXISTS ${this.q}; DROP TABLE IF EXISTS ${events}; DROP TABLE IF EXISTS temp.main.${quoteIdent(this.missedName)}; DROP TABLE IF EXISTS ${this.chg}; DROP TABLE IF EXISTS ${this.orph}; DROP TABLE IF EXISTS ${this.deletes}`);
      })
      .catch(() => undefined);
  }
}
