// Writer → reader round trips (both layouts, several files, padding) and decoder cases the
// emulator cannot produce (invalid UTF-8, points without a meaning, damaged protobuf).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, readdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { readExport, EntityDecoder, timestampFromMicros } from '../../src/source/export/index.js';
import { isMlbridgeError } from '../../src/model/errors.js';
import { encodeEntity, writeExport, frameRecords, ProtoWriter } from '../support/export-writer.js';
import { corpus, keyString } from './emulator-fixture.js';
import { startGcsFake, type GcsFake } from './gcs-fake.js';

async function collect(location: string, opts = {}): Promise<Entity[]> {
  const out: Entity[] = [];
  for await (const e of readExport(location, opts)) out.push(e);
  return out;
}

const sortByKey = (es: Entity[]) => [...es].sort((a, b) => (keyString(a.key) < keyString(b.key) ? -1 : 1));
/** Same entities, compared one by one (property order aside) so a failure names one entity. */
function sameEntities(got: Entity[], want: Entity[]): void {
  assert.is(got.length, want.length);
  const g = sortByKey(got);
  const w = sortByKey(want);
  for (let i = 0; i < g.length; i++) {
    const a = JSON.stringify(sortDeep(g[i]));
    const b = JSON.stringify(sortDeep(w[i]));
    if (a !== b) assert.fixture(a.slice(0, 3000), b.slice(0, 3000));
  }
}
function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]));
  return v;
}
/** What lookup would show: embedded entities drop an empty property map. */
function normalise(e: Entity): Entity {
  return JSON.parse(JSON.stringify(e), (k, v) => (k === 'entityValue' && v.properties && Object.keys(v.properties).length === 0 ? (({ properties: _p, ...rest }) => rest)(v) : v));
}

const ctx: { dir: string } = { dir: '' };
const RoundTrip = suite('export writer to reader round trip');
RoundTrip.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'mlbridge-writer-'));
});


RoundTrip('the all-kinds layout split over several output files reads back equal', async () => {
  const ents = corpus();
  const { path } = await writeExport(join(ctx.dir, 'a'), ents, { exportId: 'E1', maxFileBytes: 20_000, padFiles: true });
  const files = await readdir(join(path, 'all_namespaces', 'all_kinds'));
  assert.ok(files.filter((f) => f.startsWith('output-')).length > 3);
  sameEntities(await collect(join(ctx.dir, 'a')), ents.map(normalise));
});

RoundTrip('the per-kind/namespace layout reads back equal and filters by folder', async () => {
  const ents = corpus();
  await writeExport(join(ctx.dir, 'b'), ents, { exportId: 'E2', layout: 'per-kind' });
  sameEntities(await collect(join(ctx.dir, 'b')), ents.map(normalise));
  const bulk = await collect(join(ctx.dir, 'b'), { kinds: ['Bulk'], namespaces: ['bulk'] });
  assert.is(bulk.length, 200);
  // One kind folder on its own (its .export_metadata) is a location too.
  const one = await collect(join(ctx.dir, 'b', 'E2', 'namespace_bulk', 'kind_Bulk'));
  assert.is(one.length, 200);
});

RoundTrip('the newest of several exports is read unless one is named', async () => {
  await writeExport(join(ctx.dir, 'c'), [corpus()[2]!], { exportId: '2024-01-01T00:00:00_1' });
  await writeExport(join(ctx.dir, 'c'), corpus().slice(2, 4), { exportId: '2024-01-02T00:00:00_1' });
  assert.is((await collect(join(ctx.dir, 'c'))).length, 2);
  assert.is((await collect(join(ctx.dir, 'c'), { exportId: '2024-01-01T00:00:00_1' })).length, 1);
});

RoundTrip('a location without an export is EXPORT_NOT_FOUND naming it', async () => {
  try {
    await collect(join(ctx.dir, 'nothing-here'));
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_NOT_FOUND'));
    assert.match((e as Error).message, /nothing-here: no export found/);
  }
});

const Decoder = suite('EntityProto decoder');
// Suites run in order: the folder RoundTrip made is also used here, so it goes last.
Decoder.after(async () => {
  await rm(ctx.dir, { recursive: true, force: true });
});
const key = { partitionId: { projectId: 'p' }, path: [{ kind: 'K', name: 'a' }] };

Decoder('a string with invalid UTF-8 and no meaning becomes a blob', () => {
  const bytes = encodeEntity({ key, properties: { s: { rawStringBytes: Uint8Array.of(0x66, 0xff, 0xfe) } } });
  assert.equal(new EntityDecoder().decode(bytes).properties.s, { blobValue: Buffer.from([0x66, 0xff, 0xfe]).toString('base64') });
});

Decoder('a point without the GEORSS meaning is a geo point with meaning 23', () => {
  const bytes = encodeEntity({ key, properties: { g: { geoPointValue: { latitude: 1, longitude: 2 }, meaning: 23 } } });
  assert.equal(new EntityDecoder().decode(bytes).properties.g, { meaning: 23, geoPointValue: { latitude: 1, longitude: 2 } });
});

Decoder('a legacy user value becomes a user entity with meaning 20', () => {
  const user = new ProtoWriter().tag(8, 3).string(9, 'a@example.com').string(10, 'gmail.com').tag(18, 0).varint(42).string(19, 'obf').tag(8, 4).done();
  const prop = new ProtoWriter().string(3, 'u').tag(4, 0).varint(0).bytes(5, user).done();
  const ref = new ProtoWriter().string(13, 'p').bytes(14, new ProtoWriter().tag(1, 3).string(2, 'K').string(4, 'a').tag(1, 4).done()).done();
  const bytes = new ProtoWriter().bytes(13, ref).bytes(14, prop).done();
  const x = { excludeFromIndexes: true };
  assert.equal(new EntityDecoder().decode(bytes).properties.u, {
    meaning: 20,
    entityValue: {
      properties: {
        email: { stringValue: 'a@example.com', ...x },
        auth_domain: { stringValue: 'gmail.com', ...x },
        internal_id: { integerValue: '42', ...x },
        user_id: { stringValue: 'obf', ...x },
      },
    },
  });
});

Decoder('a timestamp outside the RFC 3339 range stays an integer with meaning 7', () => {
  const raw = new ProtoWriter().tag(1, 0).varint(1).string(3, 't').tag(4, 0).varint(0).bytes(5, new ProtoWriter().tag(1, 0).varint(-62135596800000001n).done()).done();
  const ref = new ProtoWriter().string(13, 'p').bytes(14, new ProtoWriter().tag(1, 3).string(2, 'K').string(4, 'a').tag(1, 4).done()).done();
  const bytes = new ProtoWriter().bytes(13, ref).bytes(14, raw).done();
  // field 1 = meaning: patch it to 7 (GD_WHEN)
  bytes[bytes.indexOf(0x08, ref.length + 3) + 1] = 7;
  assert.equal(new EntityDecoder().decode(bytes).properties.t, { meaning: 7, integerValue: '-62135596800000001' });
});

Decoder('keys keep their database, namespace and ancestors, in the entity key and in key values', () => {
  const k = { partitionId: { projectId: 'p', namespaceId: 'ns', databaseId: 'db2' }, path: [{ kind: 'A', id: '-5' }, { kind: 'B', name: 'ü' }] };
  const e = new EntityDecoder().decode(encodeEntity({ key: k, properties: { ref: { keyValue: k } } }));
  assert.equal(e, { key: k, properties: { ref: { keyValue: k } } });
});

Decoder('an unindexed BYTESTRING keeps its meaning, an indexed one does not', () => {
  const bytes = encodeEntity({ key, properties: { a: { blobValue: 'AAE=', meaning: 16, excludeFromIndexes: true }, b: { blobValue: 'AAE=' } } });
  const p = new EntityDecoder().decode(bytes).properties;
  assert.equal(p.a, { meaning: 16, blobValue: 'AAE=', excludeFromIndexes: true });
  assert.equal(p.b, { blobValue: 'AAE=' });
});

Decoder('int64 extremes and pre-1970 timestamps come out exactly', () => {
  const props = {
    a: { integerValue: '-9223372036854775808' },
    b: { integerValue: '9223372036854775807' },
    c: { integerValue: '-9007199254740993' },
    t: { timestampValue: '1969-12-31T23:59:59.999999Z' },
    u: { timestampValue: '0001-01-01T00:00:00.001Z' },
  };
  assert.equal(new EntityDecoder().decode(encodeEntity({ key, properties: props })).properties, props);
  assert.is(timestampFromMicros(0xffffffff, 0xffffffff), '1969-12-31T23:59:59.999999Z');
});

Decoder('a damaged protobuf record fails with the file, the record offset and what is wrong', async () => {
  const dir = join(ctx.dir, 'badproto');
  const { path } = await writeExport(dir, corpus().slice(2, 5), { exportId: 'X' });
  const bad = new ProtoWriter().bytes(13, Uint8Array.of(0x72, 0x50)); // path length beyond the key
  const out = join(path, 'all_namespaces', 'all_kinds', 'output-0');
  const good = await readFile(out);
  await writeFile(out, Buffer.concat([good, await frameRecords([bad.done()])]));
  // The appended record also makes 4 records where the metadata lists 3: a plain read
  // refuses that before decoding anything.
  try {
    await collect(dir);
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_CORRUPT'));
    const meta = join(path, 'all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata');
    assert.is((e as Error).message, `${meta}: the export lists 3 entities here but its output files hold 4, more than were written`);
  }
  // Checking each file's framing just before decoding it leaves the record to the decoder.
  try {
    await collect(dir, { verify: 'file' });
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_CORRUPT'));
    assert.is((e as Error).message, `${out}: byte offset ${good.length}: bad entity protobuf at record byte 4: length 80 exceeds the 0 bytes left`);
  }
  const skipped: string[] = [];
  const got = await collect(dir, { skipCorrupt: true, onCorrupt: (c: { offset: number }) => skipped.push(String(c.offset)) });
  assert.is(got.length, 3);
  assert.equal(skipped, [String(good.length)]);
});

const Gcs = suite('exports in Cloud Storage (gs://) through the storage client');
const gctx: { fake?: GcsFake; ents: Entity[]; dir: string } = { ents: [], dir: '' };
Gcs.before(async () => {
  gctx.dir = await mkdtemp(join(tmpdir(), 'mlbridge-gcs-'));
  const root = join(gctx.dir, 'bucket');
  gctx.ents = corpus();
  await writeExport(join(root, 'exports'), gctx.ents.slice(0, 2), { exportId: '2024-01-01T00:00:00_1' });
  await writeExport(join(root, 'exports'), gctx.ents, { exportId: '2024-02-01T00:00:00_1', maxFileBytes: 50_000 });
  gctx.fake = await startGcsFake('my-bucket', root);
});
Gcs.after(async () => {
  await gctx.fake?.close();
  await rm(gctx.dir, { recursive: true, force: true });
});

Gcs('gs://bucket/prefix picks the newest export and streams every entity', async () => {
  const env = { STORAGE_EMULATOR_HOST: gctx.fake!.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
  sameEntities(await collect('gs://my-bucket/exports', { env }), gctx.ents.map(normalise));
  assert.ok(gctx.fake!.requests.some((r) => r.includes('/o/exports%2F2024-02-01T00%3A00%3A00_1%2Fall_namespaces%2Fall_kinds%2Foutput-1') || r.includes('output-1')));
  const older = await collect('gs://my-bucket/exports/', { env, exportId: '2024-01-01T00:00:00_1' });
  assert.is(older.length, 2);
});

Gcs('a gs:// prefix without an export is EXPORT_NOT_FOUND naming it', async () => {
  const env = { STORAGE_EMULATOR_HOST: gctx.fake!.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
  try {
    await collect('gs://my-bucket/nothing', { env });
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'EXPORT_NOT_FOUND'));
    assert.match((e as Error).message, /^gs:\/\/my-bucket\/nothing: no export found/);
  }
});

RoundTrip.run();
Decoder.run();
Gcs.run();
