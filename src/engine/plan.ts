// The plan is plain data (Terraform's internal/plans): the engine builds it, renderers
// (cli/views) only read it, apply executes it. It is what `plan --out` saves.

import type { Diagnostic } from '../model/diagnostic.js';
import type { TargetKind } from '../model/address.js';
import type { DatasetSchema, TableSchema } from '../model/schema.js';
import type { ReplaceSpec, TableOp } from '../warehouse/warehouse.js';
import type { SchedulerJobChange } from '../scheduler/types.js';
import type { BaseChange } from '../model/change.js';
import type { SourceIdentity } from '../source/snapshot-source.js';

export type { Action, Reason } from '../model/change.js';
export type { SchedulerJobChange } from '../scheduler/types.js';

export interface DatasetChange extends BaseChange<'dataset', DatasetSchema> {}

export interface TableChange extends BaseChange<'table', TableSchema> {
  /** For action 'update': the in-place operations, in execution order. */
  ops?: TableOp[];
  /** For action 'replace': how rows are carried over. */
  replace?: ReplaceSpec;
  /** Table etag seen at plan time; apply refuses to act on a different one. */
  observedEtag?: string;
}

export interface RowCounts {
  insert: number;
  update: number;
  delete: number;
  quarantine: number;
  unchanged: number;
}

/**
 * The data of one mapping: how its current table differs from the source snapshot. Apply
 * merges the rows it staged itself (counts are what the plan found; the merge re-applies
 * the same rules under the version guard). Not destructive: deleting the row of a deleted
 * entity is what keeping in step means.
 */
export interface RowsChange extends BaseChange<'rows', RowCounts> {
  kind: string;
  /** A few sample keys per category, never the rows themselves. */
  sampleKeys: { insert: string[]; update: string[]; delete: string[]; quarantine: string[] };
  /** The snapshot the counts come from; `apply PLANFILE` refuses another export. */
  source: SourceIdentity;
  /** Current rows at or below this version whose entity the snapshot lacks are deleted. */
  snapshotVersion: string;
}

export interface RowsSummary {
  insert: number;
  update: number;
  delete: number;
  quarantine: number;
}

export type Change = DatasetChange | TableChange | SchedulerJobChange | RowsChange;
export type ChangeType = Change['type'];

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  /** Row counts over every rows.<Kind> change; absent when the plan looked at no data. */
  rows?: RowsSummary;
}

export interface Plan {
  formatVersion: '1';
  /** RFC 3339. */
  createdAt: string;
  mlbridgeVersion: string;
  target: { kind: TargetKind; location: string };
  /** Absolute spec files and a hash of their content; apply of a saved plan checks it. */
  spec: { files: string[]; hash: string };
  /** Every change including no-ops (renderers hide no-ops). */
  changes: Change[];
  summary: PlanSummary;
  diagnostics: Diagnostic[];
  /**
   * What was observed, per address: an etag or state hash ("absent" when missing).
   * `apply PLANFILE` re-observes and refuses the plan when any differ.
   */
  fingerprints: Record<string, string>;
  /** --target filters the plan was made with. */
  targets: string[];
}

/** Resources to add, change and destroy (Terraform's line); rows are counted in `rows`. */
export function summarize(changes: readonly Change[]): PlanSummary {
  const s: PlanSummary = { add: 0, change: 0, destroy: 0 };
  const rows = changes.filter((c): c is RowsChange => c.type === 'rows');
  if (rows.length > 0) {
    s.rows = { insert: 0, update: 0, delete: 0, quarantine: 0 };
    for (const r of rows) {
      if (!r.after) continue;
      s.rows.insert += r.after.insert;
      s.rows.update += r.after.update;
      s.rows.delete += r.after.delete;
      s.rows.quarantine += r.after.quarantine;
    }
  }
  for (const c of changes) {
    if (c.type === 'rows') continue;
    if (c.action === 'create') s.add++;
    else if (c.action === 'update') s.change++;
    else if (c.action === 'delete') s.destroy++;
    else if (c.action === 'replace') {
      s.add++;
      s.destroy++;
    }
  }
  return s;
}

export function hasChanges(plan: Plan): boolean {
  return plan.changes.some((c) => c.action !== 'no-op');
}
