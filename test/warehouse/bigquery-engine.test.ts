// plan/apply with `target: bigquery` end to end: engine → openWarehouse → BigQuery adapter
// → @google-cloud/bigquery → REST fake (found through BIGQUERY_EMULATOR_HOST).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openWarehouse } from '../../src/warehouse/open.js';
import { field, mapping } from '../engine/fixtures/factories.js';
import { cols, helpers, sys, registerDataScenarios, registerFidelityScenarios, registerScenarios, rejects, type ScenarioTarget } from '../live/bigquery-scenarios.js';
import { startBigQueryFake, type BigQueryFake } from '../support/bigquery-fake.js';

const Suite = suite('plan and apply with target bigquery against the REST fake');

type RetryInfo = { resource: string; call: string; attempt: number; delayMs: number; error: string };
let fake: BigQueryFake;
let retries: RetryInfo[];
const saved = { host: process.env.BIGQUERY_EMULATOR_HOST, attempts: process.env.MLBRIDGE_BIGQUERY_MAX_ATTEMPTS };

Suite.before.each(async () => {
  fake = await startBigQueryFake({ project: 'proj-1' });
  process.env.BIGQUERY_EMULATOR_HOST = fake.endpoint;
  process.env.MLBRIDGE_BIGQUERY_MAX_ATTEMPTS = '4';
  retries = [];
});
Suite.after.each(async () => {
  await fake.stop();
  for (const [k, v] of [['BIGQUERY_EMULATOR_HOST', saved.host], ['MLBRIDGE_BIGQUERY_MAX_ATTEMPTS', saved.attempts]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const target = (): ScenarioTarget => ({
  project: 'proj-1',
  dataset: 'analytics',
  location: 'US',
  open: (readOnly) => openWarehouse({ kind: 'bigquery', project: 'proj-1', dataset: 'analytics', location: 'US' }, { readOnly, onRetry: (i) => retries.push(i) }),
});
registerScenarios(Suite, target);
registerFidelityScenarios(Suite, target);
registerDataScenarios(Suite, target);

const h = helpers(target);
const customers = (extra: ReturnType<typeof field>[] = []) => h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), ...extra])]);

Suite('plan only reads: no insert, patch, delete or job call reaches BigQuery', async () => {
  await h.applySpec(customers());
  fake.calls.length = 0;
  await h.plan(customers([field('city', 'STRING')]));
  assert.equal([...new Set(fake.calls)].sort(), ['datasets.get', 'tables.get', 'tables.list']);
});

Suite('apply goes through three consecutive 403 rateLimitExceeded on tables.patch, each retry reported', async () => {
  await h.applySpec(customers());
  fake.failNext('tables.patch', { reason: 'rateLimitExceeded' }, 3);
  const r = await h.applySpec(customers([field('city', 'STRING')]));
  assert.equal(r.summary, { add: 0, change: 1, destroy: 0 });
  assert.equal(retries.map((x) => `${x.resource} ${x.call} attempt ${x.attempt}`), [
    'bigquery_table.analytics.customer tables.patch attempt 1',
    'bigquery_table.analytics.customer tables.patch attempt 2',
    'bigquery_table.analytics.customer tables.patch attempt 3',
  ]);
  assert.is(cols((await h.table('customer'))?.columns).at(-1), 'city STRING NULLABLE');
});

Suite('apply fails cleanly when the 429s outlast the retries, naming the table, the call and the last error', async () => {
  await h.applySpec(customers());
  fake.failNext('tables.patch', { status: 429, reason: 'rateLimitExceeded' }, 10);
  const err = await rejects(h.applySpec(customers([field('city', 'STRING')])));
  assert.is(err.code, 'APPLY_FAILED');
  assert.is(
    err.message.split('\n')[0],
    'Error applying bigquery_table.analytics.customer (update): bigquery_table.analytics.customer: tables.patch failed after 4 attempts: ' +
      'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas (reason: rateLimitExceeded, HTTP 429)',
  );
  assert.is(cols((await h.table('customer'))?.columns).includes('city STRING NULLABLE'), false);
  assert.is(await h.withWarehouse(true, (w) => w.lock().current()), null, 'the lock was released');
});

Suite('a change BigQuery rejects names the table and the rule', async () => {
  const s = h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('score', 'FLOAT64')], { clustering: ['score'] })]);
  const err = await rejects(h.applySpec(s));
  assert.is(
    err.message.split('\n')[0],
    'Error applying bigquery_table.analytics.customer (create): bigquery_table.analytics.customer: tables.insert rejected: ' +
      'Field score is of type FLOAT which is not supported for clustering. (reason: invalid, HTTP 400)',
  );
});

Suite('a second apply while the lock table is held fails at once naming the holder', async () => {
  await h.applySpec(customers());
  const holder = { id: 'abc123', pid: 4242, host: 'build-7', since: '2026-11-23T10:00:00.000Z', operation: 'apply', who: 'ci@build-7' };
  await h.withWarehouse(false, (w) => w.lock().tryAcquire(holder));
  const err = await rejects(h.applySpec(customers([field('city', 'STRING')])));
  assert.is(err.code, 'LOCK_HELD');
  assert.is(err.message, 'Error acquiring the state lock: lock abc123 held by pid 4242 on build-7 since 2026-11-23T10:00:00.000Z (operation: apply)');
  await h.withWarehouse(false, (w) => w.lock().release('abc123'));
  assert.ok((await h.applySpec(customers([field('city', 'STRING')]))).applied);
});

Suite('a replace interrupted after the old table was dropped converges on the next apply, rows intact', async () => {
  const mk = (ty: 'STRING' | 'INT64') => h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('zip', ty)], { deletionProtection: false })]);
  await h.applySpec(mk('STRING'));
  await h.merge('customer', [{ _key: 'k1', _version: '1', _hash: 'h', _synced_at: '2026-01-01T00:00:00Z', email: 'a@x', zip: '1234' }]);
  // jobs.insert #1 and #2 count the rows the copy cannot convert (plan, then replaceTable), #3 copies the rows, #4 renames the copy into place: that one fails.
  fake.failNext('jobs.insert', { status: 403, reason: 'accessDenied', message: 'Access Denied: simulated crash', skip: 3 });
  const err = await rejects(h.applySpec(mk('INT64'), { allowDestructive: true }));
  assert.match(err.message, 'Error applying bigquery_table.analytics.customer (replace)');
  const p = await h.plan(mk('INT64'));
  assert.is(h.change(p, 'customer')?.action, 'create', 'the table is missing; its finished copy is internal');
  await h.applySpec(mk('INT64'), { allowDestructive: true });
  assert.is(cols((await h.table('customer'))?.columns).at(-1), 'zip INT64 NULLABLE');
  assert.equal((await h.rowsOf('customer')).map((r) => [r._key, r.zip]), [['k1', '1234']]);
  assert.equal((await h.plan(mk('INT64'))).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('plan counts the rows a replacement cannot copy into a stricter schema, and apply refuses it with nothing changed', async () => {
  const mk = (fields: ReturnType<typeof field>[]) => h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('segment', 'STRING'), ...fields], { deletionProtection: false })]);
  await h.applySpec(mk([]));
  await h.merge('customer', [{ ...sys('k1'), email: 'a@x', segment: 'returning' }, { ...sys('k2'), email: 'b@x', segment: '3' }]);
  const s2 = h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('segment', 'INT64'), field('customer', 'STRING', 'REQUIRED')], { deletionProtection: false })]);
  const p = await h.plan(s2);
  assert.is(h.change(p, 'customer')?.action, 'replace');
  assert.equal(
    p.diagnostics.filter((d) => d.severity === 'error').map((d) => d.summary),
    [
      'bigquery_table.analytics.customer cannot be replaced: 1 existing row holds a value in column segment that cannot be converted from STRING to INT64; fix or delete those rows, or keep segment STRING',
      'bigquery_table.analytics.customer cannot be replaced: 2 existing rows would hold NULL in the new column customer, which the spec makes REQUIRED; add customer as NULLABLE first, apply (which fills it), then make it REQUIRED',
    ],
  );
  const err = await rejects(h.applySpec(s2, { allowDestructive: true }));
  assert.is(err.code, 'APPLY_FAILED');
  assert.is(err.message, `Cannot apply: ${p.diagnostics.find((d) => d.severity === 'error')!.summary}`);
  assert.is(fake.table('analytics', 'customer__mlbridge_new'), undefined, 'no copy was started');
  assert.equal(cols((await h.table('customer'))?.columns).slice(-2), ['email STRING REQUIRED', 'segment STRING NULLABLE']);
  assert.equal((await h.rowsOf('customer')).map((r) => r.segment), ['returning', '3']);
});

for (const echo of ['nested', 'both'] as const) {
  Suite(`a plan after turning on require-partition-filter is empty when BigQuery echoes it ${echo === 'nested' ? 'only inside timePartitioning' : 'at both levels'}`, async () => {
    await fake.stop();
    fake = await startBigQueryFake({ project: 'proj-1', requireFilterEcho: echo });
    process.env.BIGQUERY_EMULATOR_HOST = fake.endpoint;
    const mk = (requireFilter: boolean) =>
      h.bq([mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('created_at', 'TIMESTAMP')], { partitioning: { type: 'DAY', field: 'created_at', requireFilter } })]);
    await h.applySpec(mk(false));
    assert.is(h.change(await h.plan(mk(true)), 'customer')?.action, 'update');
    await h.applySpec(mk(true));
    assert.equal((await h.plan(mk(true))).summary, { add: 0, change: 0, destroy: 0 });
  });
}

Suite.run();
