// A reconcile as `mlbridge serve` (POST /reconcile, called by Cloud Scheduler) and
// `mlbridge reconcile` run it: read the source snapshot, plan the rows of the selected
// mappings, and apply them — non-interactively, never destructively (a schema change that
// drops data still needs a reviewed `mlbridge apply --allow-destructive`). The tables the
// rows need are created when missing and their non-destructive schema changes applied, as
// `--target rows.<Kind>` does, and so is serve's `_mlbridge_rejected` (no rows target brings
// it, yet apply creates it and serve writes to it): after a reconcile on an empty warehouse,
// plan shows no table to add. The summary lists every such resource change.

import { rowsAddress, tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import type { SnapshotSource } from '../source/snapshot-source.js';
import type { Spec } from '../spec/types.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { REJECTED_TABLE } from './desired.js';
import type { EventSink } from './events.js';
import type { Action, RowCounts, RowsChange } from './plan.js';
import { apply } from './planner.js';

/** A dataset or table the reconcile created or changed, as apply's summary counts them. */
export interface ReconcileResourceChange {
  address: string;
  action: Exclude<Action, 'no-op'>;
}

export interface ReconcileSummary {
  id: string;
  kinds: Record<string, RowCounts>;
  /** Every schema change applied (datasets and tables created or altered), in plan order; [] when none. */
  resources: ReconcileResourceChange[];
  durationMs: number;
  /** Rows were repaired (something was inserted, updated, deleted or quarantined) or a resource changed. */
  changed: boolean;
  /** The plan's warnings (e.g. rows the version guard kept although the source differs); absent when none. */
  warnings?: string[];
}

export interface Reconciler {
  reconcile(options: { kinds?: string[]; id: string }): Promise<ReconcileSummary>;
}

export interface ReconcilerOptions {
  /** Opens the spec's source for one reconcile (an export is re-located each time: the newest wins). */
  openSource?: (spec: Spec) => Promise<SnapshotSource>;
  env?: NodeJS.ProcessEnv;
  clock?: () => Date;
  onEvent?: EventSink;
  /** Wait this long for another apply's lock (default: reconcileLockWaitMs). */
  lockTimeoutMs?: number;
}

/**
 * How long a reconcile waits for another run's lock before failing busy (serve answers 503
 * with Retry-After): a third of the Scheduler job's attempt deadline, so the reconcile keeps
 * the rest (60 s of the default 180 s), and 60 s without a `reconcile:` block. Waiting past the
 * deadline would only have Cloud Scheduler count the attempt failed while serve still waits.
 */
export function reconcileLockWaitMs(spec: Pick<Spec, 'reconcile'>): number {
  const deadline = spec.reconcile?.attemptDeadlineSeconds;
  return deadline !== undefined ? Math.floor((deadline * 1000) / 3) : 60_000;
}

export function createReconciler(spec: Spec, warehouse: Warehouse, options: ReconcilerOptions = {}): Reconciler {
  const openSource =
    options.openSource ??
    (async (s: Spec) => {
      const { openSnapshotSource } = await import('../source/snapshot-source.js');
      return openSnapshotSource(s.source!, { env: options.env ?? process.env });
    });
  return {
    async reconcile({ kinds, id }) {
      const started = Date.now();
      if (!spec.source) throw new MlbridgeError('INVALID_ARGUMENT', 'this spec has no source: block to reconcile from');
      const known = new Set(spec.mappings.map((m) => m.kind));
      const unknown = (kinds ?? []).filter((k) => !known.has(k));
      if (unknown.length) {
        throw new MlbridgeError('INVALID_ARGUMENT', `no mapping for kind ${unknown.join(', ')} (mapped: ${[...known].join(', ')})`, { details: { kinds: unknown } });
      }
      const selected = kinds && kinds.length ? kinds : [...known];
      const source = await openSource(spec);
      const result = await apply(
        spec,
        { warehouse, source },
        {
          targets: [...selected.map(rowsAddress), ...(selected.length > 0 ? [tableAddress(spec.target.kind, spec.target.dataset, REJECTED_TABLE)] : [])],
          allowDestructive: false,
          lockTimeoutMs: options.lockTimeoutMs ?? reconcileLockWaitMs(spec),
          operation: `reconcile ${id}`,
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        },
      );
      const out: Record<string, RowCounts> = {};
      for (const c of result.plan.changes) if (c.type === 'rows') out[(c as RowsChange).kind] = (c as RowsChange).after!;
      const resources = result.applied
        ? result.plan.changes.flatMap((c) => (c.type !== 'rows' && c.action !== 'no-op' ? [{ address: c.address, action: c.action }] : []))
        : [];
      const rowsChanged = Object.values(out).some((n) => n.insert + n.update + n.delete + n.quarantine > 0);
      const warnings = result.plan.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.summary);
      return {
        id,
        kinds: out,
        resources,
        durationMs: Date.now() - started,
        changed: rowsChanged || resources.length > 0,
        ...(warnings.length > 0 ? { warnings } : {}),
      };
    },
  };
}

/**
 * What a reconcile did, in a few words: "nothing to repair" only when nothing at all changed,
 * else the rows and the resources it changed, counted as apply counts them
 * ("rows repaired; Resources: 0 added, 1 changed, 0 destroyed").
 */
export function reconcileOutcome(s: Pick<ReconcileSummary, 'kinds' | 'resources'>): string {
  const rows = Object.values(s.kinds).some((n) => n.insert + n.update + n.delete + n.quarantine > 0);
  if (!rows && s.resources.length === 0) return 'nothing to repair';
  const count = (actions: Action[]) => s.resources.filter((r) => actions.includes(r.action)).length;
  const resources = `Resources: ${count(['create', 'replace'])} added, ${count(['update'])} changed, ${count(['delete', 'replace'])} destroyed`;
  if (s.resources.length === 0) return 'rows repaired';
  return rows ? `rows repaired; ${resources}` : resources;
}
