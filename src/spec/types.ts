// The typed, validated spec (version 1). Produced by the loader from YAML; every object
// keeps the source position it came from so later stages can point at the spec.

import type { SourceRange } from '../model/diagnostic.js';
import type { ColumnMode, ColumnType, PartitionGranularity } from '../model/schema.js';

export type TargetSpec =
  | { kind: 'bigquery'; project: string; dataset: string; location: string; source?: SourceRange }
  | { kind: 'duckdb'; /** Absolute path to the DuckDB file. */ path: string; dataset: string; source?: SourceRange };

export type SourceSpec =
  | { kind: 'export'; /** Absolute local folder or gs://bucket/prefix. */ path: string; source?: SourceRange }
  | { kind: 'datastore'; project: string; namespace?: string; databaseId?: string; source?: SourceRange };

export interface FieldSpec {
  /** Column name in the warehouse. */
  name: string;
  type: ColumnType;
  mode: ColumnMode;
  description?: string;
  /**
   * Path into the entity's properties, already split: `address.city` → ['address', 'city'].
   * Defaults to [name]. Special roots: `__key__` with `.name`, `.id`, `.kind`, `.namespace`, `.path`.
   */
  from: string[];
  /** Sub-fields when type is RECORD. */
  fields?: FieldSpec[];
  /** The column's previous name: plans a RENAME COLUMN instead of drop + add. */
  renamedFrom?: string;
  source?: SourceRange;
}

export interface PartitioningSpec {
  type: PartitionGranularity;
  /** A TIMESTAMP/DATE/DATETIME column; absent means ingestion time. */
  field?: string;
  expirationDays?: number;
  requireFilter?: boolean;
}

export interface FreshnessSpec {
  /** Lag after which freshness has halved, in seconds. */
  halfLifeSeconds: number;
  /** Lag beyond which a record is flagged stale, in seconds. */
  maxLagSeconds: number;
}

export interface AnomalySpec {
  /** Robust z-score (median/MAD) above which a numeric value is flagged. */
  zThreshold: number;
  /** A field with at most this many distinct values is treated as categorical. */
  maxCardinality: number;
  /** Absolute change in a field's null rate that is flagged. */
  nullRateShift: number;
  /** Profiles learned from fewer rows than this are not used. */
  minSamples: number;
}

export interface ScoringSpec {
  /** At or above: ingest. */
  ingest: number;
  /** Below: quarantine. Between quarantine and ingest: defer. */
  quarantine: number;
  freshness: FreshnessSpec;
  anomaly: AnomalySpec;
  /** Weights of the components in the confidence; they sum to 1. */
  weights: { freshness: number; completeness: number; anomaly: number };
  /**
   * Columns the completeness check looks at. Absent in the spec-wide block; always set in a
   * mapping's effective scoring (default: the mapping's REQUIRED top-level fields).
   */
  required?: string[];
  source?: SourceRange;
}

export interface MappingSpec {
  /** Datastore kind; also the mapping's name in addresses (rows.<kind>). */
  kind: string;
  /**
   * Only entities in these namespaces ("" is the default namespace); absent means every
   * namespace. YAML `namespaces: [..]`, or `namespace: x` for one.
   */
  namespaces?: string[];
  /** Where each of `namespaces` is written in the spec (same order), for diagnostics. */
  namespaceSources?: SourceRange[];
  tables: { current: string; raw: string; quarantine: string };
  fields: FieldSpec[];
  partitioning?: PartitioningSpec;
  clustering?: string[];
  labels: Record<string, string>;
  description?: string;
  deletionProtection: boolean;
  /** Effective scoring: spec defaults overlaid with this mapping's overrides. */
  scoring: ScoringSpec;
  source?: SourceRange;
}

export interface ReconcileSpec {
  /** Five-field cron expression. */
  schedule: string;
  timeZone: string;
  /** The `/reconcile` URL of `mlbridge serve` that Cloud Scheduler calls. */
  url: string;
  serviceAccount?: string;
  /** OIDC audience; defaults to `url`. */
  audience?: string;
  /** Cloud Scheduler job name (default "mlbridge-reconcile") and region (default from target location). */
  jobName: string;
  region?: string;
  /**
   * Google Cloud project of the job (YAML `reconcile.project`); default: the BigQuery
   * target's project, else the datastore source's, else GOOGLE_CLOUD_PROJECT.
   */
  project?: string;
  paused: boolean;
  description?: string;
  attemptDeadlineSeconds: number;
  retry: { count: number; minBackoffSeconds: number; maxBackoffSeconds: number };
  source?: SourceRange;
}

/** `serve:` — settings of `mlbridge serve` (see src/spec/serve.ts). */
export interface ServeSpec {
  /** Push requests must carry a Google-signed OIDC token matching this; absent = every push is refused. */
  auth?: ServeAuthSpec;
  source?: SourceRange;
}

export interface ServeAuthSpec {
  /** Accepted token audiences (YAML `audience`: one URL or a list). */
  audiences: string[];
  /** Accepted token emails (YAML `service_accounts`). */
  serviceAccounts: string[];
  source?: SourceRange;
}

export interface Spec {
  version: 1;
  target: TargetSpec;
  source?: SourceSpec;
  mappings: MappingSpec[];
  /** Spec-wide scoring defaults (already merged with built-in defaults). */
  scoring: ScoringSpec;
  reconcile?: ReconcileSpec;
  serve?: ServeSpec;
  /** The files the spec was read from, absolute. */
  files: string[];
  /** Values `${secret:VAR}` interpolated: never printed, never saved in clear (absent: none). */
  sensitive?: string[];
}
