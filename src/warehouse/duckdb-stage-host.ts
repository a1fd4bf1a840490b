// What a DuckDB row stage (duckdb-stage.ts) and its merges (duckdb-events-merge.ts,
// duckdb-snapshot-merge.ts) need from the warehouse that opens it (duckdb.ts), and the
// relations they read the mapping's tables through. Its own module so that the stage and its
// merges import it, never each other both ways. Also here: what events merges remember
// between batches (StageCaches), which the warehouse holds and clears.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { ObservedTable } from '../model/schema.js';
import type { DuckSql } from './duckdb-catalog.js';
import type { RawLogSummary } from './seen-filter.js';

/** What the stage needs from DuckDbWarehouse: its serialised connection and catalog. */
export interface DuckStageHost {
  sql: DuckSql;
  /** Runs fn on the stage's connection, serialised with the warehouse's other work. */
  use<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T>;
  /**
   * Runs fn in a transaction on the same connection (rolled back when it throws), after
   * `prepare`, which runs outside it but with nothing else between them.
   */
  tx<T>(resource: string, fn: (c: DuckDBConnection) => Promise<T>, prepare?: (c: DuckDBConnection) => Promise<void>): Promise<T>;
  /** These tables of the dataset (null where missing), in one catalog round. */
  observe(c: DuckDBConnection, dataset: string, tables: string[]): Promise<(ObservedTable | null)[]>;
  /** What the events merge remembers between batches; the warehouse clears it on DDL and close. */
  caches: StageCaches;
  /** The target was opened read-only (plan): no merge can follow a diff. */
  readOnly: boolean;
  /** The memory a snapshot's key joins and the memo's sort are sized for (key-partitions.ts): the limit the target started with. */
  workMemoryBytes(): number;
  /** Rows a pass of a snapshot's key joins may hold, when the user set it. */
  rowsPerPass?: number;
  /**
   * Takes back a closed stage's (emptied) tables for the next openStage, so serve's batches
   * reuse one stage instead of creating and dropping tables each time; false: drop them.
   */
  release(stage: PooledStage): boolean;
  /**
   * DuckDB's worker threads for what comes next: 'events' (serve's small batches: one thread,
   * which spends ~20% less CPU on them than a pool) or 'bulk' (diffs and snapshot merges: the
   * default). A SET runs only when the kind of work changes.
   */
  threadsFor(c: DuckDBConnection, work: 'events' | 'bulk'): Promise<void>;
}

/** The mapping's tables as a stage's statements read them (an empty relation where one is missing). */
export interface StageRelations {
  current: string;
  raw: string;
  quarantine: string;
  currentTable: ObservedTable | null;
}

/** A stage's temp tables kept for reuse: the stage table and, once an events merge ran, its `_ev` table. */
export interface PooledStage {
  name: string;
  events: boolean;
}

/** What events merges remember between batches. */
export class StageCaches {
  /** [current, raw, quarantine] as observed, per stage tables. */
  readonly observed = new Map<string, ObservedTable[]>();
  /** One table as observed, by dataset and name (readRowsByKey: serve reads current every batch). */
  readonly tables = new Map<string, ObservedTable>();
  /** Per qualified raw table. */
  readonly rawLogs = new Map<string, RawLogSummary>();
  /** Counts summaries read from raw (for tests and logs). */
  summaryReads = 0;

  clear(): void {
    this.observed.clear();
    this.tables.clear();
    this.rawLogs.clear();
  }
}
