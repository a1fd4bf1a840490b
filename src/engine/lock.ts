// One apply per target at a time (Terraform's state lock). The backend is the target's
// own (a lock file beside a DuckDB file, a lock object for BigQuery); this module only
// decides how long to wait, when a lock left by a dead process may be taken over, and
// what the user is told.

import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import type { LockInfo, Warehouse } from '../warehouse/warehouse.js';
import { canRemoveStale, type LockRecord } from '../warehouse/lock-info.js';
import type { EventSink } from './events.js';
import { interrupted } from './interrupt.js';

let pidNamespaceCache: string | null | undefined;
/** This process's pid namespace on Linux (`pid:[4026531836]`), null elsewhere. */
function pidNamespace(): string | null {
  if (pidNamespaceCache === undefined) {
    try {
      pidNamespaceCache = readlinkSync('/proc/self/ns/pid');
    } catch {
      pidNamespaceCache = null;
    }
  }
  return pidNamespaceCache;
}

export function newLockInfo(operation: string): LockRecord {
  let who = 'unknown';
  try {
    who = `${userInfo().username}@${hostname()}`;
  } catch {
    // userInfo throws when the uid has no passwd entry (containers); the pid still identifies us.
  }
  const ns = pidNamespace();
  return {
    id: randomBytes(8).toString('hex'),
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    operation,
    who,
    ...(ns ? { pidNamespace: ns } : {}),
  };
}

export function lockHeldMessage(holder: LockRecord): string {
  if (holder.unreadable) return `Error acquiring the state lock: ${holder.unreadable}`;
  return (
    `Error acquiring the state lock: lock ${holder.id} held by pid ${holder.pid} on ${holder.host} ` +
    `since ${holder.since} (operation: ${holder.operation})`
  );
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True only when the holder certainly is gone: it ran on this host, in this pid namespace,
 * and no process has its pid. (A reused pid keeps the lock: the safe side.)
 */
export function holderIsDead(holder: LockRecord): boolean {
  if (holder.unreadable || holder.host !== hostname() || !Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  if (holder.pid === process.pid) return false;
  if ((holder.pidNamespace ?? null) !== pidNamespace()) return false;
  return !processAlive(holder.pid);
}

const holderSummary = (h: LockInfo) => ({ id: h.id, pid: h.pid, host: h.host, since: h.since });

export interface AcquireOptions {
  operation: string;
  /** 0: fail at once; else poll until this much time has passed. */
  timeoutMs?: number;
  onEvent?: EventSink;
  /** Aborted: stop waiting for the lock with INTERRUPTED. */
  signal?: AbortSignal;
  /** Poll interval; injected by tests. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface HeldLock {
  info: LockInfo;
  /**
   * Releases the lock. Never throws: the work done under the lock stands either way, so a
   * failed release is reported as a `lock-release-failed` event (a warning) and returns false.
   */
  release: () => Promise<boolean>;
}

/** Takes the target's lock or throws LOCK_HELD naming the holder (details: lockId, holder). */
export async function acquireLock(warehouse: Warehouse, options: AcquireOptions): Promise<HeldLock> {
  const backend = warehouse.lock();
  const info = newLockInfo(options.operation);
  const onEvent = options.onEvent ?? (() => {});
  let takeovers = 0;
  return untilFree<HeldLock>(warehouse, options, async () => {
    const r = await backend.tryAcquire(info);
    if (r.acquired) {
      onEvent({ type: 'lock-acquired', id: info.id });
      return { free: { info, release: () => release(backend, info.id, onEvent) } };
    }
    const holder: LockRecord = r.holder;
    // A lock left by a process that died on this host (kill -9, OOM) blocks nobody: take it over.
    if (takeovers < 3 && canRemoveStale(backend) && holderIsDead(holder)) {
      takeovers++;
      // Not removed: someone else took it over first; the next try sees the new holder.
      if (await backend.removeStale(holder)) onEvent({ type: 'lock-takeover', holder: holderSummary(holder) });
      return { again: true };
    }
    return { holder };
  });
}

/**
 * For a read-only command (plan): returns once no live process holds the target's lock,
 * without taking it, or throws LOCK_HELD as acquireLock does. Checking rather than taking
 * keeps plans from blocking each other (the lock is exclusive: it has no shared mode),
 * while a plan never reads a target that an apply is changing. A lock whose holder died
 * on this host blocks nothing here (nobody is writing); the next apply takes it over.
 */
export async function awaitUnlocked(warehouse: Warehouse, options: Omit<AcquireOptions, 'operation'>): Promise<void> {
  const backend = warehouse.lock();
  return untilFree<void>(warehouse, options, async () => {
    const holder: LockRecord | null = await backend.current();
    return !holder || holderIsDead(holder) ? { free: undefined } : { holder };
  });
}

type Attempt<T> = { free: T } | { again: true } | { holder: LockRecord };

/** Repeats `attempt` until it finds the lock free, polling while `timeoutMs` lasts, then throws LOCK_HELD. */
async function untilFree<T>(warehouse: Warehouse, options: Omit<AcquireOptions, 'operation'>, attempt: () => Promise<Attempt<T>>): Promise<T> {
  const timeoutMs = Math.max(0, options.timeoutMs ?? 0);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const onEvent = options.onEvent ?? (() => {});
  const started = now();
  for (;;) {
    if (options.signal?.aborted) throw interrupted(options.signal, onEvent, 0);
    const r = await attempt();
    if ('free' in r) return r.free;
    if ('again' in r) continue;
    const holder = r.holder;
    const elapsed = now() - started;
    if (elapsed >= timeoutMs) {
      throw new MlbridgeError('LOCK_HELD', lockHeldMessage(holder), {
        resource: warehouse.location,
        details: { lockId: holder.id, holder, ...(holder.unreadable ? { unreadable: holder.unreadable } : {}) },
      });
    }
    onEvent({ type: 'lock-wait', holder: holderSummary(holder) });
    await sleep(Math.min(options.pollMs ?? 500, timeoutMs - elapsed));
  }
}

async function release(backend: ReturnType<Warehouse['lock']>, id: string, onEvent: EventSink): Promise<boolean> {
  try {
    await backend.release(id);
    return true;
  } catch (e) {
    onEvent({ type: 'lock-release-failed', id, message: errorMessage(e) });
    return false;
  }
}

/** `mlbridge force-unlock LOCK_ID`: removes the lock only if that id holds it. */
export async function forceUnlock(warehouse: Warehouse, lockId: string): Promise<void> {
  const backend = warehouse.lock();
  const current = await backend.current();
  if (!current || current.id !== lockId) {
    const held = current ? ` (the lock is held as ${current.id} by pid ${current.pid} on ${current.host})` : ' (no lock is held)';
    throw new MlbridgeError('LOCK_NOT_FOUND', `No lock with id ${lockId} on ${warehouse.location}${held}`, {
      resource: warehouse.location,
      details: { lockId, ...(current ? { holder: current } : {}) },
    });
  }
  await backend.release(lockId);
}
