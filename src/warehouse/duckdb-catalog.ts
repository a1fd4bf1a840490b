// What the DuckDB target records about datasets and tables, and how it observes them.
// Tables carry what DuckDB cannot hold (labels, description, partitioning, clustering,
// deletion protection, BigQuery types and nested modes) as JSON in the table COMMENT,
// prefixed "mlbridge:" — which is also the ownership marker.
// Dataset labels live in main."_mlbridge_datasets" (DuckDB has no schema comments).

import { createHash } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import { isOwned, type ColumnSchema, type DatasetSchema, type ObservedDataset, type ObservedTable, type TableSchema } from '../model/schema.js';
import { columnFromDuck, parseDuckType, quoteIdent } from './sql-duckdb.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Statements on a connection, values bound as VARCHAR (see DuckDbHost). */
export interface DuckSql {
  run(conn: DuckDBConnection, sql: string, values?: (string | null)[]): Promise<unknown>;
  rows(conn: DuckDBConnection, sql: string, values?: (string | null)[]): Promise<Record<string, Json>[]>;
}

const COMMENT_PREFIX = 'mlbridge:';
export const DATASETS_TABLE = '_mlbridge_datasets';

interface TableMeta {
  labels: Record<string, string>;
  description?: string;
  partitioning?: TableSchema['partitioning'];
  clustering?: string[];
  deletionProtection: boolean;
  /** The BigQuery view of the columns, as hints for what DuckDB types cannot say. */
  columns: ColumnSchema[];
}

export function metaComment(t: TableSchema): string {
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

export const findCol = (cols: ColumnSchema[], name: string) => cols.find((c) => c.name.toLowerCase() === name.toLowerCase());

/** Navigates a RECORD path in a mutable column list. */
export function columnAt(cols: ColumnSchema[], path: string[], what: string): ColumnSchema {
  let list = cols;
  let c: ColumnSchema | undefined;
  for (const p of path) {
    c = findCol(list, p);
    if (!c) throw new Error(`${what}: no column ${path.join('.')}`);
    list = c.fields ?? [];
  }
  return c!;
}

/** Observation of datasets and tables from DuckDB's catalog plus the recorded metadata. */
export class DuckDbCatalog {
  constructor(private readonly sql: DuckSql) {}

  async datasetsTableExists(conn: DuckDBConnection): Promise<boolean> {
    const r = await this.sql.rows(
      conn,
      `SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?`,
      [DATASETS_TABLE],
    );
    return r.length > 0;
  }

  async observeDataset(conn: DuckDBConnection, name: string): Promise<ObservedDataset | null> {
    const s = await this.sql.rows(
      conn,
      `SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND lower(schema_name) = lower(?)`,
      [name],
    );
    if (s.length === 0) return null;
    let labels: Record<string, string> = {};
    let description: string | undefined;
    if (await this.datasetsTableExists(conn)) {
      const m = await this.sql.rows(conn, `SELECT labels, description FROM main.${quoteIdent(DATASETS_TABLE)} WHERE lower(name) = lower(?)`, [name]);
      if (m[0]) {
        labels = JSON.parse(String(m[0].labels)) as Record<string, string>;
        if (typeof m[0].description === 'string') description = m[0].description;
      }
    }
    const ds: DatasetSchema = { name: String(s[0]!.schema_name), labels, ...(description !== undefined ? { description } : {}) };
    return { ...ds, etag: hashOf(ds), owned: isOwned(labels) };
  }

  async tableNames(conn: DuckDBConnection, dataset: string): Promise<string[]> {
    const r = await this.sql.rows(
      conn,
      `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND lower(schema_name) = lower(?) ORDER BY table_name`,
      [dataset],
    );
    return r.map((x) => String(x.table_name)).filter((n) => !(dataset.toLowerCase() === 'main' && n === DATASETS_TABLE));
  }

  async observeTable(conn: DuckDBConnection, dataset: string, name: string): Promise<ObservedTable | null> {
    const t = await this.sql.rows(
      conn,
      `SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)`,
      [dataset, name],
    );
    const row = t[0];
    if (!row) return null;
    const cols = await this.sql.rows(
      conn,
      `SELECT column_name, data_type, is_nullable FROM duckdb_columns()
       WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index`,
      [String(row.schema_name), String(row.table_name)],
    );
    return tableFromCatalog(row, cols);
  }

  /** These tables of a dataset (null where missing, matched as observeTable does) in two catalog queries. */
  async observeNamed(conn: DuckDBConnection, dataset: string, names: string[]): Promise<(ObservedTable | null)[]> {
    const lowered = JSON.stringify(names.map((n) => n.toLowerCase()));
    const tables = await this.sql.rows(
      conn,
      `SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) AND list_contains(CAST(CAST(? AS JSON) AS VARCHAR[]), lower(table_name))`,
      [dataset, lowered],
    );
    const cols = await this.sql.rows(
      conn,
      `SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) AND list_contains(CAST(CAST(? AS JSON) AS VARCHAR[]), lower(table_name))
       ORDER BY table_name, column_index`,
      [dataset, lowered],
    );
    return names.map((name) => {
      const row = tables.find((t) => String(t.table_name).toLowerCase() === name.toLowerCase());
      return row ? tableFromCatalog(row, cols.filter((c) => c.table_name === row.table_name)) : null;
    });
  }

  /** Every table of a dataset in two catalog queries, however many there are. */
  async observeTables(conn: DuckDBConnection, dataset: string): Promise<ObservedTable[]> {
    const tables = await this.sql.rows(
      conn,
      `SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) ORDER BY table_name`,
      [dataset],
    );
    const cols = await this.sql.rows(
      conn,
      `SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns()
       WHERE database_name = current_database() AND lower(schema_name) = lower(?) ORDER BY table_name, column_index`,
      [dataset],
    );
    const byTable = new Map<string, Record<string, Json>[]>();
    for (const c of cols) {
      const k = String(c.table_name);
      if (!byTable.has(k)) byTable.set(k, []);
      byTable.get(k)!.push(c);
    }
    return tables
      .filter((t) => !(dataset.toLowerCase() === 'main' && t.table_name === DATASETS_TABLE))
      .map((t) => tableFromCatalog(t, byTable.get(String(t.table_name)) ?? []));
  }

  /** Observes inside a transaction and checks the etag the plan saw. */
  async expectTable(conn: DuckDBConnection, dataset: string, name: string, expectedEtag: string | undefined): Promise<ObservedTable> {
    const resource = tableAddress('duckdb', dataset, name);
    const o = await this.observeTable(conn, dataset, name);
    if (!o) throw new MlbridgeError('TARGET_ERROR', `${resource} does not exist`, { resource });
    if (expectedEtag !== undefined && o.etag !== expectedEtag) {
      throw new MlbridgeError('TARGET_ERROR', `${resource} changed since it was observed (etag ${o.etag}, expected ${expectedEtag}); plan again`, { resource });
    }
    return o;
  }
}

/** An observed table from its duckdb_tables() row and its duckdb_columns() rows (in column order). */
function tableFromCatalog(row: Record<string, Json>, cols: Record<string, Json>[]): ObservedTable {
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
