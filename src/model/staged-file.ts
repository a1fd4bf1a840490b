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

/**
 * One kind's staged records as the bytes of a staged file (UTF-8 lines), written as each is
 * staged. Collecting them as strings to join at the end kept every line alive until the file
 * was written, so a worker's young-generation collections promoted them all: in a
 * single-thread harness over 194k bench entities, staging took some 20% more CPU per record
 * (19-21 µs against 15.5-16.8 µs) than writing each line into a growing buffer at once.
 */
export class StagedFileBuffer {
  private buf: Buffer;
  private at = 0;
  /** Records in the buffer. */
  rows = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes in the buffer. */
  get bytes(): number {
    return this.at;
  }

  push(r: StagedRecord): void {
    const line = stagedFileLine(r);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8; one more for the newline.
    const most = line.length * 3 + 1;
    if (this.at + most > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + most));
      this.buf.copy(grown, 0, 0, this.at);
      this.buf = grown;
    }
    this.at += this.buf.write(line, this.at);
    this.buf[this.at++] = 0x0a;
    this.rows++;
  }

  /** The file's bytes so far (a view of the buffer: valid until the next push). */
  contents(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}
