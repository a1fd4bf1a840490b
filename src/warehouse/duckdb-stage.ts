// Staging in DuckDB: staged rows go into a TEMP table (connection-local, spills to disk under
// the memory limit, gone when the connection closes: `plan` leaves nothing behind), loaded
// from staging workers' files by read_json or, for batches made on this thread, through the
// appender, and the diff and the merge are SQL over it (row-rules.ts).
// A merge is one transaction: current, raw and quarantine change together or not at all,
// so a kill at any point leaves either the old state or the new one.

import type { DuckDBConnection } from '@duckdb/node-api';
import { tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import type { ObservedTable } from '../model/schema.js';
import type {
  RowDiffOptions,
  RowDiffResult,
  RowMergeOptions,
  RowMergeResult,
  StageTables,
  StagedRecord,
} from '../model/staged.js';
import type { DuckSql } from './duckdb-catalog.js';

import { acceptedStagedSql, deletedAtSql, fullJoinedSql, orphanEventIdSql, orphanSql, collectDiff, joinedSql, rejectedSql } from './row-rules.js';
import { qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';
import { DUCK, RAW_COLUMNS, currentInsertSql, deletedData, missingTable, quarantineInsertSql, rawInsertNewSql } from './duckdb-merge-sql.js';
import { mergeEvents, type StageCaches } from './duckdb-events-merge.js';
import { toColumns, type StagedColumns } from '../model/staged-columns.js';
import { STAGED_FILE_FIELDS, type StagedFile } from '../model/staged-file.js';
import type { RowStage } from './warehouse.js';
import type { PrintSet } from '../model/print-set.js';
import type { ProfileColumn, ProfileState } from '../model/staged.js';
import { MEMO_SCHEMA, memoExists, memoName, memoSortRange, memoStageRows, memoTable, profileState, storeMemo, takeMemo } from './duckdb-memo.js';
import { keyPart, keyPartitions } from './key-partitions.js';

/** What the stage needs from DuckDbWarehouse: its serialised connection and catalog. */
export interface DuckStageHost {
  sql: DuckSql;
  /** Runs fn on the stage's connection, serialised with the warehouse's other work. */
  use<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T>;
  /**
   * Runs fn in a transaction on the same connection (rolled back when it throws), after
   * `prepare`, which runs outside it but with nothing else between them.
   */
  tx<T>(resource: string, fn: (c: DuckDBConnection) => Promise<T>, prepare?: (c: DuckDBConnection) => Promise<void>): Promise<T>;
  /** These tables of the dataset (null where missing), in one catalog round. */
  observe(c: DuckDBConnection, dataset: string, tables: string[]): Promise<(ObservedTable | null)[]>;
  /** What the events merge remembers between batches; the warehouse clears it on DDL and close. */
  caches: StageCaches;
  /** The target was opened read-only (plan): no merge can follow a diff. */
  readOnly: boolean;
  /**
   * The memory a snapshot's key joins and the memo's sort are sized for (key-partitions.ts):
   * the limit the target started with, less the deletion info retainFor counted when the user
   * set the limit (the default grows by it instead).
   */
  workMemoryBytes(): number;
  /** Rows a pass of a snapshot's key joins may hold, when the user set it. */
  rowsPerPass?: number;
  /**
   * Raises the default memory limit by what DuckDB holds for the deletion info of `rows` rows
   * of tables the reconcile scans (current, the memo), which it does not evict.
   */
  retainFor(c: DuckDBConnection, rows: number, resource: string): Promise<void>;
  /**
   * Takes back a closed stage's (emptied) tables for the next openStage, so serve's batches
   * reuse one stage instead of creating and dropping tables each time; false: drop them.
   */
  release(stage: PooledStage): boolean;
  /**
   * DuckDB's worker threads for what comes next: 'events' (serve's small batches: one thread,
   * which spends ~20% less CPU on them than a pool) or 'bulk' (diffs and snapshot merges: the
   * default). A SET runs only when the kind of work changes.
   */
  threadsFor(c: DuckDBConnection, work: 'events' | 'bulk'): Promise<void>;
}

/** The mapping's tables as a stage's statements read them (an empty relation where one is missing). */
interface StageRelations {
  current: string;
  raw: string;
  quarantine: string;
  currentTable: ObservedTable | null;
}

/** A stage's temp tables kept for reuse: the stage table and, once an events merge ran, its `_ev` table. */
export interface PooledStage {
  name: string;
  events: boolean;
}

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

/** A changed UPSERT staged without what writing it needs (its row or its event id). */
const INCOMPLETE = `operation = 'UPSERT' AND ("row" IS NULL OR event_id IS NULL)`;
/** Of a diff's rows grouped by category: the inserts and updates merge would refuse (INCOMPLETE). */
const INCOMPLETE_COUNT = `count(*) FILTER (WHERE category IN ('insert', 'update') AND ${INCOMPLETE})::BIGINT AS incomplete`;

export class DuckRowStage implements RowStage {
  private readonly name: string;
  private created = false;
  /** The events merge's table of changes (`<name>_ev`) exists. */
  private events = false;
  private count = 0;
  /** No key staged twice among the accepted rows; undefined until asked, reset by an append. */
  private unique: boolean | undefined;
  /** `count` when a committed events merge left the tables empty (-1: not since). */
  private emptiedAt = -1;
  /** The entries memoPrints took (their relation and count), until appendMemoHits stages them. */
  private memoTaken: { from: string; size: number } | undefined;
  /** The memo's rows the stage holds (see appendMemoHits), in the stage table's columns. */
  private memoRows: string | undefined;
  /** The snapshot version whose changes a diff left in the chg table (undefined: none valid). */
  private changesFor: string | undefined;
  /** Passes of this stage's snapshot key joins (key-partitions.ts); undefined until asked, reset by an append. */
  private passes: number | undefined;
  /** retainDeletionInfo ran. */
  private retained = false;

  constructor(
    private readonly host: DuckStageHost,
    private readonly tables: StageTables,
    /** Empty tables of a closed stage to reuse. */
    pooled?: PooledStage,
  ) {
    this.name = pooled?.name ?? `_mlbridge_stage_${process.pid}_${++counter}`;
    this.created = pooled !== undefined;
    this.events = pooled?.events ?? false;
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
    this.unique = undefined;
    this.passes = undefined;
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
    this.unique = undefined;
    this.passes = undefined;
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
   * Whether no key is staged twice among the accepted rows (asked once per stage: a hash
   * aggregate over the keys, far cheaper than the window it spares), pass by pass of the
   * snapshot's key joins (a key is in one pass only). Events stage one row per change, so a
   * key often repeats there: not asked.
   */
  private async keysUnique(c: DuckDBConnection, mode: RowDiffOptions['mode'], passes: number): Promise<boolean> {
    if (mode !== 'snapshot') return false;
    if (this.unique === undefined) {
      let unique = true;
      for (let pass = 0; pass < passes && unique; pass++) {
        const staged = keyPart(this.q, passes, pass);
        const [r] = await this.host.sql.rows(c, `SELECT count(*) = count(DISTINCT _key) AS uniq FROM ${staged} WHERE reason IS NULL`);
        unique = r?.uniq === true;
        if (unique && this.memoRows !== undefined) {
          // The memo holds a key once per salt (storeMemo); what is left is a key both staged and
          // taken from the memo. Checked by a join on the staged keys, not a grouping of every
          // row: over millions of memo rows that ran DuckDB out of memory at the plan's limit.
          const memo = keyPart(`(${this.memoRows})`, passes, pass);
          const [o] = await this.host.sql.rows(c, `SELECT EXISTS (SELECT 1 FROM ${staged} s JOIN ${memo} m ON m._key = s._key WHERE s.reason IS NULL) AS overlap`);
          unique = o?.overlap === false;
        }
      }
      this.unique = unique;
    }
    return this.unique;
  }

  /**
   * How many passes this stage's snapshot key joins take (key-partitions.ts): from the larger
   * side's rows and the mean key length of a sample. Worked out once per stage content.
   */
  private async passCount(c: DuckDBConnection, current: string): Promise<number> {
    if (this.passes === undefined) {
      const [r] = await this.host.sql.rows(
        c,
        `SELECT (SELECT count(*) FROM ${current})::BIGINT AS current_rows,
           (SELECT avg(strlen(_key)) FROM ((SELECT _key FROM ${current} LIMIT 10000) UNION ALL (SELECT _key FROM ${this.q} LIMIT 10000))) AS key_bytes`,
      );
      await this.retainDeletionInfo(c);
      this.passes = keyPartitions({
        staged: this.count,
        current: Number(r?.current_rows ?? 0),
        meanKeyBytes: Number(r?.key_bytes ?? 0),
        memoryLimitBytes: this.host.workMemoryBytes(),
        ...(this.host.rowsPerPass !== undefined ? { rowsPerPass: this.host.rowsPerPass } : {}),
      });
    }
    return this.passes;
  }

  /**
   * Raises the memory limit for the deletion info DuckDB will hold once current and the memo
   * are scanned (see DuckStageHost.retainFor): the physical rows of each that has rows
   * deleted (duckdb_tables' estimated_size counts deleted rows, count(*) does not). A
   * freshly loaded table has none and costs nothing. Once per stage.
   */
  private async retainDeletionInfo(c: DuckDBConnection): Promise<void> {
    if (this.retained) return;
    this.retained = true;
    const tables: [string, string][] = [
      [this.tables.dataset, this.tables.current],
      [MEMO_SCHEMA, memoName(this.tables)],
    ];
    let rows = 0;
    for (const [schema, table] of tables) {
      const [t] = await this.host.sql.rows(
        c,
        `SELECT estimated_size::BIGINT AS physical FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?`,
        [schema, table],
      );
      if (!t) continue;
      const physical = Number(t.physical ?? 0);
      const [n] = await this.host.sql.rows(c, `SELECT count(*)::BIGINT AS n FROM ${qualified(schema, table)}`);
      if (physical > Number(n?.n ?? 0)) rows += physical;
    }
    if (rows > 0) await this.host.retainFor(c, rows, tableAddress('duckdb', this.tables.dataset, this.tables.current));
  }

  /** The staged rows and current rows of one pass of the snapshot key joins. */
  private pass(current: string, passes: number, pass: number): { rows: string; current: string } {
    return { rows: keyPart(this.rows, passes, pass), current: keyPart(current, passes, pass) };
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
      // The memo and current are about to be scanned: room for their deletion info first.
      await this.retainDeletionInfo(c);
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
    this.unique = undefined;
    this.passes = undefined;
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

  /** `j` over one pass's staged and current rows: the shared relation of row-rules.ts, in this dialect. */
  private async joined(c: DuckDBConnection, rel: { raw: string }, part: { rows: string; current: string }, options: RowDiffOptions, passes: number): Promise<string> {
    const rawRel = { current: part.current, raw: rel.raw.startsWith('(') ? null : rel.raw, snapshotVersion: options.snapshotVersion };
    if (await this.keysUnique(c, options.mode, passes)) return joinedSql(part.rows, rawRel, options.mode, DUCK, acceptedStagedSql(part.rows));
    return joinedSql(part.rows, rawRel, options.mode, DUCK);
  }

  /** The raw DELETE rows a snapshot's key joins look at, when found once for several passes. */
  private get deletes(): string {
    return `temp.main.${quoteIdent(`${this.name}_del`)}`;
  }

  /**
   * `rel` for the key joins: over several passes of a snapshot, raw becomes its DELETE rows
   * after the snapshot (row-rules.ts deletesJoin reads no others), found once into a scratch
   * table, instead of every pass scanning raw and reading the data of each DELETE row
   * (about 0.3 s a pass over 5M raw rows holding 1M deletes).
   */
  private async withDeletes(c: DuckDBConnection, rel: StageRelations, options: RowDiffOptions, passes: number): Promise<StageRelations> {
    const version = options.snapshotVersion;
    if (passes <= 1 || options.mode !== 'snapshot' || version === undefined || !/^\d+$/.test(version) || rel.raw.startsWith('(')) return rel;
    await this.host.sql.run(
      c,
      `CREATE OR REPLACE TEMP TABLE ${this.deletes} AS SELECT _key, operation, data, event_time FROM ${rel.raw} WHERE operation = 'DELETE' AND ${deletedAtSql(DUCK)} > ${version}`,
    );
    return { ...rel, raw: this.deletes };
  }

  private async dropDeletes(c: DuckDBConnection): Promise<void> {
    await this.host.sql.run(c, `DROP TABLE IF EXISTS ${this.deletes}`);
  }

  /** How many passes the key joins of this diff or merge take: one but for a snapshot. */
  private async passesFor(c: DuckDBConnection, current: string, options: RowDiffOptions): Promise<number> {
    return options.mode === 'snapshot' ? this.passCount(c, current) : 1;
  }

  diff(options: RowDiffOptions): Promise<RowDiffResult> {
    const n = Math.max(0, Math.floor(options.samples ?? 5));
    return this.host.use(async (c) => {
      await this.host.threadsFor(c, 'bulk');
      const rel = await this.relations(c);
      const sample = (col: string) => (n > 0 ? `min(${col}, ${n})` : `[]::VARCHAR[]`);
      const passes = await this.passesFor(c, rel.current, options);
      const joinRel = await this.withDeletes(c, rel, options, passes);
      const full = await this.fullJoined(c, joinRel, options, passes);
      // The changes (a few) are kept for the merge, which would otherwise join again; the
      // unchanged rows are the accepted ones that are not among them. A read-only target
      // (plan) has no merge to come: it counts over the join instead, which carries only
      // what the counts need through it, not every staged column: a 5M plan after a drift
      // apply that kept the changes ran out of memory even in passes, at 128MB plus the
      // deletion info's allowance, and counting fits (the apply's larger limit keeps them).
      const keep = full !== undefined && !this.host.readOnly;
      const rows: Record<string, unknown>[] = [];
      for (let pass = 0; pass < passes; pass++) {
        const part = this.pass(rel.current, passes, pass);
        // A rejected record already quarantined (or whose content current already holds) is unchanged.
        const parts = [
          `SELECT CASE WHEN fresh THEN 'quarantine' ELSE 'unchanged' END AS category, count(*)::BIGINT AS n, ${sample('_key')} AS keys, 0::BIGINT AS incomplete FROM ${rejectedSql(part.rows, part.current, rel.quarantine, options.mode)} GROUP BY 1`,
        ];
        if (keep) {
          const changes = `SELECT * FROM ${full(part)} WHERE category IN ('insert', 'update', 'delete')`;
          await this.host.sql.run(c, pass === 0 ? `CREATE OR REPLACE TEMP TABLE ${this.chg} AS ${changes}` : `INSERT INTO ${this.chg} ${changes}`);
        } else if (full !== undefined) {
          parts.push(`SELECT category, count(*)::BIGINT AS n, ${sample('coalesce(_key, c_key)')} AS keys, ${INCOMPLETE_COUNT} FROM ${full(part)} GROUP BY category`);
        } else {
          parts.push(`SELECT category, count(*)::BIGINT AS n, ${sample('_key')} AS keys, ${INCOMPLETE_COUNT} FROM ${await this.joined(c, joinRel, part, options, passes)} GROUP BY category`);
          if (options.mode === 'snapshot' && options.snapshotVersion !== undefined && rel.currentTable) {
            parts.push(`SELECT 'delete' AS category, count(*)::BIGINT AS n, ${sample('c._key')} AS keys, 0::BIGINT AS incomplete FROM ${part.current} c WHERE ${orphanSql(part.rows, options.snapshotVersion)}`);
          }
        }
        rows.push(...(await this.host.sql.rows(c, parts.join(' UNION ALL '))));
      }
      if (keep) {
        this.changesFor = options.snapshotVersion;
        rows.push(
          ...(await this.host.sql.rows(
            c,
            `SELECT category, count(*)::BIGINT AS n, ${sample('coalesce(_key, c_key)')} AS keys, ${INCOMPLETE_COUNT} FROM ${this.chg} GROUP BY category
             UNION ALL SELECT 'unchanged' AS category, (SELECT count(*) FROM ${this.rows} WHERE reason IS NULL) - (SELECT count(*) FROM ${this.chg} WHERE _key IS NOT NULL) AS n, []::VARCHAR[] AS keys, 0::BIGINT AS incomplete`,
          )),
        );
      }
      await this.dropDeletes(c);
      const incomplete = rows.reduce((sum, r) => sum + Number(r.incomplete ?? 0), 0);
      return { ...collectDiff(rows, n), incomplete };
    });
  }

  /**
   * A snapshot's changes and orphans in one relation (row-rules.ts fullJoinedSql), where it
   * applies: records were taken from the source memo, current exists and no accepted key is
   * staged twice. Else undefined.
   */
  private async fullJoined(
    c: DuckDBConnection,
    rel: { currentTable: ObservedTable | null; raw: string },
    options: RowDiffOptions,
    passes: number,
  ): Promise<((part: { rows: string; current: string }) => string) | undefined> {
    // Over a stage table of millions of rows (no memo), the full join needs more memory than
    // the plan's limit allows (5M rows: out of memory at 96MB, 430 MB peak RSS at 128MB), where
    // the two statements it replaces stay within it; the memo's rows are read from its table.
    const version = options.snapshotVersion;
    if (this.memoRows === undefined || options.mode !== 'snapshot' || version === undefined || !rel.currentTable) return undefined;
    if (!(await this.keysUnique(c, options.mode, passes))) return undefined;
    const raw = rel.raw.startsWith('(') ? null : rel.raw;
    return (part) => fullJoinedSql(part.rows, part.current, version, DUCK, raw);
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
    const sql = this.host.sql;
    const chg = this.chg;
    const orph = this.orph;
    const ingest = quoteLiteral(options.ingestTime);
    const origin = quoteLiteral(options.origin);
    const snapshot = options.snapshotVersion !== undefined;
    const dropScratch = async (c: DuckDBConnection) => {
      await sql.run(c, `DROP TABLE IF EXISTS ${chg}`).catch(() => undefined);
      await sql.run(c, `DROP TABLE IF EXISTS ${orph}`).catch(() => undefined);
      await this.dropDeletes(c).catch(() => undefined);
    };
    let rel!: StageRelations;
    let passes = 1;
    // The changes and orphans are found before the transaction (scratch tables, read by every
    // statement in it; see DuckStageHost.tx), on the same turn of the connection.
    const prepare = async (c: DuckDBConnection) => {
      await this.host.threadsFor(c, 'bulk');
      rel = await this.relations(c);
      const need = (t: string, r: string) => {
        if (r.startsWith('(')) throw missingTable(dataset, t);
      };
      need(this.tables.current, rel.current);
      need(this.tables.raw, rel.raw);
      need(this.tables.quarantine, rel.quarantine);
      try {
        passes = await this.passesFor(c, rel.current, options);
        const joinRel = await this.withDeletes(c, rel, options, passes);
        const full = await this.fullJoined(c, joinRel, options, passes);
        /** Fills `table` with `select(part)` of every pass of the key joins. */
        const fill = async (table: string, select: (part: { rows: string; current: string }) => Promise<string> | string) => {
          for (let pass = 0; pass < passes; pass++) {
            const body = await select(this.pass(rel.current, passes, pass));
            await sql.run(c, pass === 0 ? `CREATE OR REPLACE TEMP TABLE ${table} AS ${body}` : `INSERT INTO ${table} ${body}`);
          }
        };
        if (full !== undefined) {
          // One join finds changes and orphans (a diff of this same stage may have kept them);
          // the orphans (no staged key) move to their own table.
          if (this.changesFor !== options.snapshotVersion) await fill(chg, (part) => `SELECT * FROM ${full(part)} WHERE category IN ('insert', 'update', 'delete')`);
          await sql.run(c, `CREATE OR REPLACE TEMP TABLE ${orph} AS SELECT c_key AS _key FROM ${chg} WHERE _key IS NULL`);
          await sql.run(c, `DELETE FROM ${chg} WHERE _key IS NULL`);
        } else {
          await fill(chg, async (part) => `SELECT * FROM ${await this.joined(c, joinRel, part, options, passes)} WHERE category IN ('insert', 'update', 'delete')`);
          if (snapshot) await fill(orph, (part) => `SELECT c._key FROM ${part.current} c WHERE ${orphanSql(part.rows, options.snapshotVersion!)}`);
          else await sql.run(c, `CREATE OR REPLACE TEMP TABLE ${orph} AS SELECT CAST(NULL AS VARCHAR) AS _key WHERE false`);
        }
      } catch (e) {
        await dropScratch(c);
        throw e;
      } finally {
        // Found again by the next merge: this one's scratch tables are dropped when it ends.
        this.changesFor = undefined;
      }
    };
    return this.host.tx(
      resource,
      async (c) => {
        const t = rel.currentTable!;
        try {
          const [n] = await sql.rows(
            c,
            `SELECT count(*) FILTER (WHERE category = 'insert')::BIGINT AS ins, count(*) FILTER (WHERE category = 'update')::BIGINT AS upd,
             count(*) FILTER (WHERE category = 'delete')::BIGINT AS del, (SELECT count(*) FROM ${orph})::BIGINT AS orphans,
             count(*) FILTER (WHERE ${INCOMPLETE})::BIGINT AS incomplete, min(_key) FILTER (WHERE ${INCOMPLETE}) AS incomplete_key
           FROM ${chg}`,
          );
          // A change staged without its content (staged only to plan, or a fingerprint collision,
          // see model/content-fingerprint.ts) cannot be written: refuse, before anything is.
          const incomplete = Number(n?.incomplete ?? 0);
          if (incomplete > 0) {
            throw new MlbridgeError(
              'APPLY_FAILED',
              `${resource}: ${incomplete} changed row${incomplete === 1 ? ' was' : 's were'} staged without ${incomplete === 1 ? 'its' : 'their'} content (first: ${String(n?.incomplete_key)}); stage them again to apply`,
              { resource, details: { incomplete, key: String(n?.incomplete_key) } },
            );
          }
          const result: RowMergeResult = {
            inserted: Number(n?.ins ?? 0),
            updated: Number(n?.upd ?? 0),
            deleted: Number(n?.del ?? 0) + Number(n?.orphans ?? 0),
            quarantined: 0,
            logged: 0,
            superseded: 0,
          };
          const changed = async (statement: string) => ((await sql.run(c, statement)) as { rowsChanged: number }).rowsChanged;
          result.logged = await changed(rawInsertNewSql(rel.raw, `SELECT * FROM ${chg}`, origin, ingest));
          // No orphans, no statement: its anti join would hash every id raw holds for nothing.
          if (snapshot && Number(n?.orphans ?? 0) > 0) {
            const id = orphanEventIdSql(encodeURIComponent(options.kind), 'o._key', options.snapshotVersion!, quoteLiteral, (e) => `sha256(${e})`);
            const at = options.snapshotTime ? `CAST(${quoteLiteral(options.snapshotTime)} AS TIMESTAMP)` : 'NULL';
            result.logged += await changed(
              `INSERT INTO ${rel.raw} ${RAW_COLUMNS} SELECT id, _key, 'DELETE', ${origin}, ${at}, CAST(${ingest} AS TIMESTAMP), ${deletedData(quoteLiteral(options.snapshotVersion!))}, NULL, []::VARCHAR[] FROM (SELECT ${id} AS id, o._key FROM ${orph} o) x ANTI JOIN ${rel.raw} l ON l.event_id = x.id WHERE x.id IS NOT NULL`,
            );
          }

          // Quarantine: nothing dropped silently, nothing twice.
          for (let pass = 0; pass < passes; pass++) {
            const part = this.pass(rel.current, passes, pass);
            result.quarantined += await changed(quarantineInsertSql(rel.quarantine, rejectedSql(part.rows, part.current, rel.quarantine, options.mode), origin, ingest));
          }

          // Current: replace changed keys, drop deleted ones, in this same transaction.
          await sql.run(c, `DELETE FROM ${rel.current} WHERE _key IN (SELECT _key FROM ${chg} UNION ALL SELECT _key FROM ${orph})`);
          await sql.run(c, currentInsertSql(rel.current, t, chg, ingest));
          if (options.memoSalt !== undefined) await storeMemo(sql, c, this.tables, this.q, orph, options.memoSalt, this.unique === true);
          return result;
        } finally {
          await dropScratch(c);
        }
      },
      prepare,
    );
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
