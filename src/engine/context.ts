// What every change module sees, planning and executing alike (one context per plan or
// apply): the spec, the adapters (warehouse, scheduler, source), the clock and the event
// sink. The planner makes it; the modules only read it, except for the stages the rows
// module opens while planning and merges while executing.

import type { Diagnostic } from '../model/diagnostic.js';
import { MlbridgeError } from '../model/errors.js';
import type { SchedulerClientLike } from '../scheduler/types.js';
import type { SnapshotSource } from '../source/snapshot-source.js';
import type { Spec } from '../spec/types.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { StagedMapping } from './changes/rows.js';
import type { EventSink } from './events.js';
import type { Change, ChangeType } from './plan.js';

export interface EngineContextOptions {
  /** --target addresses (exact or a prefix ending at a dot); empty means everything. */
  targets: string[];
  /** Stage the mapped rows too (apply) or only keys, hashes and versions (plan). */
  withRows: boolean;
  /** Threads staging an export (default: one per core, at most 8, at most one per file). */
  jobs?: number;
}

export interface EngineContext {
  spec: Spec;
  warehouse: Warehouse;
  /** Present when the Cloud Scheduler job of `reconcile:` is planned and applied. */
  scheduler?: SchedulerClientLike;
  /** The snapshot the data is compared with; absent with --skip-data or without a source. */
  source?: SnapshotSource;
  clock: () => Date;
  onEvent: EventSink;
  options: EngineContextOptions;
  /**
   * Reads the target once per context, between observe-start and observe-done events: a
   * second module asking for the same `what` (the table module for the dataset) gets the
   * first answer instead of a second call.
   */
  observe<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Rows staged while planning, by kind (execute merges these; the planner closes them). */
  stages: Map<string, StagedMapping>;
  /** Aborted on interrupt: long row work stops between batches (throw INTERRUPTED); schema changes run to their end. */
  signal?: AbortSignal;
}

/** What one module planned: its changes, the fingerprints of what it observed, its diagnostics. */
export interface PlannedChanges<C extends Change = Change> {
  changes: C[];
  /** By address: an etag or state hash ("absent" when missing); `apply PLANFILE` compares them. */
  fingerprints: Record<string, string>;
  diagnostics: Diagnostic[];
}

export type ChangeOf<T extends ChangeType> = Extract<Change, { type: T }>;

/**
 * One change type (drizzle-kit's convertor, one per type): how it is planned and how it is
 * executed. Execute acts on the change's own data (ops, replace spec, after-state), never on
 * its reasons.
 */
export interface ChangeModule<T extends ChangeType = ChangeType> {
  type: T;
  plan(ctx: EngineContext): Promise<PlannedChanges<ChangeOf<T>>>;
  execute(change: ChangeOf<T>, ctx: EngineContext): Promise<void>;
}

export function createEngineContext(init: Omit<EngineContext, 'observe' | 'stages'>): EngineContext {
  const seen = new Map<string, Promise<unknown>>();
  return {
    ...init,
    stages: new Map(),
    observe<T>(what: string, fn: () => Promise<T>): Promise<T> {
      let p = seen.get(what) as Promise<T> | undefined;
      if (!p) {
        p = observed(what, init.onEvent, fn);
        seen.set(what, p);
      }
      return p;
    },
  };
}

async function observed<T>(what: string, onEvent: EventSink, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  onEvent({ type: 'observe-start', what });
  const r = await fn();
  onEvent({ type: 'observe-done', what, ms: Date.now() - t0 });
  return r;
}

/** An action a change type has no way to carry out (a hand-edited plan). */
export function unsupportedAction(change: Change): never {
  throw new MlbridgeError('APPLY_FAILED', `${change.address}: action ${change.action} is not supported for ${change.type}`, {
    resource: change.address,
  });
}
