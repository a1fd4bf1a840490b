// The print of an export record: a 64-bit xxHash of the EntityProto's encoded bytes (the
// source memo's index, see record/source-memo.ts). xxHash64 (xxhash-wasm: a small, well-kept
// WebAssembly build) costs some 0.25 µs for a 330-byte record here, against 2.4 µs for a
// Node md5 call: printing every record of a 1M-entity export adds 0.24 s of one core to the
// 0.34 s its framing and checksums take, where decoding and staging it takes some 15 s.
// Not a cryptographic hash: a collision between a changed record and a memo entry (some
// 1e-13 per record against a million entries) is the risk taken, as with content fingerprints.

import xxhash from 'xxhash-wasm';

/** Prints a record's bytes: an unsigned 64-bit value (DuckDB's BIGINT holds it as BigInt.asIntN(64, print)). */
export type RecordPrinter = (bytes: Uint8Array) => bigint;

let printer: Promise<RecordPrinter> | undefined;

export function recordPrinter(): Promise<RecordPrinter> {
  printer ??= xxhash().then(({ h64Raw }) => h64Raw);
  return printer;
}
