// Failures that only mean "not now": the target is held by another process (a DuckDB file
// open elsewhere: TARGET_BUSY) or locked by another run (an `apply` by hand: LOCK_HELD).
// serve answers them 503 with Retry-After, so Cloud Scheduler and Pub/Sub retry with
// backoff; anything else stays a failure (a bug in a reconcile answers 500). Told apart by
// the error's code, never its text.

import { isMlbridgeError } from '../model/errors.js';

/** Seconds a client is asked to wait (Retry-After) before trying a busy target again. */
export const RETRY_AFTER_SECONDS = 30;

export interface Busy {
  /** Why, naming the holder when it is known. */
  reason: string;
  /** The holder as the error's details give it (a lock's id, operation, who, since; a process and pid). */
  holder?: Record<string, unknown>;
}

/** The target was busy, or null when `e` is another failure. */
export function busyTarget(e: unknown): Busy | null {
  const target = (e: { resource?: string }) => e.resource ?? 'the target';
  if (isMlbridgeError(e, 'TARGET_BUSY')) {
    const h = e.details?.holder;
    if (!isRecord(h) || h.pid === undefined) return { reason: `${target(e)} is in use by another process` };
    return { reason: `${target(e)} is in use by another process (${String(h.process)}, PID ${String(h.pid)})`, holder: h };
  }
  if (isMlbridgeError(e, 'LOCK_HELD')) {
    const h = e.details?.holder;
    if (!isRecord(h) || typeof h.unreadable === 'string') return { reason: e.message };
    const holder = { id: h.id, operation: h.operation, who: h.who, pid: h.pid, host: h.host, since: h.since };
    return {
      reason: `${target(e)} is locked by another mlbridge run: lock ${String(h.id)} (operation: ${String(h.operation)}) held by ${String(h.who)} (pid ${String(h.pid)} on ${String(h.host)}) since ${String(h.since)}`,
      holder,
    };
  }
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
