// The source memo: what an export record's bytes staged as, so a reconcile need not decode a
// record it has seen before. An apply stores, per mapping, (print, _key, _hash) for every
// record it staged, where print is a 64-bit fingerprint of the record's encoded bytes
// (source/export/record-print.ts). `_key` and `_hash` are functions of those bytes and of the
// mapping alone (no clock, no snapshot time; see stage-record.ts), so an entry stays true for
// as long as the mapping does: the salt below names the mapping, and entries under another
// salt are never read. A record whose print is in the memo, and whose (_key, _hash) current
// still holds, is unchanged: the diff would find it so after decoding it too.
//
// What does not enter the salt cannot change `_key` or `_hash`: table names, labels and
// scoring (a record current holds unchanged is not re-judged, see warehouse/row-rules.ts).
// MEMO_FORMAT is raised whenever decoding, coercion or hashing changes what a record stages as.

import { sha256Hex } from '../model/sha256.js';
import type { FieldSpec, MappingSpec } from '../spec/types.js';

export const MEMO_FORMAT = 1;

/** The memo salt of a mapping: 16 hex digits of sha256 over what `_key` and `_hash` depend on. */
export function memoSalt(mapping: Pick<MappingSpec, 'kind' | 'namespaces' | 'fields'>): string {
  const namespaces = mapping.namespaces && mapping.namespaces.length ? [...mapping.namespaces].sort() : null;
  return sha256Hex(JSON.stringify({ format: MEMO_FORMAT, kind: mapping.kind, namespaces, fields: mapping.fields.map(shape) })).slice(0, 16);
}

/** What of a field decides its column's value (not its description, rename or place in the YAML). */
function shape(f: FieldSpec): unknown {
  return [f.name, f.type, f.mode, f.from, f.fields ? f.fields.map(shape) : null];
}
