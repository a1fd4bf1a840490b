// Reading one output file in 32 KiB-aligned block ranges (several threads decoding a large
// file) gives what one whole read gives: every record once, in order, with its offset; the
// same damage, reported once, by one range; a block copied between ranges found as a whole
// read finds it. Ranged reads work on local files and through the Cloud Storage client.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '@node-rs/crc32';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogReader } from '../../src/source/export/log-reader.js';
import { firstRepeatedBlock } from '../../src/source/export/block-fingerprint.js';
import { BLOCK_SIZE, maskCrc, type ByteRange, type CorruptRecord } from '../../src/source/export/log-format.js';
import { EntityDecoder } from '../../src/source/export/entity-proto.js';
import { SPLIT_MIN_BYTES, checkRangeRepeats, splitFile, splitTasks } from '../../src/source/export/file-tasks.js';
import { openStore, type ExportStore } from '../../src/source/export/export-store.js';
import { readOutputFile, type FileTally } from '../../src/source/export/read-export.js';
import type { Entity } from '../../src/source/entity.js';
import { isMlbridgeError } from '../../src/model/errors.js';
import { frameRecords, writeExport } from '../support/export-writer.js';
import { rejects } from '../support/rejects.js';
import { startGcsFake } from './gcs-fake.js';

const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** A record of n bytes whose content says which record it is. */
const rec = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 7) % 251);

/** One framed fragment: header (checksum, length, type) and payload. */
function fragment(type: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(7 + payload.length);
  h[4] = payload.length & 0xff;
  h[5] = payload.length >> 8;
  h[6] = type;
  h.set(payload, 7);
  new DataView(h.buffer).setUint32(0, maskCrc(crc32c(Buffer.from(h.subarray(6))) >>> 0), true);
  return h;
}

interface Read {
  records: string[];
  reports: string[];
  error?: string;
  blocks: number[];
}

/** Reads `data` (a whole file) as the given range would, fed in chunks, stopping once the reader is done. */
function readRange(data: Uint8Array, range: ByteRange | undefined, chunk: number, skip: boolean): Read {
  const out: Read = { records: [], reports: [], blocks: [] };
  const r = new LogReader({
    file: 'out/output-0',
    onRecord: (p, o) => out.records.push(`${o}:${p.length}:${crc32c(Buffer.from(p)) >>> 0}`),
    ...(skip ? { onCorrupt: (c: CorruptRecord) => out.reports.push(`${c.offset}: ${c.reason}`) } : {}),
    ...(range ? { range } : {}),
  });
  try {
    for (let i = range?.start ?? 0; i < data.length && !r.done; i += chunk) r.push(data.subarray(i, i + chunk));
    r.end();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_CORRUPT'), String(e));
    out.error = (e as Error).message;
  }
  out.blocks = r.blockFingerprints();
  return out;
}

/** Every way to cut a file of `blocks` blocks into two or three ranges. */
function* splits(blocks: number): Generator<ByteRange[]> {
  const cut = (points: number[]) => [0, ...points].map((p, i, all) => ({ start: p * BLOCK_SIZE, end: i + 1 < all.length ? all[i + 1]! * BLOCK_SIZE : Infinity }));
  for (let a = 1; a < blocks; a++) {
    yield cut([a]);
    for (let b = a + 1; b < blocks; b++) yield cut([a, b]);
  }
}

/** The ranges read one after another: their records, reports and errors, in range order. */
function readSplit(data: Uint8Array, ranges: ByteRange[], chunk: number, skip: boolean): Read & { errors: string[] } {
  const parts = ranges.map((r) => readRange(data, r, chunk, skip));
  const errors = parts.flatMap((p) => (p.error !== undefined ? [p.error] : []));
  const repeat = errors.length ? undefined : firstRepeatedBlock('out/output-0', parts.map((p) => p.blocks));
  if (repeat) errors.push(repeat.message);
  return { records: parts.flatMap((p) => p.records), reports: parts.flatMap((p) => p.reports), blocks: [], errors };
}

const show = (ranges: ByteRange[]) => ranges.map((r) => `[${r.start / BLOCK_SIZE},${r.end / BLOCK_SIZE})`).join(' ');

/**
 * Asserts that every split of `data` reads as the whole file does, with and without skipping
 * damage. Failing on damage, each range stops at its own first damage: the first range's
 * error is the whole read's, and a file damaged once fails in one range only.
 */
function assertSplitsMatchWhole(data: Uint8Array, chunks = [1000, BLOCK_SIZE, 1 << 20]): void {
  const blocks = Math.ceil(data.length / BLOCK_SIZE);
  const damageCount = readRange(data, undefined, 1 << 20, true).reports.length;
  for (const skip of [false, true]) {
    const whole = readRange(data, undefined, 1 << 20, skip);
    for (const ranges of splits(blocks)) {
      for (const chunk of chunks) {
        const got = readSplit(data, ranges, chunk, skip);
        const where = `${show(ranges)}, chunks of ${chunk}${skip ? ', skipping damage' : ''}`;
        if (damageCount <= 1) assert.equal(got.errors, whole.error !== undefined ? [whole.error] : [], `errors of ${where}`);
        else assert.is(got.errors[0], whole.error, `first error of ${where}`);
        if (whole.error === undefined) assert.equal(got.records, whole.records, `records of ${where}`);
        assert.equal(got.reports, whole.reports, `reports of ${where}`);
      }
    }
  }
}

/** Records of every shape: small, spanning 2, 3 and 4 blocks, a zero-length FIRST, ending exactly at a block's end. */
async function mixedFile(): Promise<Buffer> {
  return frameRecords([
    rec(10, 1),
    rec(80_000, 2), // FIRST, MIDDLE, LAST
    rec(BLOCK_SIZE - ((10 + 7 + 80_000 + 7 * 3) % BLOCK_SIZE) - 14, 3), // leaves 7 bytes: a zero-length FIRST
    rec(20, 4),
    rec(100_000, 5), // FIRST, MIDDLE, MIDDLE, LAST
    ...Array.from({ length: 40 }, (_, i) => rec(300 + i * 37, 10 + i)),
    rec(70_000, 6),
    rec(5, 7),
  ]);
}

const Ranges = suite('reading an output file in block ranges');

Ranges('every split into two or three ranges reads the records of one whole read, once each, in order', async () => {
  const data = await mixedFile();
  assert.ok(data.length > 9 * BLOCK_SIZE, `${data.length} bytes`);
  assert.is(readRange(data, undefined, 1 << 20, false).records.length, 47);
  assertSplitsMatchWhole(data);
});

Ranges('a range starting inside a record skips its tail; the range holding its FIRST fragment reads past its end for it', async () => {
  const data = await frameRecords([rec(10, 1), rec(80_000, 2), rec(10, 3)]);
  const first = readRange(data, { start: 0, end: BLOCK_SIZE }, 1 << 20, false);
  const second = readRange(data, { start: BLOCK_SIZE, end: 2 * BLOCK_SIZE }, 1 << 20, false);
  const third = readRange(data, { start: 2 * BLOCK_SIZE, end: Infinity }, 1 << 20, false);
  assert.equal(first.records.map((r) => r.split(':').slice(0, 2).join(':')), ['0:10', '17:80000']);
  assert.equal(second.records, []);
  assert.equal(third.records.map((r) => r.split(':').slice(0, 2).join(':')), [`${17 + 7 * 3 + 80_000}:10`]);
});

Ranges('a flipped byte in any fragment is reported once, by the range holding its block, as a whole read reports it', async () => {
  const clean = await mixedFile();
  // Inside the MIDDLE of the 3-block record, inside the FIRST of the 4-block one, inside its LAST, and a small record.
  for (const at of [BLOCK_SIZE + 500, 2 * BLOCK_SIZE + 100, 5 * BLOCK_SIZE + 20, 7 * BLOCK_SIZE + 3000]) {
    const data = Buffer.from(clean);
    data[at] = data[at]! ^ 0xff;
    assert.ok(readRange(data, undefined, 1 << 20, false).error?.includes('checksum mismatch'), `damage at ${at}`);
    assertSplitsMatchWhole(data, [BLOCK_SIZE]);
  }
});

Ranges('a fragment that continues no record is reported once, also at a range start, where only the range before can see it', async () => {
  const filler = fragment(FULL, rec(BLOCK_SIZE - 7, 1)); // fills block 0: nothing in flight at block 1
  // Block 1 opens with a LAST that continues nothing; block 2 with a LAST that ends a record, then an orphan MIDDLE.
  const block1 = Buffer.concat([fragment(LAST, rec(100, 2)), fragment(FULL, rec(50, 3)), fragment(FIRST, rec(BLOCK_SIZE - 100 - 50 - 21, 4))]);
  const block2 = Buffer.concat([fragment(LAST, rec(30, 4)), fragment(MIDDLE, rec(40, 5)), fragment(FULL, rec(60, 6))]);
  const data = Buffer.concat([filler, block1, block2]);
  const whole = readRange(data, undefined, 1 << 20, true);
  assert.equal(whole.reports, [
    `${BLOCK_SIZE}: bad framing: LAST fragment without a FIRST`,
    `${2 * BLOCK_SIZE + 37}: bad framing: MIDDLE fragment without a FIRST`,
  ]);
  assert.is(readRange(data, undefined, 1 << 20, false).error, `out/output-0: byte offset ${BLOCK_SIZE}: bad framing: LAST fragment without a FIRST`);
  assertSplitsMatchWhole(data);
});

Ranges('a file cut inside a record is reported at its FIRST fragment, by the range holding it', async () => {
  const clean = await mixedFile();
  for (const cut of [3 * BLOCK_SIZE + 10, 4 * BLOCK_SIZE, 9 * BLOCK_SIZE + 7]) {
    const data = clean.subarray(0, cut);
    assert.match(readRange(data, undefined, 1 << 20, false).error ?? '', /truncated|exceeds/);
    assertSplitsMatchWhole(data, [BLOCK_SIZE]);
  }
});

Ranges('a block copied into another range is found when the ranges are merged, with the error of a whole read', async () => {
  // One FULL record per block: a copy of block 1 placed after block 4, and one placed before block 1.
  const blocks = Array.from({ length: 6 }, (_, i) => fragment(FULL, rec(BLOCK_SIZE - 7, i + 1)));
  for (const [data, repeatAt] of [
    [Buffer.concat([...blocks.slice(0, 5), blocks[1]!, blocks[5]!]), 5],
    [Buffer.concat([blocks[0]!, blocks[3]!, ...blocks.slice(1)]), 4],
  ] as const) {
    const whole = readRange(data, undefined, 1 << 20, false).error;
    assert.is(whole, `out/output-0: byte offset ${repeatAt * BLOCK_SIZE}: block repeats the block at byte offset ${BLOCK_SIZE} (copied data)`);
    for (const ranges of splits(7)) assert.equal(readSplit(data, ranges, BLOCK_SIZE, false).errors, [whole!], show(ranges));
  }
});

Ranges('a range boundary that is not a multiple of 32 KiB is refused', () => {
  assert.throws(() => new LogReader({ file: 'f', range: { start: 100, end: Infinity } }), /multiples of 32768/);
  assert.throws(() => new LogReader({ file: 'f', range: { start: BLOCK_SIZE, end: BLOCK_SIZE } }), /ascending/);
});

const Tasks = suite('splitting an export into tasks');

Tasks('a file is cut into about two block-aligned ranges per thread, the last reading to the end', () => {
  const size = 32 * 1024 * 1024 - 100;
  const ranges = splitFile(size, 2);
  assert.is(ranges.length, 4);
  assert.equal(ranges.map((r) => r.start), [0, 8 << 20, 16 << 20, 24 << 20]);
  assert.equal(ranges.map((r) => r.end), [8 << 20, 16 << 20, 24 << 20, Infinity]);
  assert.equal(splitFile(3 * BLOCK_SIZE, 4), [
    { start: 0, end: BLOCK_SIZE },
    { start: BLOCK_SIZE, end: 2 * BLOCK_SIZE },
    { start: 2 * BLOCK_SIZE, end: Infinity },
  ]);
  assert.equal(splitFile(0, 2), [{ start: 0, end: Infinity }]);
});

Tasks('only large files are split, and only when there are fewer files than two per thread', async () => {
  const sizes = new Map([
    ['big', 32 << 20],
    ['small', SPLIT_MIN_BYTES - 1],
  ]);
  const store = { size: async (p: string) => sizes.get(p)! } as unknown as ExportStore;
  const tasks = [...sizes.keys()].map((path) => ({ path, part: 0, display: path }));
  const split = await splitTasks(store, tasks, 2);
  assert.equal(split.map((t) => [t.path, t.range?.start ?? 'whole']), [
    ['big', 0],
    ['big', 8 << 20],
    ['big', 16 << 20],
    ['big', 24 << 20],
    ['small', 'whole'],
  ]);
  assert.equal(await splitTasks(store, tasks, 1), tasks);
  assert.equal(await splitTasks(store, [...tasks, ...tasks], 2), [...tasks, ...tasks]);
});

const Entities = suite('decoding entities in block ranges');

let dir = '';
let file = '';
let store: ExportStore;

/** Entities of all sizes: every 7th one has a property of 40–130 KB (a record over 2–5 blocks). */
function* entities(): Generator<Entity> {
  for (let i = 1; i <= 400; i++) {
    const big = i % 7 === 0 ? 'x'.repeat(40_000 + ((i * 7919) % 90_000)) + String(i) : `note ${i}`;
    yield {
      key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] },
      properties: { n: { integerValue: String(i) }, notes: { stringValue: big, excludeFromIndexes: true } },
    };
  }
}

Entities.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-log-ranges-'));
  await writeExport(join(dir, 'exports'), entities(), { exportId: 'e1' });
  file = join(dir, 'exports', 'e1', 'all_namespaces', 'all_kinds', 'output-0');
  store = (await openStore(dir, process.env)).store;
});
Entities.after(() => rmSync(dir, { recursive: true, force: true }));

async function decode(s: ExportStore, path: string, ranges: (ByteRange | undefined)[]): Promise<{ entities: Entity[]; records: number; blocks: number[][] }> {
  const tally: FileTally = { records: 0, damaged: false };
  const entities: Entity[] = [];
  const blocks: number[][] = [];
  for (const range of ranges) {
    const fingerprints: number[] = [];
    for await (const batch of readOutputFile(s, path, { decoder: new EntityDecoder(), tally, range, blocks: fingerprints })) entities.push(...batch.entities);
    blocks.push(fingerprints);
  }
  return { entities, records: tally.records, blocks };
}

Entities('for every split point, two ranges of a file decode exactly the entities of one whole read', async () => {
  const whole = await decode(store, file, [undefined]);
  assert.is(whole.entities.length, 400);
  assert.is(whole.records, 400);
  const blocks = Math.ceil(statSync(file).size / BLOCK_SIZE);
  assert.ok(blocks > 60, `${blocks} blocks`);
  for (let s = 1; s < blocks; s++) {
    const split = await decode(store, file, [
      { start: 0, end: s * BLOCK_SIZE },
      { start: s * BLOCK_SIZE, end: Infinity },
    ]);
    assert.is(split.records, 400, `records split at block ${s}`);
    assert.equal(split.entities, whole.entities, `entities split at block ${s}`);
  }
});

Entities('the ranges of splitFile decode the entities of one whole read, and no block is repeated across them', async () => {
  const whole = await decode(store, file, [undefined]);
  for (const jobs of [2, 3, 8, 64]) {
    const ranges = splitFile(statSync(file).size, jobs);
    const split = await decode(store, file, ranges);
    assert.equal(split.entities, whole.entities, `${jobs} threads`);
    const tasks = ranges.map((range) => ({ path: file, part: 0, display: file, range }));
    checkRangeRepeats(tasks, split.blocks);
  }
});

Entities('a block copied from one range into another fails the read of the ranges, naming the file and a byte offset', async () => {
  // The copy breaks the framing around it, so which damage comes first depends on the split;
  // that the whole read and the ranges give the same error for a clean copy is tested above.
  const data = readFileSync(file);
  const copied = Buffer.concat([data.subarray(0, 40 * BLOCK_SIZE), data.subarray(0, BLOCK_SIZE), data.subarray(40 * BLOCK_SIZE)]);
  const path = join(dir, 'copied-output');
  writeFileSync(path, copied);
  for (const jobs of [2, 3]) {
    const ranges = splitFile(copied.length, jobs);
    const tasks = ranges.map((range) => ({ path, part: 0, display: path, range }));
    const err = await rejects(
      (async () => {
        const split = await decode(store, path, ranges);
        checkRangeRepeats(tasks, split.blocks);
      })(),
    );
    assert.is(err.code, 'EXPORT_CORRUPT');
    assert.match(err.message, new RegExp(`^${path}: byte offset \\d+: `));
  }
  const whole = await rejects(decode(store, path, [undefined]));
  assert.is(whole.message, `${path}: byte offset ${40 * BLOCK_SIZE}: block repeats the block at byte offset 0 (copied data)`);
});

Entities('ranges of a gs:// file are read with ranged downloads through the storage client', async () => {
  const fake = await startGcsFake('ranges-bucket', join(dir, 'exports'));
  try {
    const env = { STORAGE_EMULATOR_HOST: fake.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
    const gcs = (await openStore('gs://ranges-bucket', env)).store;
    const path = 'e1/all_namespaces/all_kinds/output-0';
    const size = await gcs.size(path);
    const ranges = splitFile(size, 2);
    const split = await decode(gcs, path, ranges);
    assert.equal(split.entities, (await decode(store, file, [undefined])).entities);
    const starts = fake.ranged.map((r) => Number(/^bytes=(\d+)-/.exec(r)![1]));
    for (const r of ranges) assert.ok(starts.includes(r.start), `a download starts at ${r.start}: ${fake.ranged.join(', ')}`);
    assert.ok(fake.ranged.includes(`bytes=0-${ranges[0]!.end - 1}`), fake.ranged.join(', '));
  } finally {
    await fake.close();
  }
});

Ranges.run();
Tasks.run();
Entities.run();
