// The embedded target: a DuckDB file through @duckdb/node-api (loaded on first use only).
// dataset → schema; tables carry what DuckDB cannot hold (labels, description,
// partitioning, clustering, deletion protection, BigQuery types and nested modes) as JSON
// in the table COMMENT, prefixed "mlbridge:" — which is also the ownership marker (see
// duckdb-catalog.ts).
// Partitioning and clustering are recorded, not physically applied (DuckDB has neither).
// Dataset labels live in main."_mlbridge_datasets" (DuckDB has no schema comments).
// The connection and its queue are duckdb-host.ts, the memory limit duckdb-memory.ts, table
// changes duckdb-table-change.ts, the row stage duckdb-stage.ts.

import type { DuckDBConnection } from '@duckdb/node-api';
import { tableAddress, datasetAddress } from '../model/address.js';
import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import type { DatasetSchema, ObservedDataset, ObservedTable, TableSchema } from '../model/schema.js';
import type { TargetSpec } from '../spec/types.js';
import type { LockBackend, ReplaceSpec, Row, RowStage, TableOp, Warehouse } from './warehouse.js';
import { DATASETS_TABLE, DuckDbCatalog, metaComment } from './duckdb-catalog.js';
import type { DuckSql, Json } from './duckdb-catalog.js';
import { duckMessage } from './duckdb-errors.js';
import type { BusyWaitOptions } from './duckdb-busy-wait.js';
import { FileLock } from './duckdb-lock.js';
import { convertRow, mergeByKey, selectColumns } from './duckdb-rows.js';
import { DuckRowStage } from './duckdb-stage.js';
import { StageCaches, type PooledStage } from './duckdb-stage-host.js';
import { dropMemos } from './duckdb-memo.js';
import type { StageTables } from '../model/staged.js';
import { columnDefinition, qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';
import { DuckDbHost } from './duckdb-host.js';
import { memoryLimitBytes, rowsPerPass } from './duckdb-memory.js';
import { alterTable, countUncopyable, rebuildTable } from './duckdb-table-change.js';
import type { UncopyableRows } from './replace-check.js';

export { FileLock, UNREADABLE_LOCK_ID } from './duckdb-lock.js';

/** Closed stages kept for reuse (serve merges one mapping and origin at a time: one is used). */
const STAGE_POOL_SIZE = 4;

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly location: string;
  private readonly host: DuckDbHost;
  private readonly sql: DuckSql;
  private readonly catalog: DuckDbCatalog;
  /** What events merges remember between batches: valid while this process alone changed the schema. */
  readonly stageCaches = new StageCaches();
  /** Emptied stage tables of closed stages, reused by the next openStage (temp tables: this connection's). */
  private stagePool: PooledStage[] = [];
  /** DuckDB runs on one thread since serve's last events merge (see DuckStageHost.threadsFor). */
  private fewThreads = false;

  constructor(
    readonly path: string,
    private readonly readOnly: boolean,
    /** plan/apply --lock-timeout: how long an open waits for a file another process holds. */
    busyWait: BusyWaitOptions = {},
  ) {
    this.location = `duckdb:${path}`;
    this.host = new DuckDbHost(path, readOnly, this.location, busyWait, () => {
      this.stageCaches.clear();
      this.stagePool = [];
      this.fewThreads = false;
    });
    this.sql = this.host.sql;
    this.catalog = new DuckDbCatalog(this.sql);
  }

  /** A transaction that changes the catalog: what stages remember about tables is forgotten. */
  private ddl<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    this.stageCaches.clear();
    return this.host.tx(resource, fn).finally(() => this.stageCaches.clear());
  }

  // ---- datasets ----

  getDataset(name: string): Promise<ObservedDataset | null> {
    return this.host.read(datasetAddress('duckdb', name), (c) => this.catalog.observeDataset(c, name), null);
  }

  createDataset(dataset: DatasetSchema): Promise<void> {
    return this.ddl(datasetAddress('duckdb', dataset.name), async (c) => {
      await this.host.run(c, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(dataset.name)}`);
      await this.host.run(c, `CREATE TABLE IF NOT EXISTS main.${quoteIdent(DATASETS_TABLE)} (name VARCHAR PRIMARY KEY, labels JSON NOT NULL, description VARCHAR)`);
      await this.host.run(c, `INSERT OR REPLACE INTO main.${quoteIdent(DATASETS_TABLE)} VALUES (?, ?, ?)`, [
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
      await this.host.run(c, `DROP SCHEMA IF EXISTS ${quoteIdent(name)}`);
      await dropMemos(this.sql, c, name);
      if (await this.catalog.datasetsTableExists(c)) await this.host.run(c, `DELETE FROM main.${quoteIdent(DATASETS_TABLE)} WHERE lower(name) = lower(?)`, [name]);
    });
  }

  // ---- tables: observe (see duckdb-catalog.ts) ----

  listTables(dataset: string): Promise<ObservedTable[]> {
    return this.host.read(
      datasetAddress('duckdb', dataset),
      (c) => this.catalog.observeTables(c, dataset),
      [],
    );
  }

  getTable(dataset: string, name: string): Promise<ObservedTable | null> {
    return this.host.read(tableAddress('duckdb', dataset, name), (c) => this.catalog.observeTable(c, dataset, name), null);
  }

  // ---- tables: change ----

  createTable(table: TableSchema): Promise<void> {
    const resource = tableAddress('duckdb', table.dataset, table.name);
    return this.ddl(resource, async (c) => {
      const q = qualified(table.dataset, table.name);
      await this.host.run(c, `CREATE TABLE ${q} (${table.columns.map((col) => columnDefinition(col)).join(', ')})`);
      await this.host.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(table))}`);
    });
  }

  updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', dataset, name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.expectTable(c, dataset, name, expectedEtag);
      await alterTable(this.sql, c, o, ops, resource);
    });
  }

  replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', desired.dataset, desired.name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.expectTable(c, desired.dataset, desired.name, expectedEtag);
      await rebuildTable(this.sql, c, o, desired, replace, resource);
    });
  }

  countUncopyable(desired: TableSchema, replace: ReplaceSpec): Promise<UncopyableRows[]> {
    const { dataset, name } = desired;
    return this.host.read(
      tableAddress('duckdb', dataset, name),
      async (c) => {
        const o = await this.catalog.observeTable(c, dataset, name);
        return o ? countUncopyable(this.sql, c, o, desired, replace) : [];
      },
      [],
    );
  }

  deleteTable(dataset: string, name: string, expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', dataset, name);
    return this.ddl(resource, async (c) => {
      const o = await this.catalog.observeTable(c, dataset, name);
      if (!o) return; // already gone: a re-run converges
      await this.catalog.expectTable(c, dataset, name, expectedEtag);
      if (o.deletionProtection) throw new MlbridgeError('TARGET_ERROR', `${resource} has deletion protection; it cannot be deleted`, { resource });
      await this.host.run(c, `DROP TABLE ${qualified(o.dataset, o.name)}`);
      await dropMemos(this.sql, c, o.dataset, o.name);
    });
  }

  // ---- rows ----

  async *readRows(dataset: string, table: string): AsyncIterable<Row> {
    const resource = tableAddress('duckdb', dataset, table);
    const t = await this.getTable(dataset, table);
    if (!t) {
      if (!(await this.host.db())) return;
      throw new MlbridgeError('TARGET_ERROR', `${resource} does not exist`, { resource });
    }
    // A connection of its own, so a long read does not hold up DDL/merges on the main one.
    const conn = await this.host.connectAnother();
    try {
      await conn.run(`SET TimeZone='UTC'`);
      const result = await conn.stream(`SELECT ${selectColumns(t.columns)} FROM ${qualified(t.dataset, t.name)}`);
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
    return this.host.tx(resource, async (c) => {
      const t = await this.catalog.expectTable(c, dataset, table, undefined);
      return mergeByKey(this.sql, c, t, resource, keyColumns, rows);
    });
  }

  async openStage(tables: StageTables): Promise<RowStage> {
    const resource = tableAddress('duckdb', tables.dataset, tables.current);
    await this.host.db();
    const limitBytes = memoryLimitBytes(this.readOnly);
    const passRows = rowsPerPass();
    return new DuckRowStage(
      {
        sql: this.sql,
        use: (fn) => this.host.use(resource, fn),
        tx: (res, fn, prepare) => this.host.tx(res, fn, prepare),
        observe: (c, dataset, tables) => this.catalog.observeNamed(c, dataset, tables),
        caches: this.stageCaches,
        readOnly: this.readOnly,
        ...(passRows !== undefined ? { rowsPerPass: passRows } : {}),
        workMemoryBytes: () => limitBytes,
        threadsFor: async (c, work) => {
          if ((work === 'events') === this.fewThreads) return;
          await this.host.run(c, work === 'events' ? 'SET threads = 1' : 'RESET threads');
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

  readRowsByKey(dataset: string, table: string, keys: string[], columns?: readonly string[]): Promise<Row[]> {
    const resource = tableAddress('duckdb', dataset, table);
    if (keys.length === 0) return Promise.resolve([]);
    return this.host.read(
      resource,
      async (c) => {
        // Observed once until the next DDL or release: serve reads current's versions every batch.
        const cacheKey = JSON.stringify([dataset, table]);
        const t = this.stageCaches.tables.get(cacheKey) ?? (await this.catalog.observeTable(c, dataset, table));
        if (!t) return [];
        this.stageCaches.tables.set(cacheKey, t);
        const read = columns ? t.columns.filter((col) => col.name === '_key' || columns.includes(col.name)) : t.columns;
        const rows = await this.host.rows(c, `SELECT ${selectColumns(read)} FROM ${qualified(t.dataset, t.name)} WHERE _key IN (SELECT unnest(CAST(CAST(? AS JSON) AS VARCHAR[])))`, [JSON.stringify(keys)]);
        return rows.map((r) => convertRow(r, read));
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

  close(): Promise<void> {
    return this.host.close();
  }

  /** serve, idle: closes the file so another process may open it (see DuckDbHost.releaseIdle). */
  releaseIdle(stillIdle: () => boolean): Promise<void> {
    return this.host.releaseIdle(stillIdle);
  }
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
