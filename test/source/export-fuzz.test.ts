// Fuzz, bounded: a few hundred seeded cases of damage to an export's output file and to its
// metadata files (test/fuzz/export-fuzz.ts says what must hold). `npm run fuzz` runs
// thousands; a failure names its seed and the command that replays it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readExport } from '../../src/source/export/index.js';
import { MlbridgeError } from '../../src/model/errors.js';
import { mulberry32 } from '../../src/model/prng.js';
import { exportFuzzCase, exportFuzzFixture, mutateExport, type ExportFuzzFixture } from '../fuzz/export-fuzz.js';

/** Cases per run of the suite; `npm run fuzz` covers the seeds beyond. */
const CASES = 150;

const ctx: { root?: string; fx?: ExportFuzzFixture } = {};

async function count(dir: string): Promise<number> {
  let n = 0;
  for await (const _ of readExport(dir)) n++;
  return n;
}

const Fuzz = suite('export reader fuzzing (bounded)');

Fuzz.before(async () => {
  ctx.root = await mkdtemp(join(tmpdir(), 'mlbridge-export-fuzz-'));
  ctx.fx = await exportFuzzFixture(ctx.root);
});
Fuzz.after(async () => {
  if (ctx.root) await rm(ctx.root, { recursive: true, force: true });
});

Fuzz('the fixture spans many blocks, with records fragmented over several', () => {
  assert.ok(ctx.fx!.original.length > 10 * 32768, String(ctx.fx!.original.length));
  assert.ok(ctx.fx!.listed > 250);
});

Fuzz('each seed gives the same damage, and every kind of damage comes up', () => {
  const a = mutateExport(ctx.fx!.original, 12345);
  const b = mutateExport(ctx.fx!.original, 12345);
  assert.ok(a.data.equals(b.data));
  assert.is(a.what, b.what);
  const kinds = new Set(Array.from({ length: CASES }, (_, i) => mutateExport(ctx.fx!.original, i + 1).what.replace(/\d+/g, 'N')));
  for (const w of ['N random bytes set', 'truncated at N', 'block N copied in at block N', 'block N overwritten with block N', 'block N removed']) {
    assert.ok(kinds.has(w), `no case of "${w}"`);
  }
});

Fuzz(`seeds 1..${CASES}: plain reads fail cleanly before any entity, skipCorrupt gives a subset and says so`, async () => {
  for (let seed = 1; seed <= CASES; seed++) await exportFuzzCase(ctx.fx!, seed);
  assert.is(await count(ctx.fx!.dir), ctx.fx!.listed, 'the file is restored after the cases');
});

Fuzz('mutated and truncated metadata files fail cleanly (corrupt, or not found when a name is damaged)', async () => {
  const rnd = mulberry32(99);
  const dir = ctx.fx!.dir;
  const [id] = (await readdir(dir)).sort().reverse();
  const files = [join(dir, id!, `${id}.overall_export_metadata`), join(dir, id!, 'all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata')];
  for (const file of files) {
    const orig = await readFile(file);
    for (let i = 0; i < 120; i++) {
      let data = Buffer.from(orig);
      if (rnd() < 0.3) data = data.subarray(0, Math.floor(rnd() * data.length));
      else for (let k = 0, n = 1 + Math.floor(rnd() * 3); k < n; k++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
      await writeFile(file, data);
      try {
        await count(dir);
      } catch (e) {
        if (!(e instanceof MlbridgeError) || (e.code !== 'EXPORT_CORRUPT' && e.code !== 'EXPORT_NOT_FOUND')) {
          throw new Error(`unclean failure (metadata case ${i} of ${file}): ${e instanceof Error ? e.stack : String(e)}`);
        }
        if (e.code === 'EXPORT_CORRUPT') assert.ok(/: byte offset \d+: \S/.test(e.message) || typeof e.details?.metadata === 'string', e.message);
      }
    }
    await writeFile(file, orig);
  }
  assert.is(await count(dir), ctx.fx!.listed);
});

Fuzz.run();
