// A sorted set of 64-bit fingerprints in shared memory, searched by staging workers without
// a copy each, with a byte per member they set when they meet it. Kept as (high, low) 32-bit
// pairs, not a BigInt64Array: a binary search over plain numbers allocates nothing, where
// every read of a BigInt64Array element makes a BigInt. An index by the top 16 bits narrows
// each search to a few members: a plain binary search over a million spent some 300 ns per
// lookup on cache misses, as much as reading and checking the record.

export interface PrintSet {
  /** Members in ascending signed 64-bit order: high words (signed) at 2i, low words at 2i+1. */
  pairs: Uint32Array;
  /** One byte per member: 1 once a worker met it (shared; each byte written by whoever meets it). */
  hits: Uint8Array;
  /** index[b]: the first member whose high word's top 16 bits (in signed order) are b or more; index[65536] = size. */
  index: Uint32Array;
}

const BUCKETS = 65536;

/** A member's bucket: the top 16 bits of its high word, in signed order. */
function bucketOf(high: number): number {
  return ((high | 0) >> 16) + 32768;
}

/** The set over (high, low) pairs already in ascending signed 64-bit order (shared memory). */
export function printSetOf(pairs: Uint32Array): PrintSet {
  const n = pairs.length >> 1;
  const index = new Uint32Array(new SharedArrayBuffer((BUCKETS + 1) * 4));
  let at = 0;
  for (let b = 0; b <= BUCKETS; b++) {
    while (at < n && bucketOf(pairs[2 * at]!) < b) at++;
    index[b] = at;
  }
  return { pairs, hits: new Uint8Array(new SharedArrayBuffer(n)), index };
}

/** A set over fingerprints already sorted ascending (as SQL's ORDER BY on a BIGINT returns them). */
export function printSet(sorted: BigInt64Array): PrintSet {
  const n = sorted.length;
  const pairs = new Uint32Array(new SharedArrayBuffer(n * 8));
  for (let i = 0; i < n; i++) {
    const v = BigInt.asUintN(64, sorted[i]!);
    pairs[2 * i] = Number(v >> 32n);
    pairs[2 * i + 1] = Number(v & 0xffffffffn);
    if (i > 0 && sorted[i - 1]! > sorted[i]!) throw new RangeError(`fingerprints must be sorted: ${sorted[i - 1]} before ${sorted[i]}`);
  }
  return printSetOf(pairs);
}

/** The halves of a fingerprint as printSet keeps them. */
export function printHalves(print: bigint): [high: number, low: number] {
  const v = BigInt.asUintN(64, print);
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

/** The member's index, or -1. */
export function findPrint(set: PrintSet, high: number, low: number): number {
  const p = set.pairs;
  const h = high | 0;
  const b = bucketOf(h);
  let lo = set.index[b]!;
  let hi = set.index[b + 1]! - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const mh = p[2 * mid]! | 0;
    const ml = p[2 * mid + 1]!;
    if (mh < h || (mh === h && ml < low)) lo = mid + 1;
    else if (mh > h || ml > low) hi = mid - 1;
    else return mid;
  }
  return -1;
}

/** The members no worker met, as signed 64-bit values, ascending. */
export function missedPrints(set: PrintSet): BigInt64Array {
  let n = 0;
  for (let i = 0; i < set.hits.length; i++) n += set.hits[i] === 0 ? 1 : 0;
  const out = new BigInt64Array(n);
  let at = 0;
  for (let i = 0; i < set.hits.length; i++) {
    if (set.hits[i] !== 0) continue;
    out[at++] = BigInt.asIntN(64, (BigInt(set.pairs[2 * i]!) << 32n) | BigInt(set.pairs[2 * i + 1]!));
  }
  return out;
}
