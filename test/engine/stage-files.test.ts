// Staging an export on worker threads gives what staging it in one thread gives: the same
// plan counts and sample keys, the same rows applied, the same quarantine; a damaged file
// fails the plan naming the file, with nothing left behind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Plan } from '../../src/engine/plan.js';
import { loadSpec } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/types.js';
import type { Entity } from '../../src/source/entity.js';
import { openSnapshotSource } from '../../src/source/snapshot-source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import { writeExport } from '../support/export-writer.js';
import { rejects } from '../support/rejects.js';
import { startGcsFake } from '../source/gcs-fake.js';
import { exportSpecYaml } from '../support/export-spec.js';

const N = 24_000;

function* entities(changed: boolean): Generator<Entity> {
  for (let i = 1; i <= N; i++) {
    if (changed && i % 1000 === 0) continue; // deleted
    yield {
      key: { partitionId: { projectId: 'p', ...(i % 3 === 0 ? { namespaceId: 'eu' } : {}) }, path: [{ kind: i % 2 ? 'Item' : 'Note', id: String(i) }] },
      properties: {
        n: i === 4001 ? { stringValue: 'lots' } : { integerValue: String(changed && i % 700 === 0 ? i + 1 : i) },
        // Some labels hold what a staged file must escape: tabs, newlines, quotes, backslashes, non-ASCII.
        label: { stringValue: i % 17 === 5 ? `tab\there "quoted" back\\slash\nnew line ünï 😀 ${i % 17}` : `label ${i % 17}` },
        price: { doubleValue: i / 8 },
      },
    };
  }
}

const SPEC = exportSpecYaml(`  - kind: Item
    namespaces: ["", eu]
    fields:
      - { name: n, type: INT64 }
      - { name: label, type: STRING }
      - { name: price, type: FLOAT64 }
  - kind: Note
    namespaces: [eu]
    fields:
      - { name: n, type: INT64 }
      - { name: label, type: STRING }
`);

let dir = '';
let spec: Spec;

async function withTarget<T>(readOnly: boolean, fn: (wh: DuckDbWarehouse) => Promise<T>): Promise<T> {
  const wh = new DuckDbWarehouse(join(dir, 'wh.duckdb'), readOnly);
  try {
    return await fn(wh);
  } finally {
    await wh.close();
  }
}

const plan = (jobs: number) =>
  withTarget(true, async (warehouse) => createPlan(spec, { warehouse, source: await openSnapshotSource(spec.source!) }, { jobs }));
const rowsOf = (p: Plan) => p.changes.filter((c) => c.type === 'rows').map((c) => ({ address: c.address, after: c.after, samples: (c as { sampleKeys: unknown }).sampleKeys }));
const query = (sql: string) =>
  withTarget(true, async (wh) => {
    const out: Record<string, unknown>[] = [];
    for await (const r of wh.readRows('w', sql)) out.push(r);
    return out;
  });

const Workers = suite('staging an export on worker threads');

Workers.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-stage-files-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), entities(false), { exportId: '2026-11-01T00:00:00_000', maxFileBytes: 256 * 1024 });
  spec = (await loadSpec(join(dir, 'mlbridge.yaml'))).spec!;
});
Workers.after(() => rmSync(dir, { recursive: true, force: true }));

Workers('the export has several files, so three workers share them', () => {
  const outputs = readdirSync(join(dir, 'exports', '2026-11-01T00:00:00_000', 'all_namespaces', 'all_kinds')).filter((f) => f.startsWith('output-'));
  assert.ok(outputs.length >= 4, `${outputs.length} output files`);
});

Workers('a plan on three workers equals the plan in one thread, counts and sample keys', async () => {
  const one = await plan(1);
  const three = await plan(3);
  assert.equal(rowsOf(three), rowsOf(one));
  assert.equal(rowsOf(one).map((r) => [r.address, r.after]), [
    ['rows.Item', { insert: 11_999, update: 0, delete: 0, quarantine: 1, unchanged: 0 }],
    ['rows.Note', { insert: 4_000, update: 0, delete: 0, quarantine: 0, unchanged: 0 }],
  ]);
});

Workers('apply on workers writes every row once and quarantines the bad one; a drifted export then plans the same either way', async () => {
  await withTarget(false, async (warehouse) => apply(spec, { warehouse, source: await openSnapshotSource(spec.source!) }, { jobs: 3 }));
  const [items] = await withTarget(true, async (wh) => {
    const rows: Record<string, unknown>[] = [];
    for await (const r of wh.readRows('w', 'item')) rows.push(r);
    return [rows];
  });
  assert.is(items!.length, 11_999);
  assert.is(new Set(items!.map((r) => r._key)).size, 11_999);
  assert.equal((await query('item_quarantine')).map((r) => [r._key, r.reason]), [
    ['Item#4001', 'type drift: Item Item#4001: property n (column n): expected INT64, found STRING "lots"'],
  ]);
  const profiles = await query('_mlbridge_profiles');
  assert.equal(profiles.map((r) => [r.mapping, r.sample_count]).sort(), [['Item', '11999'], ['Note', '4000']]);

  await writeExport(join(dir, 'exports'), entities(true), { exportId: '2026-11-02T00:00:00_000', maxFileBytes: 256 * 1024 });
  const one = await plan(1);
  assert.equal(rowsOf(await plan(3)), rowsOf(one));
  assert.equal(rowsOf(one).map((r) => [r.address, r.after]), [
    // Items are the odd ids: none deleted or changed; the bad one, quarantined already, is unchanged.
    ['rows.Item', { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 12_000 }],
    // Notes are the ids divisible by 6: 3000·k deleted (8), 2100·k changed (11, one of them deleted).
    ['rows.Note', { insert: 0, update: 10, delete: 8, quarantine: 0, unchanged: 3_982 }],
  ]);
});

Workers('rows applied through staged files equal the rows applied in one thread, value for value, and the files are gone', async () => {
  const applyInto = async (file: string, jobs: number) => {
    const wh = new DuckDbWarehouse(join(dir, file), false);
    try {
      await apply({ ...spec, target: { ...spec.target, path: join(dir, file) } } as Spec, { warehouse: wh, source: await openSnapshotSource(spec.source!) }, { jobs });
      const out: Record<string, unknown>[] = [];
      for await (const r of wh.readRows('w', 'note')) out.push(r);
      return out.map(({ _synced_at, ...r }) => r).sort((a, b) => String(a._key).localeCompare(String(b._key)));
    } finally {
      await wh.close();
    }
  };
  const staging = join(dir, 'tmp');
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  const before = process.env.TMPDIR;
  process.env.TMPDIR = staging;
  try {
    const viaFiles = await applyInto('files.duckdb', 3);
    assert.equal(viaFiles, await applyInto('one.duckdb', 1));
    assert.ok(viaFiles.some((r) => String(r.label).startsWith('tab\there "quoted" back\\slash\nnew line ünï 😀')));
    assert.equal(readdirSync(staging), []);
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
});

Workers("a listed namespace that holds none of the kind is warned of on workers too, also once the source memo knows every record", async () => {
  const path = join(dir, 'namespaces.duckdb');
  const typo = {
    ...spec,
    target: { ...spec.target, path },
    mappings: spec.mappings.map((m) => (m.kind === 'Note' ? { ...m, namespaces: ['eu', 'ue'] } : m)),
  } as Spec;
  const warnings = (p: Plan) => p.diagnostics.map((d) => [d.severity, d.summary, d.detail]);
  const expected = [
    [
      'warning',
      'rows.Note: namespace "ue" holds no Note entity in the source',
      'Export 2026-11-02T00:00:00_000 holds Note entities in namespaces "" (the default namespace) and "eu". A misspelled namespace reads nothing: correct or remove it in the mapping\'s `namespaces`.',
    ],
  ];
  const applied = await onTarget(path, false, async (warehouse) => apply(typo, { warehouse, source: await openSnapshotSource(typo.source!) }, { jobs: 3 }));
  assert.equal(warnings(applied.plan), expected);
  // Now every record of eu is in the memo: staging skips it undecoded, yet eu is not reported empty.
  const again = await onTarget(path, true, async (warehouse) => createPlan(typo, { warehouse, source: await openSnapshotSource(typo.source!) }, { jobs: 3 }));
  assert.equal(rowsOf(again).map((r) => [r.address, r.after]), [
    ['rows.Item', { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 12_000 }],
    ['rows.Note', { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3_992 }],
  ]);
  assert.equal(warnings(again), expected);
});

Workers('workers read a gs:// export through the storage client, with the environment the source was opened with', async () => {
  const fake = await startGcsFake('exports-bucket', join(dir, 'exports'));
  try {
    const env = { STORAGE_EMULATOR_HOST: fake.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
    const gs = { ...spec, source: { kind: 'export' as const, path: 'gs://exports-bucket' } };
    const viaGcs = (jobs: number) =>
      withTarget(true, async (warehouse) => createPlan(gs, { warehouse, source: await openSnapshotSource(gs.source, { env }) }, { jobs }));
    const three = await viaGcs(3);
    assert.equal(rowsOf(three), rowsOf(await plan(1)));
    assert.ok(fake.requests.filter((q) => q.includes('output-')).length >= 4, 'the files came through the storage client');
  } finally {
    await fake.close();
  }
});

Workers('an interrupt while staging stops the apply before any change, with nothing written and no lock left', async () => {
  const fresh = { ...spec, target: { ...spec.target, path: join(dir, 'interrupted.duckdb') } } as Spec;
  const controller = new AbortController();
  const source = await openSnapshotSource(fresh.source!);
  // The signal arrives while the first batches are being staged.
  const interrupting = {
    ...source,
    async *read(select: Parameters<typeof source.read>[0]) {
      for await (const batch of source.read(select)) {
        yield batch;
        controller.abort('SIGINT');
      }
    },
  };
  delete (interrupting as { files?: unknown }).files;
  const wh = new DuckDbWarehouse(join(dir, 'interrupted.duckdb'), false);
  try {
    const err = await rejects(apply(fresh, { warehouse: wh, source: interrupting }, { signal: controller.signal }));
    assert.is(err.code, 'INTERRUPTED');
    assert.is(err.message, 'Interrupted before any change was applied; run apply again');
    assert.equal(await wh.listTables('w'), [], 'no table created, no row written');
  } finally {
    await wh.close();
  }
  assert.not.ok(existsSync(join(dir, 'interrupted.duckdb.mlbridge.lock')), 'the lock is released');
});

Workers('a damaged file fails the plan naming it, whichever worker read it', async () => {
  const folder = join(dir, 'exports', '2026-11-02T00:00:00_000', 'all_namespaces', 'all_kinds');
  const file = join(folder, 'output-2');
  const size = statSync(file).size;
  const bytes = Buffer.alloc(size);
  const { openSync, readSync, writeSync, closeSync } = await import('node:fs');
  const fd = openSync(file, 'r+');
  readSync(fd, bytes, 0, size, 0);
  bytes[40_000] = bytes[40_000]! ^ 0xff; // a flipped byte inside a record: its CRC no longer matches
  writeSync(fd, bytes, 40_000, 1, 40_000);
  closeSync(fd);
  const err = await rejects(plan(3));
  assert.is(err.code, 'EXPORT_CORRUPT');
  assert.match(err.message, 'output-2');
});

/** The same entities, with a long label every 500th (70–130 KB: a record over 3–5 blocks), so one file holds them all. */
function* largeEntities(): Generator<Entity> {
  for (const e of entities(false)) {
    const id = Number(e.key.path[0]!.id);
    if (id % 500 === 251) e.properties.label = { stringValue: `long ${id} `.padEnd(70_000 + ((id * 7919) % 60_000), 'x'), excludeFromIndexes: true };
    yield e;
  }
}

/** A second project in `dir/one-file`: the export as one output file of over 4 MiB (split in block ranges). */
async function oneFileProject(): Promise<{ spec: Spec; root: string; file: string }> {
  const root = join(dir, 'one-file');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'mlbridge.yaml'), SPEC.replace('./wh.duckdb', './one.duckdb'));
  if (!existsSync(join(root, 'exports'))) await writeExport(join(root, 'exports'), largeEntities(), { exportId: '2026-11-01T00:00:00_000' });
  const file = join(root, 'exports', '2026-11-01T00:00:00_000', 'all_namespaces', 'all_kinds', 'output-0');
  return { spec: (await loadSpec(join(root, 'mlbridge.yaml'))).spec!, root, file };
}

async function onTarget<T>(path: string, readOnly: boolean, fn: (wh: DuckDbWarehouse) => Promise<T>): Promise<T> {
  const wh = new DuckDbWarehouse(path, readOnly);
  try {
    return await fn(wh);
  } finally {
    await wh.close();
  }
}

Workers('an export of one large file is split in block ranges for two workers: the same plan, then the same rows, as in one thread', async () => {
  const { spec: one, root, file } = await oneFileProject();
  assert.ok(statSync(file).size > 4 * 1024 * 1024, `${statSync(file).size} bytes`);
  assert.not.ok(existsSync(file.replace(/output-0$/, 'output-1')), 'a single output file');
  const source = await openSnapshotSource(one.source!);
  const tasks = await source.files!.split(2);
  assert.is(tasks.length, 4, 'the file is read as four ranges');
  assert.ok(tasks.every((t) => t.range), 'each a range');

  const planOne = (jobs: number) => onTarget(join(root, 'one.duckdb'), true, async (warehouse) => createPlan(one, { warehouse, source: await openSnapshotSource(one.source!) }, { jobs }));
  const single = await planOne(1);
  assert.equal(rowsOf(await planOne(2)), rowsOf(single));
  assert.equal(rowsOf(single).map((r) => [r.address, r.after]), [
    ['rows.Item', { insert: 11_999, update: 0, delete: 0, quarantine: 1, unchanged: 0 }],
    ['rows.Note', { insert: 4_000, update: 0, delete: 0, quarantine: 0, unchanged: 0 }],
  ]);

  const applied = async (jobs: number) => {
    const target = { ...one, target: { ...one.target, path: join(root, `applied-${jobs}.duckdb`) } } as Spec;
    const path = join(root, `applied-${jobs}.duckdb`);
    await onTarget(path, false, async (warehouse) => apply(target, { warehouse, source: await openSnapshotSource(one.source!) }, { jobs }));
    return onTarget(path, true, async (wh) => {
      const read = async (table: string) => {
        const out: Record<string, unknown>[] = [];
        for await (const r of wh.readRows('w', table)) out.push(r);
        // Everything but the times of the apply.
        return out.map((r) => JSON.stringify({ ...r, _synced_at: undefined, ingest_time: undefined }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).sort();
      };
      return { item: await read('item'), note: await read('note'), quarantine: await read('item_quarantine') };
    });
  };
  const [byOne, byTwo] = [await applied(1), await applied(2)];
  assert.is(byTwo.item.length, 11_999);
  assert.is(byTwo.note.length, 4_000);
  assert.ok(byTwo.item.some((r) => r.includes("long 251 xxx")), 'the long labels are staged');
  assert.equal(byTwo.item, byOne.item);
  assert.equal(byTwo.note, byOne.note);
  assert.equal(byTwo.quarantine, byOne.quarantine);
});

Workers('a damaged block in a range fails the plan once, with the error one thread gives', async () => {
  const { spec: one, root, file } = await oneFileProject();
  const source = await openSnapshotSource(one.source!);
  const second = (await source.files!.split(2))[1]!.range!.start;
  const damaged = join(root, 'damaged');
  cpSync(join(root, 'exports'), damaged, { recursive: true });
  const copy = file.replace(join(root, 'exports'), damaged);
  const bytes = readFileSync(copy);
  bytes[second + 100] = bytes[second + 100]! ^ 0xff; // just past a range boundary: the range before reads past it for its last record
  writeFileSync(copy, bytes);
  const spec2 = { ...one, source: { kind: 'export' as const, path: damaged } };
  const failed = (jobs: number) =>
    rejects(onTarget(join(root, 'one.duckdb'), true, async (warehouse) => createPlan(spec2, { warehouse, source: await openSnapshotSource(spec2.source) }, { jobs })));
  const single = await failed(1);
  assert.is(single.code, 'EXPORT_CORRUPT');
  assert.match(single.message, `${copy}: byte offset ${second}`);
  const two = await failed(2);
  assert.is(two.message, single.message);
});

Workers('workers read ranges of a gs:// file with ranged downloads', async () => {
  const { spec: one, root } = await oneFileProject();
  const fake = await startGcsFake('one-file-bucket', join(root, 'exports'));
  try {
    const env = { STORAGE_EMULATOR_HOST: fake.endpoint, GOOGLE_CLOUD_PROJECT: 'p' };
    const gs = { ...one, source: { kind: 'export' as const, path: 'gs://one-file-bucket' } };
    const viaGcs = (jobs: number) =>
      onTarget(join(root, 'one.duckdb'), true, async (warehouse) => createPlan(gs, { warehouse, source: await openSnapshotSource(gs.source, { env }) }, { jobs }));
    const two = await viaGcs(2);
    assert.equal(rowsOf(two), rowsOf(await viaGcs(1)));
    assert.ok(fake.ranged.length >= 4, `ranged downloads: ${fake.ranged.join(', ')}`);
  } finally {
    await fake.close();
  }
});

Workers.run();
