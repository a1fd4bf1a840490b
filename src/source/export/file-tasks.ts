// The units of work when several threads read one export: whole output files, and when the
// export has fewer files than threads can share (one or two large files are common: a small
// export, or the 32 MiB+ files Datastore writes), byte ranges of the large files, aligned
// to 32 KiB blocks, so every core decodes. Each range yields the records whose FULL or
// FIRST fragment it holds (LogReader's range); the records of a file's ranges, taken in task
// order, are the file's records in file order.
import { firstRepeatedBlock } from './block-fingerprint.js';
import { BLOCK_SIZE, type ByteRange } from './log-format.js';
import type { ExportStore } from './export-store.js';

export interface ExportTask {
  /** Store path of the output file. */
  path: string;
  /** Index of the part (its .export_metadata) the file belongs to. */
  part: number;
  display: string;
  /** Only these bytes of the file (block-aligned); absent: the whole file. */
  range?: ByteRange;
}

/** Files smaller than this are read whole: a range's setup and its read past the end cost more than they save. */
export const SPLIT_MIN_BYTES = 4 * 1024 * 1024;

/**
 * The ranges a file of `size` bytes is read in by `jobs` threads: about size / (jobs × 2)
 * bytes each (two per thread evens out uneven decoding), at least one block. The last range
 * reads to the end of the file, whatever its size by then.
 */
export function splitFile(size: number, jobs: number): ByteRange[] {
  const blocks = Math.ceil(size / BLOCK_SIZE);
  const per = Math.max(1, Math.ceil(blocks / (jobs * 2)));
  const out: ByteRange[] = [];
  for (let b = 0; b < blocks; b += per) out.push({ start: b * BLOCK_SIZE, end: b + per >= blocks ? Infinity : (b + per) * BLOCK_SIZE });
  return out.length ? out : [{ start: 0, end: Infinity }];
}

/**
 * The tasks for `jobs` threads, in file order: the files as they are when there are at least
 * two per thread (or one thread); else each file of SPLIT_MIN_BYTES or more split (splitFile).
 * Sizes come from the store (one stat or metadata request per file, made only then).
 */
export async function splitTasks(store: ExportStore, tasks: ExportTask[], jobs: number): Promise<ExportTask[]> {
  if (jobs <= 1 || tasks.length >= jobs * 2) return tasks;
  const sizes = await Promise.all(tasks.map((t) => store.size(t.path)));
  return tasks.flatMap((t, i) => (sizes[i]! < SPLIT_MIN_BYTES ? [t] : splitFile(sizes[i]!, jobs).map((range) => ({ ...t, range }))));
}

/**
 * A block that occurs in two ranges of one file is copied data, as a whole read of the file
 * would find (each range finds the repeats within itself): throws the error that read
 * throws. `blocks` holds each task's block fingerprints (from readOutputFile), in task order.
 */
export function checkRangeRepeats(tasks: readonly ExportTask[], blocks: readonly (readonly number[] | undefined)[]): void {
  const byFile = new Map<string, { display: string; ranges: (readonly number[])[] }>();
  tasks.forEach((t, i) => {
    if (!t.range) return;
    let f = byFile.get(t.path);
    if (!f) byFile.set(t.path, (f = { display: t.display, ranges: [] }));
    f.ranges.push(blocks[i] ?? []);
  });
  for (const { display, ranges } of byFile.values()) {
    if (ranges.length < 2) continue;
    const e = firstRepeatedBlock(display, ranges);
    if (e) throw e;
  }
}
