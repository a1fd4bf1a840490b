// The key joins of a DuckDB stage (duckdb-stage.ts): staged rows against current by `_key`,
// the relation the diff counts and the snapshot merge (duckdb-snapshot-merge.ts) writes from.
// A snapshot's joins run in passes over a hash of the key (key-partitions.ts), sized from the
// stage's rows and the memory DuckDB has for them; what a join may skip (the window over
// keys staged twice, a scan of raw per pass) is worked out here once per stage content.

import type { DuckDBConnection } from '@duckdb/node-api';
import { tableAddress } from '../model/address.js';
import type { ObservedTable } from '../model/schema.js';
import type { RowDiffOptions, StageTables } from '../model/staged.js';
import type { DuckStageHost, StageRelations } from './duckdb-stage-host.js';
import { acceptedStagedSql, deletedAtSql, fullJoinedSql, joinedSql } from './row-rules.js';
import { qualified } from './sql-duckdb.js';
import { DUCK } from './duckdb-merge-sql.js';
import { MEMO_SCHEMA, memoName } from './duckdb-memo.js';
import { keyPart, keyPartitions } from './key-partitions.js';

/** What the key joins read of their stage, as it is when they run. */
export interface KeyJoinStage {
  /** The stage table, qualified. */
  table: string;
  /** The scratch table of a snapshot's DELETE rows (withDeletes), qualified. */
  deletes: string;
  /** Every staged row: the stage table's, and the memo's when records were taken from it. */
  rows(): string;
  /** The memo's rows the stage holds (see DuckRowStage.appendMemoHits); undefined: none. */
  memoRows(): string | undefined;
  /** How many rows are staged. */
  staged(): number;
}

/** One pass of the key joins: its share of the staged rows and of current's. */
export interface KeyPass {
  rows: string;
  current: string;
}

export class SnapshotKeyJoins {
  /** No key staged twice among the accepted rows; undefined until asked, reset by an append. */
  private keysOnce: boolean | undefined;
  /** Passes of this stage's snapshot key joins (key-partitions.ts); undefined until asked, reset by an append. */
  private passes: number | undefined;

  constructor(
    private readonly host: DuckStageHost,
    private readonly tables: StageTables,
    private readonly stage: KeyJoinStage,
  ) {}

  /** The stage's rows changed: what was worked out from them no longer holds. */
  reset(): void {
    this.keysOnce = undefined;
    this.passes = undefined;
  }

  /** Whether the stage holds no accepted key twice, as far as a diff or merge asked (undefined: not asked). */
  get unique(): boolean | undefined {
    return this.keysOnce;
  }

  /**
   * Whether no key is staged twice among the accepted rows (asked once per stage: a hash
   * aggregate over the keys, far cheaper than the window it spares), pass by pass of the
   * snapshot's key joins (a key is in one pass only). Events stage one row per change, so a
   * key often repeats there: not asked.
   */
  private async keysUnique(c: DuckDBConnection, mode: RowDiffOptions['mode'], passes: number): Promise<boolean> {
    if (mode !== 'snapshot') return false;
    if (this.keysOnce === undefined) {
      const memoRows = this.stage.memoRows();
      let unique = true;
      for (let pass = 0; pass < passes && unique; pass++) {
        const staged = keyPart(this.stage.table, passes, pass);
        const [r] = await this.host.sql.rows(c, `SELECT count(*) = count(DISTINCT _key) AS uniq FROM ${staged} WHERE reason IS NULL`);
        unique = r?.uniq === true;
        if (unique && memoRows !== undefined) {
          // The memo holds a key once per salt (storeMemo); what is left is a key both staged and
          // taken from the memo. Checked by a join on the staged keys, not a grouping of every
          // row: over millions of memo rows that ran DuckDB out of memory at the plan's limit.
          const memo = keyPart(`(${memoRows})`, passes, pass);
          const [o] = await this.host.sql.rows(c, `SELECT EXISTS (SELECT 1 FROM ${staged} s JOIN ${memo} m ON m._key = s._key WHERE s.reason IS NULL) AS overlap`);
          unique = o?.overlap === false;
        }
      }
      this.keysOnce = unique;
    }
    return this.keysOnce;
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
           (SELECT avg(strlen(_key)) FROM ((SELECT _key FROM ${current} LIMIT 10000) UNION ALL (SELECT _key FROM ${this.stage.table} LIMIT 10000))) AS key_bytes`,
      );
      this.passes = keyPartitions({
        staged: this.stage.staged(),
        current: Number(r?.current_rows ?? 0),
        meanKeyBytes: Number(r?.key_bytes ?? 0),
        memoryLimitBytes: this.host.workMemoryBytes(),
        ...(this.host.rowsPerPass !== undefined ? { rowsPerPass: this.host.rowsPerPass } : {}),
      });
    }
    return this.passes;
  }

  /** How many passes the key joins of this diff or merge take: one but for a snapshot. */
  async passesFor(c: DuckDBConnection, current: string, options: RowDiffOptions): Promise<number> {
    return options.mode === 'snapshot' ? this.passCount(c, current) : 1;
  }

  /** The staged rows and current rows of one pass of the snapshot key joins. */
  pass(current: string, passes: number, pass: number): KeyPass {
    return { rows: keyPart(this.stage.rows(), passes, pass), current: keyPart(current, passes, pass) };
  }

  /** `j` over one pass's staged and current rows: the shared relation of row-rules.ts, in this dialect. */
  async joined(c: DuckDBConnection, rel: { raw: string }, part: KeyPass, options: RowDiffOptions, passes: number): Promise<string> {
    const rawRel = { current: part.current, raw: rel.raw.startsWith('(') ? null : rel.raw, snapshotVersion: options.snapshotVersion };
    if (await this.keysUnique(c, options.mode, passes)) return joinedSql(part.rows, rawRel, options.mode, DUCK, acceptedStagedSql(part.rows));
    return joinedSql(part.rows, rawRel, options.mode, DUCK);
  }

  /**
   * `rel` for the key joins: over several passes of a snapshot, raw becomes its DELETE rows
   * after the snapshot (row-rules.ts deletesJoin reads no others), found once into a scratch
   * table, instead of every pass scanning raw and reading the data of each DELETE row
   * (about 0.3 s a pass over 5M raw rows holding 1M deletes).
   */
  async withDeletes(c: DuckDBConnection, rel: StageRelations, options: RowDiffOptions, passes: number): Promise<StageRelations> {
    const version = options.snapshotVersion;
    if (passes <= 1 || options.mode !== 'snapshot' || version === undefined || !/^\d+$/.test(version) || rel.raw.startsWith('(')) return rel;
    await this.host.sql.run(
      c,
      `CREATE OR REPLACE TEMP TABLE ${this.stage.deletes} AS SELECT _key, operation, data, event_time FROM ${rel.raw} WHERE operation = 'DELETE' AND ${deletedAtSql(DUCK)} > ${version}`,
    );
    return { ...rel, raw: this.stage.deletes };
  }

  async dropDeletes(c: DuckDBConnection): Promise<void> {
    await this.host.sql.run(c, `DROP TABLE IF EXISTS ${this.stage.deletes}`);
  }

  /**
   * A snapshot's changes and orphans in one relation (row-rules.ts fullJoinedSql), where it
   * applies: records were taken from the source memo, current exists and no accepted key is
   * staged twice. Else undefined.
   */
  async fullJoined(
    c: DuckDBConnection,
    rel: { currentTable: ObservedTable | null; raw: string },
    options: RowDiffOptions,
    passes: number,
  ): Promise<((part: KeyPass) => string) | undefined> {
    // Over a stage table of millions of rows (no memo), the full join needs more memory than
    // the plan's limit allows (5M rows: out of memory at 96MB, 430 MB peak RSS at 128MB), where
    // the two statements it replaces stay within it; the memo's rows are read from its table.
    const version = options.snapshotVersion;
    if (this.stage.memoRows() === undefined || options.mode !== 'snapshot' || version === undefined || !rel.currentTable) return undefined;
    if (!(await this.keysUnique(c, options.mode, passes))) return undefined;
    const raw = rel.raw.startsWith('(') ? null : rel.raw;
    return (part) => fullJoinedSql(part.rows, part.current, version, DUCK, raw);
  }
}
