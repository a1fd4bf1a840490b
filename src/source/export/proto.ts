// A minimal protobuf wire-format reader over one in-memory message. Every read is
// bounds-checked against the current limit; lengths are validated before any slice, so
// damaged input yields a ProtoError, never a huge allocation or a hang.

export class ProtoError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
    this.name = 'ProtoError';
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const MAX_GROUP_DEPTH = 100;
const f64 = new Float64Array(1);
const f64bytes = new Uint8Array(f64.buffer);

export class ProtoReader {
  buf: Uint8Array;
  pos: number;
  end: number;
  /** High 32 bits of the last varint read by varint64(). */
  hi = 0;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  reset(buf: Uint8Array, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  fail(what: string): never {
    throw new ProtoError(what, this.pos);
  }

  /** A varint that must fit in 32 bits (tags, lengths, small enums). */
  uint32(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    if (p < end) {
      const c = b[p]!;
      if (c < 0x80) {
        this.pos = p + 1;
        return c;
      }
    }
    let result = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) this.fail('truncated varint');
      const c = b[p++]!;
      if (shift < 28) result |= (c & 0x7f) << shift;
      else if (shift === 28) result |= (c & 0x0f) << 28;
      if (c < 0x80) break;
      shift += 7;
      if (shift > 63) this.fail('varint longer than 10 bytes');
    }
    this.pos = p;
    return result >>> 0;
  }

  /** A 64-bit varint: returns the low 32 bits (unsigned), leaves the high 32 bits in `hi`. */
  varint64(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) this.fail('truncated varint');
      const c = b[p++]!;
      if (shift < 28) lo |= (c & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (c & 0x0f) << 28;
        hi |= (c & 0x7f) >>> 4;
      } else hi |= (c & 0x7f) << (shift - 32);
      if (c < 0x80) break;
      shift += 7;
      if (shift > 63) this.fail('varint longer than 10 bytes');
    }
    this.pos = p;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  bool(): boolean {
    const lo = this.varint64();
    return lo !== 0 || this.hi !== 0;
  }

  double(): number {
    const p = this.pos;
    if (p + 8 > this.end) this.fail('truncated fixed64');
    const b = this.buf;
    for (let i = 0; i < 8; i++) f64bytes[i] = b[p + i]!;
    this.pos = p + 8;
    return f64[0]!;
  }

  /** Reads a length prefix and returns the end of the delimited bytes (checked against the limit). */
  lenEnd(): number {
    const len = this.uint32();
    const e = this.pos + len;
    if (e > this.end) this.fail(`length ${len} exceeds the ${this.end - this.pos} bytes left`);
    return e;
  }

  /** Skips a field's value given its wire type. `field` is needed to match an end-group tag. */
  skip(wire: number, field: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        if (this.pos + 8 > this.end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.lenEnd();
        return;
      case WIRE_FIXED32:
        if (this.pos + 4 > this.end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      case WIRE_START_GROUP:
        this.skipGroup(field, 0);
        return;
      default:
        this.fail(`bad wire type ${wire}`);
    }
  }

  private skipGroup(field: number, depth: number): void {
    if (depth > MAX_GROUP_DEPTH) this.fail('groups nested too deeply');
    for (;;) {
      if (this.pos >= this.end) this.fail(`unterminated group ${field}`);
      const tag = this.uint32();
      const w = tag & 7;
      const f = tag >>> 3;
      if (w === WIRE_END_GROUP) {
        if (f !== field) this.fail(`end of group ${f} inside group ${field}`);
        return;
      }
      if (w === WIRE_START_GROUP) this.skipGroup(f, depth + 1);
      else this.skip(w, f);
    }
  }
}

/** Signed int64 from two's-complement halves, as a decimal string (full range, exact). */
export function int64String(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  if (hi < 0x200000) return String(hi * 4294967296 + lo); // < 2^53
  if (hi >= 0xffe00000) return String((hi - 4294967296) * 4294967296 + lo); // >= -2^53
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** Signed int64 as a JS number (exact within ±2^53). */
export function int64Number(lo: number, hi: number): number {
  return hi >= 0x80000000 ? (hi - 4294967296) * 4294967296 + lo : hi * 4294967296 + lo;
}
