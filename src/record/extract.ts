// Reads a mapping's columns out of a record: each FieldSpec.from path into `data`, or the
// special root `__key__` (name, id, kind, namespace, path) read from the record's key.
// Values are returned uncoerced; coerce.ts turns them into column values.

import type { FieldSpec } from '../spec/types.js';
import { getPath } from './coerce.js';
import { parseEntityKey, type SyncRecord } from './sync-record.js';

export const KEY_ROOT = '__key__';

/** The value of `__key__.<part>` for a record; undefined for an unknown part. */
export function keyPart(record: Pick<SyncRecord, 'entityKey' | 'kind' | 'namespace'>, part: string | undefined): unknown {
  const path = parseEntityKey(record.entityKey, record.kind);
  const last = path[path.length - 1]!;
  switch (part) {
    case 'name':
      return last.name ?? null;
    case 'id':
      return last.id ?? null;
    case 'kind':
      return last.kind;
    case 'namespace':
      return record.namespace ?? '';
    case 'path':
    case undefined:
      // The key path in canonical form (what `entityKey` is for records from entities).
      return path
        .map((p) => `${encodeURIComponent(p.kind)}${p.name !== undefined ? `:${encodeURIComponent(p.name)}` : `#${p.id}`}`)
        .join('/');
    default:
      return undefined;
  }
}

/** True when the record carries a value (possibly null) for the field's path. */
export function hasFieldValue(record: SyncRecord, field: Pick<FieldSpec, 'name' | 'from'>): boolean {
  const from = field.from && field.from.length > 0 ? field.from : [field.name];
  if (from[0] === KEY_ROOT) return true;
  let cur: unknown = record.data;
  for (const step of from) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !(step in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[step];
  }
  return true;
}

/** The raw value of a mapped column in a record (undefined when absent). */
export function fieldValue(record: SyncRecord, field: Pick<FieldSpec, 'name' | 'from'>): unknown {
  const from = field.from && field.from.length > 0 ? field.from : [field.name];
  if (from[0] === KEY_ROOT) return keyPart(record, from[1]);
  return getPath(record.data ?? {}, from);
}
