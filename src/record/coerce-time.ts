// Coercion of time values to TIMESTAMP, DATE, DATETIME and TIME: epoch microseconds,
// Dates, RFC 3339 / civil strings (with or without a zone), checked against BigQuery's
// range 0001-01-01..9999-12-31. Separate from coerce.ts because the civil-time parsing
// and formatting is its own body of rules; coerce.ts calls these directly per value.

import { cannotCoerce } from './coerce-error.js';


const MIN_US = -62135596800000000n; // 0001-01-01T00:00:00Z
const MAX_US = 253402300799999999n; // 9999-12-31T23:59:59.999999Z

function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

function validCivil(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): boolean {
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const date = new Date(utcMs(y, mo, d));
  return date.getUTCDate() === d && date.getUTCMonth() === mo - 1;
}

const pad = (n: number | bigint, w: number) => String(n).padStart(w, '0');

const TS_STRING =
  /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$/;

interface Civil {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** Microseconds within the second. */
  us: number;
  /** Offset from UTC in minutes, when the string had one. */
  offsetMin?: number;
  hasTime: boolean;
}

function parseCivil(s: string): Civil | undefined {
  const m = TS_STRING.exec(s);
  if (!m) return undefined;
  const c: Civil = {
    y: Number(m[1]),
    mo: Number(m[2]),
    d: Number(m[3]),
    h: Number(m[4] ?? 0),
    mi: Number(m[5] ?? 0),
    s: Number(m[6] ?? 0),
    us: Number((m[7] ?? '').slice(0, 6).padEnd(6, '0')),
    hasTime: m[4] !== undefined,
  };
  if (!validCivil(c.y, c.mo, c.d, c.h, c.mi, c.s)) return undefined;
  const z = m[8];
  if (z !== undefined) {
    if (/^(Z|z|UTC)$/.test(z)) c.offsetMin = 0;
    else {
      const om = /^([+-])(\d{2}):?(\d{2})?$/.exec(z)!;
      const hh = Number(om[2]);
      const mm = Number(om[3] ?? 0);
      if (hh > 14 || mm > 59) return undefined;
      c.offsetMin = (om[1] === '-' ? -1 : 1) * (hh * 60 + mm);
    }
  }
  return c;
}

function civilToUs(c: Civil): bigint {
  const ms = utcMs(c.y, c.mo, c.d, c.h, c.mi, c.s) - (c.offsetMin ?? 0) * 60_000;
  return BigInt(ms) * 1000n + BigInt(c.us);
}

/** Epoch microseconds → `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function formatTimestampUs(us: bigint): string {
  let ms = us / 1000n;
  let rem = us % 1000n;
  if (rem < 0n) {
    rem += 1000n;
    ms -= 1n;
  }
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for years 1..9999
  return `${iso.slice(0, 23)}${pad(rem, 3)}Z`;
}

/** The timestamp of a value in epoch microseconds, or undefined when it is none. */
function timestampUs(v: unknown): bigint | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : BigInt(v.getTime()) * 1000n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string') {
    if (/^\s*-?\d+\s*$/.test(v)) return BigInt(v.trim());
    const c = parseCivil(v);
    // A timestamp string without a zone is read as UTC, as BigQuery does.
    return c ? civilToUs(c) : undefined;
  }
  return undefined;
}

const CANONICAL_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The common case — an RFC 3339 UTC string as Datastore writes them — by string work
 * alone: the same text the general path makes (µs precision), without a Date round trip.
 */
function canonicalUtc(v: string): string | undefined {
  const m = CANONICAL_UTC.exec(v);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : MONTH_DAYS[mo - 1]!)) return undefined;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return undefined;
  const frac = (m[7] ?? '').slice(0, 6).padEnd(6, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac}Z`;
}

/** TIMESTAMP: numbers and bigints are epoch MICROseconds; Dates and RFC 3339 strings as such. */
export function toTimestamp(v: unknown, path: string): string {
  if (typeof v === 'string') {
    const fast = canonicalUtc(v);
    if (fast !== undefined) return fast;
  }
  const us = timestampUs(v);
  if (us === undefined) throw cannotCoerce(path, v, 'TIMESTAMP');
  if (us < MIN_US || us > MAX_US) throw cannotCoerce(path, v, 'TIMESTAMP', 'out of range 0001-01-01..9999-12-31');
  return formatTimestampUs(us);
}

/** The UTC civil parts of a timestamp-like value (Date, zoned string, µs number). */
function civilOf(v: unknown, path: string, type: string): Civil {
  if (typeof v === 'string') {
    const c = parseCivil(v);
    if (c && c.offsetMin === undefined) return c;
    if (!c) throw cannotCoerce(path, v, type);
  }
  const us = timestampUs(v);
  if (us === undefined || us < MIN_US || us > MAX_US) throw cannotCoerce(path, v, type);
  const iso = formatTimestampUs(us);
  return parseCivil(iso)!;
}

export function toDate(v: unknown, path: string): string {
  if (typeof v === 'number' || typeof v === 'bigint') throw cannotCoerce(path, v, 'DATE');
  const c = civilOf(v, path, 'DATE');
  return `${pad(c.y, 4)}-${pad(c.mo, 2)}-${pad(c.d, 2)}`;
}

export function toDatetime(v: unknown, path: string): string {
  if (typeof v === 'number' || typeof v === 'bigint') throw cannotCoerce(path, v, 'DATETIME');
  const c = civilOf(v, path, 'DATETIME');
  return `${pad(c.y, 4)}-${pad(c.mo, 2)}-${pad(c.d, 2)}T${pad(c.h, 2)}:${pad(c.mi, 2)}:${pad(c.s, 2)}.${pad(c.us, 6)}`;
}

export function toTime(v: unknown, path: string): string {
  if (typeof v === 'string') {
    const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?\s*$/.exec(v);
    if (m) {
      const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
      if (h <= 23 && mi <= 59 && s <= 59) {
        return `${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${(m[4] ?? '').slice(0, 6).padEnd(6, '0')}`;
      }
    }
  }
  throw cannotCoerce(path, v, 'TIME');
}
