// One executor per change type (drizzle-kit's `convertor(type, fn)`): apply looks the
// executor up by the change's type and a type without one is an error, never a skip.
// Executors act on the change's own data (ops, replace spec, after-state), never on reasons.

import { MlbridgeError } from '../model/errors.js';
import type { SchedulerClientLike } from '../scheduler/types.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { Change, ChangeType, DatasetChange, RowsChange, SchedulerJobChange, TableChange } from './plan.js';
import type { Spec } from '../spec/types.js';
import type { EventSink } from './events.js';
import { executeRows, type StagedMapping } from './changes/rows.js';

export interface ExecutorContext {
  warehouse: Warehouse;
  scheduler?: SchedulerClientLike;
  spec: Spec;
  /** Rows staged while planning, by kind (apply merges these). */
  stages: Map<string, StagedMapping>;
  clock: () => Date;
  /** Progress of long row work (rows-progress events). */
  onEvent?: EventSink;
  /** Aborted on interrupt: long row work stops between batches (throw INTERRUPTED); schema changes run to their end. */
  signal?: AbortSignal;
}

type ChangeOf<T extends ChangeType> = Extract<Change, { type: T }>;
export type Executor<T extends ChangeType> = (change: ChangeOf<T>, ctx: ExecutorContext) => Promise<void>;

const registry = new Map<ChangeType, Executor<ChangeType>>();

/** Registers the executor for a change type (replacing any earlier one). */
export function executor<T extends ChangeType>(type: T, fn: Executor<T>): void {
  registry.set(type, fn as unknown as Executor<ChangeType>);
}

/** The executor for a change, or NO_EXECUTOR naming the type and address. */
export function executorFor(change: Change): Executor<ChangeType> {
  const fn = registry.get(change.type);
  if (!fn) {
    throw new MlbridgeError('NO_EXECUTOR', `No executor for change type "${change.type}" (${change.address}); this mlbridge cannot apply it`, {
      resource: change.address,
    });
  }
  return fn;
}

function unsupported(change: Change): never {
  throw new MlbridgeError('APPLY_FAILED', `${change.address}: action ${change.action} is not supported for ${change.type}`, {
    resource: change.address,
  });
}

executor('dataset', async (change: DatasetChange, { warehouse }) => {
  if (change.action === 'create' && change.after) return warehouse.createDataset(change.after);
  if (change.action === 'delete' && change.before) return warehouse.deleteDataset(change.before.name);
  if (change.action === 'no-op') return;
  unsupported(change);
});

executor('table', async (change: TableChange, { warehouse }) => {
  const t = change.after ?? change.before;
  if (!t) unsupported(change);
  switch (change.action) {
    case 'no-op':
      return;
    case 'create':
      return warehouse.createTable(change.after!);
    case 'update':
      return warehouse.updateTable(t.dataset, t.name, change.ops ?? [], change.observedEtag);
    case 'replace':
      return warehouse.replaceTable(change.after!, change.replace ?? { columnSources: {} }, change.observedEtag);
    case 'delete':
      return warehouse.deleteTable(t.dataset, t.name, change.observedEtag);
  }
});

executor('scheduler_job', async (change: SchedulerJobChange, { scheduler }) => {
  if (change.action === 'no-op') return;
  if (!scheduler) {
    throw new MlbridgeError('SCHEDULER_ERROR', `${change.address}: no Cloud Scheduler client was configured to apply this change`, {
      resource: change.address,
    });
  }
  const { executeSchedulerJobChange } = await import('../scheduler/execute.js');
  await executeSchedulerJobChange(change, scheduler);
});

executor('rows', async (change: RowsChange, ctx) => {
  if (change.action === 'no-op') return;
  await executeRows(change, ctx);
});
