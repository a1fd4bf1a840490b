// Desired vs observed table, by BigQuery's schema-update rules
// (shared/reference/bigquery-schema-rules.md): columns compared by name, case-insensitively
// (order is never a change); aliases already folded to canonical types; renames only when
// declared. The result is either in-place ops or a replacement with the rule that forces it.

import type { ReplaceSpec, TableOp } from '../warehouse/warehouse.js';
import {
  canonicalType,
  findColumn,
  type ColumnSchema,
  type ColumnType,
  type DesiredTable,
  type ObservedTable,
  type Partitioning,
} from '../model/schema.js';
import type { Reason } from './plan.js';

export interface TableDiff {
  action: 'no-op' | 'update' | 'replace';
  /** In-place ops, in execution order (only for 'update'). */
  ops: TableOp[];
  reasons: Reason[];
  destructive: boolean;
  /** For 'replace': how rows are carried over. */
  replace?: ReplaceSpec;
}

/** In-place type changes BigQuery allows (ALTER COLUMN SET DATA TYPE). */
const WIDENINGS: Partial<Record<ColumnType, ColumnType[]>> = {
  INT64: ['NUMERIC', 'BIGNUMERIC', 'FLOAT64'],
  NUMERIC: ['BIGNUMERIC', 'FLOAT64'],
};

export interface DiffOptions {
  /**
   * Partition expiration and require-partition-filter change in place (BigQuery patches
   * both). Off for targets whose adapter cannot apply them in place: those replace.
   */
  partitionOptionsInPlace?: boolean;
}

export function isWidening(from: ColumnType, to: ColumnType): boolean {
  return WIDENINGS[from]?.includes(to) ?? false;
}

const typeOf = (c: ColumnSchema): ColumnType => canonicalType(c.type) ?? c.type;
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const colPath = (path: string[]) => `columns.${path.join('.')}`;

interface Acc {
  renames: TableOp[];
  widen: TableOp[];
  relax: TableOp[];
  add: TableOp[];
  descriptions: TableOp[];
  drops: TableOp[];
  reasons: Reason[];
  replaceReasons: Reason[];
}

function forceReplace(acc: Acc, path: string, rule: string, message: string): void {
  acc.replaceReasons.push({ path, rule, message, forcesReplacement: true });
}

/** `inArray`: the REPEATED column this one is in (or is), if any. */
function compareColumn(acc: Acc, o: ColumnSchema, d: ColumnSchema, path: string[], inArray?: string): void {
  const p = colPath(path);
  const ot = typeOf(o);
  const dt = typeOf(d);
  const array = inArray ?? (o.mode === 'REPEATED' ? path.join('.') : undefined);
  if (ot !== dt) {
    if (isWidening(ot, dt) && array !== undefined) {
      // ALTER COLUMN SET DATA TYPE cannot change an ARRAY's type, and tables.patch no type at all.
      forceReplace(acc, `${p}.type`, 'widen-in-repeated', `${ot} → ${dt} inside the REPEATED column ${array}: BigQuery cannot change a type inside an ARRAY in place`);
    } else if (isWidening(ot, dt)) {
      acc.widen.push({ op: 'widen_column', path, from: ot, to: dt });
      acc.reasons.push({ path: `${p}.type`, rule: 'widen-type', message: `${ot} → ${dt} is a widening BigQuery allows in place` });
    } else {
      forceReplace(acc, `${p}.type`, 'type-change-not-widening', `${ot} → ${dt} is not a widening BigQuery allows in place`);
    }
  }
  if (o.mode !== d.mode) {
    if (o.mode === 'REPEATED' || d.mode === 'REPEATED') {
      forceReplace(acc, `${p}.mode`, 'repeated-mode-change', `${o.mode} → ${d.mode}: a column cannot change to or from REPEATED in place`);
    } else if (o.mode === 'REQUIRED' && d.mode === 'NULLABLE') {
      acc.relax.push({ op: 'relax_column', path });
      acc.reasons.push({ path: `${p}.mode`, rule: 'relax-required', message: 'REQUIRED → NULLABLE is relaxed in place' });
    } else {
      forceReplace(acc, `${p}.mode`, 'nullable-to-required', 'NULLABLE → REQUIRED cannot be applied in place (existing rows may hold NULL)');
    }
  }
  if ((o.description ?? '') !== (d.description ?? '')) {
    acc.descriptions.push({ op: 'set_column_description', path, description: d.description });
    acc.reasons.push({ path: `${p}.description`, rule: 'column-description', message: 'description changes in place' });
  }
  if (ot === 'RECORD' && dt === 'RECORD') {
    const of = o.fields ?? [];
    const df = d.fields ?? [];
    for (const sub of df) {
      const os = findColumn(of, sub.name);
      if (os) compareColumn(acc, os, sub, [...path, sub.name], array);
      else addColumn(acc, path, sub);
    }
    for (const os of of) {
      if (!findColumn(df, os.name)) {
        forceReplace(acc, colPath([...path, os.name]), 'drop-nested-field', `dropping the nested field ${[...path, os.name].join('.')} needs a new table`);
      }
    }
  }
}

function addColumn(acc: Acc, parent: string[], c: ColumnSchema): void {
  const path = [...parent, c.name];
  if (c.mode === 'REQUIRED') {
    forceReplace(acc, colPath(path), 'add-required-column', `adding the REQUIRED column ${path.join('.')} needs a new table (BigQuery rejects it in place)`);
    return;
  }
  acc.add.push({ op: 'add_column', parent, column: c });
  acc.reasons.push({ path: colPath(path), rule: 'add-column', message: `adds the ${c.mode} column ${path.join('.')} (${typeOf(c)})` });
}

/** Same partitioning type and column (what a table cannot change in place). */
function samePartitionLayout(a: Partitioning | undefined, b: Partitioning | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.type === b.type && (a.field ?? '').toLowerCase() === (b.field ?? '').toLowerCase();
}

/** Same expiration and require-filter setting (what BigQuery patches in place). */
function samePartitionOptions(a: Partitioning | undefined, b: Partitioning | undefined): boolean {
  return (a?.expirationDays ?? null) === (b?.expirationDays ?? null) && Boolean(a?.requireFilter) === Boolean(b?.requireFilter);
}

const describeExpiration = (p: Partitioning | undefined) => (p?.expirationDays !== undefined ? `${p.expirationDays}d` : 'none');

export function describePartitioning(p: Partitioning | undefined): string {
  if (!p) return 'none';
  return `${p.type}(${p.field ?? '_PARTITIONTIME'})${p.expirationDays !== undefined ? ` expiring after ${p.expirationDays}d` : ''}${p.requireFilter ? ' requiring a filter' : ''}`;
}

const normClustering = (c: string[] | undefined) => (c ?? []).map((x) => x.toLowerCase()).join(',');

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export function diffTable(desired: DesiredTable, observed: ObservedTable, options: DiffOptions = {}): TableDiff {
  const acc: Acc = { renames: [], widen: [], relax: [], add: [], descriptions: [], drops: [], reasons: [], replaceReasons: [] };
  const matched = new Set<ColumnSchema>();
  const columnSources: Record<string, string | undefined> = {};
  const partField = observed.partitioning?.field;
  const observedClustering = observed.clustering ?? [];
  const isPart = (name: string) => partField !== undefined && same(partField, name);
  const isCluster = (name: string) => observedClustering.some((c) => same(c, name));

  for (const d of desired.columns) {
    let o = findColumn(observed.columns, d.name);
    let renamedFrom: string | undefined;
    if (!o) {
      const old = Object.entries(desired.renames).find(([to]) => same(to, d.name))?.[1];
      const oldCol = old !== undefined ? findColumn(observed.columns, old) : undefined;
      if (oldCol && !findColumn(desired.columns, oldCol.name)) {
        o = oldCol;
        renamedFrom = oldCol.name;
      }
    }
    if (!o) {
      columnSources[d.name] = undefined;
      addColumn(acc, [], d);
      continue;
    }
    matched.add(o);
    columnSources[d.name] = o.name;
    if (renamedFrom !== undefined) {
      if (isPart(renamedFrom) || isCluster(renamedFrom)) {
        const what = isPart(renamedFrom) ? 'partitioning' : 'clustering';
        forceReplace(acc, colPath([d.name]), `rename-${what}-column`, `renaming the ${what} column ${renamedFrom} → ${d.name} needs a new table`);
      } else {
        acc.renames.push({ op: 'rename_column', from: renamedFrom, to: d.name });
        acc.reasons.push({ path: colPath([d.name]), rule: 'declared-rename', message: `renames ${renamedFrom} → ${d.name} (declared with renamed_from)` });
      }
    }
    compareColumn(acc, o, d, [d.name]);
  }

  for (const o of observed.columns) {
    if (matched.has(o)) continue;
    if (isPart(o.name) || isCluster(o.name)) {
      const what = isPart(o.name) ? 'partitioning' : 'clustering';
      forceReplace(acc, colPath([o.name]), `drop-${what}-column`, `dropping the ${what} column ${o.name} needs a new table`);
    } else {
      acc.drops.push({ op: 'drop_column', name: o.name });
      acc.reasons.push({ path: colPath([o.name]), rule: 'drop-column', message: `drops the column ${o.name} and its data` });
    }
  }

  const layoutSame = samePartitionLayout(observed.partitioning, desired.partitioning);
  const optionsSame = samePartitionOptions(observed.partitioning, desired.partitioning);
  if (!layoutSame || (!optionsSame && !options.partitionOptionsInPlace)) {
    forceReplace(
      acc,
      'partitioning',
      'partitioning-change',
      `partitioning ${describePartitioning(observed.partitioning)} → ${describePartitioning(desired.partitioning)} cannot change in place`,
    );
  }

  const tail: TableOp[] = [];
  if (layoutSame && !optionsSame && options.partitionOptionsInPlace && desired.partitioning) {
    const o = observed.partitioning;
    const d = desired.partitioning;
    tail.push({ op: 'set_partition_options', expirationDays: d.expirationDays, requireFilter: Boolean(d.requireFilter) });
    const parts = [
      ...((o?.expirationDays ?? null) !== (d.expirationDays ?? null) ? [`partition expiration ${describeExpiration(o)} → ${describeExpiration(d)}`] : []),
      ...(Boolean(o?.requireFilter) !== Boolean(d.requireFilter) ? [`require partition filter ${o?.requireFilter ? 'on' : 'off'} → ${d.requireFilter ? 'on' : 'off'}`] : []),
    ];
    acc.reasons.push({ path: 'partitioning', rule: 'partition-options', message: `${parts.join(', ')} change${parts.length === 1 ? 's' : ''} in place` });
  }
  if (normClustering(observed.clustering) !== normClustering(desired.clustering)) {
    tail.push({ op: 'set_clustering', clustering: desired.clustering && desired.clustering.length ? desired.clustering : undefined });
    acc.reasons.push({ path: 'clustering', rule: 'clustering', message: `clustering [${observedClustering.join(', ')}] → [${(desired.clustering ?? []).join(', ')}] changes in place (existing rows recluster on rewrite)` });
  }
  if ((observed.description ?? '') !== (desired.description ?? '')) {
    tail.push({ op: 'set_description', description: desired.description });
    acc.reasons.push({ path: 'description', rule: 'description', message: 'description changes in place' });
  }
  if (!sameLabels(observed.labels, desired.labels)) {
    tail.push({ op: 'set_labels', labels: { ...desired.labels } });
    acc.reasons.push({ path: 'labels', rule: 'labels', message: 'labels change in place' });
  }
  if (observed.deletionProtection !== desired.deletionProtection) {
    tail.push({ op: 'set_deletion_protection', enabled: desired.deletionProtection });
    acc.reasons.push({ path: 'deletion_protection', rule: 'deletion-protection-setting', message: `deletion protection ${observed.deletionProtection ? 'on → off' : 'off → on'}` });
  }

  if (acc.replaceReasons.length > 0) {
    return {
      action: 'replace',
      ops: [],
      reasons: [...acc.replaceReasons, ...acc.reasons],
      destructive: true,
      replace: { columnSources },
    };
  }
  // Renames first so later ops address the new names; clustering changes before drops so a
  // column leaving the clustering spec can go.
  const ops = [...acc.renames, ...acc.widen, ...acc.relax, ...acc.add, ...acc.descriptions, ...tail.filter((t) => t.op === 'set_clustering'), ...acc.drops, ...tail.filter((t) => t.op !== 'set_clustering')];
  if (ops.length === 0) return { action: 'no-op', ops: [], reasons: [], destructive: false };
  return { action: 'update', ops, reasons: acc.reasons, destructive: acc.drops.length > 0 };
}
