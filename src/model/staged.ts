// The row model every write path stages in the warehouse (see record/stage-record.ts for
// how a record becomes one, warehouse/row-rules.ts for how staged rows are compared with
// the current table). Types only.

export interface StagedRecord {
  /** `_key`: canonical entity key, namespace and ancestors included. */
  key: string;
  /** `_version` as a decimal INT64 string. */
  version: string;
  /** `_hash` of the mapped columns ("" for a DELETE; "q:…" for content that could not be coerced). */
  hash: string;
  operation: 'UPSERT' | 'DELETE';
  /**
   * Deterministic: the same change always has the same id (record/event-id.ts). '' for an
   * accepted record staged only to be planned (never merged).
   */
  eventId: string;
  /** RFC 3339 with µs, or null (also for an accepted record staged only to be planned). */
  eventTime: string | null;
  score: number;
  flags: string[];
  /** JSON of the mapped columns (null for a DELETE, and when only planning). */
  row: string | null;
  /**
   * JSON of the record's own data, kept for quarantined records; for an accepted event of
   * serve, what raw's `data` keeps instead of `row` (the row with its version, and the event's
   * own row when it is staged under newer PATCHes: engine/patch-history.ts).
   */
  data: string | null;
  /** Why the record goes to quarantine; null when it is accepted. */
  reason: string | null;
  /**
   * The print of the export record it came from (signed decimal INT64), when an apply
   * stages records for the source memo (record/source-memo.ts).
   */
  sourcePrint?: string;
}

/**
 * snapshot: the staged rows are the whole source (an export or a full live read): keys
 *   missing from it are orphans, deleted when not newer than the snapshot; a row is
 *   rewritten only when its content changed.
 * events: the staged rows are individual changes (serve): deletes are explicit, every
 *   distinct event is logged in raw, current keeps the highest version per key.
 */
export type StageMode = 'snapshot' | 'events';

export type RowCategory = 'insert' | 'update' | 'delete' | 'quarantine' | 'unchanged';

export interface RowCountsByCategory {
  insert: number;
  update: number;
  delete: number;
  quarantine: number;
  unchanged: number;
}

/**
 * Snapshot mode: staged rows whose content differs from current's but which the version
 * guard keeps, current's `_version` being higher (rule newer-in-target). Counted as unchanged.
 */
export interface KeptRows {
  count: number;
  /** Up to `samples` keys, smallest first. */
  samples: string[];
  /** The smallest key's versions: current's and the source's (decimal). */
  first?: { key: string; targetVersion: string; sourceVersion: string };
  /** The highest source version and the lowest current version among the kept rows (decimal). */
  sourceMax?: string;
  targetMin?: string;
}

export interface RowDiffResult {
  counts: RowCountsByCategory;
  /** Up to `samples` keys per category, smallest first. */
  samples: Record<RowCategory, string[]>;
  /** Rows the version guard keeps although the source differs (snapshot mode; absent when none). */
  kept?: KeptRows;
  /**
   * Inserts and updates staged without the content a merge writes (a plan stages none; an
   * apply none of what it took from the source memo), where the target counts them.
   */
  incomplete?: number;
}

export interface RowDiffOptions {
  mode: StageMode;
  /** snapshot mode: current rows at or below this version whose key was not staged are orphans. */
  snapshotVersion?: string;
  samples?: number;
}

export interface RowMergeOptions extends RowDiffOptions {
  kind: string;
  /** The raw table's `origin`. */
  origin: 'pubsub' | 'eventarc' | 'export' | 'datastore';
  /** RFC 3339: `_synced_at` and `ingest_time` of what this merge writes. */
  ingestTime: string;
  /** snapshot mode: event_time of the DELETE raw rows of orphans (the snapshot's time). */
  snapshotTime?: string;
  /** snapshot mode: keep the source memo in step, under this mapping's salt (record/source-memo.ts). */
  memoSalt?: string;
}

export interface RowMergeResult {
  inserted: number;
  updated: number;
  deleted: number;
  quarantined: number;
  /** Raw rows appended (changes not logged before). */
  logged: number;
  /**
   * events mode: of the events logged, those that changed nothing in current (a higher
   * version is there or later in the same batch, the key was deleted at a higher version,
   * or a DELETE found no row). 0 in snapshot mode.
   */
  superseded: number;
}

/** The tables of one mapping a stage compares with and merges into. */
export interface StageTables {
  kind: string;
  dataset: string;
  current: string;
  raw: string;
  quarantine: string;
}

/** A column of a mapping's current table, as a learned profile sees it (record/profile.ts). */
export interface ProfileColumn {
  name: string;
  repeated: boolean;
  /** Its values count as numbers (median and MAD). */
  numeric: boolean;
  /** Its distinct values are kept while few (not repeated, STRING or BOOL). */
  categorical: boolean;
}

/** A profile learner's state (record/profile.ts LearnerState), as a target computes it over a table. */
export interface ProfileState {
  rows: number;
  fields: Record<string, { count: number; nulls: number; numCount: number; sample: number[]; distinct?: string[] }>;
}
