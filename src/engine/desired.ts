// Desired state from a Spec: the dataset and, per mapping, the current / raw / quarantine
// tables, plus the shared profiles and rejected-events tables. Pure: no I/O.

import type { TargetKind } from '../model/address.js';
import {
  OWNER_LABEL_KEY,
  OWNER_LABEL_VALUE,
  type ColumnMode,
  type ColumnSchema,
  type ColumnType,
  type DatasetSchema,
  type DesiredTable,
} from '../model/schema.js';
import type { FieldSpec, MappingSpec, Spec } from '../spec/types.js';

import { PROFILES_TABLE } from '../spec/defaults.js';

export { PROFILES_TABLE };
/** Events `serve` can never apply and no mapping's quarantine takes (bad JSON, unknown kind). */
export const REJECTED_TABLE = '_mlbridge_rejected';

export interface DesiredState {
  target: TargetKind;
  dataset: DatasetSchema;
  tables: DesiredTable[];
}

const col = (name: string, type: ColumnType, mode: ColumnMode = 'NULLABLE', description?: string): ColumnSchema => ({
  name,
  type,
  mode,
  ...(description ? { description } : {}),
});

/** System columns that lead every current table. */
export function currentSystemColumns(): ColumnSchema[] {
  return [
    col('_key', 'STRING', 'REQUIRED', 'Canonical entity key path, with namespace'),
    col('_version', 'INT64', 'REQUIRED', 'Monotonic entity version'),
    col('_hash', 'STRING', 'REQUIRED', 'Hash of the mapped row'),
    col('_synced_at', 'TIMESTAMP', 'REQUIRED', 'When mlbridge wrote the row'),
    col('_score', 'FLOAT64', 'NULLABLE', 'Confidence score of the last accepted record'),
  ];
}

/** Columns of the append-only raw change log. */
export function rawColumns(): ColumnSchema[] {
  return [
    col('event_id', 'STRING', 'REQUIRED'),
    col('_key', 'STRING', 'REQUIRED'),
    col('operation', 'STRING', 'REQUIRED'),
    col('origin', 'STRING', 'REQUIRED'),
    col('event_time', 'TIMESTAMP'),
    col('ingest_time', 'TIMESTAMP', 'REQUIRED'),
    col('data', 'JSON'),
    col('score', 'FLOAT64'),
    col('flags', 'STRING', 'REPEATED'),
  ];
}

export function quarantineColumns(): ColumnSchema[] {
  return [...rawColumns(), col('reason', 'STRING')];
}

/** The quarantine layout plus the event's `kind` when it could be read (else NULL). */
export function rejectedColumns(): ColumnSchema[] {
  return [...quarantineColumns(), col('kind', 'STRING')];
}

export function profilesColumns(): ColumnSchema[] {
  return [
    col('mapping', 'STRING', 'REQUIRED'),
    col('updated_at', 'TIMESTAMP', 'REQUIRED'),
    col('sample_count', 'INT64', 'REQUIRED'),
    col('profile', 'JSON'),
  ];
}

export function fieldToColumn(f: FieldSpec): ColumnSchema {
  return {
    name: f.name,
    type: f.type,
    mode: f.mode,
    ...(f.description !== undefined ? { description: f.description } : {}),
    ...(f.type === 'RECORD' ? { fields: (f.fields ?? []).map(fieldToColumn) } : {}),
  };
}

function ownedLabels(extra: Record<string, string>): Record<string, string> {
  return { ...extra, [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE };
}

function mappingTables(dataset: string, m: MappingSpec): DesiredTable[] {
  const labels = ownedLabels(m.labels);
  const renames: Record<string, string> = {};
  for (const f of m.fields) if (f.renamedFrom) renames[f.name] = f.renamedFrom;
  const current: DesiredTable = {
    role: 'current',
    mapping: m.kind,
    dataset,
    name: m.tables.current,
    columns: [...currentSystemColumns(), ...m.fields.map(fieldToColumn)],
    clustering: m.clustering && m.clustering.length > 0 ? [...m.clustering] : ['_key'],
    labels,
    deletionProtection: m.deletionProtection,
    renames,
    ...(m.partitioning
      ? {
          partitioning: {
            type: m.partitioning.type,
            ...(m.partitioning.field !== undefined ? { field: m.partitioning.field } : {}),
            ...(m.partitioning.expirationDays !== undefined ? { expirationDays: m.partitioning.expirationDays } : {}),
            ...(m.partitioning.requireFilter !== undefined ? { requireFilter: m.partitioning.requireFilter } : {}),
          },
        }
      : {}),
    ...(m.description !== undefined ? { description: m.description } : {}),
  };
  const log = (role: 'raw' | 'quarantine', name: string, columns: ColumnSchema[], what: string): DesiredTable => ({
    role,
    mapping: m.kind,
    dataset,
    name,
    columns,
    partitioning: { type: 'DAY', field: 'ingest_time' },
    labels,
    description: `${what} of ${m.kind}`,
    deletionProtection: m.deletionProtection,
    renames: {},
  });
  return [
    current,
    log('raw', m.tables.raw, rawColumns(), 'Change log'),
    log('quarantine', m.tables.quarantine, quarantineColumns(), 'Quarantined records'),
  ];
}

export function desiredState(spec: Spec): DesiredState {
  const dataset = spec.target.dataset;
  const tables = spec.mappings.flatMap((m) => mappingTables(dataset, m));
  if (spec.mappings.length > 0) {
    tables.push({
      role: 'profiles',
      dataset,
      name: PROFILES_TABLE,
      columns: profilesColumns(),
      labels: ownedLabels({}),
      description: 'Learned value profiles used by anomaly scoring',
      deletionProtection: true,
      renames: {},
    });
    tables.push({
      role: 'rejected',
      dataset,
      name: REJECTED_TABLE,
      columns: rejectedColumns(),
      partitioning: { type: 'DAY', field: 'ingest_time' },
      labels: ownedLabels({}),
      description: 'Events serve could not apply and no mapping quarantines',
      deletionProtection: true,
      renames: {},
    });
  }
  return {
    target: spec.target.kind,
    dataset: {
      name: dataset,
      ...(spec.target.kind === 'bigquery' ? { location: spec.target.location } : {}),
      labels: ownedLabels({}),
    },
    tables,
  };
}
