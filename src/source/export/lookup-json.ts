// Serialises entities exactly as the Datastore emulator's `lookup` prints them (minus
// whitespace): property maps come out in Java HashMap iteration order (the emulator
// builds them in a java.util.HashMap), value fields as meaning, value, excludeFromIndexes.
import type { Entity, Key, Value } from '../entity.js';

function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h ^ (h >>> 16);
}

/** Names in the order a java.util.HashMap filled in this order iterates them. */
export function hashMapOrder(names: string[]): string[] {
  let cap = 16;
  while (names.length > cap * 0.75) cap *= 2;
  const mask = cap - 1;
  return names
    .map((n, i) => ({ n, i, b: javaHash(n) & mask }))
    .sort((a, b) => a.b - b.b || a.i - b.i)
    .map((x) => x.n);
}

function keyJson(k: Key): string {
  return JSON.stringify(k);
}

interface Order {
  names: string[];
  order: string[];
  /**
   * No name is an array index or "__proto__": a JS object filled in this order keeps it
   * (index-like keys would move to the front), so JSON.stringify can print it.
   */
  plain: boolean;
}

/** Property name lists seen, with their HashMap order: entities of a kind share a few. */
const orders = new Map<string, Order>();
const MAX_ORDERS = 4096;
const INDEX_LIKE = /^(?:0|[1-9]\d{0,9})$/;

function orderOf(names: string[]): Order {
  const id = names.join('\u0000');
  const hit = orders.get(id);
  // The joined names identify the list unless a name holds NUL: compare to be sure.
  if (hit && hit.names.length === names.length && hit.names.every((n, i) => n === names[i])) return hit;
  const o: Order = { names, order: hashMapOrder(names), plain: names.every((n) => n !== '__proto__' && !INDEX_LIKE.test(n)) };
  if (orders.size >= MAX_ORDERS) orders.clear();
  orders.set(id, o);
  return o;
}

// The fast path: values rebuilt as objects that JSON.stringify prints exactly as lookup
// does (property maps in HashMap order, zero coordinates left out), printed natively.
// null when a map inside cannot be held in order by a JS object; the text is then built by hand.

function lookupProps(props: Record<string, Value>): Record<string, unknown> | null {
  const o = orderOf(Object.keys(props));
  if (!o.plain) return null;
  const out: Record<string, unknown> = {};
  for (const n of o.order) {
    const v = lookupValue(props[n]!);
    if (v === null) return null;
    out[n] = v;
  }
  return out;
}

function lookupValue(v: Value): unknown {
  if (!('entityValue' in v || 'arrayValue' in v || 'geoPointValue' in v)) return v;
  const out: Record<string, unknown> = {};
  for (const f in v) {
    const x = (v as unknown as Record<string, unknown>)[f];
    if (f === 'entityValue') {
      const ev = x as { key?: Key; properties?: Record<string, Value> };
      const e: Record<string, unknown> = {};
      if (ev.key) e.key = ev.key;
      if (hasProperties(ev.properties)) {
        const p = lookupProps(ev.properties!);
        if (p === null) return null;
        e.properties = p;
      }
      out[f] = e;
    } else if (f === 'arrayValue') {
      const av = x as { values?: Value[] };
      if (av.values) {
        const values: unknown[] = [];
        for (const el of av.values) {
          const w = lookupValue(el);
          if (w === null) return null;
          values.push(w);
        }
        out[f] = { values };
      } else out[f] = {};
    } else if (f === 'geoPointValue') {
      const g = x as { latitude: number; longitude: number };
      const p: Record<string, number> = {};
      if (g.latitude !== 0) p.latitude = g.latitude;
      if (g.longitude !== 0) p.longitude = g.longitude;
      out[f] = p;
    } else out[f] = x;
  }
  return out;
}

function hasProperties(props: Record<string, Value> | undefined): boolean {
  for (const _ in props) return true;
  return false;
}

/** A property map as lookup prints it: natively when a JS object can hold its order, else by hand. */
function mapJson(props: Record<string, Value>): string {
  const fast = lookupProps(props);
  if (fast !== null) return JSON.stringify(fast);
  return `{${orderOf(Object.keys(props))
    .order.map((n) => `${JSON.stringify(n)}:${valueJson(props[n]!)}`)
    .join(',')}}`;
}

/** One value as lookup prints it (field order: meaning, the value, excludeFromIndexes). */
export function valueJson(v: Value): string {
  const fast = lookupValue(v);
  if (fast !== null) return JSON.stringify(fast);
  // A map inside cannot be held in order by a JS object: this level by hand, only the
  // entity and array fields can hold one.
  let out = '{';
  let first = true;
  for (const f in v) {
    const x = (v as unknown as Record<string, unknown>)[f];
    let s: string;
    if (f === 'entityValue') {
      const ev = x as { key?: Key; properties?: Record<string, Value> };
      const parts: string[] = [];
      if (ev.key) parts.push(`"key":${keyJson(ev.key)}`);
      if (hasProperties(ev.properties)) parts.push(`"properties":${mapJson(ev.properties!)}`);
      s = `{${parts.join(',')}}`;
    } else if (f === 'arrayValue') {
      const av = x as { values?: Value[] };
      s = av.values ? `{"values":[${av.values.map(valueJson).join(',')}]}` : '{}';
    } else s = JSON.stringify(x);
    out += `${first ? '' : ','}${JSON.stringify(f)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

/** One entity as lookup prints it (an empty property map is omitted, as protobuf JSON does). */
export function entityJson(e: Entity): string {
  if (!hasProperties(e.properties)) return `{"key":${keyJson(e.key)}}`;
  // One native call for the whole line in the common case.
  const fast = lookupProps(e.properties);
  if (fast !== null) return JSON.stringify({ key: e.key, properties: fast });
  return `{"key":${keyJson(e.key)},"properties":${mapJson(e.properties)}}`;
}
