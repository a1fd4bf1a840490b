// The embedded target: a DuckDB file through @duckdb/node-api (loaded on first use only).
// dataset → schema; tables carry what DuckDB cannot hold (labels, description,
// partitioning, clustering, deletion protection, BigQuery types and nested modes) as JSON
// in the table COMMENT, prefixed "mlbridge:" — which is also the ownership marker.
// Partitioning and clustering are recorded, not physically applied (DuckDB has neither).
// Dataset labels live in main."_mlbridge_datasets" (DuckDB has no schema comments).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { tableAddress, datasetAddress } from '../model/address.js';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../model/errors.js';
import {
  isOwned,
  type ColumnSchema,
  type DatasetSchema,
  type ObservedDataset,
  type ObservedTable,
  type TableSchema,
} from '../model/schema.js';
import type { TargetSpec } from '../spec/types.js';
import type { LockBackend, LockInfo, ReplaceSpec, Row, RowValue, TableOp, Warehouse } from './warehouse.js';
import { columnDefinition, columnFromDuck, duckType, parseDuckType, qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';

type DuckModule = typeof import('@duckdb/node-api');
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const COMMENT_PREFIX = 'mlbridge:';
const DATASETS_TABLE = '_mlbridge_datasets';

interface TableMeta {
  labels: Record<string, string>;
  description?: string;
  partitioning?: TableSchema['partitioning'];
  clustering?: string[];
  deletionProtection: boolean;
  /** The BigQuery view of the columns, as hints for what DuckDB types cannot say. */
  columns: ColumnSchema[];
}

function metaComment(t: TableSchema): string {
  const meta: TableMeta = {
    labels: t.labels,
    ...(t.description !== undefined ? { description: t.description } : {}),
    ...(t.partitioning ? { partitioning: t.partitioning } : {}),
    ...(t.clustering && t.clustering.length ? { clustering: t.clustering } : {}),
    deletionProtection: t.deletionProtection,
    columns: t.columns,
  };
  return COMMENT_PREFIX + JSON.stringify(meta);
}

function parseMeta(comment: unknown): TableMeta | null {
  if (typeof comment !== 'string' || !comment.startsWith(COMMENT_PREFIX)) return null;
  try {
    const m = JSON.parse(comment.slice(COMMENT_PREFIX.length)) as TableMeta;
    if (typeof m !== 'object' || m === null || typeof m.labels !== 'object') return null;
    return { ...m, columns: Array.isArray(m.columns) ? m.columns : [], deletionProtection: Boolean(m.deletionProtection) };
  } catch {
    return null;
  }
}

function hashOf(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 32);
}

const findCol = (cols: ColumnSchema[], name: string) => cols.find((c) => c.name.toLowerCase() === name.toLowerCase());

/** Navigates a RECORD path in a mutable column list. */
function columnAt(cols: ColumnSchema[], path: string[], what: string): ColumnSchema {
  let list = cols;
  let c: ColumnSchema | undefined;
  for (const p of path) {
    c = findCol(list, p);
    if (!c) throw new Error(`${what}: no column ${path.join('.')}`);
    list = c.fields ?? [];
  }
  return c!;
}

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly location: string;
  private mod: DuckModule | null = null;
  private instance: DuckDBInstance | null = null;
  private conn: DuckDBConnection | null = null;
  private opening: Promise<DuckDBConnection | null> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly readOnly: boolean,
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
    this.mod = await import('@duckdb/node-api');
    try {
      if (!this.readOnly) {
        await mkdir(dirname(this.path), { recursive: true }).catch((e: unknown) => {
          throw folderError(dirname(this.path), e);
        });
      }
      this.instance = await this.mod.DuckDBInstance.create(this.path, { access_mode: this.readOnly ? 'READ_ONLY' : 'READ_WRITE' });
      this.conn = await this.instance.connect();
      await this.conn.run(`SET TimeZone='UTC'`);
      return this.conn;
    } catch (e) {
      this.opening = null;
      if (isMlbridgeError(e)) throw e;
      const msg = errorMessage(e);
      // DuckDB says "… held in /usr/bin/node (PID 42). See also https://…": keep the holder only.
      const held = /Conflicting lock is held in (.*?)(?:\. See also .*)?$/.exec(msg);
      if (held || /Could not set lock/i.test(msg)) {
        throw new MlbridgeError(
          'TARGET_ERROR',
          `The DuckDB file ${this.path} is in use by another process${held ? ` (${held[1]!.trim()})` : ''}; DuckDB allows one process at a time — wait for it to finish`,
          { resource: this.location, cause: e },
        );
      }
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

  /** Serialises work on the one connection; DDL runs inside a transaction. */
  private tx<T>(resource: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      const conn = await this.writable(resource);
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

  private async datasetsTableExists(conn: DuckDBConnection): Promise<boolean> {
    const r = await this.rows(
      conn,
      `SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?`,
      [DATASETS_TABLE],
    );
    return r.length > 0;
  }

  private async observeDataset(conn: DuckDBConnection, name: string): Promise<ObservedDataset | null> {
    const s = await this.rows(
      conn,
      `SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND lower(schema_name) = lower(?)`,
      [name],
    );
    if (s.length === 0) return null;
    let labels: Record<string, string> = {};
    let description: string | undefined;
    if (await this.datasetsTableExists(conn)) {
      const m = await this.rows(conn, `SELECT labels, description FROM main.${quoteIdent(DATASETS_TABLE)} WHERE lower(name) = lower(?)`, [name]);
      if (m[0]) {
        labels = JSON.parse(String(m[0].labels)) as Record<string, string>;
        if (typeof m[0].description === 'string') description = m[0].description;
      }
    }
    const ds: DatasetSchema = { name: String(s[0]!.schema_name), labels, ...(description !== undefined ? { description } : {}) };
    return { ...ds, etag: hashOf(ds), owned: isOwned(labels) };
  }

  getDataset(name: string): Promise<ObservedDataset | null> {
    return this.read(datasetAddress('duckdb', name), (c) => this.observeDataset(c, name), null);
  }

  createDataset(dataset: DatasetSchema): Promise<void> {
    return this.tx(datasetAddress('duckdb', dataset.name), async (c) => {
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
    return this.tx(resource, async (c) => {
      const tables = await this.tableNames(c, name);
      if (tables.length > 0) throw new MlbridgeError('TARGET_ERROR', `${resource} is not empty (${tables.join(', ')}); not deleting it`, { resource });
      await this.run(c, `DROP SCHEMA IF EXISTS ${quoteIdent(name)}`);
      if (await this.datasetsTableExists(c)) await this.run(c, `DELETE FROM main.${quoteIdent(DATASETS_TABLE)} WHERE lower(name) = lower(?)`, [name]);
    });
  }

  // ---- tables: observe ----

  private async tableNames(conn: DuckDBConnection, dataset: string): Promise<string[]> {
    const r = await this.rows(
      conn,
      `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND lower(schema_name) = lower(?) ORDER BY table_name`,
      [dataset],
    );
    return r.map((x) => String(x.table_name)).filter((n) => !(dataset.toLowerCase() === 'main' && n === DATASETS_TABLE));
  }

  private async observeTable(conn: DuckDBConnection, dataset: string, name: string): Promise<ObservedTable | null> {
    const t = await this.rows(
      conn,
      `SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)`,
      [dataset, name],
    );
    const row = t[0];
    if (!row) return null;
    const cols = await this.rows(
      conn,
      `SELECT column_name, data_type, is_nullable FROM duckdb_columns()
       WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index`,
      [String(row.schema_name), String(row.table_name)],
    );
    const meta = parseMeta(row.comment);
    const columns = cols.map((c) =>
      columnFromDuck(String(c.column_name), parseDuckType(String(c.data_type)), c.is_nullable === false, meta ? findCol(meta.columns, String(c.column_name)) : undefined),
    );
    const schema: TableSchema = {
      dataset: String(row.schema_name),
      name: String(row.table_name),
      columns,
      ...(meta?.partitioning ? { partitioning: meta.partitioning } : {}),
      ...(meta?.clustering ? { clustering: meta.clustering } : {}),
      labels: meta?.labels ?? {},
      ...(meta?.description !== undefined ? { description: meta.description } : {}),
      deletionProtection: meta?.deletionProtection ?? false,
    };
    return { ...schema, etag: hashOf(schema), owned: isOwned(schema.labels), numRows: Number(row.estimated_size ?? 0) };
  }

  listTables(dataset: string): Promise<ObservedTable[]> {
    return this.read(
      datasetAddress('duckdb', dataset),
      async (c) => {
        const out: ObservedTable[] = [];
        for (const n of await this.tableNames(c, dataset)) {
          const t = await this.observeTable(c, dataset, n);
          if (t) out.push(t);
        }
        return out;
      },
      [],
    );
  }

  getTable(dataset: string, name: string): Promise<ObservedTable | null> {
    return this.read(tableAddress('duckdb', dataset, name), (c) => this.observeTable(c, dataset, name), null);
  }

  /** Observes inside a transaction and checks the etag the plan saw. */
  private async expectTable(conn: DuckDBConnection, dataset: string, name: string, expectedEtag: string | undefined): Promise<ObservedTable> {
    const resource = tableAddress('duckdb', dataset, name);
    const o = await this.observeTable(conn, dataset, name);
    if (!o) throw new MlbridgeError('TARGET_ERROR', `${resource} does not exist`, { resource });
    if (expectedEtag !== undefined && o.etag !== expectedEtag) {
      throw new MlbridgeError('TARGET_ERROR', `${resource} changed since it was observed (etag ${o.etag}, expected ${expectedEtag}); plan again`, { resource });
    }
    return o;
  }

  // ---- tables: change ----

  createTable(table: TableSchema): Promise<void> {
    const resource = tableAddress('duckdb', table.dataset, table.name);
    return this.tx(resource, async (c) => {
      const q = qualified(table.dataset, table.name);
      await this.run(c, `CREATE TABLE ${q} (${table.columns.map((col) => columnDefinition(col)).join(', ')})`);
      await this.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(table))}`);
    });
  }

  updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', dataset, name);
    return this.tx(resource, async (c) => {
      const o = await this.expectTable(c, dataset, name, expectedEtag);
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
        }
      }
      await this.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(schema))}`);
    });
  }

  replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
    const resource = tableAddress('duckdb', desired.dataset, desired.name);
    return this.tx(resource, async (c) => {
      const o = await this.expectTable(c, desired.dataset, desired.name, expectedEtag);
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
    return this.tx(resource, async (c) => {
      const o = await this.observeTable(c, dataset, name);
      if (!o) return; // already gone: a re-run converges
      await this.expectTable(c, dataset, name, expectedEtag);
      if (o.deletionProtection) throw new MlbridgeError('TARGET_ERROR', `${resource} has deletion protection; it cannot be deleted`, { resource });
      await this.run(c, `DROP TABLE ${qualified(o.dataset, o.name)}`);
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
      const t = await this.expectTable(c, dataset, table, undefined);
      const q = qualified(t.dataset, t.name);
      const keys = keyColumns.map((k) => {
        const col = findCol(t.columns, k);
        if (!col) throw new MlbridgeError('TARGET_ERROR', `${resource} has no key column ${k}`, { resource });
        return col;
      });
      // The last row per key wins, as if the rows were merged one after another.
      const byKey = new Map<string, Row>();
      for (const row of rows) {
        for (const name of Object.keys(row)) {
          if (!findCol(t.columns, name)) throw new MlbridgeError('TARGET_ERROR', `${resource} has no column ${name}`, { resource });
        }
        const kv = keys.map((k) => {
          const v = lookup(row, k.name);
          if (v === undefined || v === null) throw new MlbridgeError('TARGET_ERROR', `${resource}: a row has no value for key column ${k.name}`, { resource });
          return v;
        });
        byKey.set(JSON.stringify(kv), row);
      }
      // Stage the rows in a temporary table (no NOT NULL there), then delete-and-insert by key
      // in two set-based statements: linear in the batch, not one scan per row.
      const stage = quoteIdent(`_mlbridge_stage_${process.pid}_${Date.now()}`);
      await this.run(c, `CREATE TEMP TABLE ${stage} AS SELECT * FROM ${q} LIMIT 0`);
      try {
        const unique = [...byKey.values()];
        // One bound JSON array per batch, unnested and cast per column in SQL: ~20x faster
        // than binding every value as its own parameter.
        const select = t.columns.map((col) => fromJsonRow(col)).join(', ');
        for (let i = 0; i < unique.length; i += 5000) {
          const batch = unique.slice(i, i + 5000).map((row) => {
            const o: Record<string, RowValue> = {};
            for (const col of t.columns) {
              const v = lookup(row, col.name);
              if (v !== undefined && v !== null) o[col.name] = v;
            }
            return o;
          });
          await this.run(c, `INSERT INTO ${stage} SELECT ${select} FROM (SELECT unnest(CAST(CAST(? AS JSON) AS JSON[])) AS r)`, [JSON.stringify(batch)]);
        }
        const match = keys.map((k) => `t.${quoteIdent(k.name)} = s.${quoteIdent(k.name)}`).join(' AND ');
        const existing = await this.rows(c, `SELECT count(*)::BIGINT AS n FROM ${stage} s WHERE EXISTS (SELECT 1 FROM ${q} t WHERE ${match})`);
        const updated = Number(existing[0]?.n ?? 0);
        await this.run(c, `DELETE FROM ${q} t WHERE EXISTS (SELECT 1 FROM ${stage} s WHERE ${match})`);
        await this.run(c, `INSERT INTO ${q} SELECT * FROM ${stage}`);
        return { inserted: unique.length - updated, updated };
      } finally {
        await this.run(c, `DROP TABLE IF EXISTS ${stage}`).catch(() => undefined);
      }
    });
  }

  // ---- lock & lifecycle ----

  lock(): LockBackend {
    // The database is closed before the lock file goes: a waiting apply that takes the lock
    // must find the file free, not still held open by this process.
    return new FileLock(`${this.path}.mlbridge.lock`, () => this.close());
  }

  async close(): Promise<void> {
    await this.queue;
    this.conn?.closeSync();
    this.instance?.closeSync();
    this.conn = null;
    this.instance = null;
    this.opening = null;
  }
}

function lookup(row: Row, name: string): RowValue | undefined {
  if (name in row) return row[name];
  const k = Object.keys(row).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : row[k];
}

/** The SQL reading one column out of a staged JSON row `r` (JSON pointer, so any name works). */
function fromJsonRow(col: ColumnSchema): string {
  const ptr = quoteLiteral(`/${col.name.replace(/~/g, '~0').replace(/\//g, '~1')}`);
  const t = duckType(col);
  const isNull = `json_type(r, ${ptr}) IS NULL OR json_type(r, ${ptr}) = 'NULL'`;
  if (col.mode === 'REPEATED' || col.type === 'RECORD') return `CASE WHEN ${isNull} THEN NULL ELSE CAST(json_extract(r, ${ptr}) AS ${t}) END`;
  if (col.type === 'JSON') return `CASE WHEN ${isNull} THEN NULL ELSE json_extract(r, ${ptr}) END`;
  if (col.type === 'BYTES') return `from_base64(r->>${ptr})`;
  return `CAST(r->>${ptr} AS ${t})`;
}

function convertRow(r: Record<string, Json>, columns: ColumnSchema[]): Row {
  const out: Row = {};
  for (const c of columns) out[c.name] = convertValue(r[c.name] ?? null, c, c.mode);
  return out;
}

function trimDecimal(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** DuckDB's JSON rendering → the RowValue conventions of warehouse.ts. */
function convertValue(v: Json, c: ColumnSchema, mode: ColumnSchema['mode']): RowValue {
  if (v === null) return null;
  if (mode === 'REPEATED') return Array.isArray(v) ? v.map((x) => convertValue(x, c, 'NULLABLE')) : null;
  switch (c.type) {
    case 'RECORD': {
      const o = v as Record<string, Json>;
      const rec: { [k: string]: RowValue } = {};
      for (const f of c.fields ?? []) rec[f.name] = convertValue(o[f.name] ?? null, f, f.mode);
      return rec;
    }
    case 'INT64':
      return String(v);
    case 'FLOAT64':
      return typeof v === 'number' ? v : Number(v);
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return trimDecimal(String(v));
    case 'BOOL':
      return Boolean(v);
    case 'TIMESTAMP':
      return String(v).replace(' ', 'T').replace(/\+00(:00)?$/, 'Z');
    case 'DATETIME':
      return String(v).replace(' ', 'T');
    case 'JSON':
      return typeof v === 'string' ? (JSON.parse(v) as RowValue) : (v as RowValue);
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

/** DuckDB's message without the SQL excerpt and caret it appends (our SQL, not the user's). */
function duckMessage(e: unknown): string {
  return errorMessage(e).replace(/\n+LINE \d+:[\s\S]*$/, '');
}

/** DuckDB names our scratch table in NOT NULL failures; say what the user can do instead. */
function replaceFailure(message: string, tmp: string): string {
  const notNull = /NOT NULL constraint failed: (?:[^\s.]+\.)?(\S+)/.exec(message);
  if (!notNull || !message.includes(tmp)) return message;
  const column = notNull[1]!.replace(/^"|"$/g, '');
  return `existing rows hold NULL in column ${column}, which the spec makes REQUIRED; fill or delete those rows, or keep ${column} NULLABLE`;
}

/** The folder of the DuckDB file cannot be created: say which path is in the way. */
function folderError(folder: string, e: unknown): MlbridgeError {
  const err = e as NodeJS.ErrnoException;
  const why =
    err.code === 'EEXIST' || err.code === 'ENOTDIR'
      ? `${err.path ?? folder} exists and is not a folder`
      : errorMessage(e);
  return new MlbridgeError('TARGET_ERROR', `Cannot create the folder ${folder} for the DuckDB file: ${why}`, { cause: e });
}

/** The id under which a lock file that cannot be parsed is reported (and force-unlocked). */
export const UNREADABLE_LOCK_ID = 'unreadable';

/** `<db>.mlbridge.lock`, created with O_EXCL: works without opening (or even having) the database. */
export class FileLock implements LockBackend {
  constructor(
    readonly file: string,
    private readonly beforeRelease?: () => Promise<void>,
  ) {}

  async tryAcquire(info: LockInfo): Promise<{ acquired: true } | { acquired: false; holder: LockInfo }> {
    await mkdir(dirname(this.file), { recursive: true }).catch((e: unknown) => {
      throw folderError(dirname(this.file), e);
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(this.file, 'wx', 0o644);
        try {
          await fh.writeFile(JSON.stringify(info));
        } finally {
          await fh.close();
        }
        return { acquired: true };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new MlbridgeError('TARGET_ERROR', `Cannot create the lock file ${this.file}: ${errorMessage(e)}`, { cause: e });
        }
      }
      const holder = await this.current();
      // An unreadable file may still be being written by its holder: look again before naming it.
      if (holder && (holder.id !== UNREADABLE_LOCK_ID || attempt >= 20)) return { acquired: false, holder };
      // Removed between our open and read, or still being written: look again.
      if (!holder && attempt >= 20) {
        return { acquired: false, holder: { id: 'unknown', pid: 0, host: 'unknown', since: 'unknown', operation: 'unknown', who: 'unknown' } };
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async release(id: string): Promise<void> {
    const cur = await this.current();
    if (!cur || cur.id !== id) return;
    try {
      await this.beforeRelease?.();
    } finally {
      await unlink(this.file).catch(() => undefined);
    }
  }

  async current(): Promise<LockInfo | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return null;
    }
    try {
      const info = JSON.parse(text) as LockInfo;
      if (typeof info?.id === 'string') return info;
    } catch {
      // fall through: empty or half-written (its writer was killed between create and write)
    }
    // Still a held lock, under a fixed id, so that `force-unlock unreadable` can release it.
    const since = (await stat(this.file).catch(() => null))?.mtime.toISOString() ?? 'unknown';
    return { id: UNREADABLE_LOCK_ID, pid: 0, host: 'unknown', since, operation: `unknown: ${this.file} is empty or corrupt`, who: 'unknown' };
  }
}

export async function createDuckDbWarehouse(
  target: Extract<TargetSpec, { kind: 'duckdb' }>,
  options: { readOnly: boolean },
): Promise<Warehouse> {
  return new DuckDbWarehouse(target.path, options.readOnly);
}
