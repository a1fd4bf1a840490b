// EntityProto (storage_onestore_v3) → Datastore v1 REST Entity, matching what the
// emulator's `lookup` returns for the same entity (verified by test/source round trips).
// Hot path: one pass over the bytes, no intermediate property objects.
import type { Entity, Key, Value } from '../entity.js';
import { readReference, readReferenceValue } from './keys.js';
import { ProtoError, ProtoReader, int64String, WIRE_END_GROUP, WIRE_LEN, WIRE_START_GROUP, WIRE_VARINT, WIRE_FIXED64 } from './proto.js';
import { asBuffer, beginRecord, endRecord, inRfc3339Bounds, jsonDouble, nameField, resetSlots, stringField, timestampFromMicros, utf8OrUndefined, type FastBuffer } from './scalars.js';

export { timestampFromMicros };

export const MEANING_GD_WHEN = 7;
export const MEANING_GEORSS_POINT = 9;
export const MEANING_BLOB = 14;
export const MEANING_TEXT = 15;
export const MEANING_BYTESTRING = 16;
export const MEANING_INDEX_VALUE = 18;
export const MEANING_ENTITY_PROTO = 19;
/** v1-only meanings the v3→v1 conversion introduces. */
export const MEANING_PREDEFINED_ENTITY_USER = 20;
export const MEANING_POINT_WITHOUT_V3_MEANING = 23;
export const MEANING_ZLIB = 22;
export const MEANING_EMPTY_LIST = 24;

const MAX_ENTITY_DEPTH = 64;

export interface DecodeOptions {
  /** Project to use when a key's app is empty (embedded keys). */
  defaultProject?: string;
}

// Scratch result of readPoint (saves a tuple allocation per point).
const POINT_DONE = { x: 0, y: 0 };
function readPoint(r: ProtoReader): void {
  let x = 0;
  let y = 0;
  for (;;) {
    if (r.pos >= r.end) r.fail('unterminated point value');
    const tag = r.uint32();
    if (tag === 44) break; // end group 5
    if (tag === 49) x = r.double(); // 6 fixed64
    else if (tag === 57) y = r.double(); // 7 fixed64
    else {
      if ((tag & 7) === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3} in a point value`);
      r.skip(tag & 7, tag >>> 3);
    }
  }
  POINT_DONE.x = x;
  POINT_DONE.y = y;
}

/** UserValue group (legacy App Engine users) → the user entity's properties, all unindexed. */
function readUser(r: ProtoReader): Record<string, Value> {
  const props: Record<string, Value> = {};
  let email = '';
  let auth = '';
  let internal: string | undefined;
  const extra: [string, string][] = [];
  for (;;) {
    if (r.pos >= r.end) r.fail('unterminated user value');
    const tag = r.uint32();
    if (tag === 68) break; // end group 8
    switch (tag) {
      case 74: // 9 email
        email = stringField(r);
        break;
      case 82: // 10 auth_domain
        auth = stringField(r);
        break;
      case 144: {
        // 18 gaiaid
        const lo = r.varint64();
        if (lo !== 0 || r.hi !== 0) internal = int64String(lo, r.hi);
        break;
      }
      case 154: // 19 obfuscated_gaiaid
        extra.push(['user_id', stringField(r)]);
        break;
      case 170: // 21 federated_identity
        extra.push(['federated_identity', stringField(r)]);
        break;
      case 178: // 22 federated_provider
        extra.push(['federated_provider', stringField(r)]);
        break;
      default:
        if ((tag & 7) === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3} in a user value`);
        r.skip(tag & 7, tag >>> 3);
    }
  }
  props.email = { stringValue: email, excludeFromIndexes: true } as Value;
  props.auth_domain = { stringValue: auth, excludeFromIndexes: true } as Value;
  if (internal !== undefined) props.internal_id = { integerValue: internal, excludeFromIndexes: true } as Value;
  for (const [k, v] of extra) props[k] = { stringValue: v, excludeFromIndexes: true } as Value;
  return props;
}

/** Decoder state reused across entities to avoid per-value allocation of readers. */
export class EntityDecoder {
  private readonly defaultProject: string;

  constructor(options: DecodeOptions = {}) {
    this.defaultProject = options.defaultProject ?? '';
  }

  /** Decodes a whole EntityProto record. Throws ProtoError on damaged input. */
  private readonly reader = new ProtoReader(new Uint8Array(0));

  decode(bytes: Uint8Array): Entity {
    const buf = asBuffer(bytes);
    return this.decodeAt(buf, 0, buf.length);
  }

  /** Decodes the EntityProto in buf[start, end); ProtoError positions are relative to start. */
  decodeAt(buf: Buffer, start: number, end: number): Entity {
    const r = this.reader;
    r.reset(buf, start, end);
    resetSlots();
    beginRecord(buf, start, end);
    let e: { key?: Key; properties?: Record<string, Value> };
    try {
      e = this.readEntity(r, end, 0);
      endRecord();
    } catch (err) {
      endRecord();
      if (err instanceof ProtoError && start !== 0) throw new ProtoError(err.message, err.pos - start);
      throw err;
    }
    if (!e.key) throw new ProtoError('entity without a key', 0);
    return e as Entity;
  }

  private readEntity(r: ProtoReader, end: number, depth: number): { key?: Key; properties?: Record<string, Value> } {
    if (depth > MAX_ENTITY_DEPTH) r.fail('embedded entities nested too deeply');
    const outer = r.end;
    r.end = end;
    let key: Key | undefined;
    const properties: Record<string, Value> = {};
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag) {
        case 106: // 13 key
          key = readReference(r, r.lenEnd(), this.defaultProject);
          break;
        case 114: // 14 property (indexed)
          this.readProperty(r, r.lenEnd(), false, properties, depth);
          break;
        case 122: // 15 raw_property (unindexed)
          this.readProperty(r, r.lenEnd(), true, properties, depth);
          break;
        default:
          if ((tag & 7) === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3}`);
          if (tag === 0) r.fail('bad field tag 0');
          r.skip(tag & 7, tag >>> 3);
      }
    }
    r.end = outer;
    // lookup omits an embedded entity's empty property map; top-level entities always carry one.
    if (depth > 0) {
      let empty = true;
      for (const _ in properties) {
        empty = false;
        break;
      }
      if (empty) return key ? { key } : ({} as { properties: Record<string, Value> });
    }
    return key ? { key, properties } : { properties };
  }

  private readProperty(r: ProtoReader, end: number, unindexed: boolean, props: Record<string, Value>, depth: number): void {
    const outer = r.end;
    r.end = end;
    let meaning = 0;
    let zlib = false;
    let name: string | undefined;
    let multiple = false;
    // Value position is remembered, decoded once meaning is known (meaning precedes value on
    // the wire in practice, but proto2 allows any order).
    let vStart = -1;
    let vEnd = -1;
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag) {
        case 8: // 1 meaning
          meaning = r.uint32();
          break;
        case 18: {
          // 2 meaning_uri
          const e = r.lenEnd();
          zlib = e - r.pos === 4 && r.buf[r.pos] === 0x5a && r.buf[r.pos + 1] === 0x4c && r.buf[r.pos + 2] === 0x49 && r.buf[r.pos + 3] === 0x42;
          r.pos = e;
          break;
        }
        case 26: // 3 name
          name = nameField(r);
          break;
        case 32: // 4 multiple
          multiple = r.bool();
          break;
        case 42: // 5 value
          vEnd = r.lenEnd();
          vStart = r.pos;
          r.pos = vEnd;
          break;
        default:
          if ((tag & 7) === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3} in a property`);
          if (tag === 0) r.fail('bad field tag 0');
          r.skip(tag & 7, tag >>> 3);
      }
    }
    if (name === undefined) r.fail('property without a name');
    if (vStart < 0) r.fail(`property "${name}" without a value`);
    const after = r.pos;
    r.pos = vStart;
    const value = this.readValue(r, vEnd, meaning, zlib, unindexed, depth);
    r.pos = after;
    r.end = outer;

    if (meaning === MEANING_EMPTY_LIST) {
      // An empty array: the value itself is unset.
      const empty = { arrayValue: {} } as Value;
      setProp(props, name, empty);
      return;
    }
    if (multiple) {
      const existing = props[name] as { arrayValue?: { values?: Value[] } } | undefined;
      if (existing !== undefined && existing.arrayValue !== undefined) {
        (existing.arrayValue.values ??= []).push(value);
      } else {
        setProp(props, name, { arrayValue: { values: [value] } } as Value);
      }
      return;
    }
    setProp(props, name, value);
  }

  /** `unindexed` values carry excludeFromIndexes from the start (one object shape, no transition). */
  private readValue(r: ProtoReader, end: number, meaning: number, zlib: boolean, unindexed: boolean, depth: number): Value {
    const x = unindexed;
    const outer = r.end;
    r.end = end;
    let v: Value | undefined;
    let consumed = false; // meaning explained by the value's v1 type
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag) {
        case 8: {
          // 1 int64Value
          const lo = r.varint64();
          const hi = r.hi;
          if (meaning === MEANING_GD_WHEN && inRfc3339Bounds(lo, hi)) {
            const t = timestampFromMicros(lo, hi);
            v = (x ? { timestampValue: t, excludeFromIndexes: true } : { timestampValue: t }) as Value;
            consumed = true;
          } else {
            const i = int64String(lo, hi);
            v = (x ? { integerValue: i, excludeFromIndexes: true } : { integerValue: i }) as Value;
          }
          break;
        }
        case 16: // 2 booleanValue
          v = (x ? { booleanValue: r.bool(), excludeFromIndexes: true } : { booleanValue: r.bool() }) as Value;
          break;
        case 26: {
          // 3 stringValue
          const e = r.lenEnd();
          const s = r.pos;
          r.pos = e;
          const buf = r.buf as FastBuffer;
          if (meaning === MEANING_ENTITY_PROTO) {
            r.pos = s;
            const ent = this.readEntity(r, e, depth + 1);
            r.pos = e;
            v = (x ? { entityValue: ent, excludeFromIndexes: true } : { entityValue: ent }) as Value;
            consumed = true;
          } else if (meaning === MEANING_BLOB || meaning === MEANING_BYTESTRING) {
            v = blobV(buf.base64Slice(s, e), x);
            // BYTESTRING stays visible on an unindexed value (as datastore_pbs converts it).
            consumed = meaning === MEANING_BLOB || (meaning === MEANING_BYTESTRING && !unindexed);
          } else {
            const str = utf8OrUndefined(buf, s, e);
            if (str === undefined) {
              v = blobV(buf.base64Slice(s, e), x);
              if (meaning !== MEANING_INDEX_VALUE) consumed = true;
            } else v = (x ? { stringValue: str, excludeFromIndexes: true } : { stringValue: str }) as Value;
          }
          break;
        }
        case 33: {
          // 4 doubleValue
          const d = jsonDouble(r.double());
          v = (x ? { doubleValue: d, excludeFromIndexes: true } : { doubleValue: d }) as Value;
          break;
        }
        case 43: // 5 PointValue group
          readPoint(r);
          const g = { latitude: POINT_DONE.x, longitude: POINT_DONE.y };
          v = (x ? { geoPointValue: g, excludeFromIndexes: true } : { geoPointValue: g }) as Value;
          // A point without the GEORSS meaning is still a geo point, flagged with meaning 23.
          meaning = meaning === MEANING_GEORSS_POINT ? 0 : MEANING_POINT_WITHOUT_V3_MEANING;
          break;
        case 67: // 8 UserValue group → an embedded user entity (meaning 20)
          const u = { properties: readUser(r) };
          v = (x ? { entityValue: u, excludeFromIndexes: true } : { entityValue: u }) as Value;
          meaning = MEANING_PREDEFINED_ENTITY_USER;
          break;
        case 99: // 12 ReferenceValue group
          const k = readReferenceValue(r, this.defaultProject);
          v = (x ? { keyValue: k, excludeFromIndexes: true } : { keyValue: k }) as Value;
          break;
        default: {
          const w = tag & 7;
          if (w === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3} in a value`);
          if (tag === 0) r.fail('bad field tag 0');
          if (w === WIRE_START_GROUP) r.skip(w, tag >>> 3);
          else if (w === WIRE_FIXED64 || w === WIRE_VARINT || w === WIRE_LEN || w === 5) r.skip(w, tag >>> 3);
          else r.fail(`bad wire type ${w}`);
        }
      }
    }
    r.end = outer;
    if (v === undefined) {
      v = (x ? { nullValue: null, excludeFromIndexes: true } : { nullValue: null }) as Value;
      if (meaning === MEANING_EMPTY_LIST) consumed = true;
    }
    if (zlib && 'blobValue' in v) {
      v.meaning = MEANING_ZLIB;
      return reorderMeaning(v);
    }
    if (meaning !== 0 && !consumed) {
      v.meaning = meaning;
      return reorderMeaning(v);
    }
    return v;
  }
}

function blobV(b: string, x: boolean): Value {
  return (x ? { blobValue: b, excludeFromIndexes: true } : { blobValue: b }) as Value;
}

/** lookup prints `meaning` before the value; keep that order for byte-identical dumps. */
function reorderMeaning(v: Value): Value {
  const out: Record<string, unknown> = { meaning: v.meaning };
  for (const k in v) if (k !== 'meaning') out[k] = (v as unknown as Record<string, unknown>)[k];
  return out as unknown as Value;
}

function setProp(props: Record<string, Value>, name: string, v: Value): void {
  if (name === '__proto__') Object.defineProperty(props, name, { value: v, enumerable: true, writable: true, configurable: true });
  else props[name] = v;
}

export { ProtoError };
