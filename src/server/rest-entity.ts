// Untrusted JSON (a Pub/Sub change event, a structured-mode CloudEvent) → a Datastore v1 REST
// Entity, checked field by field. Problems throw InvalidEvent naming the JSON path, so a
// rejected message says exactly what was wrong with it.

import { timestampFromProto } from '../source/datastore.js';
import type { Entity, Key, PathElement, Value } from '../source/entity.js';

export class InvalidEvent extends Error {
  override readonly name = 'InvalidEvent';
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 time as a protobuf Timestamp (seconds since the epoch, nanos); undefined if not one. */
export function parseRfc3339(time: string): { seconds: number; nanos: number } | undefined {
  const m = RFC3339.exec(time.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

/** The canonical proto3 JSON spelling (UTC, 0/3/6/9 digits): JSON and protobuf events then agree. */
export function canonicalTimestamp(time: string): string | undefined {
  const t = parseRfc3339(time);
  return t ? timestampFromProto(t) : undefined;
}

const bad = (path: string, what: string): InvalidEvent => new InvalidEvent(`${path}: ${what}`);

export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const typeName = (x: unknown): string =>
  x === undefined ? 'nothing' : x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x === 'object' ? 'an object' : `a ${typeof x}`;

export function checkKey(x: unknown, path: string): Key {
  if (!isObject(x)) throw bad(path, `expected a key object, got ${typeName(x)}`);
  const p = x.partitionId ?? {};
  if (!isObject(p)) throw bad(`${path}.partitionId`, `expected an object, got ${typeName(p)}`);
  const partitionId: Key['partitionId'] = { projectId: typeof p.projectId === 'string' ? p.projectId : '' };
  for (const f of ['namespaceId', 'databaseId'] as const) {
    const v = p[f];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string') throw bad(`${path}.partitionId.${f}`, `expected a string, got ${typeName(v)}`);
    partitionId[f] = v;
  }
  if (!Array.isArray(x.path) || x.path.length === 0) throw bad(`${path}.path`, 'expected a non-empty list of {kind, name | id}');
  const elements: PathElement[] = x.path.map((el: unknown, i: number) => {
    const at = `${path}.path[${i}]`;
    if (!isObject(el) || typeof el.kind !== 'string' || el.kind === '') throw bad(at, 'expected {kind, name | id} with a non-empty kind');
    if (typeof el.name === 'string' && el.name !== '') return { kind: el.kind, name: el.name };
    if ((typeof el.id === 'string' && /^-?\d+$/.test(el.id)) || (typeof el.id === 'number' && Number.isSafeInteger(el.id))) {
      return { kind: el.kind, id: String(el.id) };
    }
    throw bad(at, 'expected a non-empty `name` or an integer `id` (an event names a complete key)');
  });
  return { partitionId, path: elements };
}

const VALUE_KINDS = [
  'nullValue', 'booleanValue', 'integerValue', 'doubleValue', 'timestampValue', 'keyValue', 'stringValue',
  'blobValue', 'geoPointValue', 'entityValue', 'arrayValue',
] as const;

export function checkValue(x: unknown, path: string): Value {
  if (!isObject(x)) throw bad(path, `expected a Datastore value such as {"stringValue": "…"}, got ${typeName(x)}`);
  const present = VALUE_KINDS.filter((k) => k in x);
  if (present.length !== 1) {
    throw bad(path, present.length === 0 ? `expected one of ${VALUE_KINDS.join(', ')}` : `holds ${present.join(' and ')}; a value has exactly one`);
  }
  const k = present[0]!;
  const v = x[k];
  const out: Record<string, unknown> = {};
  if (typeof x.meaning === 'number') out.meaning = x.meaning;
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw bad(`${path}.${k}`, `expected ${what}, got ${typeName(v)}`);
  };
  switch (k) {
    case 'nullValue': out.nullValue = null; break;
    case 'booleanValue': expect(typeof v === 'boolean', 'true or false'); out[k] = v; break;
    case 'integerValue':
      expect((typeof v === 'string' && /^-?\d+$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)), 'an integer (a decimal string)');
      out[k] = String(v);
      break;
    case 'doubleValue':
      expect(typeof v === 'number' || v === 'Infinity' || v === '-Infinity' || v === 'NaN', 'a number');
      out[k] = v;
      break;
    case 'timestampValue': {
      const canonical = typeof v === 'string' ? canonicalTimestamp(v) : undefined;
      expect(canonical !== undefined, 'an RFC 3339 timestamp');
      out[k] = canonical;
      break;
    }
    case 'keyValue': out[k] = checkKey(v, `${path}.keyValue`); break;
    case 'stringValue': expect(typeof v === 'string', 'a string'); out[k] = v; break;
    case 'blobValue': expect(typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v), 'base64 text'); out[k] = v; break;
    case 'geoPointValue':
      expect(isObject(v) && typeof v.latitude === 'number' && typeof v.longitude === 'number', '{latitude, longitude}');
      out[k] = { latitude: (v as { latitude: number }).latitude, longitude: (v as { longitude: number }).longitude };
      break;
    case 'entityValue': {
      expect(isObject(v), 'an object');
      const ev = v as Record<string, unknown>;
      const inner: { key?: Key; properties?: Record<string, Value> } = {};
      if (ev.key !== undefined) inner.key = checkKey(ev.key, `${path}.entityValue.key`);
      if (ev.properties !== undefined) inner.properties = checkProperties(ev.properties, `${path}.entityValue.properties`);
      out[k] = inner;
      break;
    }
    case 'arrayValue': {
      expect(isObject(v), 'an object {values: […]}');
      const values = (v as Record<string, unknown>).values;
      if (values !== undefined && !Array.isArray(values)) throw bad(`${path}.arrayValue.values`, `expected a list, got ${typeName(values)}`);
      out[k] = values ? { values: values.map((item, i) => checkValue(item, `${path}.arrayValue.values[${i}]`)) } : {};
      break;
    }
  }
  if (x.excludeFromIndexes === true) out.excludeFromIndexes = true;
  return out as unknown as Value;
}

export function checkProperties(x: unknown, path: string): Record<string, Value> {
  if (!isObject(x)) throw bad(path, `expected an object of name → value, got ${typeName(x)}`);
  const out: Record<string, Value> = {};
  for (const name of Object.keys(x)) out[name] = checkValue(x[name], `${path}.${name}`);
  return out;
}

/** `{key, properties}`; properties may be absent when `keyOnly` (a DELETE). */
export function checkEntity(x: unknown, path: string, options: { keyOnly?: boolean } = {}): Entity {
  if (!isObject(x)) throw bad(path, `expected {"key": …, "properties": …}, got ${typeName(x)}`);
  const key = checkKey(x.key, `${path}.key`);
  if (options.keyOnly) return { key, properties: {} };
  if (x.properties === undefined) throw bad(`${path}.properties`, 'missing (an object of name → Datastore value)');
  return { key, properties: checkProperties(x.properties, `${path}.properties`) };
}
