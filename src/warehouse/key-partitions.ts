// Key partitions of a snapshot's joins in DuckDB, and the memory they are sized for (a
// DuckDB size setting). A reconcile joins every staged row (the
// stage table's and the source memo's) with every current row by `_key`. DuckDB spills a
// join that outgrows its memory limit, but not every join shape all the way: 5M memo rows
// joined with 5M current rows ran out of memory at the plan's 128MB limit, whichever shape
// the diff took (full join; left join plus orphan anti-join; grouped or materialized), after
// a drift apply had rewritten part of current, while the same join over a freshly loaded
// table stayed just within it (DuckDB 1.5.5, which also kept the deletion info of both
// tables within the limit). Splitting both sides by a hash of the key gives passes that
// each join a share of the keys: a key lands in the same pass on both sides, so the union of
// the passes is the whole join, and each pass needs a share of the memory.
//
// How many passes: the rows of the larger side, times the bytes a join row takes (the key,
// plus JOIN_ROW_BYTES for the hash, version and DuckDB's own bookkeeping), over the memory
// limit. 2.5M rows per pass (some 2.3x the limit in such bytes) ran within 128MB where 5M
// (4.5x) did not; a pass is sized at one limit's worth, a margin of about 2.3x. A million
// short keys take one pass at 128MB, as before.


/** Bytes a staged or current row takes in a key join, besides its key. */
export const JOIN_ROW_BYTES = 100;

/**
 * At most this many passes: each pass inserts into the changes table, and DuckDB gives every
 * insert blocks of its own (thousands of tiny passes ran a 12k-row apply out of 256MB).
 * 64 passes of one 128MB limit each cover some 75M short keys.
 */
export const MAX_PASSES = 64;

/** The units DuckDB's memory_limit takes (1000^i for KB…TB and K…T, 1024^i for KiB…TiB); it refuses a bare number. */
const UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1e3,
  kb: 1e3,
  kilobyte: 1e3,
  kilobytes: 1e3,
  m: 1e6,
  mb: 1e6,
  megabyte: 1e6,
  megabytes: 1e6,
  g: 1e9,
  gb: 1e9,
  gigabyte: 1e9,
  gigabytes: 1e9,
  t: 1e12,
  tb: 1e12,
  terabyte: 1e12,
  terabytes: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A DuckDB size setting ("128MB", "1.5 GiB", "512kb", "2G") in bytes; undefined when DuckDB would not take it. */
export function duckSizeBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(m[1]) * unit;
  return Number.isFinite(bytes) && bytes > 0 ? bytes : undefined;
}

export interface KeyPartitionInput {
  /** Rows on the staged side (stage table and memo). */
  staged: number;
  /** Rows of current. */
  current: number;
  /** Mean length of a key in bytes. */
  meanKeyBytes: number;
  memoryLimitBytes: number;
  /** Rows a pass may hold, when set (MLBRIDGE_DUCKDB_ROWS_PER_PASS): overrides the estimate. */
  rowsPerPass?: number;
}

/** The number of passes (≥ 1) a snapshot's key joins take. */
export function keyPartitions(input: KeyPartitionInput): number {
  const rows = Math.max(input.staged, input.current, 0);
  const perPass =
    input.rowsPerPass !== undefined && input.rowsPerPass > 0
      ? Math.floor(input.rowsPerPass)
      : Math.floor(input.memoryLimitBytes / (Math.max(0, input.meanKeyBytes) + JOIN_ROW_BYTES));
  if (rows === 0 || perPass <= 0) return 1;
  return Math.min(MAX_PASSES, Math.max(1, Math.ceil(rows / perPass)));
}

/** `relation` restricted to pass `pass` of `passes` by its `_key` (itself when one pass). */
export function keyPart(relation: string, passes: number, pass: number): string {
  if (passes <= 1) return relation;
  return `(SELECT * FROM ${relation} WHERE hash(_key) % ${passes} = ${pass})`;
}
