// `mlbridge apply [PLANFILE]`: plan (or re-check a saved plan), show it, ask for `yes` on a
// terminal, execute. Without a terminal it needs --auto-approve; a saved plan counts as
// already reviewed (as in Terraform) and is applied without asking, unless it is stale.
// Destructive changes need --allow-destructive (the engine refuses and names each one).

import { resolve } from 'node:path';
import { hasChanges, type Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import { apply, readPlanFile, type ApplyResult } from '../../engine/index.js';
import { MlbridgeError, isMlbridgeError } from '../../model/errors.js';
import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, openDeps, printDiagnostics } from '../context.js';
import { parseDurationMs } from '../duration.js';
import { confirm } from '../prompt.js';
import { renderPlanText } from '../views/plan-text.js';
import { diagnosticsOnlyJson, planJson, toJsonShape } from '../views/plan-json.js';
import { applyLogSink } from '../views/apply-log.js';

export interface ApplyCommandOptions {
  config: string;
  planFile?: string;
  autoApprove: boolean;
  allowDestructive: boolean;
  /** A duration such as "30s"; "0s" fails at once when another apply holds the lock. */
  lockTimeout: string;
  target: string[];
  /** Machine-readable progress: one JSON object per line (needs --auto-approve). */
  json: boolean;
  color: boolean;
}

export const NEEDS_CONFIRMATION = 'apply needs confirmation: run with --auto-approve when there is no terminal';
export const APPROVE_QUESTION = "Do you want to perform these actions? Only 'yes' will be accepted:";

type Live = { onEvent: (e: EngineEvent) => void; stop: () => void };

export async function run(options: ApplyCommandOptions, io: CliIO): Promise<number> {
  const lockTimeoutMs = parseDurationMs(options.lockTimeout, '--lock-timeout');
  if (options.planFile !== undefined && options.target.length > 0) {
    // A saved plan is applied exactly as reviewed, with the targets it was planned with.
    throw new MlbridgeError('INVALID_ARGUMENT', '--target cannot be used with a saved plan; pass --target to `mlbridge plan --out` instead');
  }
  const json = options.json;
  const emit = (obj: unknown) => println(io.stdout, JSON.stringify(obj));
  const { spec, diagnostics } = await loadConfig(options.config, io);
  if (!spec) {
    if (json) emit(diagnosticsOnlyJson(diagnostics));
    else printDiagnostics(io, diagnostics);
    return EXIT.ERROR;
  }
  if (!json) printDiagnostics(io, diagnostics); // warnings

  const reviewed = options.planFile !== undefined;
  if (!options.autoApprove && !reviewed && (!io.stdin.isTTY || json)) {
    throw new MlbridgeError('APPROVAL_REQUIRED', NEEDS_CONFIRMATION);
  }
  const savedPlan = options.planFile ? await readPlanFile(resolve(io.cwd, options.planFile), { sensitive: spec.sensitive ?? [] }) : undefined;

  const interactive = !json && options.color && io.interactive;
  const color = options.color && io.color;
  // Phase 1 (observing): a spinner on a TTY. Phase 2 (applying): per-change progress.
  let observing: (Live & { finish: (plan: Plan) => void }) | null = interactive
    ? (await import('../views/PlanView.js')).startPlanView(io)
    : null;
  let progress: Live | null = null;
  const plain = applyLogSink((line) => println(io.stdout, line), { observe: false });
  let shown = false;
  let completed = false;

  const onEvent = (e: EngineEvent) => {
    if (e.type === 'apply-done') completed = true;
    if (json) emit(toJsonShape(e));
    else if (observing) observing.onEvent(e);
    else if (progress) progress.onEvent(e);
    else plain(e);
  };
  const show = (plan: Plan) => {
    shown = true;
    if (json) emit({ type: 'plan', plan: planJson(plan) });
    else if (observing) {
      observing.finish(plan);
      observing = null;
    } else io.stdout.write(renderPlanText(plan, { color }));
  };
  const approve = async (plan: Plan): Promise<boolean> => {
    show(plan);
    if (!hasChanges(plan)) return true;
    const ok = options.autoApprove || reviewed || (await confirm(io, APPROVE_QUESTION));
    if (ok && interactive) progress = (await import('../views/ApplyProgress.js')).startApplyProgress(io);
    else if (ok && !json) println(io.stdout);
    return ok;
  };

  const stopLive = () => {
    observing?.stop();
    observing = null;
    progress?.stop();
    progress = null;
  };
  let result: ApplyResult;
  try {
    const opened = await openDeps(spec, io, { readOnly: false, onEvent });
    try {
      result = await apply(spec, opened.deps, {
        ...(savedPlan ? { savedPlan } : {}),
        allowDestructive: options.allowDestructive,
        approve,
        lockTimeoutMs,
        targets: options.target,
        onEvent,
      }).catch((err: unknown) => {
        const e = withUnlockHint(err);
        // A script reading --json output always gets a last line that says how it ended.
        if (json) {
          const code = isMlbridgeError(e) ? e.code : 'INTERNAL';
          emit({ type: 'apply-result', applied: false, error: { code, message: e instanceof Error ? e.message : String(e) } });
        }
        throw e;
      });
    } finally {
      await opened.close();
    }
  } finally {
    stopLive();
  }

  if (!shown) show(result.plan);
  const s = result.summary;
  if (!result.applied && hasChanges(result.plan)) {
    if (json) emit({ type: 'apply-result', applied: false, summary: s });
    else println(io.stdout, '\nApply cancelled.');
    return EXIT.ERROR;
  }
  if (json) emit({ type: 'apply-result', applied: result.applied, summary: s });
  else if (!completed) println(io.stdout, `\nApply complete! Resources: ${s.add} added, ${s.change} changed, ${s.destroy} destroyed.`);
  return EXIT.OK;
}

/** A lock left by an apply that died blocks every later one: tell the user the way out. */
function withUnlockHint(err: unknown): unknown {
  if (!isMlbridgeError(err, 'LOCK_HELD')) return err;
  const id = /\block (\S+) held by\b/.exec(err.message)?.[1];
  if (!id) return err;
  return new MlbridgeError(
    'LOCK_HELD',
    `${err.message}\nIf that apply is no longer running (it was killed or its machine went away), release the lock with:\n    mlbridge force-unlock ${id}`,
    { ...(err.resource ? { resource: err.resource } : {}), cause: err },
  );
}
