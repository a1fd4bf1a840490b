// One apply per target at a time (Terraform's state lock). The backend is the target's
// own (a lock file beside a DuckDB file, a lock object for BigQuery); this module only
// decides how long to wait and what the user is told.

import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { MlbridgeError } from '../model/errors.js';
import type { LockInfo, Warehouse } from '../warehouse/warehouse.js';
import type { EventSink } from './events.js';

export function newLockInfo(operation: string): LockInfo {
  let who = 'unknown';
  try {
    who = `${userInfo().username}@${hostname()}`;
  } catch {
    // userInfo throws when the uid has no passwd entry (containers); the pid still identifies us.
  }
  return {
    id: randomBytes(8).toString('hex'),
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    operation,
    who,
  };
}

export function lockHeldMessage(holder: LockInfo): string {
  return (
    `Error acquiring the state lock: lock ${holder.id} held by pid ${holder.pid} on ${holder.host} ` +
    `since ${holder.since} (operation: ${holder.operation})`
  );
}

export interface AcquireOptions {
  operation: string;
  /** 0: fail at once; else poll until this much time has passed. */
  timeoutMs?: number;
  onEvent?: EventSink;
  /** Poll interval; injected by tests. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Takes the target's lock or throws LOCK_HELD naming the holder. Returns the release function. */
export async function acquireLock(warehouse: Warehouse, options: AcquireOptions): Promise<{ info: LockInfo; release: () => Promise<void> }> {
  const backend = warehouse.lock();
  const info = newLockInfo(options.operation);
  const timeoutMs = Math.max(0, options.timeoutMs ?? 0);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const started = now();
  for (;;) {
    const r = await backend.tryAcquire(info);
    if (r.acquired) {
      options.onEvent?.({ type: 'lock-acquired', id: info.id });
      return { info, release: () => backend.release(info.id) };
    }
    const elapsed = now() - started;
    if (elapsed >= timeoutMs) {
      throw new MlbridgeError('LOCK_HELD', lockHeldMessage(r.holder), { resource: warehouse.location });
    }
    const { id, pid, host, since } = r.holder;
    options.onEvent?.({ type: 'lock-wait', holder: { id, pid, host, since } });
    await sleep(Math.min(options.pollMs ?? 500, timeoutMs - elapsed));
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
    });
  }
  await backend.release(lockId);
}
