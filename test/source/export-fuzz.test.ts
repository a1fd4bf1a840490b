// Fuzz: thousands of mutated and truncated copies of a real emulator export. Every outcome
// must be either a clean read or an EXPORT_CORRUPT error naming the file and a byte
// offset; with skipCorrupt the records that were not touched still come out.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '@node-rs/crc32';
import { cp, readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { readExport, maskCrc, BLOCK_SIZE } from '../../src/source/export/index.js';
import { MlbridgeError } from '../../src/model/errors.js';
import { seededEmulator, keyString, type EmulatorExport } from './emulator-fixture.js';
import { mulberry32 } from '../../src/model/prng.js';


interface Frame {
  offset: number;
  length: number;
  type: number;
}

/** Physical records of a well-formed file (for payload mutations with a valid CRC). */
function frames(data: Uint8Array): Frame[] {
  const out: Frame[] = [];
  let p = 0;
  while (p + 7 <= data.length) {
    const left = BLOCK_SIZE - (p % BLOCK_SIZE);
    if (left < 7) {
      p += left;
      continue;
    }
    const length = data[p + 4]! | (data[p + 5]! << 8);
    const type = data[p + 6]!;
    if (type === 0 && length === 0) {
      p += left;
      continue;
    }
    out.push({ offset: p, length, type });
    p += 7 + length;
  }
  return out;
}

function fixCrc(data: Uint8Array, f: Frame): void {
  const c = maskCrc(crc32c(Buffer.from(data.buffer, data.byteOffset + f.offset + 6, f.length + 1)) >>> 0);
  new DataView(data.buffer, data.byteOffset).setUint32(f.offset, c, true);
}

const ctx: { emu?: EmulatorExport; dir?: string; output?: string; original?: Buffer; all?: Entity[] } = {};

async function collect(opts = {}): Promise<Entity[]> {
  const out: Entity[] = [];
  for await (const e of readExport(ctx.dir!, opts)) out.push(e);
  return out;
}

const Fuzz = suite('export reader fuzzing');

Fuzz.before(async () => {
  ctx.emu = await seededEmulator();
  const exported = await ctx.emu.exportTo('full');
  ctx.dir = join(ctx.emu.dir, 'fuzz');
  await cp(exported, ctx.dir, { recursive: true });
  const [id] = (await readdir(ctx.dir)).sort().reverse();
  ctx.output = join(ctx.dir, id!, 'all_namespaces', 'all_kinds', 'output-0');
  ctx.original = await readFile(ctx.output);
  ctx.all = await collect();
});
Fuzz.after(async () => {
  await ctx.emu?.close();
});

/** Reads the export; returns 'ok' or the error message, failing on anything but EXPORT_CORRUPT. */
async function outcome(): Promise<string> {
  try {
    await collect();
    return 'ok';
  } catch (e) {
    if (!(e instanceof MlbridgeError) || e.code !== 'EXPORT_CORRUPT') throw new Error(`unclean failure: ${e instanceof Error ? e.stack : String(e)}`);
    return e.message;
  }
}

const OFFSET_MSG = (file: string) => new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: byte offset (\\d+): \\S`);

Fuzz('the real export has several blocks and reads completely', () => {
  assert.ok(ctx.original!.length > 3 * BLOCK_SIZE);
  assert.is(ctx.all!.length, ctx.emu!.entities.length);
});

Fuzz('random byte mutations, insertions, deletions and truncations fail cleanly with file and offset', async () => {
  const rnd = mulberry32(20261123);
  const orig = ctx.original!;
  const re = OFFSET_MSG(ctx.output!);
  let corrupt = 0;
  const started = Date.now();
  let i = 0;
  for (; i < 2000 && Date.now() - started < 60_000; i++) {
    let data: Buffer = Buffer.from(orig);
    const op = Math.floor(rnd() * 5);
    const at = Math.floor(rnd() * data.length);
    if (op === 0) for (let k = 0, n = 1 + Math.floor(rnd() * 8); k < n; k++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
    else if (op === 1) data = data.subarray(0, at);
    else if (op === 2) data = Buffer.concat([data.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))), data.subarray(at)]);
    else if (op === 3) data = Buffer.concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + Math.floor(rnd() * 300)))]);
    else data.fill(rnd() < 0.5 ? 0 : 0xff, at, Math.min(data.length, at + 1 + Math.floor(rnd() * 100)));
    await writeFile(ctx.output!, data);
    const res = await outcome();
    if (res !== 'ok') {
      corrupt++;
      const m = re.exec(res);
      assert.ok(m, `message without file and offset: ${res}`);
      assert.ok(Number(m![1]) <= data.length, `offset beyond the file: ${res}`);
    }
  }
  await writeFile(ctx.output!, orig);
  assert.ok(i >= 500, `only ${i} iterations ran`);
  assert.ok(corrupt > i / 2, `only ${corrupt} of ${i} mutations were detected`);
});

Fuzz('mutated record payloads with valid checksums reach the protobuf decoder and fail cleanly', async () => {
  const rnd = mulberry32(42);
  const orig = ctx.original!;
  const fs = frames(orig).filter((f) => f.length > 0);
  const re = OFFSET_MSG(ctx.output!);
  const started = Date.now();
  let i = 0;
  let corrupt = 0;
  for (; i < 2000 && Date.now() - started < 60_000; i++) {
    const data = Buffer.from(orig);
    const f = fs[Math.floor(rnd() * fs.length)]!;
    for (let k = 0, n = 1 + Math.floor(rnd() * 4); k < n; k++) {
      const pos = f.offset + 7 + Math.floor(rnd() * f.length);
      data[pos] = rnd() < 0.3 ? [0x00, 0x0b, 0x0c, 0x7f, 0x80, 0xff][Math.floor(rnd() * 6)]! : Math.floor(rnd() * 256);
    }
    fixCrc(data, f);
    await writeFile(ctx.output!, data);
    const res = await outcome();
    if (res !== 'ok') {
      corrupt++;
      assert.ok(re.test(res), `message without file and offset: ${res}`);
    }
  }
  await writeFile(ctx.output!, orig);
  assert.ok(i >= 500, `only ${i} iterations ran`);
  assert.ok(corrupt > 0);
});

Fuzz('with skipCorrupt, every record not touched by a damaged byte still comes out', async () => {
  const rnd = mulberry32(7);
  const orig = ctx.original!;
  const fs = frames(orig).filter((f) => f.type === 1 && f.length > 0); // FULL records: one entity each
  const want = new Set(ctx.all!.map((e) => keyString(e.key)));
  for (let i = 0; i < 200; i++) {
    const data = Buffer.from(orig);
    const hit = new Set<number>();
    for (let k = 0, n = 1 + Math.floor(rnd() * 3); k < n; k++) {
      const f = fs[Math.floor(rnd() * fs.length)]!;
      hit.add(f.offset);
      data[f.offset + 7 + Math.floor(rnd() * f.length)] ^= 1 + Math.floor(rnd() * 255);
    }
    await writeFile(ctx.output!, data);
    const skipped: number[] = [];
    const got = await collect({ skipCorrupt: true, onCorrupt: (c: { offset: number }) => skipped.push(c.offset) });
    assert.equal(skipped.sort((a, b) => a - b), [...hit].sort((a, b) => a - b));
    assert.is(got.length, want.size - hit.size);
    for (const e of got) assert.ok(want.has(keyString(e.key)));
  }
  await writeFile(ctx.output!, orig);
});

Fuzz('with skipCorrupt, a truncated file yields every record before the cut', async () => {
  const orig = ctx.original!;
  const fs = frames(orig);
  const cutFrame = fs[Math.floor(fs.length / 2)]!;
  await writeFile(ctx.output!, orig.subarray(0, cutFrame.offset + 3));
  const skipped: string[] = [];
  const got = await collect({ skipCorrupt: true, onCorrupt: (c: { reason: string }) => skipped.push(c.reason) });
  await writeFile(ctx.output!, orig);
  const before = fs.filter((f) => f.offset < cutFrame.offset && (f.type === 1 || f.type === 4)).length;
  assert.is(got.length, before);
  assert.is(skipped.length, 1);
});

Fuzz('mutated and truncated metadata files fail cleanly (corrupt, or not found when a name is damaged)', async () => {
  const rnd = mulberry32(99);
  const [id] = (await readdir(ctx.dir!)).sort().reverse();
  const files = [join(ctx.dir!, id!, `${id}.overall_export_metadata`), join(ctx.dir!, id!, 'all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata')];
  for (const file of files) {
    const orig = await readFile(file);
    for (let i = 0; i < 400; i++) {
      let data = Buffer.from(orig);
      if (rnd() < 0.3) data = data.subarray(0, Math.floor(rnd() * data.length));
      else for (let k = 0, n = 1 + Math.floor(rnd() * 3); k < n; k++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
      await writeFile(file, data);
      try {
        await collect();
      } catch (e) {
        if (!(e instanceof MlbridgeError) || (e.code !== 'EXPORT_CORRUPT' && e.code !== 'EXPORT_NOT_FOUND')) {
          throw new Error(`unclean failure: ${e instanceof Error ? e.stack : String(e)}`);
        }
        if (e.code === 'EXPORT_CORRUPT') assert.match(e.message, /: byte offset \d+: \S/);
      }
    }
    await writeFile(file, orig);
  }
  assert.is((await collect()).length, ctx.all!.length);
});

Fuzz.run();
