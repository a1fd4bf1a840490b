// The memory a DuckDB target works in: the limit an instance starts with (from the
// environment, or a default by access mode) and where it spills. The warehouse (duckdb.ts)
// opens instances with memorySettings and gives its stages the limit (memoryLimitBytes), which
// key-partitions.ts sizes a snapshot's key joins for.

import { MlbridgeError } from '../model/errors.js';
import { positiveIntegerEnv } from '../model/env-number.js';
import { duckSizeBytes } from './key-partitions.js';

/**
 * DuckDB's buffer limit, so staging a large source spills to disk instead of growing the
 * process (DuckDB's default is 80% of RAM): MLBRIDGE_DUCKDB_MEMORY_LIMIT (a DuckDB size such
 * as "1GB"), default 256MB for a target opened to write (apply, serve: the merge of a large
 * snapshot spills less) and 128MB read-only (plan: it stages and diffs, a join and counts
 * that spill at no great cost; the plan of 1M entities peaks under 400 MB of RSS). Spill
 * files go to `spillDir` and are removed when DuckDB closes. Insertion order is not kept:
 * nothing mlbridge reads depends on it, and keeping it costs memory.
 */
export function memorySettings(spillDir: string, readOnly: boolean): Record<string, string> {
  return {
    memory_limit: memoryLimit(readOnly),
    temp_directory: spillDir,
    preserve_insertion_order: 'false',
  };
}

/**
 * The DuckDB memory limit (a DuckDB size) a target opened so starts with. A setting DuckDB
 * would refuse ("lots", "80%", a bare number) is INVALID_ARGUMENT naming the variable, not
 * DuckDB's "Failed to set config" at the first statement.
 */
function memoryLimit(readOnly: boolean): string {
  const set = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
  if (set === undefined) return readOnly ? '128MB' : '256MB';
  if (duckSizeBytes(set) === undefined) {
    throw new MlbridgeError('INVALID_ARGUMENT', `MLBRIDGE_DUCKDB_MEMORY_LIMIT: ${JSON.stringify(set)} is not a size DuckDB takes (use e.g. 512MB, 2GB or 1.5GiB)`);
  }
  return set;
}

/** The plan's limit: what a snapshot join is sized for when the configured limit is no size. */
const DEFAULT_LIMIT_BYTES = 128e6;

/**
 * MLBRIDGE_DUCKDB_ROWS_PER_PASS: rows each pass of a snapshot's key joins may hold
 * (key-partitions.ts), instead of the estimate from the memory limit; unset: the estimate.
 * Anything but a positive integer is INVALID_ARGUMENT naming the variable.
 */
export function rowsPerPass(): number | undefined {
  return positiveIntegerEnv(process.env, 'MLBRIDGE_DUCKDB_ROWS_PER_PASS', 'rows');
}

/** The limit, in bytes, a target opened so starts with: what a snapshot's key joins and the memo's sort are sized for. */
export function memoryLimitBytes(readOnly: boolean): number {
  return duckSizeBytes(memoryLimit(readOnly)) ?? DEFAULT_LIMIT_BYTES;
}
