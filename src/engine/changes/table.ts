// <target>_table.<dataset>.<name>: the current, raw and quarantine tables of each mapping
// plus the shared profiles and rejected-events tables. Planned with BigQuery's schema rules
// (engine/schema-diff.ts); owned tables the spec no longer declares are deleted, tables
// mlbridge does not own are never touched, and deletion protection blocks what would drop one.

import { tableAddress } from '../../model/address.js';
import { errorDiag, type Diagnostic } from '../../model/diagnostic.js';
import type { DesiredTable, ObservedTable, TableSchema } from '../../model/schema.js';
import type { ChangeModule, EngineContext } from '../context.js';
import type { ReplaceSpec } from '../../warehouse/warehouse.js';
import { describeUncopyable } from '../../warehouse/replace-check.js';
import { unsupportedAction } from '../context.js';
import { tableKey } from '../dataset-diff.js';
import { PROFILES_TABLE, REJECTED_TABLE, desiredState } from '../desired.js';
import type { TableChange } from '../plan.js';
import { diffTable } from '../schema-diff.js';
import { observeDataset } from './dataset.js';

const tableOnly = (t: TableSchema): TableSchema => {
  const { dataset, name, columns, partitioning, clustering, labels, description, deletionProtection } = t;
  return {
    dataset,
    name,
    columns,
    ...(partitioning ? { partitioning } : {}),
    ...(clustering ? { clustering } : {}),
    labels,
    ...(description !== undefined ? { description } : {}),
    deletionProtection,
  };
};

function protectionBlock(address: string, o: ObservedTable, d: DesiredTable | undefined, mapping?: string): string | undefined {
  if (!o.deletionProtection) return undefined;
  if (d && !d.deletionProtection) return undefined;
  return d
    ? `${address} has deletion protection and this change replaces it; set deletion_protection: false on ${mapping ? `mapping ${mapping}` : 'it'} to allow that`
    : `${address} has deletion protection and cannot be deleted; put its mapping back with deletion_protection: false, apply, then remove it`;
}

/**
 * The rows the replacement of `address` would refuse to copy into the stricter schema (one
 * aggregate query over the old table): an error, since the replacement runs before the data
 * part of the same apply could repair them, and it would fail with the old table kept.
 */
async function uncopyableRows(ctx: EngineContext, address: string, d: TableSchema, replace: ReplaceSpec): Promise<Diagnostic[]> {
  const found = await ctx.observe(`rows of ${address} the replacement must copy`, () => ctx.warehouse.countUncopyable(d, replace));
  return found.map((u) =>
    errorDiag(
      `${address} cannot be replaced: ${describeUncopyable(u)}`,
      undefined,
      "The replacement copies the table's rows before apply writes any data, so apply would refuse it and keep the old table.",
    ),
  );
}

export const tableChanges: ChangeModule<'table'> = {
  type: 'table',
  async plan(ctx) {
    const wh = ctx.warehouse;
    const kind = ctx.spec.target.kind;
    const desired = desiredState(ctx.spec);
    const changes: TableChange[] = [];
    const fingerprints: Record<string, string> = {};
    const diagnostics: Diagnostic[] = [];
    const ds = await observeDataset(ctx, desired.dataset.name);
    const observedTables = ds ? await ctx.observe(`tables in ${desired.dataset.name}`, () => wh.listTables(desired.dataset.name)) : [];
    const byName = new Map(observedTables.map((t) => [tableKey(kind, t.name), t]));
    const claimed = new Set<ObservedTable>();

    for (const d of desired.tables) {
      const address = tableAddress(kind, d.dataset, d.name);
      const o = byName.get(tableKey(kind, d.name));
      fingerprints[address] = o?.etag ?? 'absent';
      if (!o) {
        changes.push({ type: 'table', address, action: 'create', before: null, after: tableOnly(d), reasons: [], destructive: false });
        continue;
      }
      claimed.add(o);
      if (!o.owned) {
        diagnostics.push(
          errorDiag(
            `${address} already exists and is not managed by mlbridge (no managed-by=mlbridge label); mlbridge will not change it`,
            undefined,
            'Rename the table in the spec (tables:) or remove the existing table.',
          ),
        );
        continue;
      }
      const diff = diffTable(d, o, { partitionOptionsInPlace: kind === 'bigquery' });
      const change: TableChange = {
        type: 'table',
        address,
        action: diff.action,
        before: tableOnly(o),
        after: tableOnly(d),
        reasons: diff.reasons,
        destructive: diff.destructive,
        observedEtag: o.etag,
        ...(diff.action === 'update' ? { ops: diff.ops } : {}),
        ...(diff.replace ? { replace: diff.replace } : {}),
      };
      if (diff.action === 'replace') {
        const blocked = protectionBlock(address, o, d, d.mapping);
        if (blocked) {
          change.blocked = blocked;
          change.reasons.push({ path: 'deletion_protection', rule: 'deletion-protection', message: blocked });
        } else if (o.numRows !== 0) {
          diagnostics.push(...(await uncopyableRows(ctx, address, d, change.replace ?? { columnSources: {} })));
        }
      }
      changes.push(change);
    }

    // Owned tables the spec no longer declares are deleted; unowned ones are never touched.
    for (const o of observedTables) {
      // The shared profiles and rejected-events tables are always deletion-protected and belong
      // to no mapping: a spec with no mappings left would otherwise plan a delete that can never
      // be unblocked.
      const shared = tableKey(kind, o.name) === PROFILES_TABLE || tableKey(kind, o.name) === REJECTED_TABLE;
      if (claimed.has(o) || !o.owned || shared) continue;
      const address = tableAddress(kind, o.dataset, o.name);
      fingerprints[address] = o.etag;
      const change: TableChange = {
        type: 'table',
        address,
        action: 'delete',
        before: tableOnly(o),
        after: null,
        reasons: [{ rule: 'not-in-spec', message: 'owned by mlbridge (managed-by=mlbridge) and no longer declared in the spec' }],
        destructive: true,
        observedEtag: o.etag,
      };
      const blocked = protectionBlock(address, o, undefined);
      if (blocked) {
        change.blocked = blocked;
        change.reasons.push({ rule: 'deletion-protection', message: blocked });
      }
      changes.push(change);
    }
    return { changes, fingerprints, diagnostics };
  },
  async execute(change, { warehouse }) {
    const t = change.after ?? change.before;
    if (!t) unsupportedAction(change);
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
  },
};
