// DuckDB failures as the user should read them: without our SQL, naming what to do.

import { MlbridgeError, errorMessage } from '../model/errors.js';

/**
 * DuckDB's message without the SQL excerpt and caret it appends (our SQL, not the user's).
 * Running out of memory, DuckDB advises on its own settings (`SET threads=X`, `SET
 * memory_limit`), which mlbridge sets itself: the advice becomes the setting the user has.
 */
export function duckMessage(e: unknown): string {
  const message = errorMessage(e).replace(/\n+LINE \d+:[\s\S]*$/, '');
  const oom = /^Out of Memory Error: ([^\n]*)/.exec(message);
  if (!oom) return message;
  const set = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
  const advice =
    set === undefined
      ? 'set MLBRIDGE_DUCKDB_MEMORY_LIMIT to a larger size than the default (128MB for plan, 256MB for apply and serve), e.g. 1GB'
      : `MLBRIDGE_DUCKDB_MEMORY_LIMIT=${set} is too small for this work: raise it, or unset it for the default`;
  return `DuckDB ran out of memory (${oom[1]!.replace(/\.$/, '')}): ${advice}`;
}

/** DuckDB names our scratch table in NOT NULL failures; say what the user can do instead. */
export function replaceFailure(message: string, tmp: string): string {
  const notNull = /NOT NULL constraint failed: (?:[^\s.]+\.)?(\S+)/.exec(message);
  if (!notNull || !message.includes(tmp)) return message;
  const column = notNull[1]!.replace(/^"|"$/g, '');
  return `existing rows hold NULL in column ${column}, which the spec makes REQUIRED; fill or delete those rows, or keep ${column} NULLABLE`;
}

/** The folder of the DuckDB file cannot be created: say which path is in the way. */
export function folderError(folder: string, e: unknown): MlbridgeError {
  const err = e as NodeJS.ErrnoException;
  const why =
    err.code === 'EEXIST' || err.code === 'ENOTDIR'
      ? `${err.path ?? folder} exists and is not a folder`
      : errorMessage(e);
  return new MlbridgeError('TARGET_ERROR', `Cannot create the folder ${folder} for the DuckDB file: ${why}`, { cause: e });
}

/**
 * DuckDB refuses to open a file that another process holds: `IO Error: Could not set lock on
 * file "P": Conflicting lock is held in /usr/bin/node (PID 42). …`. @duckdb/node-api (1.5)
 * throws a plain Error for it, with no error type and no properties, only this text; so
 * this is the one place that reads DuckDB's message, to tell a busy file (transient: retry
 * later) from a broken one. DuckDB may append advice for its own CLI ("However, you would
 * be able to open this database in read-only mode …"), which is not ours to show.
 */
const LOCK_CONFLICT = /Could not set lock on file "([^"]*)"(?:: Conflicting lock is held in (.+?) \(PID (\d+)\))?/;

/** The holder of a DuckDB file another process has open, as DuckDB names it. */
export interface FileHolder {
  /** The holder's executable, e.g. /usr/bin/node. */
  process?: string;
  pid?: number;
}

/**
 * TARGET_BUSY when `e`, or an error it wraps (`cause`), is DuckDB refusing to open a file
 * another process holds; null for any other failure. details: `path`, `holder` ({process, pid}).
 */
export function fileInUse(e: unknown): MlbridgeError | null {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof MlbridgeError && cur.code === 'TARGET_BUSY') return cur;
    if (cur instanceof MlbridgeError) continue;
    const m = LOCK_CONFLICT.exec(cur.message);
    if (!m) continue;
    const path = m[1]!;
    const holder: FileHolder = m[2] !== undefined ? { process: m[2], pid: Number(m[3]) } : {};
    const who = holder.pid !== undefined ? ` (${holder.process}, PID ${holder.pid})` : '';
    return new MlbridgeError(
      'TARGET_BUSY',
      `The DuckDB file ${path} is in use by another process${who}; DuckDB lets a file be open for writing in one process only, and not while another reads it — try again once that process has finished`,
      { resource: `duckdb:${path}`, cause: e, details: { path, holder } },
    );
  }
  return null;
}
