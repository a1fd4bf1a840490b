// Entities in the Datastore v1 REST shape (what `lookup` returns). The export reader and
// the live source both produce these; record/ maps them to rows.

export interface PartitionId {
  projectId: string;
  namespaceId?: string;
  databaseId?: string;
}

export interface PathElement {
  kind: string;
  /** int64 as a decimal string. */
  id?: string;
  name?: string;
}

export interface Key {
  partitionId: PartitionId;
  path: PathElement[];
}

interface ValueBase {
  excludeFromIndexes?: boolean;
  meaning?: number;
}

export type Value = ValueBase &
  (
    | { nullValue: null }
    | { booleanValue: boolean }
    /** int64 as a decimal string. */
    | { integerValue: string }
    /** JSON numbers, or the strings "Infinity", "-Infinity", "NaN". */
    | { doubleValue: number | 'Infinity' | '-Infinity' | 'NaN' }
    /** RFC 3339, UTC, with "Z". */
    | { timestampValue: string }
    | { keyValue: Key }
    | { stringValue: string }
    /** base64. */
    | { blobValue: string }
    | { geoPointValue: { latitude: number; longitude: number } }
    | { entityValue: { key?: Key; properties?: Record<string, Value> } }
    | { arrayValue: { values?: Value[] } }
  );

export interface Entity {
  key: Key;
  properties: Record<string, Value>;
}

/** Canonical key path string used as `_key`: `ns:<namespace>/Kind:name/Child:123` style. */
export function canonicalKey(key: Key): string {
  const ns = key.partitionId.namespaceId ?? '';
  const parts = key.path.map((p) =>
    p.name !== undefined ? `${encodeURIComponent(p.kind)}:${encodeURIComponent(p.name)}` : `${encodeURIComponent(p.kind)}#${p.id ?? ''}`,
  );
  return `${ns ? `${encodeURIComponent(ns)}|` : ''}${parts.join('/')}`;
}
