// The snapshot merge (plan → apply of a reconcile or backfill) of a DuckDB stage
// (duckdb-stage.ts): the changes and orphans of the stage's key joins (duckdb-key-joins.ts)
// go into scratch tables before the transaction (`prepare`, see DuckStageHost.tx), then one
// transaction writes raw (one row per change and per orphan, never twice), quarantine,
// current and the source memo from them, so a kill at any point leaves either the old state
// or the new one.

import type { DuckDBConnection } from '@duckdb/node-api';
import { MlbridgeError } from '../model/errors.js';
import type { RowMergeOptions, RowMergeResult, StageTables } from '../model/staged.js';
import type { DuckStageHost, StageRelations } from './duckdb-stage-host.js';
import type { KeyPass, SnapshotKeyJoins } from './duckdb-key-joins.js';
import { orphanEventIdSql, orphanSql, rejectedSql } from './row-rules.js';
import { quoteLiteral } from './sql-duckdb.js';
import { RAW_COLUMNS, currentInsertSql, deletedData, missingTable, quarantineInsertSql, rawInsertNewSql } from './duckdb-merge-sql.js';
import { storeMemo } from './duckdb-memo.js';

/** A changed UPSERT staged without what writing it needs (its row or its event id). */
export const INCOMPLETE = `operation = 'UPSERT' AND ("row" IS NULL OR event_id IS NULL)`;

/** What the snapshot merge reads of its stage, and the one thing it changes there. */
export interface SnapshotMergeStage {
  tables: StageTables;
  /** The stage table, qualified. */
  table: string;
  /** The scratch tables, qualified: the changes (insert, update and orphan delete rows) and the orphans. */
  chg: string;
  orph: string;
  joins: SnapshotKeyJoins;
  /** The SQL relations the rules read, given which target tables exist now. */
  relations(c: DuckDBConnection): Promise<StageRelations>;
  /** The snapshot version whose changes a diff left in `chg` (undefined: none valid). */
  changesFor(): string | undefined;
  /** The changes in `chg` are no longer valid. */
  forgetChanges(): void;
}

/** Merges a snapshot's staged rows into the mapping's tables (`resource`: current's address), in one transaction. */
export function mergeSnapshot(host: DuckStageHost, stage: SnapshotMergeStage, resource: string, options: RowMergeOptions): Promise<RowMergeResult> {
  const { dataset } = stage.tables;
  const joins = stage.joins;
  const sql = host.sql;
  const chg = stage.chg;
  const orph = stage.orph;
  const ingest = quoteLiteral(options.ingestTime);
  const origin = quoteLiteral(options.origin);
  const snapshot = options.snapshotVersion !== undefined;
  const dropScratch = async (c: DuckDBConnection) => {
    await sql.run(c, `DROP TABLE IF EXISTS ${chg}`).catch(() => undefined);
    await sql.run(c, `DROP TABLE IF EXISTS ${orph}`).catch(() => undefined);
    await joins.dropDeletes(c).catch(() => undefined);
  };
  let rel!: StageRelations;
  let passes = 1;
  // The changes and orphans are found before the transaction (scratch tables, read by every
  // statement in it; see DuckStageHost.tx), on the same turn of the connection.
  const prepare = async (c: DuckDBConnection) => {
    await host.threadsFor(c, 'bulk');
    rel = await stage.relations(c);
    const need = (t: string, r: string) => {
      if (r.startsWith('(')) throw missingTable(dataset, t);
    };
    need(stage.tables.current, rel.current);
    need(stage.tables.raw, rel.raw);
    need(stage.tables.quarantine, rel.quarantine);
    try {
      passes = await joins.passesFor(c, rel.current, options);
      const joinRel = await joins.withDeletes(c, rel, options, passes);
      const full = await joins.fullJoined(c, joinRel, options, passes);
      /** Fills `table` with `select(part)` of every pass of the key joins. */
      const fill = async (table: string, select: (part: KeyPass) => Promise<string> | string) => {
        for (let pass = 0; pass < passes; pass++) {
          const body = await select(joins.pass(rel.current, passes, pass));
          await sql.run(c, pass === 0 ? `CREATE OR REPLACE TEMP TABLE ${table} AS ${body}` : `INSERT INTO ${table} ${body}`);
        }
      };
      if (full !== undefined) {
        // One join finds changes and orphans (a diff of this same stage may have kept them);
        // the orphans (no staged key) move to their own table.
        if (stage.changesFor() !== options.snapshotVersion) await fill(chg, (part) => `SELECT * FROM ${full(part)} WHERE category IN ('insert', 'update', 'delete')`);
        await sql.run(c, `CREATE OR REPLACE TEMP TABLE ${orph} AS SELECT c_key AS _key FROM ${chg} WHERE _key IS NULL`);
        await sql.run(c, `DELETE FROM ${chg} WHERE _key IS NULL`);
      } else {
        await fill(chg, async (part) => `SELECT * FROM ${await joins.joined(c, joinRel, part, options, passes)} WHERE category IN ('insert', 'update', 'delete')`);
        if (snapshot) await fill(orph, (part) => `SELECT c._key FROM ${part.current} c WHERE ${orphanSql(part.rows, options.snapshotVersion!)}`);
        else await sql.run(c, `CREATE OR REPLACE TEMP TABLE ${orph} AS SELECT CAST(NULL AS VARCHAR) AS _key WHERE false`);
      }
    } catch (e) {
      await dropScratch(c);
      throw e;
    } finally {
      // Found again by the next merge: this one's scratch tables are dropped when it ends.
      stage.forgetChanges();
    }
  };
  return host.tx(
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
          const part = joins.pass(rel.current, passes, pass);
          result.quarantined += await changed(quarantineInsertSql(rel.quarantine, rejectedSql(part.rows, part.current, rel.quarantine, options.mode), origin, ingest));
        }

        // Current: replace changed keys, drop deleted ones, in this same transaction.
        await sql.run(c, `DELETE FROM ${rel.current} WHERE _key IN (SELECT _key FROM ${chg} UNION ALL SELECT _key FROM ${orph})`);
        await sql.run(c, currentInsertSql(rel.current, t, chg, ingest));
        if (options.memoSalt !== undefined) await storeMemo(sql, c, stage.tables, stage.table, orph, options.memoSalt, joins.unique === true);
        return result;
      } finally {
        await dropScratch(c);
      }
    },
    prepare,
  );
}
