// dataset.<name>: the one dataset the spec's tables live in. Planned from the desired state
// against what the warehouse reports (engine/dataset-diff.ts); created, never updated.

import { datasetAddress } from '../../model/address.js';
import type { ChangeModule, EngineContext } from '../context.js';
import { unsupportedAction } from '../context.js';
import { diffDataset } from '../dataset-diff.js';
import { desiredState } from '../desired.js';

/** The observed dataset, read once per context (the table module asks too). */
export function observeDataset(ctx: EngineContext, name: string) {
  return ctx.observe(`dataset ${name}`, () => ctx.warehouse.getDataset(name));
}

export const datasetChanges: ChangeModule<'dataset'> = {
  type: 'dataset',
  async plan(ctx) {
    const desired = desiredState(ctx.spec).dataset;
    const address = datasetAddress(ctx.spec.target.kind, desired.name);
    const ds = await observeDataset(ctx, desired.name);
    return { changes: [diffDataset(address, desired, ds)], fingerprints: { [address]: ds?.etag ?? 'absent' }, diagnostics: [] };
  },
  async execute(change, { warehouse }) {
    if (change.action === 'create' && change.after) return warehouse.createDataset(change.after);
    if (change.action === 'delete' && change.before) return warehouse.deleteDataset(change.before.name);
    if (change.action === 'no-op') return;
    unsupportedAction(change);
  },
};
