// Built-in defaults. The spec's `scoring` block overlays DEFAULT_SCORING, and each
// mapping's `scoring` overlays that (see specs/README.md).

import type { ScoringSpec } from './types.js';

export const DEFAULT_SCORING: ScoringSpec = {
  ingest: 0.85,
  quarantine: 0.5,
  freshness: { halfLifeSeconds: 15 * 60, maxLagSeconds: 60 * 60 },
  anomaly: { zThreshold: 6, maxCardinality: 50, nullRateShift: 0.3, minSamples: 30 },
  weights: { freshness: 0.4, completeness: 0.4, anomaly: 0.2 },
};

export const DEFAULT_TIME_ZONE = 'Etc/UTC';
export const DEFAULT_JOB_NAME = 'mlbridge-reconcile';
export const DEFAULT_BIGQUERY_LOCATION = 'US';
/** Cloud Scheduler's own defaults for HTTP targets. */
export const DEFAULT_ATTEMPT_DEADLINE_SECONDS = 180;
export const DEFAULT_RETRY = { count: 0, minBackoffSeconds: 5, maxBackoffSeconds: 3600 };

/** Columns mlbridge adds to every current table; user fields may not use these names. */
export const SYSTEM_COLUMNS: Readonly<Record<string, 'STRING' | 'INT64' | 'TIMESTAMP' | 'FLOAT64'>> = {
  _key: 'STRING',
  _version: 'INT64',
  _hash: 'STRING',
  _synced_at: 'TIMESTAMP',
  _score: 'FLOAT64',
};

/** The shared table the scoring code keeps profiles in. */
export const PROFILES_TABLE = '_mlbridge_profiles';
/** The DuckDB schema of the source memo (record/source-memo.ts): no dataset may take its name. */
export const MEMO_SCHEMA = '_mlbridge_memo';
