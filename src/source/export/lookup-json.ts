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

function propsJson(props: Record<string, Value>): string {
  const names = Object.keys(props);
  let out = '{';
  let first = true;
  for (const n of hashMapOrder(names)) {
    out += `${first ? '' : ','}${JSON.stringify(n)}:${valueJson(props[n]!)}`;
    first = false;
  }
  return `${out}}`;
}

export function valueJson(v: Value): string {
  let out = '{';
  let first = true;
  for (const f of Object.keys(v)) {
    const x = (v as unknown as Record<string, unknown>)[f];
    let s: string;
    if (f === 'entityValue') {
      const ev = x as { key?: Key; properties?: Record<string, Value> };
      const parts: string[] = [];
      if (ev.key) parts.push(`"key":${keyJson(ev.key)}`);
      if (ev.properties && Object.keys(ev.properties).length) parts.push(`"properties":${propsJson(ev.properties)}`);
      s = `{${parts.join(',')}}`;
    } else if (f === 'arrayValue') {
      const av = x as { values?: Value[] };
      s = av.values ? `{"values":[${av.values.map(valueJson).join(',')}]}` : '{}';
    } else if (f === 'geoPointValue') {
      // LatLng is a plain proto3 message: a coordinate of 0 is left out, as lookup does.
      const g = x as { latitude: number; longitude: number };
      const parts: string[] = [];
      if (g.latitude !== 0) parts.push(`"latitude":${JSON.stringify(g.latitude)}`);
      if (g.longitude !== 0) parts.push(`"longitude":${JSON.stringify(g.longitude)}`);
      s = `{${parts.join(',')}}`;
    } else s = JSON.stringify(x);
    out += `${first ? '' : ','}${JSON.stringify(f)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

/** One entity as lookup prints it (an empty property map is omitted, as protobuf JSON does). */
export function entityJson(e: Entity): string {
  const hasProps = Object.keys(e.properties).length > 0;
  return `{"key":${keyJson(e.key)}${hasProps ? `,"properties":${propsJson(e.properties)}` : ''}}`;
}
