// Shared by the export commands: error text without stacks, damaged-record reports.
import type { CliIO } from './io.js';
import { EXIT } from './io.js';
import { errorMessage, isMlbridgeError } from '../model/errors.js';
import type { CorruptRecord } from '../source/export/log-format.js';
import type { ShortPart } from '../source/export/read-export.js';

export class CorruptTally {
  readonly records: CorruptRecord[] = [];
  count = 0;
  add = (c: CorruptRecord): void => {
    this.count++;
    if (this.records.length < 100) this.records.push(c);
  };
  /** Damaged records counted but not listed (a worker lists at most 100 per file). */
  addOmitted = (n: number): void => {
    this.count += n;
  };
  readonly short: ShortPart[] = [];
  addShort = (s: ShortPart): void => {
    this.short.push(s);
  };
  /** Writes "skipped N damaged record(s)" and where, then the parts that came up short, to stderr. */
  report(io: CliIO): void {
    if (this.count) {
      const lines = [`warning: skipped ${this.count} damaged record${this.count === 1 ? '' : 's'}:`];
      for (const c of this.records) lines.push(`  ${c.file}: byte offset ${c.offset}: ${c.reason}`);
      if (this.count > this.records.length) lines.push(`  … and ${this.count - this.records.length} more`);
      io.stderr.write(`${lines.join('\n')}\n`);
    }
    // The count a part came up short by, after the list: one damaged block can hide several records.
    for (const s of this.short) {
      const why = s.damaged ? 'damaged records were skipped' : 'its output files are missing or incomplete';
      io.stderr.write(`warning: ${s.metadata}: the export lists ${s.expected} entities here but only ${s.found} were read; ${why}\n`);
    }
  }
}

/** --jobs is a thread count: a positive whole number. Prints the error and returns true when it is not. */
export function rejectJobs(io: CliIO, jobs: number | undefined): boolean {
  if (jobs === undefined || (Number.isSafeInteger(jobs) && jobs >= 1)) return false;
  io.stderr.write(`Error: --jobs must be a positive whole number, not ${JSON.stringify(String(jobs))}\n`);
  return true;
}

/** Prints a failure the way users should see it (message only) and returns the exit code. */
export function failCommand(io: CliIO, e: unknown): number {
  // The one way the CLI shows errors (README): `Error: <message>`, never a stack.
  const msg = `Error: ${isMlbridgeError(e) ? e.message : errorMessage(e)}`;
  io.stderr.write(`${msg}\n`);
  return EXIT.ERROR;
}

/**
 * Tracks whether the reader of a stream went away (`| head`): EPIPE then ends output
 * quietly instead of crashing with an unhandled 'error' event.
 */
export function watchClosed(stream: NodeJS.WritableStream): () => boolean {
  let closed = false;
  // Any write error (EPIPE above all) means nobody is reading: stop producing output.
  stream.on('error', () => {
    closed = true;
  });
  return () => closed;
}

/** Writes text, waiting when the stream asks us to (large dumps through a pipe). */
export function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> | undefined {
  if (stream.write(text)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
}
