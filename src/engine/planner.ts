// plan and apply, the orchestration only: what each change type observes, plans and executes
// is its module's (engine/changes/, one list). Plan: run every module's plan on one context,
// keep what --target selects, return plain data. Apply: lock, (re-)plan, refuse what must be
// refused (stale saved plan, deletion protection, destructive without consent), ask approval,
// run each change's module in dependency order, stop at the first failure (completed changes
// stay done; a re-run converges).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import { addressMatches, rowsAddress, tableAddress } from '../model/address.js';
import { hasErrors, warningDiag, type Diagnostic } from '../model/diagnostic.js';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import { suggest } from '../spec/names.js';
import type { Spec } from '../spec/types.js';
import { CHANGE_MODULES, executorFor, typeRank } from './changes/index.js';
import { closeStages, type StagedMapping } from './changes/rows.js';
import { createEngineContext, type EngineContext } from './context.js';
import { PROFILES_TABLE } from './desired.js';
import { ignoreEvents } from './events.js';
import type { ApplyOptions, ApplyResult, EngineDeps, PlanOptions } from './index.js';
import { interrupted, interruptToldOnce, stopIfInterrupted, stoppedBySignal } from './interrupt.js';
import { acquireLock } from './lock.js';
import { hasChanges, summarize, type Change, type Plan, type RowsChange } from './plan.js';
import { checkSavedPlan } from './saved-plan-check.js';

let versionCache: string | undefined;
export function mlbridgeVersion(): string {
  if (versionCache === undefined) {
    try {
      // dist/src/engine/planner.js → package root
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
      versionCache = pkg.version ?? '0.0.0';
    } catch {
      versionCache = '0.0.0';
    }
  }
  return versionCache;
}

function isSourceRange(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.file === 'string' && typeof o.line === 'number' && typeof o.col === 'number';
}

/**
 * Stable JSON: keys sorted, source positions (`source: {file, line, col}`) left out — moving
 * a line is not a spec change — while the spec's `source:` block (export or datastore) is
 * kept. Absolute paths under the spec's folder are written relative to it, so a plan saved
 * in one checkout applies in another.
 */
function canonical(v: unknown, base: string): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, base)).join(',')}]`;
  if (typeof v === 'string' && isAbsolute(v)) return JSON.stringify(relativePath(base, v));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined && !(k === 'source' && isSourceRange(o[k])))
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k], base)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function relativePath(base: string, p: string): string {
  const r = relative(base, p);
  return r === '' ? '.' : r.split(sep).join('/');
}

/**
 * Hash of the spec files' bytes (named relative to the spec's folder) and of the resolved
 * spec (so a changed ${VAR} counts too).
 */
export async function specHash(spec: Spec): Promise<string> {
  const h = createHash('sha256');
  const base = spec.files.length ? dirname([...spec.files].sort()[0]!) : '/';
  for (const f of [...spec.files].sort()) {
    h.update(`file:${relativePath(base, f)}\n`);
    try {
      h.update(await readFile(f));
    } catch (e) {
      h.update(`unreadable:${errorMessage(e)}`);
    }
  }
  h.update(`spec:${canonical({ ...spec, files: undefined }, base)}`);
  return h.digest('hex');
}

export async function createPlan(spec: Spec, deps: EngineDeps, options: PlanOptions = {}): Promise<Plan> {
  const { plan, ctx } = await buildPlan(spec, deps, options, false);
  await closeStages(ctx.stages);
  return plan;
}

interface BuildOptions extends PlanOptions {
  signal?: AbortSignal;
}

/**
 * Observes and plans every change type in the list's order (dataset, tables, scheduler
 * job, rows), then keeps what --target selects. The context it returns carries the rows
 * staged for apply; the caller closes them.
 */
async function buildPlan(spec: Spec, deps: EngineDeps, options: BuildOptions, withRows: boolean): Promise<{ plan: Plan; ctx: EngineContext }> {
  const targets = options.targets ?? [];
  const source = options.skipData ? undefined : deps.source;
  const ctx = createEngineContext({
    spec,
    warehouse: deps.warehouse,
    ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
    ...(source ? { source } : {}),
    clock: options.clock ?? (() => new Date()),
    onEvent: options.onEvent ?? ignoreEvents,
    options: { targets, withRows, ...(options.jobs !== undefined ? { jobs: options.jobs } : {}) },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const diagnostics: Diagnostic[] = [...(source?.warnings ?? [])];
  const fingerprints: Record<string, string> = {};
  const changes: Change[] = [];
  let selected: Change[];
  try {
    for (const m of CHANGE_MODULES) {
      const planned = await m.plan(ctx);
      changes.push(...planned.changes);
      Object.assign(fingerprints, planned.fingerprints);
      diagnostics.push(...planned.diagnostics);
    }
    selected = targets.length === 0 ? changes : selectTargets(changes, targets, Object.keys(fingerprints), spec, source !== undefined);
  } catch (e) {
    await closeStages(ctx.stages);
    throw e;
  }
  const wh = deps.warehouse;
  const plan: Plan = {
    formatVersion: '1',
    createdAt: new Date().toISOString(),
    mlbridgeVersion: mlbridgeVersion(),
    target: { kind: wh.kind, location: wh.location },
    spec: { files: [...spec.files], hash: await specHash(spec) },
    changes: selected,
    summary: summarize(selected),
    diagnostics,
    fingerprints,
    targets: [...targets],
  };
  return { plan, ctx };
}

/** How many addresses an unmatched --target lists (for a spec of up to six kinds: every one). */
const LISTED_ADDRESSES = 30;

/** --target: the matching changes, plus the dataset they need when it is still to be created. */
function selectTargets(changes: Change[], targets: string[], observed: string[], spec: Spec, withData: boolean): Change[] {
  // `duckdb_table.analytics.` (a prefix typed with its dot) means the same as without it.
  const wanted = targets.map((t) => t.replace(/\.$/, ''));
  // A target that names nothing is almost always a typo: say so rather than print "No changes."
  // Known: every planned address plus every one observed (an unowned table has no change, only
  // a diagnostic), and every mapping's rows.<Kind> (only the selected kinds' data is planned).
  const rows = withData ? spec.mappings.map((m) => rowsAddress(m.kind)) : [];
  const known = [...new Set([...changes.map((c) => c.address), ...observed, ...rows])];
  const unmatched = wanted.filter((t) => !known.some((a) => addressMatches(a, t)));
  if (unmatched.length > 0) {
    // Addresses of the type the user typed first (`rows.` …), then the others.
    const typeOf = (a: string) => a.split('.')[0];
    const listed = [...known.filter((a) => typeOf(a) === typeOf(unmatched[0]!)), ...known.filter((a) => typeOf(a) !== typeOf(unmatched[0]!))];
    // Every address of a spec of a few kinds; a big spec's list stops where no one reads on.
    const shown = listed.slice(0, LISTED_ADDRESSES).map((a) => `  ${a}`).join('\n');
    const more = known.length > LISTED_ADDRESSES ? `\n  … and ${known.length - LISTED_ADDRESSES} more (${known.length} in all)` : '';
    const hints = unmatched.map((t) => closestAddress(t, known)).filter((h): h is string => h !== undefined);
    throw new MlbridgeError(
      'INVALID_ARGUMENT',
      `--target ${unmatched.join(', ')} matches no resource of this spec or target. Resources:\n${shown}${more}` +
        (hints.length > 0 ? `\nDid you mean ${hints.join(', ')}?` : ''),
    );
  }
  const direct = (c: Change) => wanted.some((t) => addressMatches(c.address, t));
  // Rows need their mapping's tables: a rows target brings the tables it writes to along.
  const kinds = new Set(changes.filter((c) => c.type === 'rows' && direct(c)).map((c) => (c as RowsChange).kind));
  const tablesOfKept = new Set(
    spec.mappings
      .filter((m) => kinds.has(m.kind))
      .flatMap((m) => [m.tables.current, m.tables.raw, m.tables.quarantine, PROFILES_TABLE].map((t) => tableAddress(spec.target.kind, spec.target.dataset, t))),
  );
  const hit = (c: Change) => direct(c) || (c.type === 'table' && c.action !== 'delete' && tablesOfKept.has(c.address));
  const kept = changes.filter(hit);
  const needsDataset = kept.some((c) => (c.type === 'table' && c.action !== 'delete') || c.type === 'rows');
  return changes.filter((c) => hit(c) || (needsDataset && c.type === 'dataset' && c.action === 'create'));
}

/** A known address the target is a plausible typo of: the same but for case, or a close last segment under the same parent. */
function closestAddress(target: string, known: readonly string[]): string | undefined {
  const same = known.find((a) => a.toLowerCase() === target.toLowerCase());
  if (same) return same;
  const parentOf = (a: string) => a.slice(0, a.lastIndexOf('.') + 1).toLowerCase();
  const siblings = known.filter((a) => parentOf(a) === parentOf(target));
  const lastOf = (a: string) => a.slice(a.lastIndexOf('.') + 1);
  const hint = suggest(lastOf(target), siblings.map(lastOf));
  return siblings.find((a) => lastOf(a) === hint);
}

function staleReason(saved: Plan, fresh: Plan): string | undefined {
  if (saved.target.kind !== fresh.target.kind || saved.target.location !== fresh.target.location) {
    return `it was made for ${saved.target.location}, not ${fresh.target.location}`;
  }
  if (saved.spec.hash !== fresh.spec.hash) return 'the spec changed since the plan was made';
  const addresses = new Set([...Object.keys(saved.fingerprints), ...Object.keys(fresh.fingerprints)]);
  const rowsAt = (plan: Plan, a: string) => plan.changes.find((c): c is RowsChange => c.type === 'rows' && c.address === a);
  for (const a of [...addresses].sort()) {
    if ((saved.fingerprints[a] ?? 'absent') === (fresh.fingerprints[a] ?? 'absent')) continue;
    const was = rowsAt(saved, a)?.source;
    const now = rowsAt(fresh, a)?.source;
    // A rows fingerprint is the source's identity: say which export each side read, and how
    // to apply the reviewed one (a folder's newest export is read unless --export-id names one).
    if (was?.kind === 'export' && now?.kind === 'export' && was.exportId !== now.exportId) {
      return `${a} changed since the plan was made: it was planned from export ${was.exportId}, and this apply reads export ${now.exportId}; run plan again, or apply this plan with --export-id ${was.exportId}`;
    }
    return `${a} changed since the plan was made`;
  }
  // The target's rows are not fingerprinted (a live table moves with every event), so rows
  // that moved show as another action: the plan was applied already, or events wrote since.
  for (const s of saved.changes) {
    if (s.type !== 'rows') continue;
    const f = rowsAt(fresh, s.address);
    if (f && f.action !== s.action) {
      return `${s.address} changed since the plan was made: the plan file has ${rowCountsText(s.after)}, and the target now needs ${rowCountsText(f.after)} (this plan, another apply or serve wrote rows since); run plan again`;
    }
  }
  return undefined;
}

/** "2 to update, 1 to delete", or "no change". */
function rowCountsText(counts: RowsChange['after']): string {
  if (!counts) return 'no change';
  const parts = (['insert', 'update', 'delete', 'quarantine'] as const).filter((k) => counts[k] > 0).map((k) => `${counts[k]} to ${k}`);
  return parts.length > 0 ? parts.join(', ') : 'no change';
}

/** Creates and updates parents first (the change list's order); deletes last and in reverse (children before parents). */
export function executionOrder(changes: readonly Change[]): Change[] {
  const live = changes.filter((c) => c.action !== 'no-op');
  const forward = live.filter((c) => c.action !== 'delete').sort((a, b) => typeRank(a.type) - typeRank(b.type));
  const deletes = live.filter((c) => c.action === 'delete').sort((a, b) => typeRank(b.type) - typeRank(a.type));
  return [...forward, ...deletes];
}

export async function apply(spec: Spec, deps: EngineDeps, options: ApplyOptions = {}): Promise<ApplyResult> {
  const onEvent = interruptToldOnce(options.onEvent ?? ignoreEvents);
  const started = Date.now();
  let stages = new Map<string, StagedMapping>();
  const signal = options.signal;
  stopIfInterrupted(signal, onEvent, 0);
  // A wait for a DuckDB file another process holds (the first open) ends on the signal too.
  const orInterrupted = (e: unknown): never => {
    if (stoppedBySignal(e, signal)) throw interrupted(signal, onEvent, 0);
    throw e;
  };
  const lock = await acquireLock(deps.warehouse, {
    operation: options.operation ?? 'apply',
    timeoutMs: options.lockTimeoutMs ?? 0,
    onEvent,
    ...(signal ? { signal } : {}),
  }).catch(orInterrupted);
  try {
    const saved = options.savedPlan;
    const built = await buildPlan(
      spec,
      deps,
      {
        targets: saved?.targets ?? options.targets ?? [],
        onEvent,
        // A saved plan made without data (--skip-data, or a table --target) applies without it.
        skipData: (options.skipData ?? false) || (saved !== undefined && !saved.changes.some((c) => c.type === 'rows')),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
        ...(signal ? { signal } : {}),
      },
      true,
    ).catch(orInterrupted);
    stages = built.ctx.stages;
    const ctx = built.ctx;
    const fresh = built.plan;
    let plan = fresh;
    if (saved) {
      const stale = staleReason(saved, fresh);
      if (stale) throw new MlbridgeError('PLAN_STALE', `Saved plan is stale: ${stale}`);
      // Checked, not trusted: every change in the file must be what mlbridge plans now. What
      // runs is the fresh plan (equal on everything apply acts on; never a redacted value).
      checkSavedPlan(saved, fresh);
      plan = withMovedRowsWarning(saved, fresh);
    }
    stopIfInterrupted(signal, onEvent, 0);
    if (hasErrors(plan.diagnostics)) {
      const first = plan.diagnostics.find((d) => d.severity === 'error')!;
      throw new MlbridgeError('APPLY_FAILED', `Cannot apply: ${first.summary}`);
    }
    const blocked = plan.changes.filter((c) => c.blocked);
    if (blocked.length > 0) {
      throw new MlbridgeError(
        'DESTRUCTIVE_REFUSED',
        `Deletion protection prevents ${blocked.length === 1 ? 'this change' : 'these changes'} (nothing was applied):\n${blocked
          // The protection message already starts with the address; do not say it twice.
          .map((c) => (c.blocked!.startsWith(`${c.address} `) ? `  - ${c.blocked}` : `  - ${c.address} (${c.action}): ${c.blocked}`))
          .join('\n')}`,
        { resource: blocked[0]!.address },
      );
    }
    const destructive = plan.changes.filter((c) => c.destructive && c.action !== 'no-op');
    if (destructive.length > 0 && !options.allowDestructive) {
      throw new MlbridgeError(
        'DESTRUCTIVE_REFUSED',
        `Refusing ${destructive.length} destructive change${destructive.length === 1 ? '' : 's'} without --allow-destructive (nothing was applied):\n${destructive
          .map((c) => `  - ${c.address} (${c.action}): ${describeDestructive(c)}`)
          .join('\n')}`,
        { resource: destructive[0]!.address },
      );
    }
    if (!hasChanges(plan)) return { plan, applied: false, summary: plan.summary };
    const ordered = executionOrder(plan.changes);
    // Every change must have an executor before the first one runs.
    const runs = ordered.map((c) => ({ change: c, run: executorFor(c) }));
    const approved = !options.approve || (await options.approve(plan));
    stopIfInterrupted(signal, onEvent, 0, runs.length); // Ctrl-C at the prompt is an interrupt, not a "no"
    if (!approved) return { plan, applied: false, summary: plan.summary };
    let done = 0;
    for (const { change, run } of runs) {
      // The safe point: between changes, never inside one.
      stopIfInterrupted(signal, onEvent, done, runs.length);
      const t0 = Date.now();
      onEvent({ type: 'change-start', address: change.address, changeType: change.type, action: change.action });
      try {
        await run(change, ctx);
      } catch (e) {
        if (stoppedBySignal(e, signal)) throw interrupted(signal, onEvent, done, runs.length);
        const message = errorMessage(e);
        onEvent({ type: 'change-failed', address: change.address, changeType: change.type, action: change.action, message });
        throw new MlbridgeError(
          'APPLY_FAILED',
          `Error applying ${change.address} (${change.action}): ${message}\n` +
            (done === 0
              ? 'Nothing was applied; fix the cause and run apply again.'
              : `The ${done} change${done === 1 ? '' : 's'} before it ${done === 1 ? 'was' : 'were'} applied; fix the cause and run apply again to continue.`),
          { resource: change.address, cause: e },
        );
      }
      onEvent({ type: 'change-done', address: change.address, changeType: change.type, action: change.action, ms: Date.now() - t0 });
      done++;
    }
    onEvent({ type: 'apply-done', summary: plan.summary, ms: Date.now() - started });
    return { plan, applied: true, summary: plan.summary };
  } finally {
    await closeStages(stages);
    await lock.release();
  }
}

/**
 * The fresh plan runs (the saved one has just been checked equal on everything apply acts
 * on); for rows, how the counts moved since the plan is said in a warning — a live source
 * never stands still, the target takes events, and the version guard keeps what runs safe.
 * An export cannot move (a plan from another export is stale): then it is the target that
 * changed, or the file's display-only counts were edited, and the warning says so.
 */
function withMovedRowsWarning(saved: Plan, fresh: Plan): Plan {
  const savedRows = new Map(saved.changes.filter((c): c is RowsChange => c.type === 'rows').map((c) => [c.address, c]));
  const keys = ['insert', 'update', 'delete', 'quarantine'] as const;
  const moved: string[] = [];
  for (const f of fresh.changes) {
    if (f.type !== 'rows') continue;
    const was = savedRows.get(f.address)?.after;
    const now = f.after;
    if (was && now && keys.some((k) => was[k] !== now[k])) moved.push(`${f.address}: ${keys.map((k) => `${k} ${was[k]} → ${now[k]}`).join(', ')}`);
  }
  if (moved.length === 0) return fresh;
  const fromExport = fresh.changes.some((c) => c.type === 'rows' && c.source.kind === 'export');
  const why = fromExport ? 'the export is the same, so the target changed since the plan was made, or the file was edited' : 'the source or the target changed since the plan was made';
  const warning = warningDiag(`the rows to change differ from the plan file's counts (${why}); applying them as counted now`, undefined, moved.join('\n'));
  return { ...fresh, diagnostics: [...fresh.diagnostics, warning] };
}

function describeDestructive(c: Change): string {
  const forcing = c.reasons.filter((r) => r.forcesReplacement || r.rule === 'drop-column' || r.rule === 'not-in-spec');
  const rs = forcing.length > 0 ? forcing : c.reasons;
  return rs.map((r) => `${r.message}${r.forcesReplacement ? ` [${r.rule}]` : ''}`).join('; ') || c.action;
}
