// LevelDB log framing: block boundaries, trailers, fragments, padding, and the exact
// error text for each kind of damage.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '@node-rs/crc32';
import { LogReader, scanRepeatedBlocks } from '../../src/source/export/log-reader.js';
import { BLOCK_SIZE, maskCrc, unmaskCrc, type CorruptRecord } from '../../src/source/export/log-format.js';
import { isMlbridgeError } from '../../src/model/errors.js';
import { frameRecords } from '../support/export-writer.js';

const rec = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

/** Reads framed bytes, fed in chunks of `chunk` bytes. */
function read(data: Uint8Array, chunk = data.length || 1, onCorrupt?: (c: CorruptRecord) => void): { payloads: Uint8Array[]; offsets: number[] } {
  const payloads: Uint8Array[] = [];
  const offsets: number[] = [];
  const r = new LogReader({ file: 'out/output-0', onRecord: (p, o) => (payloads.push(p.slice()), offsets.push(o)), ...(onCorrupt ? { onCorrupt } : {}) });
  for (let i = 0; i < data.length; i += chunk) r.push(data.subarray(i, i + chunk));
  r.end();
  return { payloads, offsets };
}

function header(len: number, type: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(7 + payload.length);
  h[4] = len & 0xff;
  h[5] = len >> 8;
  h[6] = type;
  h.set(payload, 7);
  const c = maskCrc(crc32c(Buffer.from(h.subarray(6))) >>> 0);
  new DataView(h.buffer).setUint32(0, c, true);
  return h;
}

function errorOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_CORRUPT'), `expected EXPORT_CORRUPT, got ${String(e)}`);
    return (e as Error).message;
  }
  assert.unreachable('should have thrown');
  return '';
}

const Framing = suite('LevelDB log framing');

Framing('mask and unmask are inverses and match the LevelDB constant', () => {
  for (const c of [0, 1, 0xffffffff, 0x12345678]) assert.is(unmaskCrc(maskCrc(c)), c);
  assert.is(maskCrc(0), 0xa282ead8);
});

Framing('small records come back in order with their offsets, whatever the chunk size', async () => {
  const records = [rec(10, 1), rec(0), rec(300, 2), rec(5, 3)];
  const data = await frameRecords(records);
  for (const chunk of [1, 7, 100, 32768, data.length]) {
    const got = read(data, chunk);
    assert.equal(got.payloads, records);
    assert.equal(got.offsets, [0, 17, 24, 331]);
  }
});

Framing('a record spanning three blocks is reassembled from FIRST, MIDDLE and LAST', async () => {
  const big = new Uint8Array(80_000).map((_, i) => i % 251);
  const data = await frameRecords([rec(3), big, rec(4)]);
  const got = read(data, 4096);
  assert.is(got.payloads.length, 3);
  assert.equal(got.payloads[1], big);
  assert.is(got.offsets[1], 10);
});

Framing('a block trailer shorter than a header is skipped', async () => {
  // 32768 - 7 (header) - 32755 (payload) = 6 bytes left: trailer.
  const data = await frameRecords([rec(BLOCK_SIZE - 7 - 6), rec(20)]);
  assert.is(data.length, BLOCK_SIZE + 27);
  const got = read(data);
  assert.equal(got.payloads.map((p) => p.length), [BLOCK_SIZE - 13, 20]);
  assert.is(got.offsets[1], BLOCK_SIZE);
});

Framing('exactly seven bytes left in a block gives a zero-length FIRST fragment', async () => {
  const data = await frameRecords([rec(BLOCK_SIZE - 14), rec(20, 9)]);
  assert.is(data[BLOCK_SIZE - 1], 2); // type byte of the empty FIRST header
  const got = read(data, 1000);
  assert.equal(got.payloads, [rec(BLOCK_SIZE - 14), rec(20, 9)]);
  assert.is(got.offsets[1], BLOCK_SIZE - 7);
});

Framing('zero padding after the last record, and a file padded to whole blocks, are fine', async () => {
  const padded = await frameRecords([rec(100), rec(200)], { padToBlock: true });
  assert.is(padded.length, BLOCK_SIZE);
  assert.is(read(padded).payloads.length, 2);
  const tail = Buffer.concat([await frameRecords([rec(5)]), new Uint8Array(3)]);
  assert.is(read(tail).payloads.length, 1);
});

Framing('an empty file has no records', () => {
  assert.equal(read(new Uint8Array(0)).payloads, []);
});

Framing('a checksum mismatch names the file and the record offset', async () => {
  const data = await frameRecords([rec(10), rec(10)]);
  data[17 + 9] ^= 0xff;
  assert.match(errorOf(() => read(data)), /^out\/output-0: byte offset 17: checksum mismatch \(expected crc32c 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
});

Framing('a file cut inside a record is a truncated record', async () => {
  const data = await frameRecords([rec(10), rec(100)]);
  assert.is(errorOf(() => read(data.subarray(0, 60))), 'out/output-0: byte offset 17: truncated record: header says 100 bytes, 36 present');
  assert.is(errorOf(() => read(data.subarray(0, 20))), 'out/output-0: byte offset 17: truncated record header (3 bytes at end of file)');
});

Framing('a file cut between fragments reports the unfinished record', async () => {
  const data = await frameRecords([rec(40_000)]);
  assert.is(errorOf(() => read(data.subarray(0, BLOCK_SIZE))), 'out/output-0: byte offset 0: truncated record: file ends inside a fragmented record');
});

Framing('bad framing: a length beyond the block, an unknown type, a LAST without FIRST', () => {
  const bad = header(5, 1, rec(5));
  bad[5] = 0x90; // length 0x9005
  assert.is(errorOf(() => read(bad)), 'out/output-0: byte offset 0: bad record length 36869: exceeds the 5 bytes left in the block');
  assert.is(errorOf(() => read(header(1, 9, rec(1)))), 'out/output-0: byte offset 0: bad record type 9');
  assert.is(errorOf(() => read(header(1, 4, rec(1)))), 'out/output-0: byte offset 0: bad framing: LAST fragment without a FIRST');
  assert.is(
    errorOf(() => read(Buffer.concat([header(1, 2, rec(1)), header(1, 1, rec(1))]))),
    'out/output-0: byte offset 0: bad framing: record not finished before a new FULL record',
  );
});

Framing('skipping corrupt records reports each one and keeps the undamaged ones', async () => {
  const records = Array.from({ length: 6 }, (_, i) => rec(50, i + 1));
  const data = await frameRecords(records);
  data[57 * 2 + 20] ^= 1; // third record's payload
  const seen: CorruptRecord[] = [];
  const got = read(data, 64, (c) => seen.push(c));
  assert.equal(got.payloads, [records[0], records[1], records[3], records[4], records[5]]);
  assert.is(seen.length, 1);
  assert.is(seen[0]!.offset, 114);
  assert.match(seen[0]!.reason, /checksum mismatch/);
});

Framing('skipping a damaged fragmented record drops its later fragments silently and resumes', async () => {
  const big = rec(70_000, 7);
  const data = await frameRecords([rec(10), big, rec(10, 5)]);
  data[30] ^= 1; // inside the FIRST fragment
  const seen: CorruptRecord[] = [];
  const got = read(data, 5000, (c) => seen.push(c));
  assert.equal(got.payloads, [rec(10), rec(10, 5)]);
  assert.is(seen.length, 1);
  assert.is(seen[0]!.offset, 17);
});

Framing.run();

/** data with block `from` copied in at block index `at` (inserted, or written over block `at`). */
function withBlock(data: Uint8Array, from: number, at: number, overwrite = false): Buffer {
  const copy = data.subarray(from * BLOCK_SIZE, (from + 1) * BLOCK_SIZE);
  return Buffer.concat([data.subarray(0, at * BLOCK_SIZE), copy, data.subarray((at + (overwrite ? 1 : 0)) * BLOCK_SIZE)]);
}

/** Records of 300..1000 bytes, each one filled with its own index: a splice shows as mixed bytes. */
function numbered(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(300 + ((i * 37) % 700)).fill(i % 251));
}

const Repeats = suite('LevelDB log framing: repeated blocks');

Repeats('a block copied right after itself fails a plain read at the copy, naming the original', async () => {
  const data = await frameRecords(numbered(200));
  assert.ok(data.length > 3 * BLOCK_SIZE);
  assert.is(errorOf(() => read(withBlock(data, 1, 2))), `out/output-0: byte offset ${2 * BLOCK_SIZE}: block repeats the block at byte offset ${BLOCK_SIZE} (copied data)`);
});

/** Reads like read() with skipping, after a scan for repeated blocks (what skipCorrupt does). */
async function readScanned(data: Buffer, onCorrupt: (c: CorruptRecord) => void): Promise<Uint8Array[]> {
  const repeats = await scanRepeatedBlocks('out/output-0', (async function* () {
    for (let i = 0; i < data.length; i += 5000) yield data.subarray(i, i + 5000);
  })());
  const payloads: Uint8Array[] = [];
  const r = new LogReader({ file: 'out/output-0', onRecord: (p) => payloads.push(p.slice()), onCorrupt, repeats });
  r.push(data);
  r.end();
  return payloads;
}

Repeats('with skipping after a scan, a copied block before or after its original yields each record at most once, never spliced', async () => {
  const records = numbered(200);
  const data = await frameRecords(records);
  const blocks = Math.floor(data.length / BLOCK_SIZE);
  for (let from = 0; from < blocks; from++) {
    for (let at = 0; at <= blocks; at++) for (const overwrite of [false, true]) {
      if (overwrite && (at >= blocks || at === from)) continue;
      const seen: CorruptRecord[] = [];
      const payloads = await readScanned(withBlock(data, from, at, overwrite), (c) => seen.push(c));
      const got = { payloads };
      const where = `block ${from} at ${at}${overwrite ? ' (overwritten)' : ''}`;
      const ids = got.payloads.map((p) => p[0]!);
      for (const p of got.payloads) {
        assert.ok(p.every((b) => b === p[0]), `spliced record: ${where}`);
        assert.is(p.length, records[p[0]!]!.length, where);
      }
      assert.is(new Set(ids).size, ids.length, `a record came out twice: ${where}`);
      assert.ok(seen.some((c) => /^block occurs 2 times in the file \(byte offsets \d+, \d+\): copied data, skipped at every occurrence$/.test(c.reason)), where);
    }
  }
});

Repeats('with skipping and no scan, a copy after its original is skipped and the records around it kept', async () => {
  const records = numbered(200);
  const data = await frameRecords(records);
  const seen: CorruptRecord[] = [];
  const ids = read(withBlock(data, 1, 2), 4096, (c) => seen.push(c)).payloads.map((p) => p[0]!);
  assert.is(new Set(ids).size, ids.length);
  assert.is(ids.length, records.length - 1, 'only the record in flight is lost');
  assert.equal(seen.map((c) => c.reason.replace(/\d+/g, 'N')), [
    'record dropped: the block after its first fragment (byte offset N) is copied data',
    'block repeats the block at byte offset N (copied data)',
  ]);
});

Repeats('the record in flight when the copy comes is dropped and reported', async () => {
  const data = await frameRecords(numbered(200));
  const seen: CorruptRecord[] = [];
  read(withBlock(data, 1, 2), data.length, (c) => seen.push(c));
  const dropped = seen.find((c) => c.reason.startsWith('record dropped'));
  assert.ok(dropped);
  assert.is(dropped!.reason, `record dropped: the block after its first fragment (byte offset ${2 * BLOCK_SIZE}) is copied data`);
  assert.ok(dropped!.offset < 2 * BLOCK_SIZE && dropped!.offset > BLOCK_SIZE);
});

Repeats('a record whose middle fragments repeat genuinely (a long run of equal bytes) reads fine', async () => {
  const run = new Uint8Array(5 * BLOCK_SIZE).fill(0xab);
  const data = await frameRecords([rec(10), run, rec(10, 2)]);
  assert.equal(read(data, 10_000).payloads, [rec(10), run, rec(10, 2)]);
});

Repeats('zero padding blocks are not repeats', async () => {
  const data = Buffer.concat([await frameRecords([rec(100)], { padToBlock: true }), new Uint8Array(2 * BLOCK_SIZE)]);
  assert.equal(read(data).payloads, [rec(100)]);
});

Repeats.run();
