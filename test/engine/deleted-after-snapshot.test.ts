// A snapshot reconcile never brings back an entity deleted after the snapshot was taken
// (row-rules.ts, rule new-key): on DuckDB, after deletes by serve (Pub/Sub and Eventarc) and
// by a newer snapshot's apply (orphans), through the engine (the stage's join), through the
// CLI on the quickstart's two exports, and with the source memo (the stage's full join).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { main } from '../../src/cli/main.js';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Plan } from '../../src/engine/plan.js';
import type { Entity } from '../../src/source/entity.js';
import type { Spec } from '../../src/spec/types.js';
import { openSnapshotSource } from '../../src/source/snapshot-source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import { fakeIO } from '../cli/fake-io.js';
import { writeExport } from '../support/export-writer.js';
import { createIngestor } from '../../src/engine/ingest.js';
import { decodeEventarc } from '../../src/server/eventarc.js';
import { customerEntity, deletedAfterSnapshotScenario, snapshotOf } from './fixtures/deleted-after-snapshot.js';
import { field, inPasses, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';

// ---- fakes ----

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Rows of a table of the DuckDB file (read-only, closed after), sorted by key. */
async function tableRows(db: string, dataset: string, table: string): Promise<Row[]> {
  const wh = new DuckDbWarehouse(db, true);
  try {
    const out: Row[] = [];
    for await (const r of wh.readRows(dataset, table)) out.push(r);
    return out.sort((a, b) => String(a._key).localeCompare(String(b._key)));
  } finally {
    await wh.close();
  }
}

/** `rows.<Kind>` counts of a plan (the engine's, or `plan --json`'s). */
const countsOf = (p: Pick<Plan, 'changes'>, kind: string) => p.changes.find((c) => c.address === `rows.${kind}`)?.after;
const counts = (c: Partial<Record<'insert' | 'update' | 'delete' | 'quarantine', number>>, unchanged: number) => ({ insert: 0, update: 0, delete: 0, quarantine: 0, ...c, unchanged });

// ---- serve's deletes, a newer snapshot's orphans, re-creation ----

const Engine = suite('a snapshot applied after its entities were deleted, on DuckDB');

let ctx: ReturnType<typeof tempDir>;
Engine.before.each(() => {
  ctx = tempDir('mlbridge-deleted-after-');
});
Engine.after.each(() => ctx.cleanup());

Engine('leaves deleted what serve or a newer snapshot deleted after it, and inserts what was re-created after its delete', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64')])]);
  await deletedAfterSnapshotScenario(s, (readOnly, fn) => withWarehouse(s, readOnly, fn));
});

Engine('leaves deleted what was deleted after the snapshot when the key joins take several passes', async () => {
  // One row per pass: raw's deletes after the snapshot are found once for all passes.
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64')])]);
  await inPasses(1, () => deletedAfterSnapshotScenario(s, (readOnly, fn) => withWarehouse(s, readOnly, fn)));
});

Engine('an Eventarc delete after a snapshot deletes the row the snapshot wrote, though the entity last changed before it', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64')])]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
  // The snapshot (Nov 1) writes a and b at its own version; they last changed on Oct 1.
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse, source: snapshotOf([customerEntity('a', 'a@x.io', 1), customerEntity('b', 'b@x.io', 2)], '2026-11-01T00:00:00.000Z') }));
  // Nov 2: a is deleted. The event's old_value carries a's last version (Oct 1, before the snapshot).
  const lastVersion = String(BigInt(Date.parse('2026-10-01T00:00:00.000Z')) * 1000n);
  const event = {
    specversion: '1.0',
    type: 'google.cloud.datastore.entity.v1.deleted',
    id: 'del-a',
    source: '//datastore.googleapis.com/projects/live/databases/(default)',
    time: '2026-11-02T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: { oldValue: { entity: customerEntity('a', 'a@x.io', 1), version: lastVersion } },
  };
  const decoded = decodeEventarc({ 'content-type': 'application/cloudevents+json' }, { body: Buffer.from(JSON.stringify(event)), receivedAt: new Date('2026-11-02T00:00:01Z') }, new Set(['Customer']));
  assert.ok('change' in decoded, JSON.stringify(decoded));
  await withWarehouse(s, false, async (w) => {
    const sink = createIngestor(s, w, { clock: () => new Date('2026-11-02T00:00:01Z') });
    try {
      await sink.write([decoded.change], []);
    } finally {
      await sink.close();
    }
  });
  assert.equal((await tableRows(ctx.db, s.target.dataset, 'customer')).map((r) => r._key), ['Customer:b'], 'a is gone, b stays');
});

Engine.run();

// ---- the quickstart: the first export planned and applied after the next one ----

const Quickstart = suite('the quickstart export planned and applied after export-next');

let qs = '';
const qsDb = () => join(qs, '.data', 'warehouse.duckdb');
async function cli(exportDir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIO({ cwd: qs, env: { PATH: process.env.PATH, QUICKSTART_EXPORT: exportDir } });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}
const GONE = ['Order:order-0005', 'Product:sku-008'];
const rawOf = async (table: string, key: string) => (await tableRows(qsDb(), 'analytics', table)).filter((r) => r._key === key).map((r) => `${r.operation} ${r.event_id}`);

Quickstart.before(async () => {
  qs = mkdtempSync(join(tmpdir(), 'mlbridge-deleted-after-qs-'));
  cpSync(join(ROOT, 'examples', 'quickstart'), qs, { recursive: true, filter: (src) => !src.includes(join('quickstart', '.data')) });
  for (const dir of ['export', 'export-next']) {
    const r = await cli(dir, 'apply', '--auto-approve', '-c', '.');
    assert.is(r.code, 0, r.err);
  }
});
Quickstart.after(() => rmSync(qs, { recursive: true, force: true }));

Quickstart('the plan inserts nothing: order-0005 and sku-008, deleted by the newer apply, count as unchanged', async () => {
  const r = await cli('export', 'plan', '--json', '-c', '.');
  assert.is(r.code, 0, r.err);
  const plan = JSON.parse(r.out) as Plan;
  assert.equal(countsOf(plan, 'Order'), counts({}, 20));
  assert.equal(countsOf(plan, 'Product'), counts({}, 8));
  assert.equal(countsOf(plan, 'CustomerProfile'), counts({}, 12));
});

Quickstart('the apply leaves them absent and logs nothing for them', async () => {
  const before = { order: await rawOf('order_raw', GONE[0]!), product: await rawOf('product_raw', GONE[1]!) };
  assert.equal([before.order.length, before.product.length], [2, 2], 'inserted by the first export, deleted by the next');
  const r = await cli('export', 'apply', '--auto-approve', '-c', '.');
  assert.is(r.code, 0, r.err);
  const orders = (await tableRows(qsDb(), 'analytics', 'order')).map((x) => x._key);
  const products = (await tableRows(qsDb(), 'analytics', 'product')).map((x) => x._key);
  assert.equal([orders.includes(GONE[0]), products.includes(GONE[1])], [false, false]);
  assert.equal({ order: await rawOf('order_raw', GONE[0]!), product: await rawOf('product_raw', GONE[1]!) }, before);
});

Quickstart.run();

// ---- the source memo: the stage's full join of stage and current ----

const Memo = suite('a snapshot taken mostly from the source memo after a newer one deleted its entities');

const N = 400;
/** Items 1..N; `without` left out (deleted). */
function* items(without: Set<number>): Generator<Entity> {
  for (let i = 1; i <= N; i++) {
    if (without.has(i)) continue;
    yield { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] }, properties: { n: { integerValue: String(i) }, label: { stringValue: `label ${i % 7}` } } };
  }
}

let memoDir = '';
/** The Item mapping on the DuckDB file of memoDir, reading the export folder `folder` there. */
const exportSpec = (folder: string): Spec =>
  spec(join(memoDir, 'wh.duckdb'), [mapping('Item', [field('n', 'INT64'), field('label', 'STRING')])], { source: { kind: 'export', path: join(memoDir, folder) } });
const onTarget = <T>(readOnly: boolean, fn: (warehouse: DuckDbWarehouse) => Promise<T>): Promise<T> => {
  const wh = new DuckDbWarehouse(join(memoDir, 'wh.duckdb'), readOnly);
  return fn(wh).finally(() => wh.close());
};
/** Entries of the Item mapping's source memo (the plan below takes its records from them). */
async function memoEntries(): Promise<number> {
  const db = await DuckDBInstance.create(join(memoDir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    return Number((await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."analytics.item"`)).getRows()[0]![0]);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}
const planOn = (s: Spec) => onTarget(true, async (warehouse) => createPlan(s, { warehouse, source: await openSnapshotSource(s.source!) }, { jobs: 2 }));
const applyOn = (s: Spec) => onTarget(false, async (warehouse) => apply(s, { warehouse, source: await openSnapshotSource(s.source!) }, { jobs: 2 }));

Memo.before(async () => {
  memoDir = mkdtempSync(join(tmpdir(), 'mlbridge-deleted-after-memo-'));
  // Small files: staging runs on workers, which is where the memo is kept and read.
  await writeExport(join(memoDir, 'first'), items(new Set()), { exportId: '2026-11-01T00:00:00_000', startTime: new Date('2026-11-01T00:00:00Z'), maxFileBytes: 4096 });
  await writeExport(join(memoDir, 'next'), items(new Set([7, 8])), { exportId: '2026-11-02T00:00:00_000', startTime: new Date('2026-11-02T00:00:00Z'), maxFileBytes: 4096 });
});
Memo.after(() => rmSync(memoDir, { recursive: true, force: true }));

Memo('the older export after the newer one: plan and apply insert nothing, and the deleted items stay absent', async () => {
  const first = exportSpec('first');
  const next = exportSpec('next');
  await applyOn(first);
  assert.equal(countsOf((await applyOn(next)).plan, 'Item'), counts({ delete: 2 }, N - 2));
  assert.is(await memoEntries(), N - 2, 'the memo holds the items the newer apply staged');
  assert.equal(countsOf(await planOn(first), 'Item'), counts({}, N));
  await applyOn(first);
  const keys = (await tableRows(join(memoDir, 'wh.duckdb'), 'analytics', 'item')).map((r) => r._key);
  assert.equal([keys.length, keys.includes('Item#7'), keys.includes('Item#8')], [N - 2, false, false]);
});

Memo.run();
