// profileExport (what `export stats` and `init --from-export` read) spreads an export's
// files over worker threads; users must see exactly what one thread reading the files in
// order shows: the same statistics, damaged records in file order, the first failure in
// file order, short parts, and gs:// exports read by the workers themselves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { profileExport, type ProfileExportOptions } from '../../src/source/export/profile-export.js';
import { Profiler } from '../../src/source/export/profile.js';
import { readExportBatches, type CorruptRecord, type ShortPart } from '../../src/source/export/read-export.js';
import { main } from '../../src/cli/main.js';
import { writeExport } from '../support/export-writer.js';
import { rejects } from '../support/rejects.js';
import { fakeIO } from '../cli/fake-io.js';
import { startGcsFake } from './gcs-fake.js';

const KINDS = ['Order', 'Customer', 'Invoice'];

function* corpus(n: number): Generator<Entity> {
  for (let i = 1; i <= n; i++) {
    const props: Entity['properties'] = {
      email: { stringValue: `user${i}@example.com` },
      total: i % 5 ? { integerValue: String(i) } : { doubleValue: i / 3 },
      note: { stringValue: `note ${i} `.repeat(i % 4), excludeFromIndexes: true },
    };
    if (i % 7 === 0) props.address = { entityValue: { properties: { city: { stringValue: 'Lima' }, zip: i % 2 ? { nullValue: null } : { stringValue: String(i) } } } };
    if (i % 3 === 0) props.tags = { arrayValue: { values: [{ stringValue: 'a' }, i % 2 ? { integerValue: '1' } : { stringValue: 'b' }] } };
    yield {
      key: { partitionId: { projectId: 'proj', ...(i % 4 === 0 ? { namespaceId: 'eu' } : {}) }, path: [{ kind: KINDS[i % 3]!, id: String(i) }] },
      properties: props,
    };
  }
}

/** The reference: every entity through the one-thread reader into one Profiler. */
async function sequential(location: string, byNamespace: boolean): Promise<ReturnType<Profiler['sorted']>> {
  const p = new Profiler(byNamespace);
  for await (const b of readExportBatches(location)) for (let i = 0; i < b.entities.length; i++) p.add(b.entities[i]!, b.sizes[i]!);
  return p.sorted();
}

/** File offsets of the FULL records of a framed file (the test writer never pads mid-block). */
function fullRecordOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let block = 0; block < buf.length; block += 32768) {
    let p = block;
    const end = Math.min(block + 32768, buf.length);
    while (end - p >= 7) {
      const len = buf[p + 4]! | (buf[p + 5]! << 8);
      const type = buf[p + 6]!;
      if (type === 0 && len === 0) break;
      if (type === 1) out.push(p);
      p += 7 + len;
    }
  }
  return out;
}

/** Flips the first payload byte of the given records (their checksums then fail). */
async function damage(file: string, records: number[]): Promise<number[]> {
  const buf = await readFile(file);
  const offsets = fullRecordOffsets(buf);
  const hit = records.map((r) => offsets[r]!);
  for (const o of hit) buf[o + 7] = buf[o + 7]! ^ 0xff;
  await writeFile(file, buf);
  return hit;
}

async function collect(location: string, options: Omit<ProfileExportOptions, 'byNamespace'>) {
  const corrupt: CorruptRecord[] = [];
  const short: ShortPart[] = [];
  let omitted = 0;
  const profile = await profileExport(location, {
    byNamespace: true,
    ...options,
    onCorrupt: (c) => corrupt.push(c),
    onCorruptOmitted: (n) => (omitted += n),
    onShortPart: (s) => short.push(s),
  });
  return { profile, corrupt, short, omitted };
}

const ctx = { dir: '', all: '', perKind: '' };
const Parallel = suite('profileExport over worker threads');

Parallel.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'mlbridge-profile-'));
  // Small files: 1,500 entities over a dozen output files (all kinds), and one part per kind and namespace.
  ctx.all = (await writeExport(join(ctx.dir, 'all'), corpus(1500), { exportId: 'A', maxFileBytes: 12_000 })).path;
  ctx.perKind = (await writeExport(join(ctx.dir, 'per-kind'), corpus(1500), { exportId: 'K', layout: 'per-kind', maxFileBytes: 12_000 })).path;
});
Parallel.after(async () => {
  await rm(ctx.dir, { recursive: true, force: true });
});

Parallel('three threads give the same statistics as one thread reading the files in order', async () => {
  const files = await readdir(join(ctx.all, 'all_namespaces', 'all_kinds'));
  assert.ok(files.filter((f) => f.startsWith('output-')).length >= 10, `only ${files.length} files`);
  for (const location of [ctx.all, ctx.perKind]) {
    const expected = await sequential(location, true);
    const three = await collect(location, { jobs: 3 });
    const one = await collect(location, { jobs: 1 });
    assert.equal(three.profile.groups, expected);
    assert.equal(one.profile.groups, expected);
    assert.equal(three.profile.groups.map((g) => `${g.namespace}/${g.kind} ${g.entities}`), ['/Customer 375', '/Invoice 375', '/Order 375', 'eu/Customer 125', 'eu/Invoice 125', 'eu/Order 125']);
    assert.is(three.profile.project, 'proj');
    assert.equal([three.corrupt, three.short, three.omitted], [[], [], 0]);
  }
  const byKind = await profileExport(ctx.all, { byNamespace: false, jobs: 2 });
  assert.equal(byKind.groups, await sequential(ctx.all, false));
  assert.is(byKind.exportId, 'A');
});

Parallel('damaged records in several files are reported in file order, and the rest is counted', async () => {
  const dir = join(ctx.dir, 'damaged');
  const { path } = await writeExport(dir, corpus(1500), { exportId: 'D', maxFileBytes: 12_000 });
  const folder = join(path, 'all_namespaces', 'all_kinds');
  const at2 = await damage(join(folder, 'output-2'), [0, 5]);
  const at7 = await damage(join(folder, 'output-7'), [3]);
  const one = await collect(path, { jobs: 1, skipCorrupt: true });
  const three = await collect(path, { jobs: 3, skipCorrupt: true });
  const where = three.corrupt.map((c) => `${c.file.slice(folder.length + 1)}@${c.offset}`);
  assert.equal(where, [`output-2@${at2[0]}`, `output-2@${at2[1]}`, `output-7@${at7[0]}`]);
  assert.match(three.corrupt[0]!.reason, /^checksum mismatch \(expected crc32c 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
  assert.equal(three.corrupt, one.corrupt);
  assert.equal(three.profile.groups, one.profile.groups);
  assert.is(three.profile.groups.reduce((n, g) => n + g.entities, 0), 1497);
  // The part's count is compared all the same: the short count is told, marked as explained by damage.
  assert.equal(three.short, [{ metadata: join(folder, 'all_namespaces_all_kinds.export_metadata'), expected: 1500, found: 1497, damaged: true }]);
  assert.equal(one.short, three.short);

  // Without --skip-corrupt the failure is the first in file order, whichever thread finds it first.
  const err = await rejects(profileExport(path, { byNamespace: true, jobs: 3 }));
  assert.is(err.code, 'EXPORT_CORRUPT');
  assert.match(err.message, new RegExp(`^${join(folder, 'output-2').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: byte offset ${at2[0]}: checksum mismatch`));
  assert.is((await rejects(profileExport(path, { byNamespace: true, jobs: 1 }))).message, err.message);
});

Parallel('more than 100 damaged records in a file: the first 100 are listed and the rest counted', async () => {
  const dir = join(ctx.dir, 'many');
  const { path } = await writeExport(dir, corpus(1000), { exportId: 'M', maxFileBytes: 1 << 20 });
  const file = join(path, 'all_namespaces', 'all_kinds', 'output-0');
  await damage(file, Array.from({ length: 150 }, (_, i) => i * 2));
  const t = fakeIO({ cwd: ctx.dir });
  assert.is(await main(['export', 'stats', path, '--skip-corrupt', '--jobs', '2'], t), 0, t.err());
  const lines = t.err().split('\n');
  assert.is(lines[0], 'warning: skipped 150 damaged records:');
  assert.is(lines.length, 1 + 100 + 1 + 1 + 1);
  assert.is(lines[101], '  … and 50 more');
  assert.match(lines[102]!, /: the export lists 1000 entities here but only 850 were read; damaged records were skipped$/);
  assert.match(t.out(), /\ntotal: 850 entities, \d+ bytes in 6 namespace\/kind groups\n$/);
});

Parallel('a part whose file was emptied fails by its metadata file, or with skipCorrupt is reported short once', async () => {
  const dir = join(ctx.dir, 'short');
  const { path } = await writeExport(dir, corpus(1500), { exportId: 'S', layout: 'per-kind', maxFileBytes: 12_000 });
  const part = join(path, 'namespace_eu', 'kind_Order');
  await truncate(join(part, 'output-1'), 0);
  for (const jobs of [1, 3]) {
    const err = await rejects(profileExport(path, { byNamespace: true, jobs }));
    assert.is(err.code, 'EXPORT_CORRUPT');
    assert.is(err.details?.metadata, join(part, 'namespace_eu_kind_Order.export_metadata'));
    assert.match(err.message, /: the export lists 125 entities here but its output files hold only \d+: they are missing or incomplete$/);
    const r = await collect(path, { jobs, skipCorrupt: true });
    assert.is(r.short.length, 1, `jobs ${jobs}`);
    assert.is(r.short[0]!.metadata, join(part, 'namespace_eu_kind_Order.export_metadata'));
    assert.is(r.short[0]!.expected, 125);
    assert.ok(r.short[0]!.found < 125 && r.short[0]!.found > 0, String(r.short[0]!.found));
  }
});

Parallel('workers read a gs:// export through the storage client', async () => {
  const fake = await startGcsFake('my-bucket', join(ctx.dir, 'all'));
  try {
    const env = { STORAGE_EMULATOR_HOST: fake.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
    const r = await collect('gs://my-bucket/A', { jobs: 2, env });
    assert.equal(r.profile.groups, await sequential(ctx.all, true));
    assert.ok(fake.requests.filter((q) => q.includes('output-')).length >= 10);
  } finally {
    await fake.close();
  }
});

Parallel('--jobs must be a positive whole number, and init --jobs only goes with --from-export', async () => {
  const t = fakeIO({ cwd: ctx.dir });
  assert.is(await main(['export', 'stats', ctx.all, '--jobs', '0'], t), 1);
  assert.is(t.err(), 'Error: --jobs must be a positive whole number, not "0"\n');
  const u = fakeIO({ cwd: ctx.dir });
  assert.is(await main(['init', '--from-datastore', 'p', '--jobs', '2'], u), 1);
  assert.is(u.err(), 'Error: --jobs applies to --from-export only\n');
  const v = fakeIO({ cwd: ctx.dir });
  assert.is(await main(['init', '--from-export', ctx.all, '--database', 'x'], v), 1);
  assert.is(v.err(), 'Error: --kind, --namespace, --limit and --database apply to --from-datastore only\n');
  const w = fakeIO({ cwd: ctx.dir });
  assert.is(await main(['init', '--from-export', ctx.all, '--jobs', '2'], w), 0, w.err());
  assert.match(w.out(), /\n {2}- kind: Customer\n/);
});

Parallel.run();
