// BigQuery REST resources (Table, Dataset, TableFieldSchema) ↔ mlbridge's schema vocabulary,
// and GoogleSQL quoting/type names for the DDL/DML the adapter emits. Pure: no I/O.
//
// Deletion protection: BigQuery's REST Table resource has no deletion-protection flag
// (Terraform's `deletion_protection` is a provider-side setting). mlbridge stores it as the
// label `mlbridge-deletion-protection=true`; observe folds that label back into
// `deletionProtection` and hides it from `labels`. It protects against mlbridge only —
// `bq rm` or the console can still delete the table.

import { canonicalType, isOwned } from '../model/schema.js';
import type { ColumnSchema, ColumnType, DatasetSchema, ObservedDataset, ObservedTable, PartitionGranularity, TableSchema } from '../model/schema.js';

export const DELETION_PROTECTION_LABEL = 'mlbridge-deletion-protection';
/** Marks a replacement table whose copy finished (see replace in bigquery.ts). */
export const REPLACE_STATE_LABEL = 'mlbridge-replace';
export const LOCK_TABLE = '_mlbridge_lock';
export const REPLACEMENT_SUFFIX = '__mlbridge_new';
export const STAGING_INFIX = '__mlbridge_stage_';

/** Tables the adapter uses for itself; never shown to the engine. */
export function isInternalTable(name: string): boolean {
  return name === LOCK_TABLE || name.endsWith(REPLACEMENT_SUFFIX) || name.includes(STAGING_INFIX);
}

export interface RestField {
  name: string;
  type: string;
  mode?: string;
  description?: string;
  fields?: RestField[];
}

export interface RestTable {
  tableReference?: { projectId: string; datasetId: string; tableId: string };
  schema?: { fields?: RestField[] };
  /** `requirePartitionFilter` inside it is deprecated: mlbridge writes the table-level one and reads either. */
  timePartitioning?: { type: string; field?: string; expirationMs?: string | null; requirePartitionFilter?: boolean };
  requirePartitionFilter?: boolean;
  clustering?: { fields?: string[] };
  labels?: Record<string, string>;
  description?: string;
  etag?: string;
  numRows?: string;
  expirationTime?: string;
}

export interface RestDataset {
  datasetReference?: { projectId: string; datasetId: string };
  location?: string;
  labels?: Record<string, string>;
  description?: string;
  etag?: string;
}

/** REST wire type names (tables.get returns the legacy names). */
const REST_TYPE: Record<ColumnType, string> = {
  STRING: 'STRING',
  BYTES: 'BYTES',
  INT64: 'INTEGER',
  FLOAT64: 'FLOAT',
  NUMERIC: 'NUMERIC',
  BIGNUMERIC: 'BIGNUMERIC',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'DATETIME',
  GEOGRAPHY: 'GEOGRAPHY',
  JSON: 'JSON',
  RECORD: 'RECORD',
};

export function toRestField(c: ColumnSchema): RestField {
  const f: RestField = { name: c.name, type: REST_TYPE[c.type], mode: c.mode };
  if (c.description !== undefined) f.description = c.description;
  if (c.type === 'RECORD') f.fields = (c.fields ?? []).map(toRestField);
  return f;
}

export function fromRestField(f: RestField): ColumnSchema {
  const type = canonicalType(f.type) ?? 'STRING';
  const mode = (f.mode ?? 'NULLABLE').toUpperCase() as ColumnSchema['mode'];
  const c: ColumnSchema = { name: f.name, type, mode };
  if (f.description !== undefined && f.description !== '') c.description = f.description;
  if (type === 'RECORD') c.fields = (f.fields ?? []).map(fromRestField);
  return c;
}

export function tableLabels(t: Pick<TableSchema, 'labels' | 'deletionProtection'>): Record<string, string> {
  const labels = { ...t.labels };
  if (t.deletionProtection) labels[DELETION_PROTECTION_LABEL] = 'true';
  return labels;
}

/** timePartitioning for tables.insert/patch: the layout, and the expiration (null removes it on patch). */
export function restPartitioning(p: NonNullable<TableSchema['partitioning']>, forPatch: boolean): NonNullable<RestTable['timePartitioning']> {
  const tp: NonNullable<RestTable['timePartitioning']> = { type: p.type };
  if (p.field) tp.field = p.field;
  if (p.expirationDays !== undefined) tp.expirationMs = String(Math.round(p.expirationDays * 86_400_000));
  else if (forPatch) tp.expirationMs = null;
  return tp;
}

/** The body of tables.insert for a desired table. */
export function toRestTable(project: string, t: TableSchema): RestTable {
  const body: RestTable = {
    tableReference: { projectId: project, datasetId: t.dataset, tableId: t.name },
    schema: { fields: t.columns.map(toRestField) },
    labels: tableLabels(t),
  };
  if (t.description !== undefined) body.description = t.description;
  if (t.partitioning) {
    body.timePartitioning = restPartitioning(t.partitioning, false);
    if (t.partitioning.requireFilter) body.requirePartitionFilter = true;
  }
  if (t.clustering && t.clustering.length > 0) body.clustering = { fields: [...t.clustering] };
  return body;
}

export function fromRestTable(dataset: string, name: string, m: RestTable): ObservedTable {
  const labels = { ...(m.labels ?? {}) };
  const deletionProtection = labels[DELETION_PROTECTION_LABEL] === 'true';
  delete labels[DELETION_PROTECTION_LABEL];
  const t: ObservedTable = {
    dataset,
    name,
    columns: (m.schema?.fields ?? []).map(fromRestField),
    labels,
    deletionProtection,
    etag: m.etag ?? '',
    owned: isOwned(labels),
  };
  if (m.description !== undefined && m.description !== '') t.description = m.description;
  if (m.timePartitioning) {
    t.partitioning = { type: m.timePartitioning.type.toUpperCase() as PartitionGranularity };
    if (m.timePartitioning.field) t.partitioning.field = m.timePartitioning.field;
    if (m.timePartitioning.expirationMs !== undefined && m.timePartitioning.expirationMs !== null)
      t.partitioning.expirationDays = Number(m.timePartitioning.expirationMs) / 86_400_000;
    // BigQuery may echo the table-level field, the deprecated nested one, or both.
    if (m.requirePartitionFilter ?? m.timePartitioning.requirePartitionFilter) t.partitioning.requireFilter = true;
  }
  if (m.clustering?.fields && m.clustering.fields.length > 0) t.clustering = [...m.clustering.fields];
  if (m.numRows !== undefined) t.numRows = Number(m.numRows);
  return t;
}

export function fromRestDataset(name: string, m: RestDataset): ObservedDataset {
  const labels = { ...(m.labels ?? {}) };
  const d: ObservedDataset = { name, labels, etag: m.etag ?? '', owned: isOwned(labels) };
  if (m.location !== undefined) d.location = m.location;
  if (m.description !== undefined && m.description !== '') d.description = m.description;
  return d;
}

export function toRestDataset(project: string, d: DatasetSchema, defaultLocation: string): RestDataset {
  const body: RestDataset = {
    datasetReference: { projectId: project, datasetId: d.name },
    location: d.location ?? defaultLocation,
    labels: { ...d.labels },
  };
  if (d.description !== undefined) body.description = d.description;
  return body;
}

/** Is `existing` the dataset this datasets.insert body asked for (a retry's 409 after a lost reply)? */
export function isCreatedDataset(existing: ObservedDataset | null, body: RestDataset): boolean {
  if (!existing || (existing.location ?? '').toLowerCase() !== (body.location ?? '').toLowerCase()) return false;
  const want = body.labels ?? {};
  return Object.keys(want).length === Object.keys(existing.labels).length && Object.entries(want).every(([k, v]) => existing.labels[k] === v);
}

/** A GoogleSQL quoted identifier: backticks, with `\` and backtick escaped. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** `project`.`dataset`.`table`, each part quoted on its own so any legal name works. */
export function tableRef(project: string, dataset: string, table: string): string {
  return `${quoteIdent(project)}.${quoteIdent(dataset)}.${quoteIdent(table)}`;
}

/** GoogleSQL type of a column for CAST / SET DATA TYPE, e.g. ARRAY<STRUCT<`a` INT64>>. */
export function sqlType(c: Pick<ColumnSchema, 'type' | 'fields' | 'mode'>, withMode = true): string {
  const base =
    c.type === 'RECORD'
      ? `STRUCT<${(c.fields ?? []).map((f) => `${quoteIdent(f.name)} ${sqlType(f)}`).join(', ')}>`
      : c.type;
  return withMode && c.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
}

/** A GoogleSQL string literal. */
export function quoteString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r') + "'";
}

/** Structural equality of column lists (names case-insensitive, order ignored), ignoring descriptions. */
export function sameColumns(a: readonly ColumnSchema[], b: readonly ColumnSchema[]): boolean {
  if (a.length !== b.length) return false;
  for (const c of a) {
    const o = b.find((x) => x.name.toLowerCase() === c.name.toLowerCase());
    if (!o || o.type !== c.type || o.mode !== c.mode) return false;
    if (c.type === 'RECORD' && !sameColumns(c.fields ?? [], o.fields ?? [])) return false;
  }
  return true;
}

/** What a table is, as mlbridge compares it: layout, labels, description (not etag, row count or expiry). */
function tableShape(m: RestTable): string {
  const t = fromRestTable('', '', m);
  return JSON.stringify([t.columns, t.partitioning ?? null, t.clustering ?? null, t.labels, t.description ?? null, t.deletionProtection]);
}

/**
 * Is `existing` the table this tables.insert body asks for, owned by mlbridge? After a
 * lost reply the retry's 409 is our own insert exactly when it is.
 */
export function isInsertedTable(existing: RestTable, body: RestTable): boolean {
  return isOwned(existing.labels) && tableShape(existing) === tableShape(body);
}

/**
 * Does `current` already hold what this tables.patch body sets? After a lost reply the
 * retry's 412 (the etag moved) means our own patch landed exactly when it does.
 */
export function holdsPatch(current: RestTable, body: Record<string, unknown>): boolean {
  const cur = fromRestTable('', '', current);
  for (const [k, v] of Object.entries(body)) {
    if (k === 'etag') continue;
    if (k === 'schema') {
      const want = ((v as RestTable['schema'])?.fields ?? []).map(fromRestField);
      if (JSON.stringify(want) !== JSON.stringify(cur.columns)) return false;
    } else if (k === 'labels') {
      for (const [lk, lv] of Object.entries((v ?? {}) as Record<string, string | null>)) {
        if ((current.labels?.[lk] ?? null) !== lv) return false;
      }
    } else if (k === 'description') {
      if ((current.description || null) !== (v || null)) return false;
    } else if (k === 'clustering') {
      if (JSON.stringify((v as RestTable['clustering'])?.fields ?? []) !== JSON.stringify(cur.clustering ?? [])) return false;
    } else if (k === 'timePartitioning') {
      const tp = v as RestTable['timePartitioning'];
      const want = tp?.expirationMs === undefined || tp.expirationMs === null ? undefined : Number(tp.expirationMs) / 86_400_000;
      if (cur.partitioning?.expirationDays !== want) return false;
    } else if (k === 'requirePartitionFilter') {
      if (Boolean(cur.partitioning?.requireFilter) !== Boolean(v)) return false;
    } else return false;
  }
  return true;
}
