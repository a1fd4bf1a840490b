// Block fingerprints, taken once per 32 KiB block before any of its records come out. The
// framing carries nothing that ties a LAST fragment to its FIRST, so a block copied elsewhere
// in the file (a replayed write) would splice the tail of one record onto the head of another
// and repeat every record in it. A block is fingerprinted by its record headers, whose
// checksums cover the payloads; a block whose fingerprint was seen before in the file is
// damage. That alone cannot protect records read before the repeat shows (the copy may come
// first): a reader that skips damage first scans the file's fingerprints (scanRepeatedBlocks
// in log-reader.ts) and skips every occurrence of a repeated block, each time with the record
// it would have finished, so no record is ever assembled across a copied block. The ranges of
// one file read by several threads merge their fingerprints (firstRepeatedBlock).
import type { MlbridgeError } from '../../model/errors.js';
import { BLOCK_SIZE, FIRST, FULL, HEADER_SIZE, LAST, corruptError } from './log-format.js';

/**
 * The first block (in file order) whose fingerprint an earlier block of the file has, from
 * the blockFingerprints() of the ranges of one file: the error a whole read would throw.
 */
export function firstRepeatedBlock(file: string, ranges: readonly (readonly number[])[]): MlbridgeError | undefined {
  const all: [number, number][] = [];
  for (const pairs of ranges) for (let i = 0; i + 1 < pairs.length; i += 2) all.push([pairs[i + 1]!, pairs[i]!]);
  all.sort((a, b) => a[0] - b[0]);
  const seen = new Map<number, number>();
  for (const [offset, sig] of all) {
    const first = seen.get(sig);
    if (first !== undefined) return corruptError(file, offset, `block repeats the block at byte offset ${first} (copied data)`);
    seen.set(sig, offset);
  }
  return undefined;
}

/**
 * A 53-bit fingerprint of a whole block from its record headers (offset, masked CRC32C,
 * length, type): the checksums cover every payload byte. Undefined for a block with no
 * FULL, FIRST or LAST record. Walks headers only; damage is left to the parser.
 */
export function blockFingerprint(block: Uint8Array): number | undefined {
  let h1 = 0x9e3779b9;
  let h2 = 0x85ebca6b;
  let boundary = false;
  let p = 0;
  while (BLOCK_SIZE - p >= HEADER_SIZE) {
    const length = block[p + 4]! | (block[p + 5]! << 8);
    const type = block[p + 6]!;
    if (type === 0 && length === 0) break;
    const crc = (block[p]! | (block[p + 1]! << 8) | (block[p + 2]! << 16) | (block[p + 3]! << 24)) >>> 0;
    if (type === FULL || type === FIRST || type === LAST) boundary = true;
    h1 = mix(h1 ^ crc, p);
    h2 = mix(h2 ^ (length | (type << 16)), crc);
    if (HEADER_SIZE + length > BLOCK_SIZE - p) break;
    p += HEADER_SIZE + length;
  }
  if (!boundary) return undefined;
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h, 0x1b873593);
  h ^= h >>> 16;
  return Math.imul(h, 0x85ebca6b) ^ (h >>> 13);
}
