// The DuckDB apply lock: a file next to the database, so that it works without opening
// the database (DuckDB lets one process at a time open it) or even having it yet.

import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import type { LockBackend, LockInfo } from './warehouse.js';
import { folderError } from './duckdb-errors.js';

/** The id under which a lock file that cannot be parsed is reported (and force-unlocked). */
export const UNREADABLE_LOCK_ID = 'unreadable';

/** `<db>.mlbridge.lock`, created with O_EXCL: works without opening (or even having) the database. */
export class FileLock implements LockBackend {
  constructor(
    readonly file: string,
    private readonly beforeRelease?: () => Promise<void>,
  ) {}

  async tryAcquire(info: LockInfo): Promise<{ acquired: true } | { acquired: false; holder: LockInfo }> {
    await mkdir(dirname(this.file), { recursive: true }).catch((e: unknown) => {
      throw folderError(dirname(this.file), e);
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(this.file, 'wx', 0o644);
        try {
          await fh.writeFile(JSON.stringify(info));
        } finally {
          await fh.close();
        }
        return { acquired: true };
      } catch (e) {
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

  async current(): Promise<LockInfo | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return null;
    }
    try {
      const info = JSON.parse(text) as LockInfo;
      if (typeof info?.id === 'string') return info;
    } catch {
      // fall through: empty or half-written (its writer was killed between create and write)
    }
    // Still a held lock, under a fixed id, so that `force-unlock unreadable` can release it.
    const since = (await stat(this.file).catch(() => null))?.mtime.toISOString() ?? 'unknown';
    return { id: UNREADABLE_LOCK_ID, pid: 0, host: 'unknown', since, operation: `unknown: ${this.file} is empty or corrupt`, who: 'unknown' };
  }
}
