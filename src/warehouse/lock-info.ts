// What a lock backend stores and reports beyond the LockInfo every backend shares. The
// backends write the whole record as JSON, so these fields travel with the lock.

import type { LockBackend, LockInfo } from './warehouse.js';

/** The id under which a lock that exists but cannot be read is reported (and force-unlocked). */
export const UNREADABLE_LOCK_ID = 'unreadable';

export interface LockRecord extends LockInfo {
  /**
   * The holder's Linux pid namespace (`pid:[4026531836]`): a pid names the same process only
   * within one namespace, so two containers sharing a hostname never judge each other's pids.
   */
  pidNamespace?: string;
  /** Set when the lock exists but cannot be read (empty, half-written, corrupt): what is wrong, naming the file or table. */
  unreadable?: string;
}

/** A backend that can remove a lock only while `stale` still holds it (to take over a dead holder's lock). */
export interface StaleLockRemoval {
  removeStale(stale: LockInfo): Promise<boolean>;
}

export function canRemoveStale(backend: LockBackend): backend is LockBackend & StaleLockRemoval {
  return typeof (backend as Partial<StaleLockRemoval>).removeStale === 'function';
}
