// What a raw (audit log) table already holds, summarised in memory so `serve`'s per-batch
// dedupe does not scan the whole raw table: a Bloom filter answers "certainly not logged"
// for almost every new event, and only the few "maybe" answers (redeliveries, rare false
// positives) are checked against the table itself. A Bloom filter has no false negatives,
// so as long as every row of the table went into it, skipping the check for a "no" is exact.
//
// Scalable (Almeida et al.): when a filter holds its capacity, a new one of twice the size
// is added and queried too, so the false-positive rate stays near TARGET_FP without
// re-reading the table; memory is 3.5 bytes per logged row, up to twice that while a new filter fills.

/** False-positive rate of each filter: a batch of 50 new events looks into raw about once in 10,000 batches. */
const TARGET_FP = 2e-6;
const BITS_PER_ITEM = Math.ceil(-Math.log(TARGET_FP) / Math.LN2 ** 2); // ≈ 28
const HASHES = Math.round(BITS_PER_ITEM * Math.LN2); // ≈ 19
const MIN_CAPACITY = 1 << 14;

class BloomFilter {
  readonly bits: Uint32Array;
  private readonly mask: number;
  count = 0;

  constructor(readonly capacity: number) {
    // A power of two number of bits, so an index is a mask instead of a modulo.
    let words = 1;
    while (words * 32 < capacity * BITS_PER_ITEM) words *= 2;
    this.bits = new Uint32Array(words);
    this.mask = words * 32 - 1;
  }

  add(h1: number, h2: number): void {
    for (let i = 0; i < HASHES; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[b >>> 5]! |= 1 << (b & 31);
    }
    this.count++;
  }

  has(h1: number, h2: number): boolean {
    for (let i = 0; i < HASHES; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[b >>> 5]! & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two independent 32-bit FNV-1a hashes of a string (double hashing derives the rest). */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // h2 odd, so the probe sequence visits distinct bits.
  return [a >>> 0, (b | 1) >>> 0];
}

/** A set that can only answer "certainly not in" or "maybe in"; strings are never stored. */
export class SeenFilter {
  private readonly filters: BloomFilter[];

  constructor(expected = 0) {
    this.filters = [new BloomFilter(Math.max(MIN_CAPACITY, expected))];
  }

  add(value: string): void {
    let last = this.filters[this.filters.length - 1]!;
    if (last.count >= last.capacity) {
      last = new BloomFilter(last.capacity * 2);
      this.filters.push(last);
    }
    const [h1, h2] = hashes(value);
    last.add(h1, h2);
  }

  /** False: `value` was certainly never added. True: it may have been. */
  mayHave(value: string): boolean {
    const [h1, h2] = hashes(value);
    return this.filters.some((f) => f.has(h1, h2));
  }

  /** Bytes held by the filter bits. */
  get bytes(): number {
    return this.filters.reduce((n, f) => n + f.bits.byteLength, 0);
  }
}

/**
 * The summary of one raw table: the event_ids it logged and the keys it logged a DELETE
 * for, with the row count they cover. Whoever holds it compares `rows` with the table's
 * count before trusting it: a table that changed behind its back is read again.
 */
export interface RawLogSummary {
  ids: SeenFilter;
  deletedKeys: SeenFilter;
  rows: number;
}

export function emptyRawLogSummary(expectedRows: number): RawLogSummary {
  return { ids: new SeenFilter(expectedRows), deletedKeys: new SeenFilter(Math.ceil(expectedRows / 8)), rows: 0 };
}
