// The foundation plan/apply scenarios with `target: bigquery`, written once and run twice:
// against the REST fake (test/warehouse/bigquery-engine.test.ts) and against a real
// project (test/live/bigquery.live.test.ts). Each scenario gets a fresh, empty dataset.
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Plan, TableChange } from '../../src/engine/plan.js';
import type { ColumnSchema } from '../../src/model/schema.js';
import type { Spec } from '../../src/spec/types.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec } from '../engine/fixtures/factories.js';

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
