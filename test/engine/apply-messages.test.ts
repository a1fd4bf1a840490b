// What apply tells the user when it stops: a failure on the very first change must not
// claim that earlier changes were applied; a --target typo is named, not silently empty.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';
import { rejects } from '../support/rejects.js';

const Suite = suite('apply and plan messages');

let ctx: ReturnType<typeof tempDir>;
Suite.before.each(() => {
  ctx = tempDir();
});
Suite.after.each(() => ctx.cleanup());

/** The real warehouse, except that one method throws `message`. */
function failing(real: Warehouse, method: keyof Warehouse, message: string): Warehouse {
  return new Proxy(real, {
    get: (target, prop) => {
      if (prop === method) return async () => Promise.reject(new Error(message));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

Suite('a failure on the first change says nothing was applied', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const err = await rejects(withWarehouse(s, false, (real) => apply(s, { warehouse: failing(real, 'createDataset', 'disk full') }, {})));
  assert.is(err.code, 'APPLY_FAILED');
  assert.is(err.message, 'Error applying duckdb_dataset.analytics (create): disk full\nNothing was applied; fix the cause and run apply again.');
});

Suite('a --target that matches no resource is INVALID_ARGUMENT naming it and the known addresses', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const err = await rejects(withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }, { targets: ['duckdb_table.analytics.nope'] })));
  assert.is(err.code, 'INVALID_ARGUMENT');
  assert.is(
    err.message,
    '--target duckdb_table.analytics.nope matches no resource of this spec or target. Resources:\n' +
      '  duckdb_table.analytics.customer\n  duckdb_table.analytics.customer_raw\n' +
      '  duckdb_table.analytics.customer_quarantine\n  duckdb_table.analytics._mlbridge_profiles\n  duckdb_table.analytics._mlbridge_rejected\n' +
      '  duckdb_dataset.analytics',
  );
  assert.not.ok(existsSync(ctx.db));
});

Suite('a --target prefix with a trailing dot selects what the prefix without it selects', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const p = await withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }, { targets: ['duckdb_table.analytics.customer_raw.'] }));
  assert.equal(p.changes.map((c) => c.address), ['duckdb_dataset.analytics', 'duckdb_table.analytics.customer_raw']);
});

Suite('removing the last mapping deletes its tables and keeps the shared profiles and rejected-events tables, so apply is not blocked', async () => {
  const one = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')], { deletionProtection: false })]);
  await withWarehouse(one, false, (warehouse) => apply(one, { warehouse }, {}));
  const none = spec(ctx.db, []);
  const p = await withWarehouse(none, true, (warehouse) => createPlan(none, { warehouse }));
  assert.equal(
    p.changes.filter((c) => c.action !== 'no-op').map((c) => `${c.action} ${c.address}${c.blocked ? ' (blocked)' : ''}`),
    ['delete duckdb_table.analytics.customer', 'delete duckdb_table.analytics.customer_quarantine', 'delete duckdb_table.analytics.customer_raw'],
  );
  const r = await withWarehouse(none, false, (warehouse) => apply(none, { warehouse }, { allowDestructive: true }));
  assert.equal(r.summary, { add: 0, change: 0, destroy: 3 });
  const left = await withWarehouse(none, true, (w) => w.listTables('analytics'));
  assert.equal(left.map((t) => t.name), ['_mlbridge_profiles', '_mlbridge_rejected']);
});

Suite.run();
