// Waiting for a DuckDB file another process holds (plan/apply --lock-timeout). DuckDB lets one
// process hold a file open for writing, and none write while another reads: a plan reading
// it, or a serve that has it open, makes an apply's open fail with TARGET_BUSY at once.
// Terraform's -lock-timeout means "wait up to DURATION for the state to be free", so the open
// is retried (100 ms, doubling to 2 s) until the timeout has passed. The open is the first
// thing a command does with the file, so nothing is written before the wait ends.

import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import { formatDuration } from '../spec/duration.js';
import type { FileHolder } from './duckdb-errors.js';

/** The holder of a busy file, as a waiting command reports it once. */
export interface BusyWait {
  path: string;
  holder: FileHolder;
}

export interface BusyWaitOptions {
  /** How long to keep retrying a busy file; 0 (the default): fail at once. */
  busyTimeoutMs?: number;
  /** Called once, at the first busy answer of a wait that will be retried. */
  onBusyWait?: (wait: BusyWait) => void;
  /**
   * Stops the wait when aborted (apply's first Ctrl-C): INTERRUPTED at once, not when the
   * timeout has passed. Nothing was opened, so nothing is left to undo.
   */
  signal?: AbortSignal;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;

/**
 * `open()` once the file is free: a TARGET_BUSY failure is retried while `busyTimeoutMs`
 * lasts, then thrown with how long it waited (details.waitedMs). Other failures are thrown
 * at once.
 */
export async function openWhenFree<T>(open: () => Promise<T>, options: BusyWaitOptions): Promise<T> {
  const timeoutMs = Math.max(0, options.busyTimeoutMs ?? 0);
  const signal = options.signal;
  const sleep = options.sleep ?? ((ms: number) => abortableSleep(ms, signal));
  const now = options.now ?? Date.now;
  const started = now();
  let delay = FIRST_DELAY_MS;
  let told = false;
  for (;;) {
    try {
      return await open();
    } catch (e) {
      if (timeoutMs === 0 || !isMlbridgeError(e, 'TARGET_BUSY')) throw e;
      const elapsed = now() - started;
      if (elapsed >= timeoutMs) throw waitedTooLong(e, timeoutMs);
      if (!told) {
        told = true;
        options.onBusyWait?.({ path: String(e.details?.path), holder: (e.details?.holder ?? {}) as FileHolder });
      }
      if (signal?.aborted) throw interruptedWait(e);
      await sleep(Math.min(delay, timeoutMs - elapsed));
      if (signal?.aborted) throw interruptedWait(e);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}

/** Resolves after `ms`, or as soon as `signal` is aborted. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The wait stopped by the signal: INTERRUPTED (the engine reports it as an interrupt before any change). */
function interruptedWait(busy: MlbridgeError): MlbridgeError {
  return new MlbridgeError('INTERRUPTED', `interrupted while waiting for a DuckDB file another process holds`, {
    ...(busy.resource !== undefined ? { resource: busy.resource } : {}),
    cause: busy,
  });
}

/** The busy error as the user reads it after the wait: the same text, and how long it waited. */
function waitedTooLong(busy: MlbridgeError, timeoutMs: number): MlbridgeError {
  return new MlbridgeError('TARGET_BUSY', `${busy.message} (waited ${formatDuration(timeoutMs / 1000)} for it)`, {
    ...(busy.resource !== undefined ? { resource: busy.resource } : {}),
    cause: busy,
    details: { ...busy.details, waitedMs: timeoutMs },
  });
}
