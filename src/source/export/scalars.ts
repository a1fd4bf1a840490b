// Scalar decoding for EntityProto values: strings (ASCII fast path, UTF-8 validation,
// interned names), doubles as JSON, and µs timestamps as RFC 3339.
import { isUtf8 } from 'node:buffer';
import { ProtoError, type ProtoReader, int64Number } from './proto.js';

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// Strings: ASCII fast path; otherwise validate then utf8Slice.
function isAscii(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  for (; i + 4 <= e; i += 4) if ((b[i]! | b[i + 1]! | b[i + 2]! | b[i + 3]!) > 0x7f) return false;
  for (; i < e; i++) if (b[i]! > 0x7f) return false;
  return true;
}
export type FastBuffer = Buffer & { latin1Slice(s: number, e: number): string; utf8Slice(s: number, e: number): string; base64Slice(s: number, e: number): string };

// The record being decoded, as one latin1 string made on first use: its ASCII substrings
// are cut in JS (one native call per record instead of one per string). Only for small
// records, since a substring may keep the whole record string alive.
const RECORD_STRING_MAX = 2048;
let recBuf: Uint8Array | undefined;
let recStart = 0;
let recEnd = 0;
let recStr: string | undefined;

/** Call at the start of each top-level record: buf[start, end). */
export function beginRecord(buf: Uint8Array, start: number, end: number): void {
  recBuf = end - start <= RECORD_STRING_MAX ? buf : undefined;
  recStart = start;
  recEnd = end;
  recStr = undefined;
}

/** Call when the record is done: no later call may cut from a buffer since reused. */
export function endRecord(): void {
  recBuf = undefined;
  recStr = undefined;
}

const ASCII_SCAN_MAX = 256;

/** Decodes bytes as UTF-8, or returns undefined when they are not valid UTF-8. */
export function utf8OrUndefined(buf: FastBuffer, s: number, e: number): string | undefined {
  if (e - s <= ASCII_SCAN_MAX && isAscii(buf, s, e)) {
    if (buf === recBuf && s >= recStart && e <= recEnd) {
      if (recStr === undefined) recStr = buf.latin1Slice(recStart, recEnd);
      return recStr.substring(s - recStart, e - recStart);
    }
    return buf.latin1Slice(s, e);
  }
  if (!isUtf8(new Uint8Array(buf.buffer, buf.byteOffset + s, e - s))) return undefined;
  return buf.utf8Slice(s, e);
}

// Property names and kinds repeat in every entity: intern them by a hash of their bytes
// so the hot path neither allocates a new string nor re-internalises it as an object key.
const NAME_CACHE_SIZE = 4096;
const nameCache: (string | undefined)[] = new Array(NAME_CACHE_SIZE);

function cachedName(b: Uint8Array, s: number, e: number): string | undefined {
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c > 0x7f) return undefined;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h >>> 0) & (NAME_CACHE_SIZE - 1);
  const hit = nameCache[slot];
  const n = e - s;
  if (hit !== undefined && hit.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== b[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const str = (b as FastBuffer).latin1Slice(s, e);
  nameCache[slot] = str;
  return str;
}

// Entities of one kind repeat their names in the same order: the name read at the same
// position in the previous entity is the likely one, checked before hashing.
const SLOTS = 256;
const slotNames: string[] = new Array<string>(SLOTS).fill('');
let slot = 0;
/** Call at the start of each entity. */
export function resetSlots(): void {
  slot = 0;
}

function sameName(str: string, b: Uint8Array, s: number, n: number): boolean {
  if (str.length !== n) return false;
  for (let i = 0; i < n; i++) if (str.charCodeAt(i) !== b[s + i]) return false;
  return true;
}

/** A name (property, kind): interned when short ASCII, else validated UTF-8. */
export function nameField(r: ProtoReader): string {
  const e = r.lenEnd();
  const s = r.pos;
  r.pos = e;
  if (e - s <= 40) {
    const i = slot++ & (SLOTS - 1);
    const prev = slotNames[i]!;
    if (sameName(prev, r.buf, s, e - s)) return prev;
    const c = cachedName(r.buf, s, e);
    if (c !== undefined) {
      slotNames[i] = c;
      return c;
    }
  }
  const str = utf8OrUndefined(r.buf as FastBuffer, s, e);
  if (str === undefined) throw new ProtoError('invalid UTF-8 in a name', s);
  return str;
}

export function stringField(r: ProtoReader): string {
  const e = r.lenEnd();
  const s = r.pos;
  r.pos = e;
  const buf = r.buf as FastBuffer;
  const str = utf8OrUndefined(buf, s, e);
  if (str === undefined) throw new ProtoError('invalid UTF-8 in a name', s);
  return str;
}

// RFC 3339 range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z, in µs.
const MIN_MICROS = -62135596800000000;
const MAX_MICROS = 253402300799999999;
export function inRfc3339Bounds(lo: number, hi: number): boolean {
  const v = int64Number(lo, hi);
  if (v > MIN_MICROS + 1024 && v < MAX_MICROS - 1024) return true; // clear of float rounding
  const big = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  return big >= BigInt(MIN_MICROS) && big <= 253402300799999999n;
}

export function jsonDouble(d: number): number | 'Infinity' | '-Infinity' | 'NaN' {
  if (d === Infinity) return 'Infinity';
  if (d === -Infinity) return '-Infinity';
  if (d !== d) return 'NaN';
  return d;
}

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
/** "ss" and "ssZ" for each second of a minute. */
const SECZ: string[] = PAD2.map((p) => `${p}Z`);
let cachedDay = NaN;
let cachedDayText = '';
let cachedMinute = NaN;
let cachedMinuteText = '';

/** "YYYY-MM-DDT" for days since 1970-01-01, cached for runs of equal days. */
function dayPrefix(day: number): string {
  if (day === cachedDay) return cachedDayText;
  const iso = new Date(day * 86400000).toISOString();
  cachedDay = day;
  cachedDayText = iso.slice(0, iso.indexOf('T') + 1);
  return cachedDayText;
}

/** µs since epoch (signed 64-bit halves) → RFC 3339 as protobuf JSON prints a Timestamp. */
export function timestampFromMicros(lo: number, hi: number): string {
  let secs: number;
  let micros: number;
  const signed = hi >= 0x80000000 ? (hi - 4294967296) * 4294967296 + lo : hi * 4294967296 + lo;
  if (Number.isSafeInteger(signed)) {
    secs = Math.floor(signed / 1e6);
    micros = signed - secs * 1e6;
  } else {
    const big = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
    let s = big / 1000000n;
    let m = big % 1000000n;
    if (m < 0n) {
      m += 1000000n;
      s -= 1n;
    }
    secs = Number(s);
    micros = Number(m);
  }
  const day = Math.floor(secs / 86400);
  if (!(Math.abs(day) <= 100_000_000)) return String(signed); // beyond Date's range; Datastore never stores these
  // "YYYY-MM-DDThh:mm:" is cached for runs of timestamps within one minute.
  const minute = Math.floor(secs / 60);
  const ss = secs - minute * 60;
  if (minute !== cachedMinute) {
    let tod = secs - day * 86400;
    const hh = (tod / 3600) | 0;
    tod -= hh * 3600;
    const mm = (tod / 60) | 0;
    cachedMinuteText = `${dayPrefix(day)}${PAD2[hh]}:${PAD2[mm]}:`;
    cachedMinute = minute;
  }
  if (micros === 0) return cachedMinuteText + SECZ[ss]!;
  const base = cachedMinuteText + PAD2[ss]!;
  if (micros % 1000 === 0) return `${base}.${String(micros / 1000).padStart(3, '0')}Z`;
  return `${base}.${String(micros).padStart(6, '0')}Z`;
}

