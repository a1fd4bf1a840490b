// `mlbridge plan`: observe the target, print what apply would do. Changes nothing.
// Output: text (ink on a TTY), `--json` (only JSON on stdout), or `--format markdown`
// (a PR comment). `--detailed-exitcode`: 0 no changes, 2 changes, 1 error.
// While an apply holds the target's lock, plan fails naming the lock (Terraform's "Error
// acquiring the state lock") or waits up to --lock-timeout; --lock=false skips the check.

import { resolve } from 'node:path';
import { hasChanges, type Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import { awaitUnlocked, createPlan, writePlanFile } from '../../engine/index.js';
import { MlbridgeError, isMlbridgeError } from '../../model/errors.js';
import type { LockRecord } from '../../warehouse/lock-info.js';
import { parseDurationMs } from '../duration.js';
import { applyPlanCommand, forceUnlockCommand } from '../shell-command.js';
import { hasErrors } from '../../model/diagnostic.js';
import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, openDeps, printDiagnostics } from '../context.js';
import { renderPlanText } from '../views/plan-text.js';
import { planLogSink } from '../views/apply-log.js';
import { diagnosticsOnlyJson, failedPlanJson, renderPlanJson } from '../views/plan-json.js';
import { renderPlanMarkdown } from '../views/plan-markdown.js';

export interface PlanOptions {
  config: string;
  out?: string;
  json: boolean;
  format?: string;
  detailedExitcode: boolean;
  target: string[];
  skipData: boolean;
  exportId?: string;
  /** Check the target's lock first (default true; `--lock=false` skips it). */
  lock?: boolean;
  /** A duration such as "30s": how long to wait for a running apply; "0s" fails at once. */
  lockTimeout?: string;
  color: boolean;
}

export async function run(options: PlanOptions, io: CliIO): Promise<number> {
  const format = options.json ? 'json' : (options.format ?? 'text');
  if (format !== 'json' && format !== 'text' && format !== 'markdown') {
    throw new MlbridgeError('INVALID_ARGUMENT', `--format: "${format}" is not a plan format (use text or markdown, or --json)`);
  }
  if (options.json && options.format && options.format !== 'json') {
    throw new MlbridgeError('INVALID_ARGUMENT', '--json and --format markdown cannot be used together');
  }
  const lockTimeoutMs = parseDurationMs(options.lockTimeout ?? '0s', '--lock-timeout');
  const { spec, diagnostics } = await loadConfig(options.config, io);
  if (!spec) {
    if (format === 'json') println(io.stdout, JSON.stringify(diagnosticsOnlyJson(diagnostics)));
    else printDiagnostics(io, diagnostics);
    return EXIT.ERROR;
  }
  if (format !== 'json') printDiagnostics(io, diagnostics); // warnings

  const live = format === 'text' && options.color && io.interactive ? (await import('../views/PlanView.js')).startPlanView(io) : null;
  // Without the live view, retries and progress of a long read (a line every 5 s) still show,
  // on stderr: stdout is the plan only, so --json and markdown can be piped.
  const plain = planLogSink((line) => println(io.stderr, line));
  const onEvent = (e: EngineEvent) => (live ? live.onEvent(e) : plain(e));
  let plan: Plan;
  // With --json, a plan that fails still leaves a JSON document on stdout (the error as a
  // diagnostic, its code under `error`), for the pipeline reading it; the message goes to
  // stderr as always.
  const failed = (err: unknown): never => {
    live?.stop();
    if (format === 'json') println(io.stdout, JSON.stringify(failedPlanJson(err)));
    throw err;
  };
  const opened = await openDeps(spec, io, { readOnly: true, onEvent, busyTimeoutMs: lockTimeoutMs, data: !options.skipData, ...(options.exportId !== undefined ? { exportId: options.exportId } : {}) }).catch(failed);
  try {
    // Checked, not taken: a plan only reads, so two plans never wait for each other.
    if (options.lock !== false) await awaitUnlocked(opened.deps.warehouse, { timeoutMs: lockTimeoutMs, onEvent });
    plan = await createPlan(spec, opened.deps, { targets: options.target, onEvent, skipData: options.skipData });
  } catch (err) {
    return failed(withLockInfo(err, options.config));
  } finally {
    await opened.close();
  }

  if (format === 'json') io.stdout.write(renderPlanJson(plan));
  else if (format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else if (live) live.finish(plan);
  else io.stdout.write(renderPlanText(plan, { color: options.color && io.color }));

  if (options.out) {
    const file = resolve(io.cwd, options.out);
    await writePlanFile(file, plan, { sensitive: spec.sensitive });
    if (format === 'text') {
      println(io.stdout, `\nSaved the plan to: ${options.out}\n\nTo perform exactly these actions, run:\n    ${applyPlanCommand(options.out, options.config, options.exportId)}`);
    }
  }
  // A plan that apply would refuse (e.g. a table mlbridge does not own) is an error, as in Terraform.
  if (hasErrors(plan.diagnostics)) return EXIT.ERROR;
  if (options.detailedExitcode) return hasChanges(plan) ? EXIT.CHANGES : EXIT.OK;
  return EXIT.OK;
}

/**
 * LOCK_HELD as Terraform's plan reports it: the lock's info (id, operation, who, since) and
 * how to go on, from the error's details (never its text).
 */
function withLockInfo(err: unknown, config: string): unknown {
  if (!isMlbridgeError(err, 'LOCK_HELD')) return err;
  const holder = err.details?.holder as LockRecord | undefined;
  if (!holder) return err;
  const unlock = `    ${forceUnlockCommand(holder.id, config)}`;
  const message = holder.unreadable
    ? [err.message, 'If no apply is running, release it with:', unlock]
    : [
        `Error acquiring the state lock: ${err.resource ?? 'the target'} is locked by another mlbridge run`,
        'Lock Info:',
        `  ID:        ${holder.id}`,
        `  Operation: ${holder.operation}`,
        `  Who:       ${holder.who}`,
        `  Process:   pid ${holder.pid} on ${holder.host}`,
        `  Since:     ${holder.since}`,
        '',
        'plan does not read a target while another run holds its lock. Run plan again once that run has',
        'finished, or let plan wait for it with --lock-timeout=DURATION (e.g. --lock-timeout=5m).',
        'If it is no longer running (it was killed or its machine went away), release the lock with:',
        unlock,
      ];
  return new MlbridgeError('LOCK_HELD', message.join('\n'), { ...(err.resource ? { resource: err.resource } : {}), cause: err, details: err.details });
}
