// `mlbridge apply [PLANFILE]`: plan (or re-check a saved plan), show it, ask for `yes` on a
// terminal, execute. Without a terminal it needs --auto-approve; a saved plan counts as
// already reviewed (as in Terraform) and is applied without asking, unless it is stale.
// Destructive changes need --allow-destructive (the engine refuses and names each one).
// SIGINT/SIGTERM/SIGHUP stop the apply at its next safe point (the engine releases the lock
// and says how far it got); a second one exits at once, leaving the lock for takeover.

import { resolve } from 'node:path';
import { hasChanges, type Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import { apply, readPlanFile, type ApplyResult } from '../../engine/index.js';
import { MlbridgeError, isMlbridgeError } from '../../model/errors.js';
import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, openDeps, printDiagnostics } from '../context.js';
import { SIGNAL_EXIT, watchSignals, type SignalSource } from '../interrupts.js';
import { forceUnlockCommand } from '../shell-command.js';
import { parseDurationMs } from '../duration.js';
import { confirm } from '../prompt.js';
import { renderPlanText } from '../views/plan-text.js';
import { diagnosticsOnlyJson, planJson } from '../views/plan-json.js';
import { toJsonShape } from '../../model/json-shape.js';
import { applyLogSink } from '../views/apply-log.js';

export interface ApplyCommandOptions {
  config: string;
  planFile?: string;
  autoApprove: boolean;
  allowDestructive: boolean;
  /** A duration such as "30s"; "0s" fails at once when another apply holds the lock. */
  lockTimeout: string;
  target: string[];
  /** --skip-data: schemas and jobs only (default false). */
  skipData?: boolean;
  exportId?: string;
  /** Machine-readable progress: one JSON object per line (needs --auto-approve). */
  json: boolean;
  color: boolean;
}

export const NEEDS_CONFIRMATION = 'apply needs confirmation: run with --auto-approve when there is no terminal';
export const APPROVE_QUESTION = "Do you want to perform these actions? Only 'yes' will be accepted:";

type Live = { onEvent: (e: EngineEvent) => void; stop: () => void };

/** What apply takes from the process beyond CliIO; tests replace it. */
export interface ApplyRuntime {
  signals: SignalSource;
  /** A second signal: exit at once. */
  exit: (code: number) => void;
  openDeps: typeof openDeps;
}

export const processRuntime: ApplyRuntime = {
  signals: process,
  exit: (code) => process.exit(code),
  openDeps,
};

export async function run(options: ApplyCommandOptions, io: CliIO, runtime: ApplyRuntime = processRuntime): Promise<number> {
  // From the start: a CI job cancelled while the spec loads must not leave a half-told story.
  let lockId: string | undefined;
  let stopLive = () => {};
  const unlockCommand = (id: string) => forceUnlockCommand(id, options.config);
  const signals = watchSignals(runtime.signals, {
    first: (signal) =>
      println(io.stderr, `\n${signal} received: stopping after the current change (send it again to exit at once).`),
    second: (signal) => {
      stopLive();
      println(
        io.stderr,
        `${signal} received again: exiting now.` +
          (lockId ? ` Lock ${lockId} is left behind; the next apply on this host takes it over (elsewhere: ${unlockCommand(lockId)}).` : ''),
      );
    },
    exit: runtime.exit,
  });
  try {
    return await applyCommand(options, io, runtime, signals.signal, {
      onLock: (id) => (lockId = id),
      setStopLive: (fn) => (stopLive = fn),
    });
  } catch (e) {
    if (isMlbridgeError(e, 'INTERRUPTED')) return signals.received ? SIGNAL_EXIT[signals.received] : SIGNAL_EXIT.SIGINT;
    throw e;
  } finally {
    signals.dispose();
  }
}

async function applyCommand(
  options: ApplyCommandOptions,
  io: CliIO,
  runtime: ApplyRuntime,
  signal: AbortSignal,
  hooks: { onLock: (id: string) => void; setStopLive: (fn: () => void) => void },
): Promise<number> {
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

  const format = { unlockCommand: (id: string) => forceUnlockCommand(id, options.config) };
  /** Warnings (a lock that could not be released) for the --json result line. */
  const warnings: string[] = [];
  /** The error to throw; with --json, first the last line a script reads to learn how apply ended. */
  const failure = (err: unknown): unknown => {
    const e = withUnlockHint(err, format.unlockCommand);
    if (json) {
      const code = isMlbridgeError(e) ? e.code : 'INTERNAL';
      const details = isMlbridgeError(e, 'INTERRUPTED') ? e.details : undefined;
      emit({
        type: 'apply-result',
        applied: false,
        error: { code, message: e instanceof Error ? e.message : String(e), ...(details ? { details } : {}) },
        ...(warnings.length > 0 ? { warnings } : {}),
      });
    }
    return e;
  };

  const reviewed = options.planFile !== undefined;
  if (!options.autoApprove && !reviewed && (!io.stdin.isTTY || json)) {
    throw failure(new MlbridgeError('APPROVAL_REQUIRED', NEEDS_CONFIRMATION));
  }
  const savedPlan = options.planFile
    ? await readPlanFile(resolve(io.cwd, options.planFile), { sensitive: spec.sensitive ?? [] }).catch((e: unknown) => {
        throw failure(e);
      })
    : undefined;

  const interactive = !json && options.color && io.interactive;
  const color = options.color && io.color;
  // Phase 1 (observing): a spinner on a TTY. Phase 2 (applying): per-change progress.
  let observing: (Live & { finish: (plan: Plan) => void }) | null = interactive
    ? (await import('../views/PlanView.js')).startPlanView(io)
    : null;
  let progress: Live | null = null;
  const plain = applyLogSink((line) => println(io.stdout, line), { observe: false, ...format });
  let shown = false;
  let completed = false;
  /** Lines for events the observing spinner does not show, printed once it is gone. */
  const held: EngineEvent[] = [];

  const onEvent = (e: EngineEvent) => {
    if (e.type === 'apply-done') completed = true;
    if (e.type === 'lock-acquired') hooks.onLock(e.id);
    if (e.type === 'lock-release-failed') warnings.push(`could not release lock ${e.id}: ${e.message}; release it with: ${format.unlockCommand(e.id)}`);
    if (json) emit(toJsonShape(e));
    else if (observing && e.type === 'interrupted') {
      stopLive();
      plain(e);
    } else if (observing && (e.type === 'lock-takeover' || e.type === 'lock-release-failed')) held.push(e);
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
      for (const e of held.splice(0)) plain(e);
    } else io.stdout.write(renderPlanText(plan, { color }));
  };
  const approve = async (plan: Plan): Promise<boolean> => {
    show(plan);
    if (!hasChanges(plan)) return true;
    const ok = options.autoApprove || reviewed || (await untilInterrupted(confirm(io, APPROVE_QUESTION), signal, io));
    if (signal.aborted) return false; // the engine reports the interrupt
    if (ok && interactive) progress = (await import('../views/ApplyProgress.js')).startApplyProgress(io, format);
    else if (ok && !json) println(io.stdout);
    return ok;
  };

  const stopLive = () => {
    observing?.stop();
    observing = null;
    progress?.stop();
    progress = null;
    for (const e of held.splice(0)) plain(e);
  };
  hooks.setStopLive(stopLive);
  let result: ApplyResult;
  try {
    const opened = await runtime
      .openDeps(spec, io, { readOnly: false, onEvent, busyTimeoutMs: lockTimeoutMs, signal, data: !options.skipData, ...(options.exportId !== undefined ? { exportId: options.exportId } : {}) })
      .catch((e: unknown) => {
        throw failure(e);
      });
    try {
      result = await apply(spec, opened.deps, {
        ...(savedPlan ? { savedPlan } : {}),
        allowDestructive: options.allowDestructive,
        approve,
        lockTimeoutMs,
        targets: options.target,
        skipData: options.skipData ?? false,
        onEvent,
        signal,
      }).catch((err: unknown) => {
        throw failure(err);
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
  // A lock that could not be released after every change succeeded is a warning (printed by
  // its event), not a failure: the changes stand and the exit status says so.
  // The plan's warnings (rows kept by the version guard, a stale export, …) end the result too.
  const all = [...result.plan.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.summary), ...warnings];
  if (json) emit({ type: 'apply-result', applied: result.applied, summary: s, ...(all.length > 0 ? { warnings: all } : {}) });
  else if (!completed) println(io.stdout, `\nApply complete! Resources: ${s.add} added, ${s.change} changed, ${s.destroy} destroyed.`);
  return EXIT.OK;
}

/** The answer to the prompt, or false as soon as the signal is aborted (the prompt stops reading). */
async function untilInterrupted(answer: Promise<boolean>, signal: AbortSignal, io: CliIO): Promise<boolean> {
  if (signal.aborted) return false;
  let onAbort = () => {};
  const aborted = new Promise<boolean>((resolve) => {
    onAbort = () => {
      // The question stays unanswered: stop reading stdin so the process can end.
      io.stdin.pause();
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([answer, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** A lock left by an apply that died blocks every later one: tell the user the way out. */
function withUnlockHint(err: unknown, unlockCommand: (id: string) => string): unknown {
  if (!isMlbridgeError(err, 'LOCK_HELD')) return err;
  const id = err.details?.lockId;
  if (typeof id !== 'string') return err;
  const how =
    typeof err.details?.unreadable === 'string'
      ? 'If no apply is running, release it with:'
      : 'If that apply is no longer running (it was killed or its machine went away), release the lock with:';
  return new MlbridgeError('LOCK_HELD', `${err.message}\n${how}\n    ${unlockCommand(id)}`, {
    ...(err.resource ? { resource: err.resource } : {}),
    cause: err,
    details: err.details,
  });
}
