// Column and table schema vocabulary shared by spec, engine and warehouses. Types use
// BigQuery's canonical (GoogleSQL) names; aliases are folded by `canonicalType`.

export type ColumnType =
  | 'STRING'
  | 'BYTES'
  | 'INT64'
  | 'FLOAT64'
  | 'NUMERIC'
  | 'BIGNUMERIC'
  | 'BOOL'
  | 'TIMESTAMP'
  | 'DATE'
  | 'TIME'
  | 'DATETIME'
  | 'GEOGRAPHY'
  | 'JSON'
  | 'RECORD';

export type ColumnMode = 'NULLABLE' | 'REQUIRED' | 'REPEATED';

const TYPE_ALIASES: Record<string, ColumnType> = {
  STRING: 'STRING',
  BYTES: 'BYTES',
  INT64: 'INT64',
  INTEGER: 'INT64',
  INT: 'INT64',
  SMALLINT: 'INT64',
  BIGINT: 'INT64',
  TINYINT: 'INT64',
  BYTEINT: 'INT64',
  FLOAT64: 'FLOAT64',
  FLOAT: 'FLOAT64',
  NUMERIC: 'NUMERIC',
  DECIMAL: 'NUMERIC',
  BIGNUMERIC: 'BIGNUMERIC',
  BIGDECIMAL: 'BIGNUMERIC',
  BOOL: 'BOOL',
  BOOLEAN: 'BOOL',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'DATETIME',
  GEOGRAPHY: 'GEOGRAPHY',
  JSON: 'JSON',
  RECORD: 'RECORD',
  STRUCT: 'RECORD',
};

export const COLUMN_TYPES: readonly ColumnType[] = [...new Set(Object.values(TYPE_ALIASES))];
export const TYPE_NAMES: readonly string[] = Object.keys(TYPE_ALIASES);
export const COLUMN_MODES: readonly ColumnMode[] = ['NULLABLE', 'REQUIRED', 'REPEATED'];

/** Canonical type for a name or alias (case-insensitive), or undefined when unknown. */
export function canonicalType(name: string): ColumnType | undefined {
  return TYPE_ALIASES[name.toUpperCase()];
}

export interface ColumnSchema {
  name: string;
  type: ColumnType;
  mode: ColumnMode;
  description?: string;
  /** Sub-fields when type is RECORD. */
  fields?: ColumnSchema[];
}

export type PartitionGranularity = 'HOUR' | 'DAY' | 'MONTH' | 'YEAR';

export interface Partitioning {
  type: PartitionGranularity;
  /** Column to partition on; absent means ingestion-time partitioning (_PARTITIONTIME). */
  field?: string;
  expirationDays?: number;
  requireFilter?: boolean;
}

/** What mlbridge wants a table to be, or what it observed a table to be. */
export interface TableSchema {
  dataset: string;
  name: string;
  columns: ColumnSchema[];
  partitioning?: Partitioning;
  /** Up to four top-level column names. */
  clustering?: string[];
  labels: Record<string, string>;
  description?: string;
  deletionProtection: boolean;
}

export type TableRole = 'current' | 'raw' | 'quarantine' | 'profiles' | 'rejected';

/** A desired table, with where it came from. */
export interface DesiredTable extends TableSchema {
  role: TableRole;
  /** Mapping name (the kind) this table belongs to; absent for shared tables. */
  mapping?: string;
  /** Declared renames: new column name → old column name (top-level only). */
  renames: Record<string, string>;
}

/** An observed table, as read back from the warehouse. */
export interface ObservedTable extends TableSchema {
  /** Opaque version tag: BigQuery's etag, or a hash of the DuckDB catalog entry. */
  etag: string;
  /** True when the table carries the `managed-by=mlbridge` label / comment. */
  owned: boolean;
  numRows?: number;
}

export interface DatasetSchema {
  name: string;
  location?: string;
  labels: Record<string, string>;
  description?: string;
}

export interface ObservedDataset extends DatasetSchema {
  etag: string;
  owned: boolean;
}

export const OWNER_LABEL_KEY = 'managed-by';
export const OWNER_LABEL_VALUE = 'mlbridge';

export function isOwned(labels: Record<string, string> | undefined): boolean {
  return labels?.[OWNER_LABEL_KEY] === OWNER_LABEL_VALUE;
}

/** Finds a column by name, case-insensitively as BigQuery compares column names. */
export function findColumn(columns: readonly ColumnSchema[], name: string): ColumnSchema | undefined {
  const lower = name.toLowerCase();
  return columns.find((c) => c.name.toLowerCase() === lower);
}
