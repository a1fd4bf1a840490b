// Staged records of one kind in columns: the batch every write path hands a warehouse stage.
// Worker threads send it between threads as is (arrays of strings and numbers clone far
// cheaper than an object per record), and the DuckDB stage appends straight from it. Flags
// travel as JSON text, worked out once where the record was staged.

import type { StagedRecord } from './staged.js';

export interface StagedColumns {
  kind: string;
  key: string[];
  version: string[];
  hash: string[];
  operation: StagedRecord['operation'][];
  eventId: string[];
  eventTime: (string | null)[];
  score: number[];
  /** The record's flags as a JSON array. */
  flags: string[];
  row: (string | null)[];
  data: (string | null)[];
  reason: (string | null)[];
}

export function emptyColumns(kind: string): StagedColumns {
  return { kind, key: [], version: [], hash: [], operation: [], eventId: [], eventTime: [], score: [], flags: [], row: [], data: [], reason: [] };
}

const NO_FLAGS = '[]';

/** A record's flags as the JSON array every stage stores (the common empty one not re-serialised). */
export function flagsJson(flags: readonly string[]): string {
  return flags.length === 0 ? NO_FLAGS : JSON.stringify(flags);
}

export function pushRecord(c: StagedColumns, r: StagedRecord): void {
  c.key.push(r.key);
  c.version.push(r.version);
  c.hash.push(r.hash);
  c.operation.push(r.operation);
  c.eventId.push(r.eventId);
  c.eventTime.push(r.eventTime);
  c.score.push(r.score);
  c.flags.push(flagsJson(r.flags));
  c.row.push(r.row);
  c.data.push(r.data);
  c.reason.push(r.reason);
}

/** The columns of these records (all of one kind). */
export function toColumns(kind: string, records: readonly StagedRecord[]): StagedColumns {
  const c = emptyColumns(kind);
  for (const r of records) pushRecord(c, r);
  return c;
}

/** Record i of the batch, as an object (for targets that write a record at a time). */
export function recordAt(c: StagedColumns, i: number): StagedRecord {
  return {
    key: c.key[i]!,
    version: c.version[i]!,
    hash: c.hash[i]!,
    operation: c.operation[i]!,
    eventId: c.eventId[i]!,
    eventTime: c.eventTime[i]!,
    score: c.score[i]!,
    flags: JSON.parse(c.flags[i]!) as string[],
    row: c.row[i]!,
    data: c.data[i]!,
    reason: c.reason[i]!,
  };
}
