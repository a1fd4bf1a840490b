// The change types the engine plans and applies: ONE list, one module per type
// (drizzle-kit's convertor list, without its silent skip). Its order is the planning order
// and the order creates and updates run in (parents first); deletes run in reverse. A
// change whose type has no module here is NO_EXECUTOR, never skipped.

import { MlbridgeError } from '../../model/errors.js';
import type { ChangeModule, EngineContext } from '../context.js';
import type { Change, ChangeType } from '../plan.js';
import { datasetChanges } from './dataset.js';
import { rowsChanges } from './rows.js';
import { schedulerJobChanges } from './scheduler-job.js';
import { tableChanges } from './table.js';

/** A module of any one change type. */
export type AnyChangeModule = { [T in ChangeType]: ChangeModule<T> }[ChangeType];
type Execute = (change: Change, ctx: EngineContext) => Promise<void>;

const LIST = [datasetChanges, tableChanges, schedulerJobChanges, rowsChanges] as const;
export const CHANGE_MODULES: readonly AnyChangeModule[] = LIST;

// A change type added to the Plan's union without a module here does not compile; a type
// the list does not know (a plan file from another version) is NO_EXECUTOR at apply.
type Listed = (typeof LIST)[number]['type'];
const everyTypeListed: [Exclude<ChangeType, Listed>] extends [never] ? true : never = true;
void everyTypeListed;

/** The module of a change's type, or NO_EXECUTOR naming the type and address. */
export function moduleFor(change: Pick<Change, 'type' | 'address'>): AnyChangeModule {
  const found = CHANGE_MODULES.find((m) => m.type === change.type);
  if (!found) {
    throw new MlbridgeError('NO_EXECUTOR', `No executor for change type "${change.type}" (${change.address}); this mlbridge cannot apply it`, {
      resource: change.address,
    });
  }
  return found;
}

/** How a change is executed (its module's `execute`); NO_EXECUTOR when its type has no module. */
export function executorFor(change: Change): Execute {
  const m = moduleFor(change);
  // The module was found by the change's own type, so its execute takes this change.
  return (c, ctx) => (m.execute as Execute)(c, ctx);
}

/** Position of a change type in the list: creates and updates run in this order, deletes in reverse. */
export function typeRank(type: ChangeType): number {
  return CHANGE_MODULES.findIndex((m) => m.type === type);
}
