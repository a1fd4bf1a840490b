// LevelDB log framing (google/leveldb doc/log_format.md), as used by Datastore export
// output-N files and .overall_export_metadata. A push parser: feed it chunks of any
// size; it calls onRecord (or onRecordAt) synchronously with each whole record. The payload
// passed may alias internal buffers and is valid only during the call.
//
// A record comes out only once it is complete: a FULL record, or FIRST…LAST fragments, each
// fragment's CRC32C checked, and only from a block whose fingerprint no earlier block of the
// file had (block-fingerprint.ts says why); a reader that skips damage first scans the file's
// fingerprints (scanRepeatedBlocks) and skips every occurrence of a repeated block.
//
// A ranged reader (option `range`) reads the blocks [start, end) of a file, so several
// threads can decode one large file: a record belongs to the range holding its FULL or FIRST
// fragment. The reader skips the leading MIDDLE…LAST fragments of a record begun before
// `start`, and reads past `end` only to finish a record begun inside. Damage is reported by
// the range owning the block it lies in (damage met past `end` just stops the reader), except
// two things only the previous range can see: a fragment at `end` that continues no record
// (the range before it peeks at the next block's first record) and an unfinished record's own
// failures (reported at its FIRST fragment). Repeated blocks are fingerprinted per range;
// blocks repeated across ranges are found by merging the ranges' fingerprints
// (firstRepeatedBlock, in block-fingerprint.ts).
import { crc32c } from '@node-rs/crc32';
import { blockFingerprint } from './block-fingerprint.js';
import {
  BLOCK_SIZE, DEFAULT_MAX_RECORD, FIRST, FULL, HEADER_SIZE, LAST, MIDDLE, corruptError, unmaskCrc,
  type ByteRange, type CorruptRecord,
} from './log-format.js';

export interface LogReaderOptions {
  /** File name used in error messages. */
  file: string;
  /** Called with each record's payload and the file offset of its first header. */
  onRecord?: (payload: Uint8Array, offset: number) => void;
  /**
   * Instead of onRecord: the payload as buf[start, end), which saves a view object per
   * record on the hot path (the decoder reads the block in place).
   */
  onRecordAt?: (buf: Buffer, start: number, end: number, offset: number) => void;
  /** When set, damaged data is reported here and skipped (resync at the next block) instead of thrown. */
  onCorrupt?: (c: CorruptRecord) => void;
  /**
   * With onCorrupt: fingerprints of the blocks that occur more than once in the file, with
   * their offsets (scanRepeatedBlocks); every occurrence is skipped, not only the later ones.
   */
  repeats?: ReadonlyMap<number, number[]>;
  /** Only fingerprint blocks (for scanRepeatedBlocks): no record is parsed or checked. */
  scanOnly?: boolean;
  maxRecordBytes?: number;
  /**
   * Read only the records whose FULL or FIRST fragment lies in bytes [start, end) of the file
   * (both multiples of BLOCK_SIZE; end may be Infinity); the input begins at byte start.
   * Once `done`, the reader needs no more input.
   */
  range?: ByteRange;
}

export class LogReader {
  private readonly file: string;
  private readonly onRecord: ((payload: Uint8Array, offset: number) => void) | undefined;
  private readonly onRecordAt: ((buf: Buffer, start: number, end: number, offset: number) => void) | undefined;
  private readonly onCorrupt: ((c: CorruptRecord) => void) | undefined;
  private readonly maxRecord: number;
  /** Partial block carried between chunks. */
  private readonly pending = Buffer.alloc(BLOCK_SIZE);
  private pendingLen = 0;
  /** File offset of the next block to parse. */
  private blockOffset = 0;
  /** Reassembly of FIRST/MIDDLE/LAST fragments. */
  private frag = Buffer.alloc(0);
  private fragLen = 0;
  private fragStart = -1;
  /** After damage, drop MIDDLE/LAST fragments until a FULL or FIRST starts a new record. */
  private resyncing = false;
  private failed = false;
  /** Fingerprint → file offset of every block holding a record boundary (one entry per 32 KiB). */
  private readonly blocks = new Map<number, number[]>();
  private readonly repeats: ReadonlyMap<number, number[]> | undefined;
  private readonly scanOnly: boolean;
  /** First byte past the blocks this reader owns. */
  private readonly rangeEnd: number;
  /** At the start of a range: dropping the MIDDLE…LAST fragments of a record begun before it. */
  private leading: boolean;
  private finished = false;

  constructor(options: LogReaderOptions) {
    this.file = options.file;
    this.onRecord = options.onRecord;
    this.onRecordAt = options.onRecordAt;
    this.onCorrupt = options.onCorrupt;
    this.maxRecord = options.maxRecordBytes ?? DEFAULT_MAX_RECORD;
    this.repeats = options.repeats;
    this.scanOnly = Boolean(options.scanOnly);
    const range = options.range ?? { start: 0, end: Infinity };
    if (range.start % BLOCK_SIZE !== 0 || (range.end !== Infinity && range.end % BLOCK_SIZE !== 0) || range.end <= range.start) {
      throw new RangeError(`bad block range [${range.start}, ${range.end}): offsets must be ascending multiples of ${BLOCK_SIZE}`);
    }
    this.blockOffset = range.start;
    this.rangeEnd = range.end;
    this.leading = range.start > 0;
  }

  /** A ranged reader has read every record it owns: further input is ignored. */
  get done(): boolean {
    return this.finished;
  }

  push(input: Uint8Array): void {
    if (this.finished) return;
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let pos = 0;
    const n = chunk.length;
    if (this.pendingLen > 0) {
      const take = Math.min(BLOCK_SIZE - this.pendingLen, n);
      this.pending.set(chunk.subarray(0, take), this.pendingLen);
      this.pendingLen += take;
      pos = take;
      if (this.pendingLen < BLOCK_SIZE) return;
      this.parseBlock(this.pending, BLOCK_SIZE, false);
      this.pendingLen = 0;
      if (this.finished) return;
    }
    // Whole blocks straight from the chunk, no copy.
    while (n - pos >= BLOCK_SIZE && !this.finished) {
      this.parseBlock(pos === 0 && n === BLOCK_SIZE ? chunk : chunk.subarray(pos, pos + BLOCK_SIZE), BLOCK_SIZE, false);
      pos += BLOCK_SIZE;
    }
    if (pos < n && !this.finished) {
      this.pending.set(chunk.subarray(pos), 0);
      this.pendingLen = n - pos;
    }
  }

  /** Call at end of input; reports a record left unfinished. */
  end(): void {
    if (this.finished) return;
    if (this.pendingLen > 0) {
      this.parseBlock(this.pending, this.pendingLen, true);
      this.pendingLen = 0;
    }
    if (this.fragStart >= 0) {
      const start = this.fragStart;
      this.dropFragment();
      this.damage(start, 'truncated record: file ends inside a fragmented record');
    }
  }

  /**
   * Reports damage at a byte offset, or (past the range's end, in a block another range
   * owns and reports) stops: the record in flight is lost, as it is in a whole read.
   */
  private damage(offset: number, reason: string, owned = offset < this.rangeEnd): void {
    if (!owned) {
      this.dropFragment();
      this.finished = true;
      return;
    }
    // Past the end, nothing after the damage belongs to this range.
    if (this.blockOffset > this.rangeEnd) this.finished = true;
    if (this.onCorrupt) {
      this.onCorrupt({ file: this.file, offset, reason });
      this.resyncing = true;
      return;
    }
    this.failed = true;
    throw corruptError(this.file, offset, reason);
  }

  private dropFragment(): void {
    this.fragLen = 0;
    this.fragStart = -1;
  }

  private appendFragment(block: Uint8Array, start: number, len: number): boolean {
    const need = this.fragLen + len;
    if (need > this.maxRecord) {
      const s = this.fragStart;
      this.dropFragment();
      this.damage(s, `record larger than ${this.maxRecord} bytes`);
      return false;
    }
    if (need > this.frag.length) {
      let cap = Math.max(this.frag.length * 2, 65536);
      while (cap < need) cap *= 2;
      const next = Buffer.alloc(Math.min(cap, this.maxRecord));
      next.set(this.frag.subarray(0, this.fragLen));
      this.frag = next;
    }
    this.frag.set(block.subarray(start, start + len), this.fragLen);
    this.fragLen = need;
    return true;
  }

  private emit(buf: Buffer, start: number, end: number, offset: number): void {
    if (this.onRecordAt) this.onRecordAt(buf, start, end, offset);
    // A plain view: `.slice()` on it copies (Buffer's would alias the reused block buffers).
    else this.onRecord?.(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start), offset);
  }

  /**
   * Refuses a whole block that repeats another of this file: every occurrence of one known
   * from a scan, else each occurrence after the first. Only blocks holding a FULL, FIRST or
   * LAST record take part: a block that is one MIDDLE fragment may genuinely repeat (a long
   * run of equal bytes in a blob), and padding carries no records. Two blocks with a record
   * boundary and equal bytes would mean the same entity written twice.
   */
  private repeatedBlock(sig: number, base: number): boolean {
    const known = this.repeats?.get(sig);
    let reason: string;
    if (known) {
      reason = `block occurs ${known.length} times in the file (byte offsets ${known.join(', ')}): copied data, skipped at every occurrence`;
    } else {
      const seen = this.blocks.get(sig);
      if (seen === undefined) {
        this.blocks.set(sig, [base]);
        return false;
      }
      reason = `block repeats the block at byte offset ${seen[0]} (copied data)`;
    }
    // The record in flight cannot be finished safely: whether this block was inserted or
    // overwrote the one holding its next fragment, nothing in the framing tells.
    if (this.fragStart >= 0) {
      const s = this.fragStart;
      this.dropFragment();
      if (!this.onCorrupt) this.damage(base, reason); // throws: the repeat is the cause to name
      this.damage(s, `record dropped: the block after its first fragment (byte offset ${base}) is copied data`);
    }
    this.damage(base, reason);
    return true;
  }

  /**
   * The fingerprints of the blocks read (of a ranged reader: the blocks it owns) as
   * [fingerprint, byte offset] pairs, for firstRepeatedBlock across the ranges of a file.
   */
  blockFingerprints(): number[] {
    const out: number[] = [];
    for (const [sig, offsets] of this.blocks) for (const o of offsets) out.push(sig, o);
    return out;
  }

  /** Fingerprints that occur more than once, with their offsets (after scanOnly reading). */
  repeatedBlocks(): Map<number, number[]> {
    return new Map([...this.blocks].filter(([, offsets]) => offsets.length > 1));
  }

  /** Parses one block (len < BLOCK_SIZE only for the final partial block). */
  private parseBlock(block: Buffer, len: number, last: boolean): void {
    if (this.failed || this.finished) return;
    const base = this.blockOffset;
    this.blockOffset += len;
    const past = base >= this.rangeEnd;
    if (past && this.fragStart < 0) {
      this.peekOrphan(block, len, base);
      this.finished = true;
      return;
    }
    if (len === BLOCK_SIZE && !past) {
      const sig = blockFingerprint(block);
      if (this.scanOnly) {
        const offsets = sig === undefined ? undefined : this.blocks.get(sig);
        if (offsets) offsets.push(base);
        else if (sig !== undefined) this.blocks.set(sig, [base]);
        return;
      }
      if (sig !== undefined && this.repeatedBlock(sig, base)) return;
    }
    if (this.scanOnly) return;
    this.parseRecords(block, len, last, base, past);
    // At the end of the range with no record in flight: done, unless the next block's first
    // record must be looked at (peekOrphan).
    if (this.blockOffset >= this.rangeEnd && this.fragStart < 0 && (this.leading || this.resyncing)) this.finished = true;
  }

  private parseRecords(block: Buffer, len: number, last: boolean, base: number, past: boolean): void {
    let p = 0;
    while (p < len && !this.finished) {
      const left = len - p;
      if (left < HEADER_SIZE) {
        // A block trailer is zeros; in the last (partial) block a short tail is a truncated header
        // unless it is zero padding.
        if (!isZero(block, p, len)) {
          this.damage(base + p, last ? `truncated record header (${left} bytes at end of file)` : `bad block trailer (${left} non-zero bytes)`);
        }
        return;
      }
      const length = block[p + 4]! | (block[p + 5]! << 8);
      const type = block[p + 6]!;
      const offset = base + p;
      if (type === 0 && length === 0) {
        // Zero padding (preallocated or padded file): rest of the block is unused.
        if (!isZero(block, p, p + HEADER_SIZE)) {
          this.damage(offset, 'bad record header: zero type with a non-zero checksum');
        }
        return;
      }
      if (HEADER_SIZE + length > left) {
        this.dropFragment();
        if (last && HEADER_SIZE + length <= BLOCK_SIZE - p) {
          this.damage(offset, `truncated record: header says ${length} bytes, ${left - HEADER_SIZE} present`);
        } else {
          this.damage(offset, `bad record length ${length}: exceeds the ${left - HEADER_SIZE} bytes left in the block`);
        }
        return; // resync at the next block
      }
      if (type < FULL || type > LAST) {
        this.dropFragment();
        this.damage(offset, `bad record type ${type}`);
        return;
      }
      const expected = unmaskCrc((block[p]! | (block[p + 1]! << 8) | (block[p + 2]! << 16) | (block[p + 3]! << 24)) >>> 0);
      // A plain Uint8Array view is markedly cheaper to make than a Buffer subarray.
      const actual = crc32c(new Uint8Array(block.buffer, block.byteOffset + p + 6, length + 1)) >>> 0;
      if (expected !== actual) {
        this.dropFragment();
        this.damage(offset, `checksum mismatch (expected crc32c ${hex(expected)}, computed ${hex(actual)})`);
        // Skipping: the length fitted the block, so try the next header; if the length itself was
        // damaged, the next header fails its own checks and the rest of the block goes.
        p += HEADER_SIZE + length;
        continue;
      }
      const start = p + HEADER_SIZE;
      p = start + length;
      switch (type) {
        case FULL:
          if (this.fragStart >= 0) {
            const s = this.fragStart;
            this.dropFragment();
            this.damage(s, 'bad framing: record not finished before a new FULL record');
            if (!this.onCorrupt || past) return;
          }
          this.resyncing = false;
          this.leading = false;
          this.emit(block, start, start + length, offset);
          break;
        case FIRST:
          if (this.fragStart >= 0) {
            const s = this.fragStart;
            this.dropFragment();
            this.damage(s, 'bad framing: record not finished before a new FIRST fragment');
            if (!this.onCorrupt || past) return;
          }
          this.resyncing = false;
          this.leading = false;
          this.fragStart = offset;
          this.fragLen = 0;
          if (!this.appendFragment(block, start, length)) return;
          break;
        case MIDDLE:
        case LAST:
          if (this.fragStart < 0) {
            if (this.resyncing) break; // tail of a record already reported as damaged
            if (this.leading) {
              // The tail of a record begun before the range: its own range reads it.
              if (type === LAST) this.leading = false;
              break;
            }
            this.damage(offset, `bad framing: ${type === MIDDLE ? 'MIDDLE' : 'LAST'} fragment without a FIRST`);
            if (!this.onCorrupt) return;
            break;
          }
          if (!this.appendFragment(block, start, length)) return;
          if (type === LAST) {
            const s = this.fragStart;
            const n = this.fragLen;
            this.dropFragment();
            this.emit(this.frag, 0, n, s);
            // Past the end: the rest of the block belongs to the next range.
            if (past) this.finished = true;
          }
          break;
      }
    }
  }

  /**
   * Past the range's end with no record in flight: only the previous range knows that a
   * MIDDLE or LAST fragment opening the next block continues no record (the next range skips
   * leading fragments), so that damage is reported here. Anything else wrong with the block
   * is for its own range to report.
   */
  private peekOrphan(block: Buffer, len: number, base: number): void {
    if (this.leading || this.resyncing || len < HEADER_SIZE) return;
    const length = block[4]! | (block[5]! << 8);
    const type = block[6]!;
    if ((type !== MIDDLE && type !== LAST) || HEADER_SIZE + length > len) return;
    const expected = unmaskCrc((block[0]! | (block[1]! << 8) | (block[2]! << 16) | (block[3]! << 24)) >>> 0);
    if (crc32c(new Uint8Array(block.buffer, block.byteOffset + 6, length + 1)) >>> 0 !== expected) return;
    this.damage(base, `bad framing: ${type === MIDDLE ? 'MIDDLE' : 'LAST'} fragment without a FIRST`, true);
  }
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** Reads every record of a whole in-memory framed file (small files: metadata). */
export function readAllRecords(file: string, data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const r = new LogReader({ file, onRecord: (p) => out.push(p.slice()) });
  r.push(data);
  r.end();
  return out;
}

/** The blocks of a file that occur more than once (fingerprint → byte offsets), from one pass over it. */
export async function scanRepeatedBlocks(file: string, chunks: AsyncIterable<Uint8Array>): Promise<Map<number, number[]>> {
  const r = new LogReader({ file, scanOnly: true });
  for await (const c of chunks) r.push(c);
  return r.repeatedBlocks();
}
