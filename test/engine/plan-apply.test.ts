import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, createPlan, executorFor, readPlanFile, writePlanFile } from '../../src/engine/index.js';
import type { MlbridgeError } from '../../src/model/errors.js';
import type { EngineEvent } from '../../src/engine/events.js';
import type { Change, Plan, TableChange } from '../../src/engine/plan.js';
import type { ColumnSchema } from '../../src/model/schema.js';
import type { Warehouse, Row } from '../../src/warehouse/warehouse.js';
import type { Spec } from '../../src/spec/types.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';
import { rejects } from '../support/rejects.js';
import { overrideWarehouse } from '../support/warehouse-override.js';

const Suite = suite('plan and apply on a DuckDB file');

let ctx: ReturnType<typeof tempDir>;
Suite.before.each(() => {
  ctx = tempDir();
});
Suite.after.each(() => ctx.cleanup());

const plan = (s: Spec, targets?: string[]) => withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }, targets ? { targets } : {}));
const applySpec = (s: Spec, opts: Parameters<typeof apply>[2] = {}) => withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, opts));
const table = (s: Spec, name: string) => withWarehouse(s, true, (w) => w.getTable('analytics', name));
const cols = (cs: ColumnSchema[] | undefined) => (cs ?? []).map((c) => `${c.name} ${c.type} ${c.mode}`);
const rowsOf = (s: Spec, name: string) =>
  withWarehouse(s, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('analytics', name)) out.push(r);
    return out;
  });
const merge = (s: Spec, name: string, rows: Row[]) => withWarehouse(s, false, (w) => w.mergeRows('analytics', name, ['_key'], rows));
const sys = (key: string) => ({ _key: key, _version: '1', _hash: 'h', _synced_at: '2026-01-01T00:00:00Z' });
const change = (p: Plan, address: string) => p.changes.find((c) => c.address === address) as TableChange | undefined;

const customers = (fields = [field('email', 'STRING', 'REQUIRED'), field('age', 'INT64')], o: Parameters<typeof mapping>[2] = {}) =>
  mapping('Customer', fields, o);

Suite('a plan from an empty target adds the dataset, three tables per mapping and the shared profiles and rejected-events tables, and creates no file', async () => {
  const s = spec(ctx.db, [customers()]);
  const p = await plan(s);
  assert.equal(p.summary, { add: 6, change: 0, destroy: 0 });
  assert.equal(
    p.changes.map((c) => `${c.action} ${c.address}`),
    [
      'create duckdb_dataset.analytics',
      'create duckdb_table.analytics.customer',
      'create duckdb_table.analytics.customer_raw',
      'create duckdb_table.analytics.customer_quarantine',
      'create duckdb_table.analytics._mlbridge_profiles',
      'create duckdb_table.analytics._mlbridge_rejected',
    ],
  );
  assert.equal(p.fingerprints['duckdb_table.analytics.customer'], 'absent');
  assert.not.ok(existsSync(ctx.db), 'plan must not create the DuckDB file');
});

Suite('apply creates the tables with the exact columns and a second plan shows no changes', async () => {
  const s = spec(ctx.db, [customers()]);
  const events: EngineEvent['type'][] = [];
  const r = await applySpec(s, { onEvent: (e) => events.push(e.type) });
  assert.ok(r.applied);
  assert.equal(r.summary, { add: 6, change: 0, destroy: 0 });
  assert.ok(events.includes('lock-acquired') && events.includes('change-done') && events.at(-1) === 'apply-done');
  const t = await table(s, 'customer');
  assert.equal(cols(t?.columns), [
    '_key STRING REQUIRED',
    '_version INT64 REQUIRED',
    '_hash STRING REQUIRED',
    '_synced_at TIMESTAMP REQUIRED',
    '_score FLOAT64 NULLABLE',
    'email STRING REQUIRED',
    'age INT64 NULLABLE',
  ]);
  assert.equal(t?.clustering, ['_key']);
  assert.ok(t?.owned);
  assert.equal(t?.deletionProtection, true);
  const raw = await table(s, 'customer_raw');
  assert.equal(cols(raw?.columns), [
    'event_id STRING REQUIRED',
    '_key STRING REQUIRED',
    'operation STRING REQUIRED',
    'origin STRING REQUIRED',
    'event_time TIMESTAMP NULLABLE',
    'ingest_time TIMESTAMP REQUIRED',
    'data JSON NULLABLE',
    'score FLOAT64 NULLABLE',
    'flags STRING REPEATED',
  ]);
  assert.equal(raw?.partitioning, { type: 'DAY', field: 'ingest_time' });
  assert.equal(cols((await table(s, 'customer_quarantine'))?.columns).at(-1), 'reason STRING NULLABLE');
  assert.equal(cols((await table(s, '_mlbridge_profiles'))?.columns), [
    'mapping STRING REQUIRED',
    'updated_at TIMESTAMP REQUIRED',
    'sample_count INT64 REQUIRED',
    'profile JSON NULLABLE',
  ]);
  const rejected = await table(s, '_mlbridge_rejected');
  assert.equal(cols(rejected?.columns).slice(-2), ['reason STRING NULLABLE', 'kind STRING NULLABLE']);
  assert.equal(rejected?.deletionProtection, true);
  const again = await plan(s);
  assert.equal(again.summary, { add: 0, change: 0, destroy: 0 });
  assert.ok(again.changes.every((c) => c.action === 'no-op'));
});

Suite('adding a column is an in-place update and the column is there after apply', async () => {
  await applySpec(spec(ctx.db, [customers()]));
  const s2 = spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('city', 'STRING')])]);
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'update');
  assert.is(c.destructive, false);
  assert.equal(c.ops, [{ op: 'add_column', parent: [], column: { name: 'city', type: 'STRING', mode: 'NULLABLE' } }]);
  assert.equal(p.summary, { add: 0, change: 1, destroy: 0 });
  await applySpec(s2);
  assert.equal(cols((await table(s2, 'customer'))?.columns).at(-1), 'city STRING NULLABLE');
  assert.equal((await plan(s2)).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('STRING → INT64 plans a replacement naming the rule, is refused without allowDestructive, and carries rows with CAST', async () => {
  const mk = (t: 'STRING' | 'INT64') => spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('zip', t)], { deletionProtection: false })]);
  await applySpec(mk('STRING'));
  await merge(mk('STRING'), 'customer', [{ ...sys('k1'), email: 'a@x', zip: '1234' }]);
  const s2 = mk('INT64');
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'replace');
  assert.ok(c.destructive);
  const r = c.reasons.find((x) => x.forcesReplacement)!;
  assert.is(r.rule, 'type-change-not-widening');
  assert.is(r.message, 'STRING → INT64 is not a widening BigQuery allows in place');
  assert.is(r.path, 'columns.zip.type');
  assert.equal(p.summary, { add: 1, change: 0, destroy: 1 });

  const err = await rejects(applySpec(s2));
  assert.is(err.code, 'DESTRUCTIVE_REFUSED');
  assert.match(err.message, 'duckdb_table.analytics.customer (replace): STRING → INT64 is not a widening BigQuery allows in place [type-change-not-widening]');
  assert.is(cols((await table(s2, 'customer'))?.columns).at(-1), 'zip STRING NULLABLE', 'target untouched');

  const done = await applySpec(s2, { allowDestructive: true });
  assert.ok(done.applied);
  assert.is(cols((await table(s2, 'customer'))?.columns).at(-1), 'zip INT64 NULLABLE');
  const rows = await rowsOf(s2, 'customer');
  assert.equal(rows.map((x) => [x._key, x.email, x.zip]), [['k1', 'a@x', '1234']]);
  assert.equal((await plan(s2)).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('INT64 → NUMERIC widens in place and keeps the rows', async () => {
  const mk = (t: 'INT64' | 'NUMERIC') => spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('age', t)])]);
  await applySpec(mk('INT64'));
  await merge(mk('INT64'), 'customer', [{ ...sys('k1'), email: 'a@x', age: '42' }]);
  const p = await plan(mk('NUMERIC'));
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'update');
  assert.is(c.destructive, false);
  assert.equal(c.ops, [{ op: 'widen_column', path: ['age'], from: 'INT64', to: 'NUMERIC' }]);
  await applySpec(mk('NUMERIC'));
  assert.is(cols((await table(mk('NUMERIC'), 'customer'))?.columns).at(-1), 'age NUMERIC NULLABLE');
  assert.equal((await rowsOf(mk('NUMERIC'), 'customer')).map((r) => r.age), ['42']);
});

Suite('a declared rename renames the column in place and keeps its values', async () => {
  await applySpec(spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('name', 'STRING')])]));
  await merge(spec(ctx.db, [customers()]), 'customer', [{ ...sys('k1'), email: 'a@x', name: 'Ada' }]);
  const s2 = spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('customer_name', 'STRING', 'NULLABLE', { renamedFrom: 'name' })])]);
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'update');
  assert.equal(c.ops, [{ op: 'rename_column', from: 'name', to: 'customer_name' }]);
  assert.is(c.reasons[0]!.rule, 'declared-rename');
  await applySpec(s2);
  assert.equal((await rowsOf(s2, 'customer')).map((r) => r.customer_name), ['Ada']);
});

Suite('reordered fields and differently cased names are not a change', async () => {
  await applySpec(spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('age', 'INT64')])]));
  const p = await plan(spec(ctx.db, [customers([field('AGE', 'INT64'), field('email', 'STRING', 'REQUIRED')])]));
  assert.equal(p.summary, { add: 0, change: 0, destroy: 0 });
});

Suite('a removed column is a destructive drop: refused without allowDestructive, dropped with it', async () => {
  await applySpec(spec(ctx.db, [customers()]));
  const s2 = spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED')])]);
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'update');
  assert.ok(c.destructive);
  assert.equal(c.ops, [{ op: 'drop_column', name: 'age' }]);
  const err = await rejects(applySpec(s2));
  assert.is(err.code, 'DESTRUCTIVE_REFUSED');
  assert.match(err.message, 'duckdb_table.analytics.customer (update): drops the column age and its data');
  await applySpec(s2, { allowDestructive: true });
  assert.equal(cols((await table(s2, 'customer'))?.columns).at(-1), 'email STRING REQUIRED');
});

Suite('an owned table no longer in the spec is planned for deletion; an unowned table is never touched', async () => {
  const both = spec(ctx.db, [customers(), mapping('Order', [field('total', 'NUMERIC')], { deletionProtection: false })]);
  await applySpec(both);
  await withWarehouse(both, false, (w) =>
    w.createTable({ dataset: 'analytics', name: 'hand_made', columns: [{ name: 'x', type: 'STRING', mode: 'NULLABLE' }], labels: {}, deletionProtection: false }),
  );
  const s2 = spec(ctx.db, [customers()]);
  const p = await plan(s2);
  const deleted = p.changes.filter((c) => c.action === 'delete').map((c) => c.address).sort();
  assert.equal(deleted, ['duckdb_table.analytics.order', 'duckdb_table.analytics.order_quarantine', 'duckdb_table.analytics.order_raw']);
  assert.ok(p.changes.every((c) => !c.address.includes('hand_made')));
  assert.equal(p.summary, { add: 0, change: 0, destroy: 3 });
  await applySpec(s2, { allowDestructive: true });
  const names = await withWarehouse(s2, true, async (w) => (await w.listTables('analytics')).map((t) => t.name).sort());
  assert.equal(names, ['_mlbridge_profiles', '_mlbridge_rejected', 'customer', 'customer_quarantine', 'customer_raw', 'hand_made']);
});

Suite('deletion protection blocks deleting a table, even with allowDestructive', async () => {
  await applySpec(spec(ctx.db, [customers(), mapping('Order', [field('total', 'NUMERIC')])]));
  const s2 = spec(ctx.db, [customers()]);
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.order')!;
  assert.is(c.action, 'delete');
  assert.match(c.blocked ?? '', 'has deletion protection and cannot be deleted');
  assert.ok(c.reasons.some((r) => r.rule === 'deletion-protection'));
  const err = await rejects(applySpec(s2, { allowDestructive: true }));
  assert.is(err.code, 'DESTRUCTIVE_REFUSED');
  assert.match(err.message, 'Deletion protection prevents these changes (nothing was applied):\n  - duckdb_table.analytics.order has deletion protection and cannot be deleted;');
  assert.ok(await table(s2, 'order'), 'the protected table is still there');
});

Suite('plan counts the rows a replacement cannot copy into a stricter schema, and apply refuses it with nothing changed', async () => {
  const mk = (fields: ReturnType<typeof field>[]) => spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('segment', 'STRING'), ...fields], { deletionProtection: false })]);
  await applySpec(mk([]));
  await merge(mk([]), 'customer', [{ ...sys('k1'), email: 'a@x', segment: 'returning' }, { ...sys('k2'), email: 'b@x', segment: '3' }]);
  const s2 = spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('segment', 'INT64'), field('customer', 'STRING', 'REQUIRED')], { deletionProtection: false })]);
  const p = await plan(s2);
  assert.is(change(p, 'duckdb_table.analytics.customer')?.action, 'replace');
  assert.equal(
    p.diagnostics.filter((d) => d.severity === 'error').map((d) => d.summary),
    [
      'duckdb_table.analytics.customer cannot be replaced: 1 existing row holds a value in column segment that cannot be converted from STRING to INT64; fix or delete those rows, or keep segment STRING',
      'duckdb_table.analytics.customer cannot be replaced: 2 existing rows would hold NULL in the new column customer, which the spec makes REQUIRED; add customer as NULLABLE first, apply (which fills it), then make it REQUIRED',
    ],
  );
  assert.is(p.diagnostics[0]!.detail, "The replacement copies the table's rows before apply writes any data, so apply would refuse it and keep the old table.");
  const err = await rejects(applySpec(s2, { allowDestructive: true }));
  assert.is(err.code, 'APPLY_FAILED');
  assert.is(err.message, `Cannot apply: ${p.diagnostics[0]!.summary}`);
  assert.equal(cols((await table(s2, 'customer'))?.columns).slice(-2), ['email STRING REQUIRED', 'segment STRING NULLABLE']);
  assert.equal((await rowsOf(s2, 'customer')).map((r) => r.segment), ['returning', '3']);
  // The two-step way out: the column NULLABLE first, its rows filled, then REQUIRED plans clean and applies.
  await applySpec(mk([field('customer', 'STRING')]));
  await merge(mk([]), 'customer', [{ ...sys('k1'), email: 'a@x', segment: 'returning', customer: 'c1' }, { ...sys('k2'), email: 'b@x', segment: '3', customer: 'c2' }]);
  const s3 = mk([field('customer', 'STRING', 'REQUIRED')]);
  assert.equal((await plan(s3)).diagnostics.filter((d) => d.severity === 'error'), []);
  await applySpec(s3, { allowDestructive: true });
  assert.equal((await rowsOf(s3, 'customer')).map((r) => r.customer), ['c1', 'c2']);
});

Suite('deletion protection blocks a replacement unless the spec now turns it off', async () => {
  const mk = (t: 'STRING' | 'INT64', deletionProtection: boolean) => spec(ctx.db, [customers([field('zip', t)], { deletionProtection })]);
  await applySpec(mk('STRING', true));
  const err = await rejects(applySpec(mk('INT64', true), { allowDestructive: true }));
  assert.match(err.message, '\n  - duckdb_table.analytics.customer has deletion protection and this change replaces it; set deletion_protection: false on mapping Customer');
  const r = await applySpec(mk('INT64', false), { allowDestructive: true });
  assert.ok(r.applied);
  const t = await table(mk('INT64', false), 'customer');
  assert.is(t?.deletionProtection, false);
  assert.is(cols(t?.columns).at(-1), 'zip INT64 NULLABLE');
});

Suite('a saved plan is refused when the target changed after the plan was made', async () => {
  const s = spec(ctx.db, [customers()]);
  await applySpec(s);
  const s2 = spec(ctx.db, [customers([field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('city', 'STRING')])]);
  const saved = await plan(s2);
  await withWarehouse(s, false, (w) => w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: [], column: { name: 'sneaky', type: 'STRING', mode: 'NULLABLE' } }]));
  const err = await rejects(applySpec(s2, { savedPlan: saved }));
  assert.is(err.code, 'PLAN_STALE');
  assert.is(err.message, 'Saved plan is stale: duckdb_table.analytics.customer changed since the plan was made');
  assert.not.ok(cols((await table(s, 'customer'))?.columns).includes('city STRING NULLABLE'));
});

Suite('a saved plan is refused when the spec file changed, and applied when nothing changed', async () => {
  const file = join(ctx.dir, 'mlbridge.yaml');
  writeFileSync(file, 'version: 1\n');
  const s = spec(ctx.db, [customers()], { files: [file] });
  const saved = await plan(s);
  writeFileSync(file, 'version: 1\n# edited\n');
  const err = await rejects(applySpec(s, { savedPlan: saved }));
  assert.is(err.message, 'Saved plan is stale: the spec changed since the plan was made');
  const fresh = await plan(s);
  const r = await applySpec(s, { savedPlan: fresh });
  assert.ok(r.applied);
  assert.equal(r.summary, { add: 6, change: 0, destroy: 0 });
});

Suite('a plan file round-trips and a bad one is PLAN_INVALID', async () => {
  const s = spec(ctx.db, [customers()]);
  const p = await plan(s);
  const file = join(ctx.dir, 'plan.json');
  await writePlanFile(file, p);
  assert.equal(await readPlanFile(file), p);
  writeFileSync(file, '{"formatVersion":"1"}');
  const err = await rejects(readPlanFile(file));
  assert.is(err.code, 'PLAN_INVALID');
  assert.match(err.message, 'is not a valid mlbridge plan: missing target');
  writeFileSync(file, 'not json');
  assert.is((await rejects(readPlanFile(file))).code, 'PLAN_INVALID');
});

Suite('a change type without an executor is NO_EXECUTOR naming the type and the change', () => {
  // A saved plan cannot smuggle one in (it must equal the fresh plan, see saved-plan.test.ts):
  // only a planner producing a type no module executes would reach this.
  const bogus = { type: 'bogus', address: 'bogus.Customer', action: 'create' } as unknown as Change;
  try {
    executorFor(bogus);
    assert.unreachable('expected NO_EXECUTOR');
  } catch (e) {
    assert.is((e as MlbridgeError).code, 'NO_EXECUTOR');
    assert.is((e as Error).message, 'No executor for change type "bogus" (bogus.Customer); this mlbridge cannot apply it');
  }
});

Suite('declining approval applies nothing', async () => {
  const s = spec(ctx.db, [customers()]);
  let asked = 0;
  const r = await applySpec(s, { approve: async () => (asked++, false) });
  assert.is(asked, 1);
  assert.is(r.applied, false);
  assert.is(await table(s, 'customer'), null);
});

Suite('--target limits the plan to matching addresses plus the dataset they need', async () => {
  const s = spec(ctx.db, [customers()]);
  const p = await plan(s, ['duckdb_table.analytics.customer_raw']);
  assert.equal(p.changes.map((c) => c.address), ['duckdb_dataset.analytics', 'duckdb_table.analytics.customer_raw']);
  const r = await applySpec(s, { targets: ['duckdb_table.analytics.customer_raw'] });
  assert.equal(r.summary, { add: 2, change: 0, destroy: 0 });
  assert.is(await table(s, 'customer'), null);
});

Suite('user identifiers are quoted: a kind "Order-Item v2", a hyphenated table, columns with a space and a hyphen', async () => {
  const m = mapping('Order-Item v2', [field('unit price', 'NUMERIC'), field('item-count', 'INT64'), field('a"quote', 'STRING')], {
    tables: { current: 'order-items', raw: 'order-items raw', quarantine: 'order-items-q' },
  });
  const s = spec(ctx.db, [m], { target: { kind: 'duckdb', path: ctx.db, dataset: 'my-data set' } });
  await applySpec(s);
  await withWarehouse(s, false, (w) =>
    w.mergeRows('my-data set', 'order-items', ['_key'], [{ ...sys('k1'), 'unit price': '9.5', 'item-count': '3', 'a"quote': 'q' }]),
  );
  const rows = await withWarehouse(s, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('my-data set', 'order-items')) out.push(r);
    return out;
  });
  assert.equal(rows.map((r) => [r['unit price'], r['item-count'], r['a"quote']]), [['9.5', '3', 'q']]);
  assert.equal((await plan(s)).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('a new nested RECORD field is added in place and existing nested values are kept', async () => {
  const addr = (extra: ReturnType<typeof field>[] = []) =>
    field('address', 'RECORD', 'NULLABLE', { fields: [field('street', 'STRING', 'REQUIRED'), field('zip', 'STRING'), ...extra] });
  const s1 = spec(ctx.db, [customers([field('email', 'STRING'), addr(), field('price', 'NUMERIC')])]);
  await applySpec(s1);
  await merge(s1, 'customer', [{ ...sys('k1'), email: 'a@x', address: { street: 'Main', zip: '1' }, price: '1.5' }]);
  const s2 = spec(ctx.db, [customers([field('email', 'STRING'), addr([field('city', 'STRING')]), field('price', 'BIGNUMERIC')])]);
  const p = await plan(s2);
  const c = change(p, 'duckdb_table.analytics.customer')!;
  assert.is(c.action, 'update');
  assert.equal(c.ops, [
    { op: 'widen_column', path: ['price'], from: 'NUMERIC', to: 'BIGNUMERIC' },
    { op: 'add_column', parent: ['address'], column: { name: 'city', type: 'STRING', mode: 'NULLABLE' } },
  ]);
  await applySpec(s2);
  const t = await table(s2, 'customer');
  assert.equal(cols(t?.columns.find((x) => x.name === 'address')?.fields), ['street STRING REQUIRED', 'zip STRING NULLABLE', 'city STRING NULLABLE']);
  assert.equal((await rowsOf(s2, 'customer')).map((r) => [r.address, r.price]), [[{ street: 'Main', zip: '1', city: null }, '1.5']]);
  assert.equal((await plan(s2)).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('a failing change stops apply with APPLY_FAILED naming it; completed changes stay and a re-run converges', async () => {
  const s = spec(ctx.db, [customers()]);
  const events: string[] = [];
  const err = await rejects(
    withWarehouse(s, false, (real) => {
      // The real warehouse, except that creating the quarantine table fails.
      const createTable: Warehouse['createTable'] = async (t) => {
        if (t.name === 'customer_quarantine') throw new Error('disk full');
        return real.createTable(t);
      };
      const flaky = overrideWarehouse(real, { createTable });
      return apply(s, { warehouse: flaky }, { onEvent: (e) => e.type.startsWith('change-') && events.push(`${e.type} ${'address' in e ? e.address : ''}`) });
    }),
  );
  assert.is(err.code, 'APPLY_FAILED');
  assert.is(err.resource, 'duckdb_table.analytics.customer_quarantine');
  assert.is(err.message, 'Error applying duckdb_table.analytics.customer_quarantine (create): disk full\nThe 3 changes before it were applied; fix the cause and run apply again to continue.');
  assert.is(events.at(-1), 'change-failed duckdb_table.analytics.customer_quarantine');
  assert.ok(await table(s, 'customer_raw'), 'changes before the failure are kept');
  assert.is(await table(s, '_mlbridge_profiles'), null, 'changes after the failure are not attempted');
  const again = await plan(s);
  assert.equal(again.summary, { add: 3, change: 0, destroy: 0 });
  await applySpec(s);
  assert.equal((await plan(s)).summary, { add: 0, change: 0, destroy: 0 });
});

Suite.run();
