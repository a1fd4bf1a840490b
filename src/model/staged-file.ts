// A file of staged rows, for a stage that loads files itself (DuckDB's read_json, in its own
// threads): staging workers write their batches as such files instead of handing every
// value to this process's single appender thread. Newline-delimited JSON, one staged
// record per line, with short field names; the column types are the stage's own.

import type { StagedRecord } from './staged.js';
import { flagsJson } from './staged-columns.js';

/** The JSON field of each stage column, and its type as read_json takes it. */
export const STAGED_FILE_FIELDS = {
  k: ['_key', 'VARCHAR'],
  v: ['_version', 'VARCHAR'],
  h: ['_hash', 'VARCHAR'],
  o: ['operation', 'VARCHAR'],
  e: ['event_id', 'VARCHAR'],
  t: ['event_time', 'VARCHAR'],
  s: ['_score', 'DOUBLE'],
  f: ['flags', 'VARCHAR'],
  r: ['row', 'VARCHAR'],
  d: ['data', 'VARCHAR'],
  x: ['reason', 'VARCHAR'],
  p: ['src_print', 'VARCHAR'],
} as const;

export interface StagedFile {
  path: string;
  /** Records in the file. */
  rows: number;
}

/** One line of a staged file (no newline). An empty event id is written as null. */
export function stagedFileLine(r: StagedRecord): string {
  return JSON.stringify({
    k: r.key,
    v: r.version,
    h: r.hash,
    o: r.operation,
    e: r.eventId === '' ? null : r.eventId,
    t: r.eventTime,
    s: r.score,
    f: flagsJson(r.flags),
    r: r.row,
    d: r.data,
    x: r.reason,
    p: r.sourcePrint ?? null,
  });
}
