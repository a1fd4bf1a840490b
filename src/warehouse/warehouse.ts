// The Warehouse interface: what the engine needs from a target. Two implementations:
// duckdb.ts (embedded default) and bigquery.ts (production). Adapters execute; they never
// decide what should change (that is engine/).

import type { TargetKind } from '../model/address.js';
import type {
  ColumnSchema,
  ColumnType,
  DatasetSchema,
  ObservedDataset,
  ObservedTable,
  TableSchema,
} from '../model/schema.js';
import type { ProfileColumn, ProfileState, RowDiffOptions, RowDiffResult, RowMergeOptions, RowMergeResult, StageTables, StagedRecord } from '../model/staged.js';
import type { PrintSet } from '../model/print-set.js';
import type { StagedColumns } from '../model/staged-columns.js';
import type { StagedFile } from '../model/staged-file.js';
import type { UncopyableRows } from './replace-check.js';

/** One in-place change to an existing table. `path` addresses nested RECORD fields. */
export type TableOp =
  | { op: 'add_column'; /** Parent RECORD path; empty for a top-level column. */ parent: string[]; column: ColumnSchema }
  | { op: 'relax_column'; path: string[] }
  | { op: 'rename_column'; from: string; to: string }
  | { op: 'drop_column'; name: string }
  | { op: 'widen_column'; path: string[]; from: ColumnType; to: ColumnType }
  | { op: 'set_column_description'; path: string[]; description: string | undefined }
  | { op: 'set_description'; description: string | undefined }
  | { op: 'set_labels'; labels: Record<string, string> }
  | { op: 'set_clustering'; clustering: string[] | undefined }
  /** Partition expiration (undefined: none) and require-partition-filter; the partitioning itself stays. */
  | { op: 'set_partition_options'; expirationDays: number | undefined; requireFilter: boolean }
  | { op: 'set_deletion_protection'; enabled: boolean };

/**
 * How to carry rows into a replacement table: for each desired column, the old column
 * it is cast from (absent: the new column starts NULL). Replacement keeps the old table
 * until the copy has succeeded.
 */
export interface ReplaceSpec {
  columnSources: Record<string, string | undefined>;
}

/** Row values exchanged with a warehouse: INT64 as decimal strings, TIMESTAMP as RFC 3339
 * strings, BYTES as base64, JSON as parsed JS values, RECORD as objects, REPEATED as arrays. */
export type RowValue = string | number | boolean | null | RowValue[] | { [k: string]: RowValue };
export type Row = Record<string, RowValue>;

export interface LockInfo {
  id: string;
  pid: number;
  host: string;
  /** RFC 3339. */
  since: string;
  operation: string;
  who: string;
}

/** An atomic, cross-process lock stored in or beside the target. */
export interface LockBackend {
  /** Takes the lock, or returns the current holder without taking it. */
  tryAcquire(info: LockInfo): Promise<{ acquired: true } | { acquired: false; holder: LockInfo }>;
  /** Releases the lock if `id` holds it. */
  release(id: string): Promise<void>;
  current(): Promise<LockInfo | null>;
}

/**
 * Staged rows of one mapping, held in the target itself (DuckDB: a temporary table;
 * BigQuery: an expiring scratch table), so the diff and the merge run in the warehouse
 * engine and memory stays flat however large the source. See row-rules.ts.
 */
export interface RowStage {
  /** Appends staged records (call as often as needed while streaming the source). */
  append(records: StagedRecord[]): Promise<void>;
  /** Appends a batch in columns (staging workers send these): the same rows as append(). */
  appendColumns(columns: StagedColumns): Promise<void>;
  /**
   * Where the target loads files itself: appends the rows of a staged file (NDJSON, see
   * model/staged-file.ts). Staging workers then write files instead of sending batches.
   */
  appendFile?(file: StagedFile): Promise<void>;
  /**
   * Where the target can list them cheaply: the content fingerprints of the current table's
   * rows, sorted (model/content-fingerprint.ts), or null when it does not exist. Staging for
   * an apply leaves the content out of records current already holds.
   */
  currentFingerprints?(): Promise<BigInt64Array | null>;
  /**
   * Where the target keeps a source memo (record/source-memo.ts): takes the prints of its
   * entries under `salt`, or null when there are none.
   */
  memoPrints?(salt: string): Promise<PrintSet | null>;
  /**
   * Stages, at `version`, the rows of the entries memoPrints took except the `missed` prints
   * (what staging met there and skipped); returns how many.
   */
  appendMemoHits?(missed: BigInt64Array, version: string): Promise<number>;
  /** The profile learner's state over the whole current table (after a merge), in the target. */
  profileState?(columns: ProfileColumn[], maxCardinality: number): Promise<ProfileState>;
  /** Records appended so far. */
  readonly staged: number;
  /** Counts and sample keys per category; changes nothing. */
  diff(options: RowDiffOptions): Promise<RowDiffResult>;
  /**
   * Writes the changes: current (version-guarded upsert and delete), raw (deduplicated on
   * event_id), quarantine — atomically where the target allows (one transaction in DuckDB).
   * Idempotent: merging the same stage again changes nothing.
   */
  merge(options: RowMergeOptions): Promise<RowMergeResult>;
  /** Drops the staged rows. */
  close(): Promise<void>;
}

export interface Warehouse {
  readonly kind: TargetKind;
  /** For messages and plan fingerprints, without secrets, e.g. "duckdb:/abs/wh.duckdb". */
  readonly location: string;

  getDataset(name: string): Promise<ObservedDataset | null>;
  createDataset(dataset: DatasetSchema): Promise<void>;
  /** Only empty, owned datasets are deleted; the engine checks ownership first. */
  deleteDataset(name: string): Promise<void>;

  listTables(dataset: string): Promise<ObservedTable[]>;
  getTable(dataset: string, name: string): Promise<ObservedTable | null>;
  createTable(table: TableSchema): Promise<void>;
  /** Applies in-place ops; fails with a TARGET_ERROR naming the table when `expectedEtag` no longer matches. */
  updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void>;
  /**
   * Fails with a TARGET_ERROR (details.uncopyable) before changing anything when rows of the
   * table could not be copied into `desired` (see countUncopyable).
   */
  replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void>;
  /**
   * The rows of the existing table `desired` names that replacing it would not copy: NULLs
   * for a REQUIRED column, values a changed type cannot hold. One aggregate query; [] when
   * the table is absent or every row copies.
   */
  countUncopyable(desired: TableSchema, replace: ReplaceSpec): Promise<UncopyableRows[]>;
  deleteTable(dataset: string, name: string, expectedEtag?: string): Promise<void>;

  /** Streams every row of a table. */
  readRows(dataset: string, table: string): AsyncIterable<Row>;
  /** Inserts or replaces rows by key columns; idempotent. */
  mergeRows(dataset: string, table: string, keyColumns: string[], rows: Row[]): Promise<{ inserted: number; updated: number }>;

  /** A new, empty stage for one mapping's tables (they need not exist yet for a diff). */
  openStage(tables: StageTables): Promise<RowStage>;
  /**
   * The rows of these keys (PATCH events are resolved against current's); with `columns`,
   * only those of them the table has, `_key` always: serve asks every batch for current's
   * versions, which on BigQuery are billed by the bytes of the columns read.
   */
  readRowsByKey(dataset: string, table: string, keys: string[], columns?: readonly string[]): Promise<Row[]>;

  lock(): LockBackend;
  close(): Promise<void>;
  /**
   * serve, between requests: lets go of what the target holds open for this process alone
   * (DuckDB: the file, which no other process can open meanwhile), after the work already
   * queued and only if `stillIdle()` still holds then; the next call reopens it. Absent when
   * the target holds nothing (BigQuery).
   */
  releaseIdle?(stillIdle: () => boolean): Promise<void>;
}
