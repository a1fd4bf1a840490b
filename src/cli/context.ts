// What plan/apply/force-unlock share: load the spec (reporting diagnostics the one way
// every command does), open the target and, when needed, Cloud Scheduler. Heavy modules
// are imported here lazily, only by the commands that reach a target.

import { resolve } from 'node:path';
import type { Diagnostic } from '../model/diagnostic.js';
import { formatDiagnostic, hasErrors, sortDiagnostics } from '../model/diagnostic.js';
import type { Spec } from '../spec/types.js';
import type { EngineDeps } from '../engine/index.js';
import type { EventSink } from '../engine/events.js';
import type { BusyWait } from '../warehouse/duckdb-busy-wait.js';
import type { CliIO } from './io.js';
import { println, redactOutput } from './io.js';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../model/errors.js';

/** Prints diagnostics as `file:line:col: message` lines on stderr. */
export function printDiagnostics(io: CliIO, diags: readonly Diagnostic[]): void {
  // Without a file:line:col a problem line would start bare; make it read as an error.
  for (const d of sortDiagnostics([...diags])) println(io.stderr, `${d.severity === 'error' && !d.source ? 'Error: ' : ''}${formatDiagnostic(d)}`);
}

export interface LoadedSpec {
  spec?: Spec;
  diagnostics: Diagnostic[];
}

/** Loads `-c PATH` relative to the working directory. `spec` is absent when there are errors. */
export async function loadConfig(config: string, io: CliIO): Promise<LoadedSpec> {
  const { loadSpec } = await import('../spec/load.js');
  const result = await loadSpec(resolve(io.cwd, config), { env: io.env, cwd: io.cwd });
  redactOutput(io, result.sensitive); // before anything derived from the spec is printed
  if (hasErrors(result.diagnostics)) return { diagnostics: result.diagnostics };
  return result.spec ? { spec: result.spec, diagnostics: result.diagnostics } : { diagnostics: result.diagnostics };
}

export interface OpenedDeps {
  deps: EngineDeps;
  close(): Promise<void>;
}

/**
 * Opens the target warehouse, and Cloud Scheduler when the spec has a reconcile block or
 * the target is BigQuery (so a job whose block was removed can still be planned for deletion).
 */
export interface OpenDepsOptions {
  readOnly: boolean;
  onEvent?: EventSink;
  scheduler?: boolean;
  /** Open the spec's source for the data plan (not with --skip-data, nor for a spec without one). */
  data?: boolean;
  exportId?: string;
  /** --lock-timeout: also how long to wait for a DuckDB file another process holds. */
  busyTimeoutMs?: number;
  /** Stops that wait (apply's first Ctrl-C). */
  signal?: AbortSignal;
}

export async function openDeps(spec: Spec, io: CliIO, options: OpenDepsOptions): Promise<OpenedDeps> {
  const onRetry = options.onEvent
    ? (i: { resource: string; call: string; attempt: number; delayMs: number; error: string }) => options.onEvent!({ type: 'retry', ...i })
    : undefined;
  const { openWarehouse } = await import('../warehouse/open.js');
  const onEvent = options.onEvent;
  const warehouse = await openWarehouse(spec.target, {
    readOnly: options.readOnly,
    env: io.env,
    ...(onRetry ? { onRetry } : {}),
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onEvent ? { onBusyWait: (w: BusyWait) => onEvent({ type: 'target-busy-wait', ...w }) } : {}),
  });
  const deps: EngineDeps = { warehouse };
  try {
    if (options.data && spec.source) {
      const { openSnapshotSource } = await import('../source/snapshot-source.js');
      deps.source = await openSnapshotSource(spec.source, { env: io.env, ...(options.exportId !== undefined ? { exportId: options.exportId } : {}) });
    } else if (options.exportId !== undefined) {
      throw new MlbridgeError('INVALID_ARGUMENT', spec.source ? '--export-id cannot be used with --skip-data' : '--export-id: this spec has no source: block to read');
    }
    if (options.scheduler !== false && (spec.reconcile || spec.target.kind === 'bigquery')) {
      const { openScheduler } = await import('../scheduler/open.js');
      try {
        deps.scheduler = await openScheduler({ env: io.env, ...(onRetry ? { onRetry } : {}) });
      } catch (err) {
        // Without a reconcile block Scheduler is only looked at for a job a removed block
        // left behind: missing credentials for it must not stop a table-only plan.
        if (spec.reconcile || !isMlbridgeError(err, 'CREDENTIALS_MISSING')) throw err;
        println(io.stderr, `warning: Cloud Scheduler not checked for a reconcile job left by an earlier spec: ${errorMessage(err).split('\n')[0]}`);
      }
    }
  } catch (err) {
    await warehouse.close();
    throw err;
  }
  return {
    deps,
    async close() {
      await Promise.allSettled([warehouse.close(), deps.scheduler?.close()]);
    },
  };
}
