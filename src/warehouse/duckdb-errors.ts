// DuckDB failures as the user should read them: without our SQL, naming what to do.

import { MlbridgeError, errorMessage } from '../model/errors.js';

/** DuckDB's message without the SQL excerpt and caret it appends (our SQL, not the user's). */
export function duckMessage(e: unknown): string {
  return errorMessage(e).replace(/\n+LINE \d+:[\s\S]*$/, '');
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
