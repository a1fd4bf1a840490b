// The memory a DuckDB target works in: the limit an instance starts with (from the
// environment, or a default by access mode), where it spills, and how the limit is shared
// with the deletion info DuckDB keeps for the tables a reconcile scans (key-partitions.ts
// sizes both). The warehouse (duckdb.ts) opens instances with memorySettings and gives its
// stages retainFor and workMemoryBytes through StageMemory.

import type { DuckDBConnection } from '@duckdb/node-api';
import { MlbridgeError } from '../model/errors.js';
import { positiveIntegerEnv } from '../model/env-number.js';
import type { DuckSql } from './duckdb-catalog.js';
import { checkUserLimit, deletionInfoBytes, duckSizeBytes } from './key-partitions.js';

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

/** The memory limit of an open target as its stages see it (see DuckStageHost.retainFor and workMemoryBytes). */
export class StageMemory {
  /**
   * Bytes of deletion info DuckDB holds for the tables a reconcile scans (retainFor): the
   * default memory limit was raised by them; a limit the user set has that much less room.
   */
  private retained = 0;

  constructor(private readonly readOnly: boolean) {}

  /** The limit, in bytes, the target started with. */
  limitBytes(): number {
    return duckSizeBytes(memoryLimit(this.readOnly)) ?? DEFAULT_LIMIT_BYTES;
  }

  async retainFor(sql: DuckSql, c: DuckDBConnection, rows: number, resource: string, limitBytes: number): Promise<void> {
    const bytes = deletionInfoBytes(rows);
    if (bytes <= this.retained) return;
    const userLimit = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
    // Only the default limit grows: a limit the user set is theirs to size, and the
    // reconcile's work is sized for what the deletion info leaves of it.
    if (userLimit === undefined) await sql.run(c, `SET memory_limit = '${Math.ceil((limitBytes + bytes) / 1e6)}MB'`);
    else checkUserLimit(resource, userLimit, limitBytes, rows);
    this.retained = bytes;
  }

  workMemoryBytes(limitBytes: number): number {
    return process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT === undefined ? limitBytes : limitBytes - this.retained;
  }

  /** The database closed: the limit is back to what it started with. */
  forget(): void {
    this.retained = 0;
  }
}
