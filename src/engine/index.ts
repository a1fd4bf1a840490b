// The engine's public API: plan, apply, plan files, locks. Callers (CLI, server, library
// users) import from here only. Heavy modules (DuckDB, Google clients) are never loaded
// by this module; the warehouse passed in deps owns them.

import type { Warehouse } from '../warehouse/warehouse.js';
import type { SchedulerClientLike } from '../scheduler/types.js';
import type { EventSink } from './events.js';
import type { Plan, PlanSummary } from './plan.js';
import type { SnapshotSource } from '../source/snapshot-source.js';

export interface EngineDeps {
  warehouse: Warehouse;
  /** The source snapshot the data plan compares with (an export, or the live API). */
  source?: SnapshotSource;
  /** When given, the Cloud Scheduler job of `reconcile:` is planned and applied too. */
  scheduler?: SchedulerClientLike;
}

export interface PlanOptions {
  /** --target addresses (exact or a prefix ending at a dot). */
  targets?: string[];
  onEvent?: EventSink;
  /** --skip-data: plan schemas and jobs only, do not read the source. */
  skipData?: boolean;
  /** The current time (freshness of the snapshot, `_synced_at`). Default: the system clock. */
  clock?: () => Date;
  /** Threads staging an export (default: one per core, at most 8, at most one per file). */
  jobs?: number;
}

export interface ApplyOptions {
  /** apply PLANFILE: re-observe, throw PLAN_STALE "Saved plan is stale: <what changed>". */
  savedPlan?: Plan;
  /** Else throw DESTRUCTIVE_REFUSED naming each destructive change (before asking approval). */
  allowDestructive?: boolean;
  /** undefined = auto-approve; false → nothing applied. Only asked when there are changes. */
  approve?: (plan: Plan) => Promise<boolean>;
  /** 0 (default): fail at once with LOCK_HELD naming id, pid, host, since; else wait up to this long. */
  lockTimeoutMs?: number;
  targets?: string[];
  onEvent?: EventSink;
  /** Recorded in the lock ("apply" by default). */
  operation?: string;
  skipData?: boolean;
  clock?: () => Date;
  jobs?: number;
  /**
   * Aborted (the CLI does on SIGINT/SIGTERM/SIGHUP): apply stops at the next safe point
   * (between changes), releases its lock and throws INTERRUPTED (details: done, total, signal)
   * after an `interrupted` event. Executors get it to stop long row work between batches.
   */
  signal?: AbortSignal;
}

export interface ApplyResult {
  plan: Plan;
  /** False when the plan had no changes or approval was declined. */
  applied: boolean;
  summary: PlanSummary;
}

export { createPlan, apply } from './planner.js';
export { writePlanFile, readPlanFile, redactPlan, sensitiveMarker, type PlanFileOptions } from './plan-file.js';
export { forceUnlock, acquireLock, awaitUnlocked, newLockInfo } from './lock.js';
export { desiredState, type DesiredState } from './desired.js';
export { diffTable, type TableDiff } from './schema-diff.js';
export { CHANGE_MODULES, executorFor } from './changes/index.js';
export type { EngineContext, ChangeModule, PlannedChanges } from './context.js';
export type { Plan, PlanSummary, Change, Reason } from './plan.js';
export type { EngineEvent, EventSink } from './events.js';
