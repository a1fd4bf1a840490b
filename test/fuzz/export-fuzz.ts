// Export reader fuzzing, one seeded case at a time: the case's seed alone decides the
// damage done to a copy of an export's output file, so any failing case replays with
// `npm run fuzz -- --only export --seed N --cases 1`. Used in bounded form by
// test/source/export-fuzz.test.ts and at length by `npm run fuzz` (test/fuzz/run.ts).
//
// What must hold for every case:
// - a plain read either delivers exactly what was written, or fails with EXPORT_CORRUPT
//   naming a file and byte offset (or the metadata file and both counts), and delivers no
//   entity before failing (only a record whose checksum holds but whose protobuf does not
//   decode may fail after entities came out);
// - a read with skipCorrupt never fails, never delivers a key twice nor more entities than
//   listed, delivers only entities that were written, and reports something whenever the
//   file differs from the original.
import { crc32c } from '@node-rs/crc32';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { readExport, maskCrc, BLOCK_SIZE, type ReadExportOptions } from '../../src/source/export/index.js';
import { blockFingerprint } from '../../src/source/export/block-fingerprint.js';
import { isMlbridgeError } from '../../src/model/errors.js';
import { mulberry32 } from '../../src/model/prng.js';
import { writeExport } from '../support/export-writer.js';
import { corpus } from '../source/emulator-fixture.js';

export interface ExportFuzzFixture {
  dir: string;
  /** The output file every case damages (the export has only this one). */
  output: string;
  original: Buffer;
  /** The entities as decoded from the undamaged export, as JSON, in file order. */
  entities: string[];
  listed: number;
}

/** Entities of every value kind, plus a few large ones whose records span several blocks. */
function fuzzEntities(): Entity[] {
  const out = corpus();
  for (let i = 0; i < 6; i++) {
    const rnd = mulberry32(i + 1);
    const blob = Buffer.from(Array.from({ length: 40_000 + i * 9_000 }, () => Math.floor(rnd() * 256))).toString('base64');
    out.push({ key: { partitionId: { projectId: 'fuzz' }, path: [{ kind: 'Big', id: String(i + 1) }] }, properties: { blob: { blobValue: blob, excludeFromIndexes: true } } });
    for (let j = 0; j < 40; j++) {
      const n = i * 40 + j + 1;
      out.push({
        key: { partitionId: { projectId: 'fuzz', ...(n % 3 ? {} : { namespaceId: 'eu' }) }, path: [{ kind: 'Small', name: `s${n}` }] },
        properties: { n: { integerValue: String(n) }, text: { stringValue: `entity ${n} `.repeat(1 + (n % 30)) } },
      });
    }
  }
  return out;
}

export async function exportFuzzFixture(root: string): Promise<ExportFuzzFixture> {
  const dir = join(root, 'export');
  const { path } = await writeExport(dir, fuzzEntities(), { exportId: 'F' });
  const output = join(path, 'all_namespaces', 'all_kinds', 'output-0');
  const original = await readFile(output);
  const entities: string[] = [];
  for await (const e of readExport(dir)) entities.push(JSON.stringify(e));
  return { dir, output, original, entities, listed: entities.length };
}

interface Frame {
  offset: number;
  length: number;
}

/** Physical records of a well-formed file. */
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
    if (data[p + 6] === 0 && length === 0) {
      p += left;
      continue;
    }
    out.push({ offset: p, length });
    p += 7 + length;
  }
  return out;
}

/**
 * 'plain': the reader must notice. 'crc-fixed': a record changed with a valid checksum (may
 * decode as another entity). 'missing-block' and 'middle-copy' (a block that is only the
 * middle of a large record, copied): valid framing around a change the format cannot show;
 * the record around it may come out changed (README: Damaged exports, Limits).
 */
type Kind = 'plain' | 'crc-fixed' | 'missing-block' | 'middle-copy';

/** The damaged copy for a seed, what was done, and what kind of damage it is. */
export function mutateExport(original: Buffer, seed: number): { data: Buffer; what: string; kind: Kind } {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  let data = Buffer.from(original);
  const blocks = Math.ceil(data.length / BLOCK_SIZE);
  const at = int(data.length);
  switch (int(9)) {
    case 0: {
      const n = 1 + int(8);
      for (let k = 0; k < n; k++) data[int(data.length)] = int(256);
      return { data, what: `${n} random bytes set`, kind: 'plain' };
    }
    case 1:
      return { data: data.subarray(0, at), what: `truncated at ${at}`, kind: 'plain' };
    case 2: {
      const n = 1 + int(40);
      const junk = Buffer.from(Array.from({ length: n }, () => int(256)));
      return { data: Buffer.concat([data.subarray(0, at), junk, data.subarray(at)]), what: `${n} random bytes inserted at ${at}`, kind: 'plain' };
    }
    case 3: {
      const n = 1 + int(300);
      return { data: Buffer.concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + n))]), what: `${n} bytes deleted at ${at}`, kind: 'plain' };
    }
    case 4: {
      const v = rnd() < 0.5 ? 0 : 0xff;
      const n = 1 + int(100);
      data.fill(v, at, Math.min(data.length, at + n));
      return { data, what: `${n} bytes at ${at} set to ${v}`, kind: 'plain' };
    }
    case 5: {
      const from = int(blocks - 1);
      const to = int(blocks);
      const copy = data.subarray(from * BLOCK_SIZE, (from + 1) * BLOCK_SIZE);
      const kind = blockFingerprint(copy) === undefined ? 'middle-copy' : 'plain';
      return { data: Buffer.concat([data.subarray(0, to * BLOCK_SIZE), copy, data.subarray(to * BLOCK_SIZE)]), what: `block ${from} copied in at block ${to}`, kind };
    }
    case 6: {
      const from = int(blocks - 1);
      const to = int(blocks - 1);
      const kind = blockFingerprint(data.subarray(from * BLOCK_SIZE, (from + 1) * BLOCK_SIZE)) === undefined ? 'middle-copy' : 'plain';
      data.set(data.subarray(from * BLOCK_SIZE, (from + 1) * BLOCK_SIZE), to * BLOCK_SIZE);
      return { data, what: `block ${to} overwritten with block ${from}`, kind };
    }
    case 7: {
      const fs = frames(original).filter((f) => f.length > 0);
      const f = fs[int(fs.length)]!;
      const n = 1 + int(4);
      for (let k = 0; k < n; k++) data[f.offset + 7 + int(f.length)] = rnd() < 0.3 ? [0x00, 0x0b, 0x0c, 0x7f, 0x80, 0xff][int(6)]! : int(256);
      const c = maskCrc(crc32c(data.subarray(f.offset + 6, f.offset + 7 + f.length)) >>> 0);
      data.writeUInt32LE(c, f.offset);
      return { data, what: `${n} payload bytes of the record at ${f.offset} changed, checksum fixed`, kind: 'crc-fixed' };
    }
    default: {
      const b = int(blocks - 1);
      data = Buffer.concat([data.subarray(0, b * BLOCK_SIZE), data.subarray((b + 1) * BLOCK_SIZE)]);
      return { data, what: `block ${b} removed`, kind: 'missing-block' };
    }
  }
}

async function read(dir: string, options: ReadExportOptions): Promise<{ entities: Entity[]; error?: unknown }> {
  const entities: Entity[] = [];
  try {
    for await (const e of readExport(dir, options)) entities.push(e);
    return { entities };
  } catch (error) {
    return { entities, error };
  }
}

const keyOf = (e: Entity) => JSON.stringify([e.key.partitionId, e.key.path]);

/** Runs one case; returns a short description, throws an Error naming the seed when a property fails. */
export async function exportFuzzCase(fx: ExportFuzzFixture, seed: number): Promise<string> {
  const { data, what, kind } = mutateExport(fx.original, seed);
  const fail = (problem: string): never => {
    throw new Error(`export fuzz seed ${seed} (${what}): ${problem}\nreplay: npm run fuzz -- --only export --seed ${seed} --cases 1`);
  };
  await writeFile(fx.output, data);
  try {
    const plain = await read(fx.dir, {});
    if (plain.error !== undefined) {
      const e = plain.error;
      if (!isMlbridgeError(e, 'EXPORT_CORRUPT')) return fail(`unclean failure: ${e instanceof Error ? e.stack : String(e)}`);
      const at = new RegExp(`^${escape(fx.output)}: byte offset (\\d+): \\S`).exec(e.message);
      if (at && Number(at[1]) > data.length) fail(`offset beyond the file: ${e.message}`);
      if (!at && typeof e.details?.metadata !== 'string') fail(`message names neither file and offset nor metadata: ${e.message}`);
      if (plain.entities.length > 0 && !/bad entity/.test(e.message)) fail(`${plain.entities.length} entities came out before: ${e.message}`);
    } else {
      if (plain.entities.length !== fx.listed) fail(`a clean read gave ${plain.entities.length} entities, ${fx.listed} listed`);
      if (kind === 'plain' && plain.entities.some((e, i) => JSON.stringify(e) !== fx.entities[i])) fail('a clean read gave entities that were not written');
    }

    const corrupt: string[] = [];
    let short = false;
    const skip = await read(fx.dir, { skipCorrupt: true, onCorrupt: (c) => corrupt.push(`${c.offset}: ${c.reason}`), onShortPart: () => (short = true) });
    if (skip.error !== undefined) fail(`skipCorrupt failed: ${skip.error instanceof Error ? skip.error.stack : String(skip.error)}`);
    const keys = new Set(skip.entities.map(keyOf));
    if (keys.size !== skip.entities.length) fail('skipCorrupt gave a key twice');
    if (skip.entities.length > fx.listed) fail(`skipCorrupt gave ${skip.entities.length} entities, ${fx.listed} listed`);
    if (kind === 'plain') {
      const written = new Set(fx.entities);
      const foreign = skip.entities.find((e) => !written.has(JSON.stringify(e)));
      if (foreign) fail(`skipCorrupt gave an entity that was not written: ${JSON.stringify(foreign).slice(0, 200)}`);
      if (!data.equals(fx.original) && !corrupt.length && !short) fail('damage went unreported');
    }
    if (skip.entities.length < fx.listed && !short) fail(`skipCorrupt gave ${skip.entities.length} of ${fx.listed} without a short-part report`);
    return `${what}: plain ${plain.error ? 'failed' : 'ok'}, skip ${skip.entities.length}/${fx.listed} (${corrupt.length} damaged)`;
  } finally {
    await writeFile(fx.output, fx.original);
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
