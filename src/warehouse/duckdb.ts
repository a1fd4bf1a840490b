// The embedded target: a DuckDB file through @duckdb/node-api (loaded on first use only).
// dataset → schema; tables carry what DuckDB cannot hold (labels, description,
// partitioning, clustering, deletion protection, BigQuery types and nested modes) as JSON
// in the table COMMENT, prefixed "mlbridge:" — which is also the ownership marker (see
// duckdb-catalog.ts).
// Partitioning and clustering are recorded, not physically applied (DuckDB has neither).
// Dataset labels live in main."_mlbridge_datasets" (DuckDB has no schema comments).

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { tableAddress, datasetAddress } from '../model/address.js';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../model/errors.js';
import { positiveIntegerEnv } from '../model/env-number.js';
import type { DatasetSchema, ObservedDataset, ObservedTable, TableSchema } from '../model/schema.js';
import type { TargetSpec } from '../spec/types.js';
import type { LockBackend, ReplaceSpec, Row, RowStage, TableOp, Warehouse } from './warehouse.js';
import { DATASETS_TABLE, DuckDbCatalog, columnAt, findCol, metaComment } from './duckdb-catalog.js';
import type { DuckSql, Json } from './duckdb-catalog.js';
import { duckMessage, fileInUse, folderError, replaceFailure } from './duckdb-errors.js';
import { openWhenFree, type BusyWaitOptions } from './duckdb-busy-wait.js';
import { FileLock } from './duckdb-lock.js';
import { convertRow, mergeByKey } from './duckdb-rows.js';
import { DuckRowStage } from './duckdb-stage.js';
import { StageCaches, type PooledStage } from './duckdb-stage-host.js';
import { dropMemos } from './duckdb-memo.js';
import type { StageTables } from '../model/staged.js';
import { columnDefinition, duckType, qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';
import { checkUserLimit, deletionInfoBytes, duckSizeBytes } from './key-partitions.js';

export { FileLock, UNREADABLE_LOCK_ID } from './duckdb-lock.js';

type DuckModule = typeof import('@duckdb/node-api');

/** Closed stages kept for reuse (serve merges one mapping and origin at a time: one is used). */
const STAGE_POOL_SIZE = 4;

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly location: string;
  private mod: DuckModule | null = null;
  private instance: DuckDBInstance | null = null;
  private conn: DuckDBConnection | null = null;
  private opening: Promise<DuckDBConnection | null> | null = null;
  /** In-memory database that stages rows when a read-only target's file does not exist yet. */
  private scratch: { instance: DuckDBInstance; conn: DuckDBConnection } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sql: DuckSql = {
    run: (conn, sql, values) => this.run(conn, sql, values),
    rows: (conn, sql, values) => this.rows(conn, sql, values),
  };
  private readonly catalog = new DuckDbCatalog(this.sql);
  /** What events merges remember between batches: valid while this process alone changed the schema. */
  readonly stageCaches = new StageCaches();
  /** Emptied stage tables of closed stages, reused by the next openStage (temp tables: this connection's). */
  private stagePool: PooledStage[] = [];
  /** DuckDB runs on one thread since serve's last events merge (see DuckStageHost.threadsFor). */
  private fewThreads = false;
  /**
   * Bytes of deletion info DuckDB holds for the tables a reconcile scans (retainFor): the
   * default memory limit was raised by them; a limit the user set has that much less room.
   */
  private retained = 0;

  constructor(
    readonly path: string,
    private readonly readOnly: boolean,
    /** plan/apply --lock-timeout: how long an open waits for a file another process holds. */
    private readonly busyWait: BusyWaitOptions = {},
  ) {
    this.location = `duckdb:${path}`;
  }

  // ---- connection ----

  /** The connection, opened on first use; null when read-only and the file does not exist. */
  private db(): Promise<DuckDBConnection | null> {
    if (!this.opening) this.opening = this.openDb();
    return this.opening;
  }

  private async openDb(): Promise<DuckDBConnection | null> {
    if (this.readOnly && !existsSync(this.path)) return null;
    const mod = (this.mod = await import('@duckdb/node-api'));
    try {
      // --lock-timeout: a file another process holds is waited for, before anything is written.
      return await openWhenFree(() => this.openOnce(mod), this.busyWait);
    } catch (e) {
      this.opening = null;
      throw e;
    }
  }

  private async openOnce(mod: DuckModule): Promise<DuckDBConnection> {
    try {
      if (!this.readOnly) {
        await mkdir(dirname(this.path), { recursive: true }).catch((e: unknown) => {
          throw folderError(dirname(this.path), e);
        });
      }
      this.instance = await mod.DuckDBInstance.create(this.path, { access_mode: this.readOnly ? 'READ_ONLY' : 'READ_WRITE', ...memorySettings(`${this.path}.tmp`, this.readOnly) });
      this.conn = await this.instance.connect();
      await this.conn.run(`SET TimeZone='UTC'`);
      return this.conn;
    } catch (e) {
      if (isMlbridgeError(e)) throw e;
      // Another process holds the file: TARGET_BUSY (transient; serve answers 503), its holder named.
      const busy = fileInUse(e);
      if (busy) throw busy;
      const msg = errorMessage(e);
      throw new MlbridgeError('TARGET_ERROR', `Cannot open the DuckDB file ${this.path}: ${msg}`, { resource: this.location, cause: e });
    }
  }

  private async writable(resource: string): Promise<DuckDBConnection> {
    if (this.readOnly) throw new MlbridgeError('TARGET_ERROR', `${resource}: ${this.path} was opened read-only`, { resource });
    return (await this.db())!;
  }

  /** One statement, values bound as VARCHAR (casts happen in SQL). */
  private async run(conn: DuckDBConnection, sql: string, values: (string | null)[] = []) {
    if (values.length === 0) return conn.run(sql);
    return conn.run(sql, values, values.map(() => this.mod!.VARCHAR));
  }

  private async rows(conn: DuckDBConnection, sql: string, values: (string | null)[] = []): Promise<Record<string, Json>[]> {
    const r = values.length === 0 ? await conn.runAndReadAll(sql) : await conn.runAndReadAll(sql, values, values.map(() => this.mod!.VARCHAR));
    return r.getRowObjectsJson() as Record<string, Json>[];
  }

  /**
   * Serialises work on the one connection; DDL runs inside a transaction. `prepare` runs
   * first on the same connection, in the same turn (nothing else runs between it and the
   * transaction), outside the transaction: for scratch tables the transaction reads, since
   * DuckDB scans a table created inside an open transaction on one thread only (a 1M-row
   * backfill's inserts into raw and current took 2.9 s and 3.1 s instead of 1.7 s and 1.8 s).
   */
  private tx<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>, prepare?: (conn: DuckDBConnection) => Promise<void>): Promise<T> {
    const next = this.queue.then(async () => {
      const conn = await this.writable(resource);
      try {
        await prepare?.(conn);
      } catch (e) {
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
      await conn.run('BEGIN TRANSACTION');
      try {
        const r = await fn(conn);
        await conn.run('COMMIT');
        return r;
      } catch (e) {
        try {
          await conn.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; nothing more to undo.
        }
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A transaction that changes the catalog: what stages remember about tables is forgotten. */
  private ddl<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    this.stageCaches.clear();
    return this.tx(resource, fn).finally(() => this.stageCaches.clear());
  }

  private read<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>, empty: T): Promise<T> {
    const next = this.queue.then(async () => {
      const conn = await this.db();
      if (!conn) return empty;
      try {
        return await fn(conn);
      } catch (e) {
        if (isMlbridgeError(e)) throw e;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  // ---- datasets ----

  getDataset(name: string): Promise<ObservedDataset | null> {
    return this.read(datasetAddress('duckdb', name), (c) => this.catalog.observeDataset(c, name), null);
  }

  createDataset(dataset: DatasetSchema): Promise<void> {
    return this.ddl(datasetAddress('duckdb', dataset.name), async (c) => {
      await this.run(c, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(dataset.name)}`);
      await this.run(c, `CREATE TABLE IF NOT EXISTS main.${quoteIdent(DATASETS_TABLE)} (name VARCHAR PRIMARY KEY, labels JSON NOT NULL, description VARCHAR)`);
      await this.run(c, `INSERT OR REPLACE INTO main.${quoteIdent(DATASETS_TABLE)} VALUES (?, ?, ?)`, [
        dataset.name,
        JSON.stringify(dataset.labels),
        dataset.description ?? null,
      ]);
    });
  }

  deleteDataset(name: string): Promise<void> {
    const resource = datasetAddress('duckdb', name);
    return this.ddl(resource, async (c) => {
      const tables = await this.catalog.tableNames(c, name);
      if (tables.length > 0) throw new MlbridgeError('TARGET_ERROR', `${resource} is not empty (${tables.join(', ')}); not deleting it`, { resource });
      await this.run(c, `DROP SCHEMA IF EXISTS ${quoteIdent(name)}`);
      await dropMemos(this.sql, c, name);
      if (await this.catalog.datasetsTableExists(c)) await this.run(c, `DELETE FROM main.${quoteIdent(DATASETS_TABLE)} WHERE lower(name) = lower(?)`, [name]);
    });
  }

  // ---- tables: observe (see duckdb-catalog.ts) ----

  listTables(dataset: string): Promise<ObservedTable[]> {
    return this.read(
      datasetAddress('duckdb', dataset),
      (c) => this.catalog.observeTables(c, dataset),
      [],
    );
  }

  getTable(dataset: string, name: string): Promise<ObservedTable | null> {
    return this.read(tableAddress('duckdb', dataset, name), (c) => this.catalog.observeTable(c, dataset, name), null);
  }

  // ---- tables: change ----

  createTable(table: TableSchema): Promise<void> {
    const resource = tableAddress('duckdb', table.dataset, table.name);
    return this.ddl(resource, async (c) => {
      const q = qualified(table.dataset, table.name);
      await this.run(c, `CREATE TABLE ${q} (${table.columns.map((col) => columnDefinition(col)).join(', ')})`);
      await this.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(table))}`);
    });
  }

  updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', dataset, name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.expectTable(c, dataset, name, expectedEtag);
      const { etag: _e, owned: _o, numRows: _n, ...schema } = structuredClone(o);
      const q = qualified(o.dataset, o.name);
      const retype = async (top: string) => {
        const col = columnAt(schema.columns, [top], resource);
        await this.run(c, `ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(col.name)} SET DATA TYPE ${duckType(col)}`);
      };
      for (const op of ops) {
        switch (op.op) {
          case 'add_column':
            if (op.parent.length === 0) {
              await this.run(c, `ALTER TABLE ${q} ADD COLUMN ${columnDefinition(op.column)}`);
              schema.columns.push(structuredClone(op.column));
            } else {
              const parent = columnAt(schema.columns, op.parent, resource);
              parent.fields = [...(parent.fields ?? []), structuredClone(op.column)];
              // A STRUCT (or list of STRUCT) is recast by field name: existing fields keep their values, the new one is NULL.
              await retype(op.parent[0]!);
            }
            break;
          case 'relax_column': {
            const col = columnAt(schema.columns, op.path, resource);
            col.mode = 'NULLABLE';
            if (op.path.length === 1) await this.run(c, `ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(col.name)} DROP NOT NULL`);
            break;
          }
          case 'rename_column': {
            const col = columnAt(schema.columns, [op.from], resource);
            await this.run(c, `ALTER TABLE ${q} RENAME COLUMN ${quoteIdent(col.name)} TO ${quoteIdent(op.to)}`);
            col.name = op.to;
            break;
          }
          case 'drop_column': {
            const col = columnAt(schema.columns, [op.name], resource);
            await this.run(c, `ALTER TABLE ${q} DROP COLUMN ${quoteIdent(col.name)}`);
            schema.columns = schema.columns.filter((x) => x !== col);
            break;
          }
          case 'widen_column': {
            const col = columnAt(schema.columns, op.path, resource);
            const before = duckType(columnAt(schema.columns, [op.path[0]!], resource));
            col.type = op.to;
            // NUMERIC → BIGNUMERIC share a DuckDB type: only the recorded BigQuery type changes.
            if (duckType(columnAt(schema.columns, [op.path[0]!], resource)) !== before) await retype(op.path[0]!);
            break;
          }
          case 'set_column_description': {
            const col = columnAt(schema.columns, op.path, resource);
            if (op.description === undefined) delete col.description;
            else col.description = op.description;
            break;
          }
          case 'set_description':
            if (op.description === undefined) delete schema.description;
            else schema.description = op.description;
            break;
          case 'set_labels':
            schema.labels = { ...op.labels };
            break;
          case 'set_clustering':
            if (op.clustering && op.clustering.length) schema.clustering = [...op.clustering];
            else delete schema.clustering;
            break;
          case 'set_deletion_protection':
            schema.deletionProtection = op.enabled;
            break;
          case 'set_partition_options':
            // Recorded only: DuckDB has no partitions to expire or to require a filter on.
            if (schema.partitioning) {
              const { expirationDays: _e, requireFilter: _r, ...rest } = schema.partitioning;
              schema.partitioning = {
                ...rest,
                ...(op.expirationDays !== undefined ? { expirationDays: op.expirationDays } : {}),
                ...(op.requireFilter ? { requireFilter: true } : {}),
              };
            }
            break;
          default: {
            const unknown: never = op;
            throw new MlbridgeError('TARGET_ERROR', `${resource}: unsupported table operation ${JSON.stringify(unknown)}`, { resource });
          }
        }
      }
      await this.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(schema))}`);
    });
  }

  replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', desired.dataset, desired.name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.expectTable(c, desired.dataset, desired.name, expectedEtag);
      if (o.deletionProtection && desired.deletionProtection) {
        throw new MlbridgeError('TARGET_ERROR', `${resource} has deletion protection; it cannot be replaced`, { resource });
      }
      const oldQ = qualified(o.dataset, o.name);
      const tmp = `${o.name}__mlbridge_replace`;
      const tmpQ = qualified(o.dataset, tmp);
      try {
        await this.run(c, `DROP TABLE IF EXISTS ${tmpQ}`);
        await this.run(c, `CREATE TABLE ${tmpQ} (${desired.columns.map((col) => columnDefinition(col)).join(', ')})`);
        const carried = desired.columns.filter((col) => {
          const src = replace.columnSources[col.name];
          return src !== undefined && findCol(o.columns, src);
        });
        if (carried.length > 0) {
          const targets = carried.map((col) => quoteIdent(col.name)).join(', ');
          const exprs = carried.map((col) => `CAST(${quoteIdent(findCol(o.columns, replace.columnSources[col.name]!)!.name)} AS ${duckType(col)})`).join(', ');
          await this.run(c, `INSERT INTO ${tmpQ} (${targets}) SELECT ${exprs} FROM ${oldQ}`);
        } else {
          await this.run(c, `INSERT INTO ${tmpQ} SELECT ${desired.columns.map(() => 'NULL').join(', ')} FROM ${oldQ}`);
        }
        await this.run(c, `DROP TABLE ${oldQ}`);
        await this.run(c, `ALTER TABLE ${tmpQ} RENAME TO ${quoteIdent(desired.name)}`);
        await this.run(c, `COMMENT ON TABLE ${qualified(o.dataset, desired.name)} IS ${quoteLiteral(metaComment(desired))}`);
      } catch (e) {
        throw new MlbridgeError('TARGET_ERROR', `Replacing ${resource} failed; the old table and its rows are kept: ${replaceFailure(duckMessage(e), tmp)}`, {
          resource,
          cause: e,
        });
      }
    });
  }

  deleteTable(dataset: string, name: string, expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', dataset, name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.observeTable(c, dataset, name);
      if (!o) return; // already gone: a re-run converges
      await this.catalog.expectTable(c, dataset, name, expectedEtag);
      if (o.deletionProtection) throw new MlbridgeError('TARGET_ERROR', `${resource} has deletion protection; it cannot be deleted`, { resource });
      await this.run(c, `DROP TABLE ${qualified(o.dataset, o.name)}`);
      await dropMemos(this.sql, c, o.dataset, o.name);
    });
  }

  // ---- rows ----

  async *readRows(dataset: string, table: string): AsyncIterable<Row> {
    const resource = tableAddress('duckdb', dataset, table);
    const t = await this.getTable(dataset, table);
    if (!t) {
      if (!(await this.db())) return;
      throw new MlbridgeError('TARGET_ERROR', `${resource} does not exist`, { resource });
    }
    // A connection of its own, so a long read does not hold up DDL/merges on the main one.
    const conn = await this.instance!.connect();
    try {
      await conn.run(`SET TimeZone='UTC'`);
      const select = t.columns
        .map((c) => (c.type === 'BYTES' && c.mode !== 'REPEATED' ? `to_base64(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name)))
        .join(', ');
      const result = await conn.stream(`SELECT ${select} FROM ${qualified(t.dataset, t.name)}`);
      for await (const chunk of result.yieldRowObjectJson()) {
        for (const r of chunk) yield convertRow(r as Record<string, Json>, t.columns);
      }
    } catch (e) {
      if (isMlbridgeError(e)) throw e;
      throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
    } finally {
      conn.closeSync();
    }
  }

  mergeRows(dataset: string, table: string, keyColumns: string[], rows: Row[]): Promise<{ inserted: number; updated: number }> {
    const resource = tableAddress('duckdb', dataset, table);
    if (rows.length === 0) return Promise.resolve({ inserted: 0, updated: 0 });
    return this.tx(resource, async (c) => {
      const t = await this.catalog.expectTable(c, dataset, table, undefined);
      return mergeByKey(this.sql, c, t, resource, keyColumns, rows);
    });
  }

  /** The connection staging uses: the target's, else (plan on a fresh target) an in-memory one. */
  private async stageConn(): Promise<DuckDBConnection> {
    const c = await this.db();
    if (c) return c;
    if (!this.scratch) {
      this.mod ??= await import('@duckdb/node-api');
      const instance = await this.mod.DuckDBInstance.create(':memory:', memorySettings(join(tmpdir(), `mlbridge-duckdb-${process.pid}`), this.readOnly));
      const conn = await instance.connect();
      await conn.run(`SET TimeZone='UTC'`);
      this.scratch = { instance, conn };
    }
    return this.scratch.conn;
  }

  async openStage(tables: StageTables): Promise<RowStage> {
    const resource = tableAddress('duckdb', tables.dataset, tables.current);
    const use = <T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> => {
      const next = this.queue.then(async () => {
        try {
          return await fn(await this.stageConn());
        } catch (e) {
          if (isMlbridgeError(e)) throw e;
          throw new MlbridgeError('TARGET_ERROR', `${resource}: ${duckMessage(e)}`, { resource, cause: e });
        }
      });
      this.queue = next.catch(() => undefined);
      return next;
    };
    await this.db();
    const limitBytes = duckSizeBytes(memoryLimit(this.readOnly)) ?? DEFAULT_LIMIT_BYTES;
    const passRows = rowsPerPass();
    return new DuckRowStage(
      {
        sql: this.sql,
        use,
        tx: (res, fn, prepare) => this.tx(res, fn, prepare),
        observe: (c, dataset, tables) => this.catalog.observeNamed(c, dataset, tables),
        caches: this.stageCaches,
        readOnly: this.readOnly,
        ...(passRows !== undefined ? { rowsPerPass: passRows } : {}),
        retainFor: async (c, rows, resource) => {
          const bytes = deletionInfoBytes(rows);
          if (bytes <= this.retained) return;
          const userLimit = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
          // Only the default limit grows: a limit the user set is theirs to size, and the
          // reconcile's work is sized for what the deletion info leaves of it.
          if (userLimit === undefined) await this.run(c, `SET memory_limit = '${Math.ceil((limitBytes + bytes) / 1e6)}MB'`);
          else checkUserLimit(resource, userLimit, limitBytes, rows);
          this.retained = bytes;
        },
        workMemoryBytes: () => (process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT === undefined ? limitBytes : limitBytes - this.retained),
        threadsFor: async (c, work) => {
          if ((work === 'events') === this.fewThreads) return;
          await this.run(c, work === 'events' ? 'SET threads = 1' : 'RESET threads');
          this.fewThreads = work === 'events';
        },
        release: (stage) => {
          if (this.stagePool.length >= STAGE_POOL_SIZE || this.stagePool.some((p) => p.name === stage.name)) return false;
          this.stagePool.push(stage);
          return true;
        },
      },
      tables,
      this.stagePool.pop(),
    );
  }

  readRowsByKey(dataset: string, table: string, keys: string[]): Promise<Row[]> {
    const resource = tableAddress('duckdb', dataset, table);
    if (keys.length === 0) return Promise.resolve([]);
    return this.read(
      resource,
      async (c) => {
        const t = await this.catalog.observeTable(c, dataset, table);
        if (!t) return [];
        const select = t.columns
          .map((col) => (col.type === 'BYTES' && col.mode !== 'REPEATED' ? `to_base64(${quoteIdent(col.name)}) AS ${quoteIdent(col.name)}` : quoteIdent(col.name)))
          .join(', ');
        const rows = await this.rows(c, `SELECT ${select} FROM ${qualified(t.dataset, t.name)} WHERE _key IN (SELECT unnest(CAST(CAST(? AS JSON) AS VARCHAR[])))`, [JSON.stringify(keys)]);
        return rows.map((r) => convertRow(r, t.columns));
      },
      [],
    );
  }

  // ---- lock & lifecycle ----

  lock(): LockBackend {
    // The database is closed before the lock file goes: a waiting apply that takes the lock
    // must find the file free, not still held open by this process.
    return new FileLock(`${this.path}.mlbridge.lock`, () => this.close());
  }

  async close(): Promise<void> {
    await this.queue;
    this.closeNow();
  }

  /**
   * serve, idle: closes the file so another process (an apply run by hand) may open it. Queued
   * behind the work already queued, so it never closes under an operation, and skipped when
   * `stillIdle()` says work arrived meanwhile. The next operation reopens the file (db()).
   */
  releaseIdle(stillIdle: () => boolean): Promise<void> {
    const next = this.queue.then(() => {
      if (stillIdle()) this.closeNow();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private closeNow(): void {
    // Once closed, another process may change the file: nothing remembered about it holds.
    this.stageCaches.clear();
    this.stagePool = [];
    this.fewThreads = false;
    this.retained = 0;
    this.conn?.closeSync();
    this.instance?.closeSync();
    this.scratch?.conn.closeSync();
    this.scratch?.instance.closeSync();
    this.scratch = null;
    this.conn = null;
    this.instance = null;
    this.opening = null;
  }
}

/**
 * DuckDB's buffer limit, so staging a large source spills to disk instead of growing the
 * process (DuckDB's default is 80% of RAM): MLBRIDGE_DUCKDB_MEMORY_LIMIT (a DuckDB size such
 * as "1GB"), default 256MB for a target opened to write (apply, serve: the merge of a large
 * snapshot spills less) and 128MB read-only (plan: it stages and diffs, a join and counts
 * that spill at no great cost; the plan of 1M entities peaks under 400 MB of RSS). Spill
 * files go to `spillDir` and are removed when DuckDB closes. Insertion order is not kept:
 * nothing mlbridge reads depends on it, and keeping it costs memory.
 */
function memorySettings(spillDir: string, readOnly: boolean): Record<string, string> {
  return {
    memory_limit: memoryLimit(readOnly),
    temp_directory: spillDir,
    preserve_insertion_order: 'false',
  };
}

/**
 * The DuckDB memory limit (a DuckDB size) a target opened so starts with. A setting DuckDB
 * would refuse ("lots", "80%", a bare number) is INVALID_ARGUMENT naming the variable, not
 * DuckDB's "Failed to set config" at the first statement.
 */
function memoryLimit(readOnly: boolean): string {
  const set = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
  if (set === undefined) return readOnly ? '128MB' : '256MB';
  if (duckSizeBytes(set) === undefined) {
    throw new MlbridgeError('INVALID_ARGUMENT', `MLBRIDGE_DUCKDB_MEMORY_LIMIT: ${JSON.stringify(set)} is not a size DuckDB takes (use e.g. 512MB, 2GB or 1.5GiB)`);
  }
  return set;
}

/** The plan's limit: what a snapshot join is sized for when the configured limit is no size. */
const DEFAULT_LIMIT_BYTES = 128e6;





/**
 * MLBRIDGE_DUCKDB_ROWS_PER_PASS: rows each pass of a snapshot's key joins may hold
 * (key-partitions.ts), instead of the estimate from the memory limit; unset: the estimate.
 * Anything but a positive integer is INVALID_ARGUMENT naming the variable.
 */
function rowsPerPass(): number | undefined {
  return positiveIntegerEnv(process.env, 'MLBRIDGE_DUCKDB_ROWS_PER_PASS', 'rows');
}

export async function createDuckDbWarehouse(
  target: Extract<TargetSpec, { kind: 'duckdb' }>,
  options: { readOnly: boolean } & Pick<BusyWaitOptions, 'busyTimeoutMs' | 'onBusyWait' | 'signal'>,
): Promise<Warehouse> {
  const { busyTimeoutMs, onBusyWait, signal } = options;
  return new DuckDbWarehouse(target.path, options.readOnly, {
    ...(busyTimeoutMs !== undefined ? { busyTimeoutMs } : {}),
    ...(onBusyWait ? { onBusyWait } : {}),
    ...(signal ? { signal } : {}),
  });
}
