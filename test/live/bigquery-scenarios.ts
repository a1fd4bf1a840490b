// The foundation plan/apply scenarios with `target: bigquery`, written once and run twice:
// against the REST fake (test/warehouse/bigquery-engine.test.ts) and against a real
// project (test/live/bigquery.live.test.ts). Each scenario gets a fresh, empty dataset.
// registerFidelityScenarios holds the claims the fake makes about BigQuery (issue #11):
// locations, types inside ARRAYs, STRUCT copies, label and description limits,
// case-sensitive table names, partition options in place. The first live run checks them.
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { renderPlanText } from '../../src/cli/views/plan-text.js';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Plan, TableChange } from '../../src/engine/plan.js';
import type { ColumnSchema } from '../../src/model/schema.js';
import type { Spec } from '../../src/spec/types.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec } from '../engine/fixtures/factories.js';
import { customerEntity, deletedAfterSnapshotScenario, snapshotOf as snapshot } from '../engine/fixtures/deleted-after-snapshot.js';
import type { SnapshotSource } from '../../src/source/snapshot-source.js';
import { outOfOrderPatchScenario } from '../engine/fixtures/out-of-order-patch.js';

export interface ScenarioTarget {
  project: string;
  dataset: string;
  location: string;
  /** Opens the adapter through openWarehouse (env: the emulator host or real ADC). */
  open(readOnly: boolean): Promise<Warehouse>;
}

import { rejects } from '../support/rejects.js';
export { rejects };

export function helpers(t: () => ScenarioTarget) {
  const bq = (mappings: Parameters<typeof spec>[1]): Spec => {
    const { project, dataset, location } = t();
    return spec('', mappings, { target: { kind: 'bigquery', project, dataset, location } });
  };
  async function withWarehouse<T>(readOnly: boolean, fn: (w: Warehouse) => Promise<T>): Promise<T> {
    const w = await t().open(readOnly);
    try {
      return await fn(w);
    } finally {
      await w.close();
    }
  }
  const addr = (name: string) => `bigquery_table.${t().dataset}.${name}`;
  return {
    bq,
    withWarehouse,
    addr,
    plan: (s: Spec) => withWarehouse(true, (warehouse) => createPlan(s, { warehouse })),
    applySpec: (s: Spec, opts: Parameters<typeof apply>[2] = {}) => withWarehouse(false, (warehouse) => apply(s, { warehouse }, opts)),
    table: (name: string) => withWarehouse(true, (w) => w.getTable(t().dataset, name)),
    rowsOf: (name: string) =>
      withWarehouse(true, async (w) => {
        const out: Row[] = [];
        for await (const r of w.readRows(t().dataset, name)) out.push(r);
        return out.sort((a, b) => String(a._key).localeCompare(String(b._key)));
      }),
    merge: (name: string, rows: Row[]) => withWarehouse(false, (w) => w.mergeRows(t().dataset, name, ['_key'], rows)),
    change: (p: Plan, name: string) => p.changes.find((c) => c.address === addr(name)) as TableChange | undefined,
  };
}

export const cols = (cs: ColumnSchema[] | undefined) => (cs ?? []).map((c) => `${c.name} ${c.type} ${c.mode}`);
export const sys = (key: string) => ({ _key: key, _version: '1', _hash: 'h', _synced_at: '2026-01-01T00:00:00Z' });
const customers = (fields = [field('email', 'STRING', 'REQUIRED'), field('age', 'INT64')], o: Parameters<typeof mapping>[2] = {}) =>
  mapping('Customer', fields, o);

export function registerScenarios(Suite: Test, t: () => ScenarioTarget): void {
  const h = helpers(t);
  const { bq, plan, applySpec, table, rowsOf, merge, change, addr } = h;

  Suite('plan on an empty project adds the dataset and five tables and creates nothing', async () => {
    const s = bq([customers()]);
    const p = await plan(s);
    const ds = t().dataset;
    assert.equal(p.summary, { add: 6, change: 0, destroy: 0 });
    assert.equal(p.changes.map((c) => `${c.action} ${c.address}`), [
      `create bigquery_dataset.${ds}`,
      `create ${addr('customer')}`,
      `create ${addr('customer_raw')}`,
      `create ${addr('customer_quarantine')}`,
      `create ${addr('_mlbridge_profiles')}`,
      `create ${addr('_mlbridge_rejected')}`,
    ]);
    assert.is(await h.withWarehouse(true, (w) => w.getDataset(ds)), null, 'plan created nothing');
  });

  Suite('apply creates the tables (current clustered by _key, raw partitioned by ingest day) and a second plan is empty', async () => {
    const s = bq([customers()]);
    const r = await applySpec(s);
    assert.equal(r.summary, { add: 6, change: 0, destroy: 0 });
    const cur = await table('customer');
    assert.equal(cols(cur?.columns).slice(-2), ['email STRING REQUIRED', 'age INT64 NULLABLE']);
    assert.equal(cur?.clustering, ['_key']);
    assert.is(cur?.owned, true);
    assert.is(cur?.deletionProtection, true);
    const raw = await table('customer_raw');
    assert.equal(raw?.partitioning, { type: 'DAY', field: 'ingest_time' });
    assert.equal(cols(raw?.columns).at(-1), 'flags STRING REPEATED');
    const again = await plan(s);
    assert.equal(again.summary, { add: 0, change: 0, destroy: 0 });
    assert.ok(again.changes.every((c) => c.action === 'no-op'));
  });

  Suite('adding a column is a tables.patch and the column is there after apply', async () => {
    await applySpec(bq([customers()]));
    const s2 = bq([customers([field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('city', 'STRING')])]);
    const p = await plan(s2);
    assert.equal(change(p, 'customer')?.ops, [{ op: 'add_column', parent: [], column: { name: 'city', type: 'STRING', mode: 'NULLABLE' } }]);
    await applySpec(s2);
    assert.is(cols((await table('customer'))?.columns).at(-1), 'city STRING NULLABLE');
    assert.equal((await plan(s2)).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('INT64 → NUMERIC widens in place and keeps the rows', async () => {
    const mk = (ty: 'INT64' | 'NUMERIC') => bq([customers([field('email', 'STRING', 'REQUIRED'), field('age', ty)])]);
    await applySpec(mk('INT64'));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', age: '42' }]);
    const p = await plan(mk('NUMERIC'));
    const c = change(p, 'customer')!;
    assert.is(c.action, 'update');
    assert.equal(c.ops, [{ op: 'widen_column', path: ['age'], from: 'INT64', to: 'NUMERIC' }]);
    await applySpec(mk('NUMERIC'));
    assert.is(cols((await table('customer'))?.columns).at(-1), 'age NUMERIC NULLABLE');
    assert.equal((await rowsOf('customer')).map((r) => r.age), ['42']);
    assert.equal((await plan(mk('NUMERIC'))).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('a declared rename renames the column in place and keeps its values', async () => {
    await applySpec(bq([customers([field('email', 'STRING', 'REQUIRED'), field('name', 'STRING')])]));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', name: 'Ada' }]);
    const s2 = bq([customers([field('email', 'STRING', 'REQUIRED'), field('customer_name', 'STRING', 'NULLABLE', { renamedFrom: 'name' })])]);
    const c = change(await plan(s2), 'customer')!;
    assert.equal(c.ops, [{ op: 'rename_column', from: 'name', to: 'customer_name' }]);
    await applySpec(s2);
    assert.equal((await rowsOf('customer')).map((r) => r.customer_name), ['Ada']);
    assert.equal((await plan(s2)).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('a removed column is a destructive drop: refused without allowDestructive, dropped with it', async () => {
    await applySpec(bq([customers()]));
    const s2 = bq([customers([field('email', 'STRING', 'REQUIRED')])]);
    const c = change(await plan(s2), 'customer')!;
    assert.ok(c.destructive);
    assert.equal(c.ops, [{ op: 'drop_column', name: 'age' }]);
    const err = await rejects(applySpec(s2));
    assert.is(err.code, 'DESTRUCTIVE_REFUSED');
    assert.match(err.message, `${addr('customer')} (update): drops the column age and its data`);
    assert.is(cols((await table('customer'))?.columns).at(-1), 'age INT64 NULLABLE', 'nothing applied');
    await applySpec(s2, { allowDestructive: true });
    assert.is(cols((await table('customer'))?.columns).at(-1), 'email STRING REQUIRED');
  });

  Suite('STRING → INT64 is a replacement: refused, then applied with the rows carried by CAST', async () => {
    const mk = (ty: 'STRING' | 'INT64') => bq([customers([field('email', 'STRING', 'REQUIRED'), field('zip', ty)], { deletionProtection: false })]);
    await applySpec(mk('STRING'));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', zip: '1234' }]);
    const p = await plan(mk('INT64'));
    const c = change(p, 'customer')!;
    assert.is(c.action, 'replace');
    assert.is(c.reasons.find((x) => x.forcesReplacement)?.rule, 'type-change-not-widening');
    const err = await rejects(applySpec(mk('INT64')));
    assert.is(err.code, 'DESTRUCTIVE_REFUSED');
    assert.match(err.message, `${addr('customer')} (replace): STRING → INT64 is not a widening BigQuery allows in place [type-change-not-widening]`);
    assert.is(cols((await table('customer'))?.columns).at(-1), 'zip STRING NULLABLE', 'target untouched');
    const done = await applySpec(mk('INT64'), { allowDestructive: true });
    assert.ok(done.applied);
    assert.is(cols((await table('customer'))?.columns).at(-1), 'zip INT64 NULLABLE');
    assert.equal((await rowsOf('customer')).map((r) => [r._key, r.email, r.zip]), [['k1', 'a@x', '1234']]);
    assert.equal((await plan(mk('INT64'))).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('a saved plan is refused when the table changed after the plan was made', async () => {
    await applySpec(bq([customers()]));
    const s2 = bq([customers([field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('city', 'STRING')])]);
    const saved = await plan(s2);
    await h.withWarehouse(false, (w) =>
      w.updateTable(t().dataset, 'customer', [{ op: 'add_column', parent: [], column: { name: 'sneaky', type: 'STRING', mode: 'NULLABLE' } }]),
    );
    const err = await rejects(applySpec(s2, { savedPlan: saved }));
    assert.is(err.code, 'PLAN_STALE');
    assert.is(err.message, `Saved plan is stale: ${addr('customer')} changed since the plan was made`);
    assert.not.ok(cols((await table('customer'))?.columns).includes('city STRING NULLABLE'));
  });

  Suite('identifiers needing quotes work end to end: kind "Order-Item v2", hyphenated tables, a property price.amount', async () => {
    const m = mapping('Order-Item v2', [field('price_amount', 'NUMERIC', 'NULLABLE', { from: ['price.amount'] }), field('item-count', 'INT64')], {
      tables: { current: 'order-items', raw: 'order-items-raw', quarantine: 'order-items-q' },
      deletionProtection: false,
    });
    const s = bq([m]);
    const r = await applySpec(s);
    assert.equal(r.summary, { add: 6, change: 0, destroy: 0 });
    await merge('order-items', [{ ...sys('k1'), price_amount: '9.5', 'item-count': '3' }]);
    assert.equal((await rowsOf('order-items')).map((x) => [x.price_amount, x['item-count']]), [['9.5', '3']]);
    assert.equal((await plan(s)).summary, { add: 0, change: 0, destroy: 0 });
    const s2 = bq([{ ...m, fields: [m.fields[0]!, field('item count', 'INT64', 'NULLABLE', { renamedFrom: 'item-count' })] }]);
    await applySpec(s2);
    assert.equal((await rowsOf('order-items')).map((x) => x['item count']), ['3']);
  });
}

/**
 * The data path on BigQuery (issue #9): staging by load jobs into the scratch dataset, the
 * diff in GoogleSQL, the version-guarded MERGE, raw and quarantine appends.
 */
export function registerDataScenarios(Suite: Test, t: () => ScenarioTarget): void {
  const h = helpers(t);
  const { bq, rowsOf, withWarehouse } = h;
  const planWith = (s: Spec, source: SnapshotSource) => withWarehouse(true, (warehouse) => createPlan(s, { warehouse, source }));
  const applyWith = (s: Spec, source: SnapshotSource) => withWarehouse(false, (warehouse) => apply(s, { warehouse, source }));
  const counts = (p: Plan) => p.changes.find((c) => c.address === 'rows.Customer')?.after;

  Suite('rows: a snapshot is staged, merged and then unchanged; drift is counted and repaired once', async () => {
    const s = bq([customers([field('email', 'STRING'), field('age', 'INT64')])]);
    const first = snapshot([customerEntity('a', 'a@x.io', 30), customerEntity('b', 'b@x.io', 40), customerEntity('c', 'c@x.io')], '2026-11-01T00:00:00.000Z');
    assert.equal(counts(await planWith(s, first)), { insert: 3, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
    await applyWith(s, first);
    assert.equal((await rowsOf('customer')).map((r) => [r._key, r.email, r.age]), [
      ['Customer:a', 'a@x.io', '30'],
      ['Customer:b', 'b@x.io', '40'],
      ['Customer:c', 'c@x.io', null],
    ]);
    assert.equal(counts(await planWith(s, first)), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3 });
    const second = snapshot(
      [customerEntity('a', 'a@x.io', 31), customerEntity('c', 'c@x.io'), customerEntity('d', 'd@x.io', 20), customerEntity('e', { integerValue: '5' }), ],
      '2026-11-02T00:00:00.000Z',
    );
    // e's email is an integer where the column is a STRING: coerced ("5"), not quarantined.
    assert.equal(counts(await planWith(s, second)), { insert: 2, update: 1, delete: 1, quarantine: 0, unchanged: 1 });
    await applyWith(s, second);
    await applyWith(s, second);
    assert.equal((await rowsOf('customer')).map((r) => [r._key, r.age]), [
      ['Customer:a', '31'],
      ['Customer:c', null],
      ['Customer:d', '20'],
      ['Customer:e', null],
    ]);
    const raw = await rowsOf('customer_raw');
    assert.is(raw.length, 3 + 4, 'three inserts, then two inserts, an update and a delete; the second apply logs nothing');
    assert.is(new Set(raw.map((r) => r.event_id)).size, raw.length);
    assert.equal(counts(await planWith(s, second)), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 4 });
  });

  Suite('rows: events of a key delivered out of order around PATCHes leave current as in-order delivery would; a redelivery of all changes nothing', () =>
    outOfOrderPatchScenario(bq([customers([field('email', 'STRING'), field('age', 'INT64'), field('tier', 'STRING')])]), withWarehouse),
  );

  Suite('rows: a snapshot does not bring back entities deleted after it (by serve, or as orphans of a newer one), and brings back those re-created', () =>
    deletedAfterSnapshotScenario(bq([customers([field('email', 'STRING'), field('age', 'INT64')])]), withWarehouse),
  );
}

/** The location that is not the target's, for a dataset mlbridge did not put there. */
export const otherLocation = (location: string) => (location.toUpperCase() === 'EU' ? 'US' : 'EU');

export function registerFidelityScenarios(Suite: Test, t: () => ScenarioTarget): void {
  const h = helpers(t);
  const { bq, plan, applySpec, table, rowsOf, merge, change, addr } = h;
  const dsAddr = () => `bigquery_dataset.${t().dataset}`;

  Suite('a dataset in another location: the plan shows location forcing replacement and apply refuses, naming both', async () => {
    const { dataset, location } = t();
    const other = otherLocation(location);
    await h.withWarehouse(false, (w) => w.createDataset({ name: dataset, location: other, labels: { 'managed-by': 'mlbridge' } }));
    const s = bq([customers()]);
    const p = await plan(s);
    const ds = p.changes.find((c) => c.address === dsAddr())!;
    assert.is(ds.action, 'replace');
    assert.equal(ds.reasons[0], { path: 'location', rule: 'dataset-location', message: `location ${other} → ${location}: BigQuery cannot move a dataset`, forcesReplacement: true });
    const text = renderPlanText(p);
    assert.match(text, `-/+ ${dsAddr()} {\n      ~ location = "${other}" → "${location}" # forces replacement`);
    assert.match(text, `# (blocked: ${dsAddr()} is in location ${other} but the spec asks for ${location}`);
    const err = await rejects(applySpec(s, { allowDestructive: true }));
    assert.is(err.code, 'DESTRUCTIVE_REFUSED');
    assert.match(err.message, `${dsAddr()} is in location ${other} but the spec asks for ${location}; BigQuery cannot move a dataset`);
    assert.match(err.message, `Set target.location to ${other} to keep using this dataset`);
    assert.is(await table('customer'), null, 'nothing applied');
  });

  Suite('jobs run where the dataset is, even when the spec says another location', async () => {
    const { dataset, location } = t();
    const other = otherLocation(location);
    await h.withWarehouse(false, (w) => w.createDataset({ name: dataset, location: other, labels: { 'managed-by': 'mlbridge' } }));
    // A fresh adapter that has not observed the dataset yet: the first job finds its location.
    await h.withWarehouse(false, async (w) => {
      await w.createTable({ dataset, name: 'customer', columns: [{ name: '_key', type: 'STRING', mode: 'REQUIRED' }, { name: 'zip', type: 'STRING', mode: 'NULLABLE' }], labels: { 'managed-by': 'mlbridge' }, deletionProtection: false });
      await w.updateTable(dataset, 'customer', [{ op: 'drop_column', name: 'zip' }]);
      assert.equal(await w.mergeRows(dataset, 'customer', ['_key'], [{ _key: 'k1' }]), { inserted: 1, updated: 0 });
    });
    assert.equal((await rowsOf('customer')).map((r) => r._key), ['k1']);
  });

  Suite('widening a field inside a REPEATED RECORD is a replacement that keeps every element in order', async () => {
    const mk = (qty: 'INT64' | 'FLOAT64', extra: ReturnType<typeof field>[] = []) =>
      bq([customers([field('email', 'STRING', 'REQUIRED'), field('items', 'RECORD', 'REPEATED', { fields: [field('sku', 'STRING'), field('qty', qty), ...extra] })], { deletionProtection: false })]);
    await applySpec(mk('INT64'));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', items: [{ sku: 'b', qty: '2' }, { sku: 'a', qty: '1' }] }]);
    const next = mk('FLOAT64', [field('note', 'STRING')]);
    const c = change(await plan(next), 'customer')!;
    assert.is(c.action, 'replace');
    assert.equal(c.reasons.find((r) => r.forcesReplacement), {
      path: 'columns.items.qty.type',
      rule: 'widen-in-repeated',
      message: 'INT64 → FLOAT64 inside the REPEATED column items: BigQuery cannot change a type inside an ARRAY in place',
      forcesReplacement: true,
    });
    await applySpec(next, { allowDestructive: true });
    assert.equal((await rowsOf('customer')).map((r) => r.items), [[{ sku: 'b', qty: 2, note: null }, { sku: 'a', qty: 1, note: null }]]);
    assert.equal((await plan(next)).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('a replacement that drops a nested field copies the STRUCT field by field and keeps the values', async () => {
    const mk = (fields: ReturnType<typeof field>[], zip: 'STRING' | 'INT64') =>
      bq([customers([field('email', 'STRING', 'REQUIRED'), field('zip', zip), field('address', 'RECORD', 'NULLABLE', { fields })], { deletionProtection: false })]);
    await applySpec(mk([field('street', 'STRING'), field('city', 'STRING')], 'STRING'));
    await merge('customer', [
      { ...sys('k1'), email: 'a@x', zip: '0150', address: { street: 'Storgata 1', city: 'Oslo' } },
      { ...sys('k2'), email: 'b@x', zip: '5003', address: null },
    ]);
    const next = mk([field('city', 'STRING')], 'INT64');
    assert.is(change(await plan(next), 'customer')?.action, 'replace');
    await applySpec(next, { allowDestructive: true });
    assert.equal((await rowsOf('customer')).map((r) => [r._key, r.zip, r.address]), [
      ['k1', '150', { city: 'Oslo' }],
      ['k2', '5003', null],
    ]);
  });

  Suite('61 user labels fit through a replacement that adds deletion protection: 64 labels on the copy', async () => {
    const labels = Object.fromEntries(Array.from({ length: 61 }, (_, i) => [`l${i}`, 'v']));
    const mk = (zip: 'STRING' | 'INT64', deletionProtection: boolean) =>
      bq([customers([field('email', 'STRING', 'REQUIRED'), field('zip', zip)], { labels, deletionProtection })]);
    await applySpec(mk('STRING', false));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', zip: '0150' }]);
    await applySpec(mk('INT64', true), { allowDestructive: true });
    const cur = await table('customer');
    assert.is(Object.keys(cur!.labels).length, 62, '61 and managed-by');
    assert.is(cur?.deletionProtection, true);
    assert.equal((await rowsOf('customer')).map((r) => r.zip), ['150']);
  });

  Suite('a column description of 1,024 characters is stored whole and plans no change afterwards', async () => {
    const s = bq([customers([field('email', 'STRING', 'REQUIRED', { description: 'é'.repeat(1024) })])]);
    await applySpec(s);
    assert.is((await table('customer'))?.columns.find((c) => c.name === 'email')?.description, 'é'.repeat(1024));
    assert.equal((await plan(s)).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('table names are case-sensitive: Customer is a new table beside customer', async () => {
    await applySpec(bq([customers(undefined, { deletionProtection: false })]));
    const renamed = bq([customers(undefined, { deletionProtection: false, tables: { current: 'Customer', raw: 'customer_raw', quarantine: 'customer_quarantine' } })]);
    const p = await plan(renamed);
    assert.equal(
      p.changes.filter((c) => c.action !== 'no-op').map((c) => `${c.action} ${c.address}`),
      [`create ${addr('Customer')}`, `delete ${addr('customer')}`],
    );
    await applySpec(renamed, { allowDestructive: true });
    assert.is((await table('Customer'))?.name, 'Customer');
    assert.is(await table('customer'), null);
    assert.equal((await plan(renamed)).summary, { add: 0, change: 0, destroy: 0 });
  });

  Suite('partition expiration and require-partition-filter change in place, and the next plan is empty', async () => {
    const mk = (partitioning: NonNullable<Parameters<typeof mapping>[2]>['partitioning']) =>
      bq([customers([field('email', 'STRING', 'REQUIRED'), field('created_at', 'TIMESTAMP')], { partitioning })]);
    await applySpec(mk({ type: 'DAY', field: 'created_at' }));
    await merge('customer', [{ ...sys('k1'), email: 'a@x', created_at: '2026-01-02T00:00:00Z' }]);
    const on = mk({ type: 'DAY', field: 'created_at', expirationDays: 3650, requireFilter: true });
    const c = change(await plan(on), 'customer')!;
    assert.equal([c.action, c.destructive], ['update', false]);
    assert.equal(c.ops, [{ op: 'set_partition_options', expirationDays: 3650, requireFilter: true }]);
    assert.equal(c.reasons, [{ path: 'partitioning', rule: 'partition-options', message: 'partition expiration none → 3650d, require partition filter off → on change in place' }]);
    await applySpec(on);
    assert.equal((await table('customer'))?.partitioning, { type: 'DAY', field: 'created_at', expirationDays: 3650, requireFilter: true });
    assert.equal((await plan(on)).summary, { add: 0, change: 0, destroy: 0 });
    const off = mk({ type: 'DAY', field: 'created_at' });
    await applySpec(off);
    assert.equal((await table('customer'))?.partitioning, { type: 'DAY', field: 'created_at' });
    assert.equal((await plan(off)).summary, { add: 0, change: 0, destroy: 0 });
    assert.equal((await rowsOf('customer')).map((r) => r._key), ['k1'], 'the rows stayed');
  });
}
