// The DuckDB apply lock: a file next to the database, so that it works without opening
// the database (DuckDB lets one process at a time open it) or even having it yet.

import { link, mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import type { LockBackend, LockInfo } from './warehouse.js';
import { UNREADABLE_LOCK_ID, type LockRecord, type StaleLockRemoval } from './lock-info.js';
import { folderError } from './duckdb-errors.js';

export { UNREADABLE_LOCK_ID };

const writeText = async (fh: FileHandle, text: string): Promise<void> => {
  await fh.writeFile(text);
};

/** `<db>.mlbridge.lock`, created with O_EXCL: works without opening (or even having) the database. */
export class FileLock implements LockBackend, StaleLockRemoval {
  constructor(
    readonly file: string,
    private readonly beforeRelease?: () => Promise<void>,
    /** Writes the lock record into the new file; injected by tests (a full disk). */
    private readonly write: (fh: FileHandle, text: string) => Promise<void> = writeText,
  ) {}

  async tryAcquire(info: LockInfo): Promise<{ acquired: true } | { acquired: false; holder: LockInfo }> {
    await mkdir(dirname(this.file), { recursive: true }).catch((e: unknown) => {
      throw folderError(dirname(this.file), e);
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(this.file, 'wx', 0o644);
        try {
          await this.write(fh, JSON.stringify(info));
          await fh.close();
        } catch (e) {
          // A full disk leaves the file created but empty: an empty lock would block every
          // later apply, so remove the file we just made and say why the lock was not taken.
          await fh.close().catch(() => undefined);
          await unlink(this.file).catch(() => undefined);
          throw new MlbridgeError('TARGET_ERROR', `Cannot write the lock file ${this.file} (the lock was not taken): ${errorMessage(e)}`, { cause: e });
        }
        return { acquired: true };
      } catch (e) {
        if (e instanceof MlbridgeError) throw e;
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new MlbridgeError('TARGET_ERROR', `Cannot create the lock file ${this.file}: ${errorMessage(e)}`, { cause: e });
        }
      }
      const holder = await this.current();
      // An unreadable file may still be being written by its holder: look again before naming it.
      if (holder && (holder.id !== UNREADABLE_LOCK_ID || attempt >= 20)) return { acquired: false, holder };
      // Removed between our open and read, or still being written: look again.
      if (!holder && attempt >= 20) {
        return { acquired: false, holder: { id: 'unknown', pid: 0, host: 'unknown', since: 'unknown', operation: 'unknown', who: 'unknown' } };
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async release(id: string): Promise<void> {
    const cur = await this.current();
    if (!cur || cur.id !== id) return;
    try {
      await this.beforeRelease?.();
    } finally {
      await unlink(this.file).catch(() => undefined);
    }
  }

  /**
   * Removes the lock only if `stale` still holds it. The file is first renamed aside (atomic:
   * of two processes taking over at once only one gets it), then checked; a lock that turns
   * out to be someone else's (taken between our read and the rename) is linked back, which
   * fails rather than overwrite a newer lock.
   */
  async removeStale(stale: LockInfo): Promise<boolean> {
    const aside = `${this.file}.stale-${process.pid}-${Date.now()}`;
    try {
      await rename(this.file, aside);
    } catch {
      return false; // already gone: the caller simply tries to take it
    }
    const moved = await readLockFile(aside);
    if (typeof moved !== 'object' || moved?.id !== stale.id) {
      await link(aside, this.file).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      return false;
    }
    await unlink(aside).catch(() => undefined);
    return true;
  }

  async current(): Promise<LockRecord | null> {
    const info = await readLockFile(this.file);
    if (info !== 'unreadable') return info;
    // Empty or half-written (its writer was killed between create and write, or an older
    // mlbridge ran out of disk there). Still a held lock, under a fixed id, so that
    // `force-unlock unreadable` can release it.
    const since = (await stat(this.file).catch(() => null))?.mtime.toISOString() ?? 'unknown';
    return {
      id: UNREADABLE_LOCK_ID,
      pid: 0,
      host: 'unknown',
      since,
      operation: `unknown: ${this.file} is empty or corrupt`,
      who: 'unknown',
      unreadable: `the lock file ${this.file} is empty or unreadable (an apply was killed while taking the lock, or the disk was full)`,
    };
  }
}

/** The lock record in `file`, null when there is no file, 'unreadable' when it does not parse. */
async function readLockFile(file: string): Promise<LockRecord | null | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const info = JSON.parse(text) as LockRecord;
    if (typeof info?.id === 'string') return info;
  } catch {
    // fall through
  }
  return 'unreadable';
}
