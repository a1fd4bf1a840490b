// Export layouts seen in production that the reader must find when a user points at them:
// a kept kind folder with no overall file, an overall file named unlike its folder among
// several exports, output files zero-padded to 32 KiB or empty, and the .export_metadata
// fields of exports written since late 2024. Fixtures come from the project's export writer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { locateExport, parseExportMetadata, readExport } from '../../src/source/export/index.js';
import { run as stats } from '../../src/cli/commands/export-stats.js';
import { fakeIO } from '../cli/fake-io.js';
import { writeExport } from '../support/export-writer.js';

const ent = (kind: string, id: number, namespaceId?: string): Entity => ({
  key: { partitionId: { projectId: 'p', ...(namespaceId ? { namespaceId } : {}) }, path: [{ kind, id: String(id) }] },
  properties: { n: { integerValue: String(id) }, body: { stringValue: `${kind} ${id} ${'x'.repeat(id % 200)}` } },
});
const many = (kind: string, n: number, ns?: string) => Array.from({ length: n }, (_, i) => ent(kind, i + 1, ns));

async function keys(location: string, opts: Parameters<typeof readExport>[1] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readExport(location, opts)) out.push(`${e.key.partitionId.namespaceId ?? ''}/${e.key.path[0]!.kind}:${e.key.path[0]!.id}`);
  return out.sort();
}

const ctx = { dir: '' };
const setUp = async () => { ctx.dir = await mkdtemp(join(tmpdir(), 'mlbridge-layouts-')); };
const tearDown = async () => { await rm(ctx.dir, { recursive: true, force: true }); };

// ---------------------------------------------------------------------------------------
const KindFolder = suite('an export kept as kind folders, with no overall file');
KindFolder.before(setUp);
KindFolder.after(tearDown);

KindFolder('pointing at the kind folder, the folder holding it, or two levels above finds the metadata below', async () => {
  const { path } = await writeExport(join(ctx.dir, 'kept'), [...many('Order', 30), ...many('Order', 5, 'eu'), ...many('Item', 7)], {
    exportId: 'K1', layout: 'kind-folders', noOverall: true, metadataStyle: '2024',
  });
  const orders = [...many('Order', 30).map((e) => `/Order:${e.key.path[0]!.id}`), ...many('Order', 5).map((e) => `eu/Order:${e.key.path[0]!.id}`)].sort();
  assert.equal(await keys(join(path, 'all_namespaces', 'kind_Order')), orders);
  const both = await keys(join(path, 'all_namespaces'));
  assert.is(both.length, 42);
  assert.equal(await keys(join(ctx.dir, 'kept')), both);
  const located = await locateExport(join(ctx.dir, 'kept'));
  assert.is(located.exportId, 'K1'); // named in field 1.1 since late 2024
  assert.equal(located.parts.map((p) => p.kind), ['Item', 'Order']);
  assert.equal(await keys(join(path, 'all_namespaces'), { kinds: ['Item'] }), many('Item', 7).map((e) => `/Item:${e.key.path[0]!.id}`).sort());
});

KindFolder('an all_kinds folder of a pre-2024 export (kind __all__, named "export_entities") reads every kind, and a kind filter still applies', async () => {
  const { path } = await writeExport(join(ctx.dir, 'old'), [...many('Order', 4), ...many('Item', 3)], { exportId: 'O1', noOverall: true, metadataStyle: 'pre-2024' });
  const folder = join(path, 'all_namespaces', 'all_kinds');
  const meta = parseExportMetadata('m', await readFile(join(folder, 'all_namespaces_all_kinds.export_metadata')));
  assert.equal({ name: meta.name, kind: meta.kind, outputs: meta.outputs }, { name: undefined, kind: undefined, outputs: ['output-0'] });
  const located = await locateExport(path);
  assert.is(located.exportId, undefined);
  assert.is((await keys(path)).length, 7);
  assert.equal(await keys(folder, { kinds: ['Order'] }), ['/Order:1', '/Order:2', '/Order:3', '/Order:4']);
});

KindFolder('kind folders of two different exports below one folder are refused, not mixed', async () => {
  await writeExport(join(ctx.dir, 'mixed'), many('Order', 2), { exportId: 'A', layout: 'kind-folders', noOverall: true, metadataStyle: '2024' });
  await writeExport(join(ctx.dir, 'mixed'), many('Order', 2), { exportId: 'B', layout: 'kind-folders', noOverall: true, metadataStyle: '2024' });
  const err = await keys(join(ctx.dir, 'mixed')).then(() => undefined, (e: Error) => e.message);
  assert.is(err, `${join(ctx.dir, 'mixed')}: the .export_metadata files below belong to 2 exports (A, B); point at one of them`);
});

// ---------------------------------------------------------------------------------------
const Named = suite('an overall file named unlike its folder, among several exports');
Named.before(async () => {
  await setUp();
  const root = join(ctx.dir, 'exports');
  // Name order would pick `zz-archive`; the metadata's time says `production` is newest.
  await writeExport(root, many('Order', 3), { exportId: 'zz-archive', startTime: new Date('2023-05-01T00:00:00Z') });
  await writeExport(root, many('Order', 6), { exportId: 'production', overallName: 'importbackup', startTime: new Date('2025-06-01T00:00:00Z'), metadataStyle: '2024' });
  await writeExport(root, many('Order', 4), { exportId: '2024-01-01T00:00:00_1', startTime: new Date('2024-01-01T00:00:00Z') });
});
Named.after(tearDown);

Named('the newest export by its metadata\'s time is read, not the last folder name', async () => {
  const root = join(ctx.dir, 'exports');
  assert.is((await keys(root)).length, 6);
  assert.is((await locateExport(root)).exportId, 'importbackup');
});

Named('--export-id accepts the folder name or the overall file\'s name; an unknown one lists what exists', async () => {
  const root = join(ctx.dir, 'exports');
  assert.is((await keys(root, { exportId: 'production' })).length, 6);
  assert.is((await keys(root, { exportId: 'importbackup' })).length, 6);
  assert.is((await keys(root, { exportId: 'zz-archive' })).length, 3);
  const t = fakeIO({ cwd: ctx.dir });
  assert.is(await stats({ location: join(ctx.dir, 'exports'), json: false, skipCorrupt: false, exportId: 'importbackup' }, t), 0, t.err());
  assert.match(t.out(), /^default namespace, kind Order: 6 entities/);
  const u = fakeIO({ cwd: ctx.dir });
  assert.is(await stats({ location: join(ctx.dir, 'exports'), json: false, skipCorrupt: false, exportId: 'nightly' }, u), 1);
  assert.match(u.err(), /exports: no export with id nightly \(found: [^)]*production, importbackup[^)]*\)\n$/);
});

Named('pointing at the folder itself reads it, whatever its overall file is called', async () => {
  assert.is((await keys(join(ctx.dir, 'exports', 'production'))).length, 6);
});

// ---------------------------------------------------------------------------------------
const Files = suite('output files as production writes them');
Files.before(setUp);
Files.after(tearDown);

Files('files zero-padded to 32 KiB multiples and 0-byte files listed in the metadata read every entity, with no short-part warning', async () => {
  const ents = [...many('Order', 300), ...many('Order', 20, 'eu')];
  const { path } = await writeExport(join(ctx.dir, 'padded'), ents, { exportId: 'P1', maxFileBytes: 20_000, padFiles: true, emptyOutputs: 2, metadataStyle: '2024' });
  const folder = join(path, 'all_namespaces', 'all_kinds');
  const files = (await readdir(folder)).filter((f) => f.startsWith('output-')).sort();
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(folder, f))).size));
  assert.ok(sizes.filter((s) => s > 0).every((s) => s % 32768 === 0), `sizes ${sizes}`);
  assert.is(sizes.filter((s) => s === 0).length, 2);
  assert.ok(sizes.filter((s) => s > 0).length > 1, 'several padded files');
  const meta = parseExportMetadata('m', await readFile(join(folder, 'all_namespaces_all_kinds.export_metadata')));
  assert.equal(meta.outputs, files.sort((a, b) => Number(a.slice(7)) - Number(b.slice(7))));
  const short: unknown[] = [];
  const got = await keys(path, { onShortPart: (s) => short.push(s) });
  assert.is(got.length, 320);
  assert.equal(short, []);
});

Files('a part metadata file the overall metadata lists but the folder lacks is named, with the overall file, as a missing part', async () => {
  const { path } = await writeExport(join(ctx.dir, 'partial'), many('Order', 3), { exportId: 'M1' });
  await rm(join(path, 'all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata'));
  const t = fakeIO({ cwd: ctx.dir });
  assert.is(await stats({ location: join(ctx.dir, 'partial'), json: false, skipCorrupt: false }, t), 1);
  assert.is(t.out(), '');
  assert.is(
    t.err(),
    `Error: ${join(path, 'all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata')}: missing, though ${join(path, 'M1.overall_export_metadata')} ` +
      'lists it (the export was copied in part, or is still being written)\n',
  );
});

KindFolder.run();
Named.run();
Files.run();
