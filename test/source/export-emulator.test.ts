// Round trip against the real Datastore emulator: what readExport / `export dump` produce
// from the emulator's own export must equal what its :lookup returns, value for value.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entity } from '../../src/source/entity.js';
import { readExport } from '../../src/source/export/index.js';
import { EntityDecoder } from '../../src/source/export/entity-proto.js';
import { locateExport } from '../../src/source/export/locate.js';
import { BLOCK_SIZE, type ByteRange } from '../../src/source/export/log-format.js';
import { readOutputFile } from '../../src/source/export/read-export.js';
import { entityJson } from '../../src/source/export/lookup-json.js';
import { run as dump } from '../../src/cli/commands/export-dump.js';
import { keyString, seededEmulator, withGeoDefaults, type EmulatorExport } from './emulator-fixture.js';
import { fakeIO as capturingIO } from '../cli/fake-io.js';

/** The CLI suites' capturing io, as { io, out, err }. */
function fakeIO(cwd = process.cwd(), env: NodeJS.ProcessEnv = {}) {
  const io = capturingIO({ cwd, env });
  return { io, out: io.out, err: io.err };
}


async function collect(location: string, opts = {}): Promise<Entity[]> {
  const out: Entity[] = [];
  for await (const e of readExport(location, opts)) out.push(e);
  return out;
}

const ctx: { emu?: EmulatorExport; full?: string } = {};
const RoundTrip = suite('export round trip against the Datastore emulator');

RoundTrip.before(async () => {
  ctx.emu = await seededEmulator();
  ctx.full = await ctx.emu.exportTo('full');
});
RoundTrip.after(async () => {
  await ctx.emu?.close();
});

RoundTrip('readExport yields every committed entity exactly once', async () => {
  const got = await collect(ctx.full!);
  assert.is(got.length, ctx.emu!.entities.length);
  const want = new Set(ctx.emu!.entities.map((e) => keyString(e.key)));
  for (const e of got) assert.ok(want.delete(keyString(e.key)), `unexpected or duplicate ${keyString(e.key)}`);
  assert.is(want.size, 0);
});

RoundTrip('readExport equals lookup value for value for every entity', async () => {
  const got = await collect(ctx.full!);
  const looked = await ctx.emu!.lookup(got.map((e) => e.key));
  const byKey = new Map(looked.map((e) => [keyString(e.key), e]));
  for (const e of got) {
    const l = byKey.get(keyString(e.key))!;
    // lookup omits an empty property map; readExport always has one.
    assert.equal(e, withGeoDefaults({ key: l.key, properties: l.properties ?? {} }), keyString(e.key));
  }
});

RoundTrip('the output files the emulator wrote, read in two block ranges, split at any block, give the entities of one whole read', async () => {
  const located = await locateExport(ctx.full!);
  const read = async (path: string, ranges: (ByteRange | undefined)[]) => {
    const out: Entity[] = [];
    const tally = { records: 0, damaged: false };
    for (const range of ranges) for await (const b of readOutputFile(located.store, path, { decoder: new EntityDecoder(), tally, range })) out.push(...b.entities);
    return out;
  };
  let splits = 0;
  for (const path of located.parts.flatMap((p) => p.outputs)) {
    const whole = await read(path, [undefined]);
    const blocks = Math.ceil((await located.store.size(path)) / BLOCK_SIZE);
    for (let s = 1; s < blocks; s++, splits++) {
      const at = s * BLOCK_SIZE;
      assert.equal(await read(path, [{ start: 0, end: at }, { start: at, end: Infinity }]), whole, `${path} split at block ${s}`);
    }
  }
  assert.ok(splits >= 3, `${splits} split points`);
});

RoundTrip('export dump prints each entity exactly as lookup renders it, key order included', async () => {
  const t = fakeIO();
  const code = await dump({ location: ctx.full!, kind: [], namespace: [], skipCorrupt: false }, t.io);
  assert.is(code, 0);
  assert.is(t.err(), '');
  const lines = t.out().trimEnd().split('\n');
  assert.is(lines.length, ctx.emu!.entities.length);
  const parsed = lines.map((l) => JSON.parse(l) as Entity);
  const looked = await ctx.emu!.lookup(parsed.map((e) => e.key));
  const byKey = new Map(looked.map((e) => [keyString(e.key), e]));
  for (let i = 0; i < lines.length; i++) {
    const l = byKey.get(keyString(parsed[i]!.key))!;
    assert.is(lines[i], JSON.stringify(l));
  }
});

RoundTrip('the large record and the bulk kind survive block boundaries', async () => {
  const got = await collect(ctx.full!, { kinds: ['Big', 'Bulk'] });
  assert.is(got.length, 401);
  const big = got.find((e) => e.key.path[0]!.kind === 'Big')!;
  assert.is((big.properties.body as { stringValue: string }).stringValue.length, 100_000);
});

RoundTrip('kind and namespace filters select only matching entities', async () => {
  const got = await collect(ctx.full!, { kinds: ['Bulk'], namespaces: ['bulk'] });
  assert.is(got.length, 200);
  assert.ok(got.every((e) => e.key.partitionId.namespaceId === 'bulk' && e.key.path[0]!.kind === 'Bulk'));
  const dflt = await collect(ctx.full!, { namespaces: [''] });
  assert.ok(dflt.length > 0 && dflt.every((e) => e.key.partitionId.namespaceId === undefined));
});

RoundTrip('a filtered export (kinds + namespaceIds) reads back equal to lookup', async () => {
  const dir = await ctx.emu!.exportTo('filtered', { kinds: ['Bulk', 'Child'], namespaceIds: ['bulk', 'ns.x-1'] });
  const got = await collect(dir);
  assert.is(got.length, 201);
  const looked = await ctx.emu!.lookup(got.map((e) => e.key));
  const byKey = new Map(looked.map((e) => [keyString(e.key), e]));
  for (const e of got) assert.is(entityJson(e), JSON.stringify(byKey.get(keyString(e.key))));
});

RoundTrip('a kinds-only filtered export and a namespaces-only one read back completely', async () => {
  const kindsOnly = await collect(await ctx.emu!.exportTo('kinds', { kinds: ['Everything', 'Grand'] }));
  assert.equal(kindsOnly.map((e) => e.key.path[e.key.path.length - 1]!.kind).sort(), ['Everything', 'Everything', 'Grand']);
  const nsOnly = await collect(await ctx.emu!.exportTo('namespaces', { namespaceIds: ['other', ''] }));
  assert.is(nsOnly.length, ctx.emu!.entities.filter((e) => ['other', undefined].includes(e.key.partitionId.namespaceId)).length);
});

RoundTrip('export dump honours --kind, --namespace and --limit', async () => {
  const t = fakeIO();
  assert.is(await dump({ location: ctx.full!, kind: ['Bulk'], namespace: ['bulk'], limit: 3, skipCorrupt: false }, t.io), 0);
  const lines = t.out().trimEnd().split('\n');
  assert.is(lines.length, 3);
  for (const l of lines) assert.is((JSON.parse(l) as Entity).key.partitionId.namespaceId, 'bulk');
});

RoundTrip('a folder holding several exports reads the newest, or the one named', async () => {
  const { readdir } = await import('node:fs/promises');
  const ids = (await readdir(ctx.full!)).sort();
  const newest = await collect(ctx.full!);
  assert.is(newest.length, ctx.emu!.entities.length);
  if (ids.length > 1) {
    const older = await collect(ctx.full!, { exportId: ids[0] });
    assert.ok(older.length <= newest.length);
  }
  try {
    await collect(ctx.full!, { exportId: 'no-such-export' });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /no export with id no-such-export/);
  }
});

RoundTrip.run();
