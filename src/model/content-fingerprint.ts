// A row's content fingerprint: 60 bits of md5 over its `_key` and `_hash`. Before an apply
// stages a snapshot, the target hands staging the sorted fingerprints of its current rows;
// a record whose fingerprint is among them holds what current already holds (same key, same
// mapped content), so it is staged without its row and raw-log fields, as a plan stages it.
// Only the changed rows then carry their content through staging. The target computes the
// same value in SQL (warehouse/duckdb-stage.ts); a collision (about 1e-12 per record) can
// only leave a changed row without its content, which the merge refuses loudly.

import { md5Hex } from './sha256.js';

export function contentFingerprint(key: string, hash: string): bigint {
  return BigInt(`0x${md5Hex(`${key}\n${hash}`).slice(0, 15)}`);
}

/** Whether the sorted fingerprints hold `fp` (binary search). */
export function hasFingerprint(sorted: BigInt64Array, fp: bigint): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === fp) return true;
    if (v < fp) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
