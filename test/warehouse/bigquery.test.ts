// The BigQuery adapter through the official client against the REST fake: observe/create
// round trips, every TableOp, replace, rows, quoting, retries, timeouts, rejections, lock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBigQueryWarehouse, type BigQueryWarehouseOptions } from '../../src/warehouse/bigquery.js';
import type { ColumnSchema, TableSchema } from '../../src/model/schema.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { startBigQueryFake, type BigQueryFake } from '../support/bigquery-fake.js';
import { rejects } from '../support/rejects.js';
import { withNoCredentials } from '../support/no-credentials.js';

const Suite = suite('BigQuery adapter against the REST fake');

type RetryInfo = { resource: string; call: string; attempt: number; delayMs: number; error: string };
let fake: BigQueryFake;
let retries: RetryInfo[];

Suite.before.each(async () => {
  fake = await startBigQueryFake({ project: 'proj-1', jobPolls: 2 });
  retries = [];
});
Suite.after.each(async () => {
  await fake.stop();
});

const target = { kind: 'bigquery' as const, project: 'proj-1', dataset: 'analytics', location: 'US' };
function open(o: Partial<BigQueryWarehouseOptions> = {}): Promise<Warehouse> {
  return createBigQueryWarehouse(target, {
    readOnly: false,
    env: { BIGQUERY_EMULATOR_HOST: fake.endpoint },
    onRetry: (i) => retries.push(i),
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    jobPollMs: 5,
    ...o,
  });
}
const col = (name: string, type: ColumnSchema['type'], mode: ColumnSchema['mode'] = 'NULLABLE', extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name,
  type,
  mode,
  ...extra,
});
const customer = (extra: Partial<TableSchema> = {}): TableSchema => ({
  dataset: 'analytics',
  name: 'customer',
  columns: [
    col('_key', 'STRING', 'REQUIRED'),
    col('age', 'INT64', 'NULLABLE', { description: 'Age in years' }),
    col('zip', 'STRING'),
    col('created_at', 'TIMESTAMP'),
    col('address', 'RECORD', 'NULLABLE', { fields: [col('street', 'STRING'), col('city', 'STRING', 'REQUIRED')] }),
    col('tags', 'STRING', 'REPEATED'),
  ],
  partitioning: { type: 'DAY', field: 'created_at' },
  clustering: ['_key'],
  labels: { 'managed-by': 'mlbridge', team: 'growth' },
  description: 'Customers',
  deletionProtection: true,
  ...extra,
});
async function setup(w: Warehouse, t: TableSchema = customer()): Promise<void> {
  await w.createDataset({ name: 'analytics', location: 'EU', labels: { 'managed-by': 'mlbridge' } });
  await w.createTable(t);
}
async function rows(w: Warehouse, table = 'customer', dataset = 'analytics'): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of w.readRows(dataset, table)) out.push(r);
  return out.sort((a, b) => String(a._key).localeCompare(String(b._key)));
}
const etagOf = async (w: Warehouse, name = 'customer') => (await w.getTable('analytics', name))!.etag;
const names = (cs: ColumnSchema[] | undefined): string[] =>
  (cs ?? []).map((c) => `${c.name} ${c.type} ${c.mode}${c.fields ? `{${names(c.fields).join(', ')}}` : ''}`);

Suite('a created dataset and table read back with nested fields, partitioning, clustering, labels and deletion protection', async () => {
  const w = await open();
  assert.is(await w.getDataset('analytics'), null);
  await setup(w);
  const ds = await w.getDataset('analytics');
  assert.equal({ location: ds?.location, labels: ds?.labels, owned: ds?.owned }, { location: 'EU', labels: { 'managed-by': 'mlbridge' }, owned: true });
  const t = await w.getTable('analytics', 'customer');
  const want = customer();
  assert.equal(t?.columns, want.columns);
  assert.equal(t?.partitioning, { type: 'DAY', field: 'created_at' });
  assert.equal(t?.clustering, ['_key']);
  assert.equal(t?.labels, { 'managed-by': 'mlbridge', team: 'growth' });
  assert.is(t?.description, 'Customers');
  assert.is(t?.deletionProtection, true);
  assert.is(t?.owned, true);
  assert.ok(t!.etag.length > 0);
  // On the wire: legacy type names and deletion protection as a label.
  const stored = fake.table('analytics', 'customer')!;
  assert.is(stored.schema.fields[1].type, 'INTEGER');
  assert.is(stored.labels['mlbridge-deletion-protection'], 'true');
  assert.equal((await w.listTables('analytics')).map((x) => x.name), ['customer']);
  assert.is(await w.getTable('analytics', 'nope'), null);
});

Suite('rows merge by key and read back with BigQuery value encodings', async () => {
  const w = await open();
  await setup(w, {
    ...customer(),
    columns: [
      col('_key', 'STRING', 'REQUIRED'),
      col('n', 'INT64'),
      col('f', 'FLOAT64'),
      col('price', 'NUMERIC'),
      col('ok', 'BOOL'),
      col('at', 'TIMESTAMP'),
      col('day', 'DATE'),
      col('doc', 'JSON'),
      col('raw', 'BYTES'),
      col('address', 'RECORD', 'NULLABLE', { fields: [col('city', 'STRING')] }),
      col('tags', 'STRING', 'REPEATED'),
    ],
    partitioning: undefined,
  });
  const first = await w.mergeRows('analytics', 'customer', ['_key'], [
    { _key: 'a', n: '9007199254740993', f: 1.5, price: '12.25', ok: true, at: '2026-01-02T03:04:05.123456Z', day: '2026-01-02', doc: { x: [1, 'y'] }, raw: 'aGk=', address: { city: 'Oslo' }, tags: ['p', 'q'] },
    { _key: 'b', n: '2' },
  ]);
  assert.equal(first, { inserted: 2, updated: 0 });
  const second = await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'b', n: '3' }, { _key: 'c', n: '4', doc: 'plain' }]);
  assert.equal(second, { inserted: 1, updated: 1 });
  assert.equal(await rows(w), [
    { _key: 'a', n: '9007199254740993', f: 1.5, price: '12.25', ok: true, at: '2026-01-02T03:04:05.123456Z', day: '2026-01-02', doc: { x: [1, 'y'] }, raw: 'aGk=', address: { city: 'Oslo' }, tags: ['p', 'q'] },
    { _key: 'b', n: '3', f: null, price: null, ok: null, at: null, day: null, doc: null, raw: null, address: null, tags: [] },
    { _key: 'c', n: '4', f: null, price: null, ok: null, at: null, day: null, doc: 'plain', raw: null, address: null, tags: [] },
  ]);
  assert.equal((await w.listTables('analytics')).map((t) => t.name), ['customer'], 'the staging table is gone');
});

Suite('every in-place op applies through tables.patch or DDL and keeps the rows', async () => {
  const w = await open();
  await setup(w, customer({ columns: [...customer().columns, col('legacy', 'STRING'), col('nick', 'STRING')] }));
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', age: '42', address: { city: 'Oslo' }, legacy: 'x', nick: 'Ada' }]);
  await w.updateTable(
    'analytics',
    'customer',
    [
      { op: 'add_column', parent: [], column: col('email', 'STRING') },
      { op: 'add_column', parent: ['address'], column: col('zip', 'STRING') },
      { op: 'relax_column', path: ['address', 'city'] },
      { op: 'set_column_description', path: ['age'], description: 'Age' },
      { op: 'set_description', description: 'All customers' },
      { op: 'set_labels', labels: { 'managed-by': 'mlbridge', owner: 'data' } },
      { op: 'set_clustering', clustering: ['_key', 'zip'] },
      { op: 'set_deletion_protection', enabled: false },
      { op: 'widen_column', path: ['age'], from: 'INT64', to: 'NUMERIC' },
      { op: 'rename_column', from: 'nick', to: 'nickname' },
      { op: 'drop_column', name: 'legacy' },
    ],
    await etagOf(w),
  );
  const t = (await w.getTable('analytics', 'customer'))!;
  assert.equal(names(t.columns), [
    '_key STRING REQUIRED',
    'age NUMERIC NULLABLE',
    'zip STRING NULLABLE',
    'created_at TIMESTAMP NULLABLE',
    'address RECORD NULLABLE{street STRING NULLABLE, city STRING NULLABLE, zip STRING NULLABLE}',
    'tags STRING REPEATED',
    'nickname STRING NULLABLE',
    'email STRING NULLABLE',
  ]);
  assert.is(t.columns[1]!.description, 'Age');
  assert.is(t.description, 'All customers');
  assert.equal(t.labels, { 'managed-by': 'mlbridge', owner: 'data' });
  assert.equal(t.clustering, ['_key', 'zip']);
  assert.is(t.deletionProtection, false);
  const [r] = await rows(w);
  assert.equal([r!.age, r!.nickname, r!.address], ['42', 'Ada', { street: null, city: 'Oslo', zip: null }]);
});

Suite('an update with a stale etag is refused before anything changes', async () => {
  const w = await open();
  await setup(w);
  const before = await etagOf(w);
  await w.updateTable('analytics', 'customer', [{ op: 'set_description', description: 'changed elsewhere' }]);
  const err = await rejects(w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: [], column: col('x', 'STRING') }], before));
  assert.is(err.code, 'TARGET_ERROR');
  assert.match(err.message, /^bigquery_table\.analytics\.customer: the table changed since it was observed \(etag .+ → .+\); run plan again$/);
  assert.not.ok(names((await w.getTable('analytics', 'customer'))!.columns).includes('x STRING NULLABLE'));
});

Suite('replace copies the rows with CAST into the new layout and leaves no helper table behind', async () => {
  const w = await open();
  await setup(w);
  await w.mergeRows('analytics', 'customer', ['_key'], [
    { _key: 'k1', age: '42', zip: '0150', address: { city: 'Oslo' } },
    { _key: 'k2', age: '7', zip: '5003', address: { city: 'Bergen' } },
  ]);
  const desired = customer({
    columns: [col('_key', 'STRING', 'REQUIRED'), col('age', 'INT64'), col('postcode', 'INT64'), col('address', 'RECORD', 'NULLABLE', { fields: [col('street', 'STRING'), col('city', 'STRING', 'REQUIRED')] }), col('note', 'STRING')],
    partitioning: { type: 'MONTH' },
    clustering: ['age'],
  });
  await w.replaceTable(desired, { columnSources: { _key: '_key', age: 'age', postcode: 'zip', address: 'address', note: undefined } }, await etagOf(w));
  const t = (await w.getTable('analytics', 'customer'))!;
  assert.equal(t.columns, desired.columns);
  assert.equal(t.partitioning, { type: 'MONTH' });
  assert.equal(t.clustering, ['age']);
  assert.equal(t.labels, { 'managed-by': 'mlbridge', team: 'growth' }, 'no replace marker left');
  assert.equal((await rows(w)).map((r) => [r._key, r.age, r.postcode, (r.address as Row).city, r.note]), [
    ['k1', '42', '150', 'Oslo', null],
    ['k2', '7', '5003', 'Bergen', null],
  ]);
  assert.is(fake.table('analytics', 'customer__mlbridge_new'), undefined);
});

Suite('a replace into a stricter schema is refused before anything is copied, naming column, rows and what to do', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('segment', 'STRING'), col('zip', 'STRING')], partitioning: undefined }));
  await w.mergeRows('analytics', 'customer', ['_key'], [
    { _key: 'k1', segment: 'returning', zip: null },
    { _key: 'k2', segment: '7', zip: '0150' },
  ]);
  const desired = customer({
    columns: [col('_key', 'STRING', 'REQUIRED'), col('segment', 'INT64'), col('zip', 'STRING', 'REQUIRED'), col('customer', 'STRING', 'REQUIRED')],
    partitioning: undefined,
  });
  const replace = { columnSources: { _key: '_key', segment: 'segment', zip: 'zip', customer: undefined } };
  const expected = [
    { column: 'segment', source: 'segment', rule: 'convert', from: 'STRING', to: 'INT64', rows: 1 },
    { column: 'zip', source: 'zip', rule: 'required', rows: 1 },
    { column: 'customer', rule: 'required', rows: 2 },
  ];
  assert.equal(await w.countUncopyable(desired, replace), expected);
  const before = fake.calls.length;
  const err = await rejects(w.replaceTable(desired, replace));
  assert.is(err.code, 'TARGET_ERROR');
  assert.is(
    err.message,
    'Replacing bigquery_table.analytics.customer failed; the old table and its rows are kept: ' +
      '1 existing row holds a value in column segment that cannot be converted from STRING to INT64; fix or delete those rows, or keep segment STRING; ' +
      '1 existing row holds NULL in column zip, which the spec makes REQUIRED; fill or delete those rows, or keep zip NULLABLE; ' +
      '2 existing rows would hold NULL in the new column customer, which the spec makes REQUIRED; add customer as NULLABLE first, apply (which fills it), then make it REQUIRED',
  );
  assert.equal(err.details, { uncopyable: expected });
  assert.not.ok(fake.calls.slice(before).includes('tables.insert'), 'no copy was started');
  assert.equal(names((await w.getTable('analytics', 'customer'))!.columns), ['_key STRING REQUIRED', 'segment STRING NULLABLE', 'zip STRING NULLABLE']);
  assert.equal((await rows(w)).map((r) => [r._key, r.segment, r.zip]), [['k1', 'returning', null], ['k2', '7', '0150']]);
});

Suite('a replace whose rows all fit the stricter schema counts none and copies them', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('zip', 'STRING')], partitioning: undefined }));
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', zip: '0150' }]);
  const desired = customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('zip', 'INT64', 'REQUIRED')], partitioning: undefined });
  const replace = { columnSources: { _key: '_key', zip: 'zip' } };
  assert.equal(await w.countUncopyable(desired, replace), []);
  await w.replaceTable(desired, replace);
  assert.equal((await rows(w)).map((r) => r.zip), ['150']);
});

Suite('a replace whose CAST would fail keeps the old table and data and names the table and the column', async () => {
  const w = await open();
  await setup(w);
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', zip: 'N1 9GU' }]);
  const desired = customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('zip', 'INT64')], partitioning: undefined });
  const err = await rejects(w.replaceTable(desired, { columnSources: { _key: '_key', zip: 'zip' } }));
  assert.is(err.code, 'TARGET_ERROR');
  assert.is(
    err.message,
    'Replacing bigquery_table.analytics.customer failed; the old table and its rows are kept: ' +
      '1 existing row holds a value in column zip that cannot be converted from STRING to INT64; fix or delete those rows, or keep zip STRING',
  );
  assert.equal(names((await w.getTable('analytics', 'customer'))!.columns).slice(0, 3), ['_key STRING REQUIRED', 'age INT64 NULLABLE', 'zip STRING NULLABLE']);
  assert.equal((await rows(w)).map((r) => r.zip), ['N1 9GU']);
  assert.is(fake.table('analytics', 'customer__mlbridge_new'), undefined, 'the unfinished copy is not left in the dataset');
});

Suite('a replace that crashed after dropping the old table converges: create promotes the finished copy', async () => {
  const w = await open();
  await setup(w);
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', zip: '0150' }]);
  const desired = customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('zip', 'INT64')], partitioning: undefined });
  // jobs.insert #1 counts the rows the copy cannot convert, #2 is the INSERT … SELECT copy, #3 the RENAME: fail the rename for good.
  fake.failNext('jobs.insert', { status: 403, reason: 'accessDenied', message: 'Access Denied: rename', skip: 2 });
  const err = await rejects(w.replaceTable(desired, { columnSources: { _key: '_key', zip: 'zip' } }));
  assert.match(err.message, 'jobs.insert (query) rejected: Access Denied: rename (reason: accessDenied, HTTP 403)');
  assert.is(await w.getTable('analytics', 'customer'), null, 'old table dropped after the copy finished');
  assert.equal((await w.listTables('analytics')).map((t) => t.name), [], 'the copy is internal');
  // A re-run plans a create for the missing table; createTable finishes the swap.
  await w.createTable(desired);
  const t = (await w.getTable('analytics', 'customer'))!;
  assert.equal(names(t.columns), ['_key STRING REQUIRED', 'zip INT64 NULLABLE']);
  assert.equal(t.labels, { 'managed-by': 'mlbridge', team: 'growth' });
  assert.equal((await rows(w)).map((r) => r.zip), ['150']);
});

Suite('a replace interrupted after the copy finished reuses the copy on the re-run', async () => {
  const w = await open();
  await setup(w);
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', zip: '0150' }]);
  const desired = customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('zip', 'INT64')], partitioning: undefined });
  const spec = { columnSources: { _key: '_key', zip: 'zip' } };
  fake.failNext('tables.delete', { status: 403, reason: 'accessDenied', message: 'Access Denied: delete' });
  const err = await rejects(w.replaceTable(desired, spec));
  assert.match(err.message, 'tables.delete rejected: Access Denied: delete');
  assert.equal((await rows(w)).map((r) => r.zip), ['0150'], 'the old table is intact');
  const jobsBefore = fake.calls.filter((c) => c === 'jobs.insert').length;
  await w.replaceTable(desired, spec, await etagOf(w));
  assert.is(fake.calls.filter((c) => c === 'jobs.insert').length - jobsBefore, 1, 'only the RENAME ran: the copy was reused');
  assert.equal((await rows(w)).map((r) => r.zip), ['150']);
});

Suite('a field added inside a REPEATED RECORD keeps the existing elements', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('items', 'RECORD', 'REPEATED', { fields: [col('sku', 'STRING')] })], partitioning: undefined }));
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', items: [{ sku: 'a' }, { sku: 'b' }] }]);
  await w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: ['items'], column: col('qty', 'INT64') }]);
  assert.equal(names((await w.getTable('analytics', 'customer'))!.columns).at(-1), 'items RECORD REPEATED{sku STRING NULLABLE, qty INT64 NULLABLE}');
  assert.equal((await rows(w))[0]!.items, [{ sku: 'a', qty: null }, { sku: 'b', qty: null }]);
});

Suite('widening a field inside a RECORD restates the STRUCT type and keeps the values', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('dims', 'RECORD', 'NULLABLE', { fields: [col('w', 'INT64'), col('unit', 'STRING')] })], partitioning: undefined }));
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', dims: { w: '12', unit: 'cm' } }]);
  await w.updateTable('analytics', 'customer', [{ op: 'widen_column', path: ['dims', 'w'], from: 'INT64', to: 'FLOAT64' }]);
  assert.equal(names((await w.getTable('analytics', 'customer'))!.columns).at(-1), 'dims RECORD NULLABLE{w FLOAT64 NULLABLE, unit STRING NULLABLE}');
  assert.equal((await rows(w))[0]!.dims, { w: 12, unit: 'cm' });
});

Suite('rows with a column the table lacks are refused before anything is written', async () => {
  const w = await open();
  await setup(w);
  fake.calls.length = 0;
  const err = await rejects(w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', colour: 'red' }]));
  assert.is(err.message, 'bigquery_table.analytics.customer: mergeRows: the table has no column "colour"');
  assert.equal(fake.calls, ['tables.get']);
});

Suite('identifiers needing quotes work: a hyphenated table, columns with spaces and hyphens', async () => {
  const w = await open();
  const t = customer({
    name: 'order-item v2',
    columns: [col('_key', 'STRING', 'REQUIRED'), col('price_amount', 'NUMERIC'), col('unit price', 'NUMERIC'), col('item-count', 'INT64')],
    partitioning: undefined,
  });
  await setup(w, t);
  await w.mergeRows('analytics', 'order-item v2', ['_key'], [{ _key: 'k1', price_amount: '9.5', 'unit price': '1.25', 'item-count': '3' }]);
  await w.updateTable('analytics', 'order-item v2', [
    { op: 'rename_column', from: 'item-count', to: 'item count' },
    { op: 'widen_column', path: ['item count'], from: 'INT64', to: 'FLOAT64' },
  ]);
  assert.equal(await rows(w, 'order-item v2'), [{ _key: 'k1', price_amount: '9.5', 'unit price': '1.25', 'item count': 3 }]);
  assert.equal((await w.listTables('analytics')).map((x) => x.name), ['order-item v2']);
});

Suite('three consecutive 403 rateLimitExceeded on tables.patch (BigQuery\'s rate-limit answer) are retried, each retry reported', async () => {
  const w = await open();
  await setup(w);
  fake.failNext('tables.patch', { reason: 'rateLimitExceeded' }, 3);
  await w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: [], column: col('email', 'STRING') }]);
  assert.equal(
    retries.map((r) => [r.resource, r.call, r.attempt]),
    [
      ['bigquery_table.analytics.customer', 'tables.patch', 1],
      ['bigquery_table.analytics.customer', 'tables.patch', 2],
      ['bigquery_table.analytics.customer', 'tables.patch', 3],
    ],
  );
  assert.match(retries[0]!.error, 'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas (reason: rateLimitExceeded, HTTP 403)');
  assert.ok(names((await w.getTable('analytics', 'customer'))!.columns).includes('email STRING NULLABLE'));
});

Suite('faults that outlast the retries fail naming the table, the call and the last error', async () => {
  const w = await open({ retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 4 } });
  await setup(w);
  fake.failNext('tables.patch', { reason: 'rateLimitExceeded' }, 3);
  fake.failNext('tables.patch', { status: 500, reason: 'backendError' }, 5);
  const err = await rejects(w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: [], column: col('email', 'STRING') }]));
  assert.is(err.code, 'RETRIES_EXHAUSTED');
  assert.is(err.message, 'bigquery_table.analytics.customer: tables.patch failed after 4 attempts: Backend error. Job aborted. (reason: backendError, HTTP 500)');
  assert.is(retries.length, 3);
});

Suite('a backendError on a query job is retried and the statement runs once', async () => {
  const w = await open();
  await setup(w);
  fake.failNext('jobs.insert', { status: 500, reason: 'backendError' }, 1);
  await w.updateTable('analytics', 'customer', [{ op: 'drop_column', name: 'zip' }]);
  assert.equal(retries.map((r) => r.call), ['jobs.insert (query)']);
  assert.not.ok(names((await w.getTable('analytics', 'customer'))!.columns).includes('zip STRING NULLABLE'));
});

Suite('a 403 that is not a rate limit (accessDenied) is not retried', async () => {
  const w = await open();
  await setup(w);
  fake.failNext('tables.patch', { status: 403, reason: 'accessDenied', message: 'Access Denied: Table proj-1:analytics.customer' });
  const err = await rejects(w.updateTable('analytics', 'customer', [{ op: 'set_description', description: 'x' }]));
  assert.is(err.message, 'bigquery_table.analytics.customer: tables.patch rejected: Access Denied: Table proj-1:analytics.customer (reason: accessDenied, HTTP 403)');
  assert.equal(retries, []);
});

Suite('jobs run in the dataset\'s location (EU here) although the target says US, and are polled until DONE', async () => {
  const w = await open();
  await setup(w); // the dataset is in EU
  const fresh = await open(); // has not observed the dataset yet
  fake.calls.length = 0;
  await fresh.updateTable('analytics', 'customer', [{ op: 'drop_column', name: 'zip' }]);
  assert.equal(fake.calls.filter((c) => c.startsWith('jobs.') || c.startsWith('datasets.')), ['datasets.get', 'jobs.insert', 'jobs.get', 'jobs.get']);
  assert.not.ok(names((await w.getTable('analytics', 'customer'))!.columns).includes('zip STRING NULLABLE'));
});

Suite('a job still RUNNING at the job timeout fails naming the job, and is not retried', async () => {
  await fake.stop();
  fake = await startBigQueryFake({ project: 'proj-1', jobPolls: 1_000_000 });
  const w = await open({ jobTimeoutMs: 50 });
  await setup(w);
  const err = await rejects(w.updateTable('analytics', 'customer', [{ op: 'drop_column', name: 'zip' }]));
  assert.is(err.code, 'TARGET_ERROR');
  assert.match(err.message, /^bigquery_table\.analytics\.customer: jobs\.insert \(query\) rejected: job mlbridge_[0-9a-f]{32} still running after 0 s; check it with `bq show --location=EU -j mlbridge_[0-9a-f]{32}`$/);
  assert.equal(retries, []);
});

for (const lost of ['drop', 503] as const) {
  Suite(`a query job whose reply is lost (${lost}) after it ran is attached to on retry, not run twice`, async () => {
    const w = await open();
    await setup(w);
    fake.failNext('jobs.insert', { replyLost: lost });
    fake.calls.length = 0;
    // Run twice, DROP COLUMN would fail: the column is gone after the first run.
    await w.updateTable('analytics', 'customer', [{ op: 'drop_column', name: 'zip' }]);
    assert.equal(retries.map((r) => r.call), ['jobs.insert (query)']);
    assert.is(fake.calls.filter((c) => c === 'jobs.insert').length, 2, 'the retry was answered 409 duplicate');
    assert.not.ok(names((await w.getTable('analytics', 'customer'))!.columns).includes('zip STRING NULLABLE'));
  });
}

Suite('a tables.insert whose reply is lost converges: the retry\'s 409 finds the very table it asked for', async () => {
  const w = await open();
  await w.createDataset({ name: 'analytics', location: 'EU', labels: { 'managed-by': 'mlbridge' } });
  fake.failNext('tables.insert', { replyLost: 'drop' });
  await w.createTable(customer());
  assert.equal(retries.map((r) => r.call), ['tables.insert']);
  assert.equal((await w.getTable('analytics', 'customer'))?.columns, customer().columns);
});

Suite('a tables.insert 409 is still a conflict when the table there is not the one asked for, or on the first attempt', async () => {
  const w = await open();
  await setup(w);
  const first = await rejects(w.createTable(customer()));
  assert.match(first.message, 'bigquery_table.analytics.customer: tables.insert rejected: Already Exists: Table proj-1:analytics.customer (reason: duplicate, HTTP 409)');
  fake.failNext('tables.insert', { replyLost: 503 });
  await w.createTable(customer({ name: 'other' }));
  fake.failNext('tables.insert', { status: 503, reason: 'backendError' });
  const different = await rejects(w.createTable(customer({ name: 'other', description: 'not the same' })));
  assert.match(different.message, 'tables.insert rejected: Already Exists: Table proj-1:analytics.other');
});

Suite('the lock taken by an insert whose reply was lost is held, and another holder still sees a conflict', async () => {
  const w = await open();
  await setup(w);
  const a = { id: 'aaa', pid: 11, host: 'h1', since: '2026-01-01T00:00:00Z', operation: 'apply', who: 'ada@h1' };
  fake.failNext('tables.insert', { replyLost: 'drop' });
  assert.equal(await w.lock().tryAcquire(a), { acquired: true });
  assert.equal(await w.lock().tryAcquire({ ...a, id: 'bbb' }), { acquired: false, holder: a });
});

Suite('a tables.patch whose reply is lost converges: the retry\'s 412 finds the patch applied', async () => {
  const w = await open();
  await setup(w);
  fake.failNext('tables.patch', { replyLost: 'drop' });
  await w.updateTable('analytics', 'customer', [
    { op: 'add_column', parent: [], column: col('email', 'STRING') },
    { op: 'set_labels', labels: { 'managed-by': 'mlbridge', owner: 'data' } },
  ], await etagOf(w));
  assert.equal(retries.map((r) => r.call), ['tables.patch']);
  const t = (await w.getTable('analytics', 'customer'))!;
  assert.equal([names(t.columns).at(-1), t.labels], ['email STRING NULLABLE', { 'managed-by': 'mlbridge', owner: 'data' }]);
});

Suite('a datasets.insert whose reply is lost converges', async () => {
  const w = await open();
  fake.failNext('datasets.insert', { replyLost: 503 });
  await w.createDataset({ name: 'analytics', location: 'EU', labels: { 'managed-by': 'mlbridge' } });
  assert.equal(retries.map((r) => r.call), ['datasets.insert']);
  assert.is((await w.getDataset('analytics'))?.location, 'EU');
});

Suite('partition expiration and require-partition-filter are patched in place, the filter at table level', async () => {
  const w = await open();
  await setup(w);
  await w.mergeRows('analytics', 'customer', ['_key'], [{ _key: 'k1', created_at: '2026-01-02T00:00:00Z' }]);
  await w.updateTable('analytics', 'customer', [{ op: 'set_partition_options', expirationDays: 90, requireFilter: true }], await etagOf(w));
  const stored = fake.table('analytics', 'customer')!;
  assert.equal([stored.timePartitioning, stored.requirePartitionFilter], [{ type: 'DAY', field: 'created_at', expirationMs: String(90 * 86_400_000) }, true]);
  assert.equal((await w.getTable('analytics', 'customer'))?.partitioning, { type: 'DAY', field: 'created_at', expirationDays: 90, requireFilter: true });
  await w.updateTable('analytics', 'customer', [{ op: 'set_partition_options', expirationDays: undefined, requireFilter: false }]);
  assert.equal((await w.getTable('analytics', 'customer'))?.partitioning, { type: 'DAY', field: 'created_at' });
  assert.equal((await rows(w)).map((r) => r._key), ['k1']);
});

Suite('widening a field inside a REPEATED RECORD is refused by BigQuery (SET DATA TYPE never changes an ARRAY)', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('items', 'RECORD', 'REPEATED', { fields: [col('sku', 'STRING'), col('qty', 'INT64')] })], partitioning: undefined }));
  const err = await rejects(w.updateTable('analytics', 'customer', [{ op: 'widen_column', path: ['items', 'qty'], from: 'INT64', to: 'FLOAT64' }]));
  assert.is(
    err.message,
    'bigquery_table.analytics.customer: jobs.insert (query) rejected: ALTER TABLE ALTER COLUMN SET DATA TYPE cannot change the type of an ARRAY: column items is ARRAY<STRUCT<sku STRING, qty INT64>>, requested ARRAY<STRUCT<sku STRING, qty FLOAT64>> (reason: invalidQuery)',
  );
});

Suite('a replacement that adds, drops and reorders nested fields builds each STRUCT by name (no CAST between STRUCTs)', async () => {
  const w = await open();
  await setup(w, customer({ columns: [col('_key', 'STRING', 'REQUIRED'), col('address', 'RECORD', 'NULLABLE', { fields: [col('street', 'STRING'), col('city', 'STRING'), col('zip', 'STRING')] }), col('items', 'RECORD', 'REPEATED', { fields: [col('sku', 'STRING'), col('qty', 'INT64')] })], partitioning: undefined }));
  await w.mergeRows('analytics', 'customer', ['_key'], [
    { _key: 'k1', address: { street: 'Storgata 1', city: 'Oslo', zip: '0150' }, items: [{ sku: 'b', qty: '2' }, { sku: 'a', qty: '1' }] },
    { _key: 'k2', address: null, items: [] },
  ]);
  const desired = customer({
    columns: [col('_key', 'STRING', 'REQUIRED'), col('address', 'RECORD', 'NULLABLE', { fields: [col('zip', 'INT64'), col('city', 'STRING'), col('country', 'STRING')] }), col('items', 'RECORD', 'REPEATED', { fields: [col('qty', 'FLOAT64'), col('sku', 'STRING'), col('note', 'STRING')] })],
    partitioning: undefined,
  });
  await w.replaceTable(desired, { columnSources: { _key: '_key', address: 'address', items: 'items' } });
  assert.equal((await rows(w)).map((r) => [r._key, r.address, r.items]), [
    ['k1', { zip: '150', city: 'Oslo', country: null }, [{ qty: 2, sku: 'b', note: null }, { qty: 1, sku: 'a', note: null }]],
    ['k2', null, []],
  ]);
});

Suite('a call that hangs past the client timeout is retried, and fails cleanly when it keeps hanging', async () => {
  const w = await open({ timeoutMs: 300, retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 } });
  await setup(w);
  fake.failNext('tables.get', { hang: true }, 1);
  assert.is((await w.getTable('analytics', 'customer'))?.name, 'customer');
  assert.equal(retries.map((r) => r.call), ['tables.get']);
  assert.match(retries[0]!.error, /^request timed out/);
  fake.failNext('tables.get', { hang: true }, 2);
  const err = await rejects(w.getTable('analytics', 'customer'));
  assert.is(err.code, 'RETRIES_EXHAUSTED');
  assert.match(err.message, /^bigquery_table\.analytics\.customer: tables\.get failed after 2 attempts: request timed out/);
});

Suite('a timed-out request is closed, so no hung connection keeps the process alive', async () => {
  const w = await open({ timeoutMs: 200, retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 3 } });
  await setup(w);
  fake.failNext('tables.patch', { hang: true }, 2);
  await w.updateTable('analytics', 'customer', [{ op: 'set_description', description: 'after two hangs' }]);
  assert.equal(retries.map((r) => r.call), ['tables.patch', 'tables.patch']);
  assert.is((await w.getTable('analytics', 'customer'))?.description, 'after two hangs');
  // The server notices the client's close asynchronously; give it a moment, not a deadline to race.
  for (let i = 0; i < 200 && fake.hanging() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(fake.hanging(), 0);
});

Suite('an endpoint that refuses connections fails (not "rejected": BigQuery never answered)', async () => {
  const w = await createBigQueryWarehouse(target, { readOnly: true, env: { BIGQUERY_EMULATOR_HOST: '127.0.0.1:1' } });
  const err = await rejects(w.getDataset('analytics'));
  assert.is(err.code, 'TARGET_ERROR');
  assert.match(err.message, /^bigquery_dataset\.analytics: datasets\.get failed: .*ECONNREFUSED 127\.0\.0\.1:1$/);
});

Suite('a timeout or attempt count in the environment that is no positive whole number is refused, naming it', async () => {
  for (const [name, what] of [
    ['MLBRIDGE_BIGQUERY_TIMEOUT_MS', 'milliseconds'],
    ['MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS', 'milliseconds'],
    ['MLBRIDGE_BIGQUERY_MAX_ATTEMPTS', 'attempts'],
  ] as const) {
    const err = await rejects(createBigQueryWarehouse(target, { readOnly: true, env: { BIGQUERY_EMULATOR_HOST: '127.0.0.1:1', [name]: '30s' } }));
    assert.equal([err.code, err.message], ['INVALID_ARGUMENT', `${name}: "30s" is not a positive whole number of ${what}`]);
  }
});

Suite('changes BigQuery rejects surface with the table and the rule', async () => {
  const w = await open();
  await setup(w);
  const req = await rejects(w.updateTable('analytics', 'customer', [{ op: 'add_column', parent: [], column: col('email', 'STRING', 'REQUIRED') }]));
  assert.is(req.code, 'TARGET_ERROR');
  assert.is(
    req.message,
    'bigquery_table.analytics.customer: tables.patch rejected: Provided Schema does not match Table proj-1:analytics.customer. Cannot add required fields to an existing schema. (field: email) (reason: invalid, HTTP 400)',
  );
  const narrow = await rejects(w.updateTable('analytics', 'customer', [{ op: 'widen_column', path: ['zip'], from: 'STRING', to: 'INT64' }]));
  assert.is(
    narrow.message,
    'bigquery_table.analytics.customer: jobs.insert (query) rejected: ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (STRING) is assignable to the new type (INT64) (reason: invalidQuery)',
  );
  assert.is(retries.length, 0, 'a rejection is not retried');
});

Suite('the lock is a table: a second taker sees the holder, only the holder releases it', async () => {
  const w = await open();
  await setup(w);
  const lock = w.lock();
  const a = { id: 'aaa', pid: 11, host: 'h1', since: '2026-01-01T00:00:00Z', operation: 'apply', who: 'ada@h1' };
  const b = { ...a, id: 'bbb', pid: 22, host: 'h2' };
  assert.equal(await lock.tryAcquire(a), { acquired: true });
  assert.equal(await lock.tryAcquire(b), { acquired: false, holder: a });
  await lock.release('bbb');
  assert.equal(await lock.current(), a);
  assert.equal((await w.listTables('analytics')).map((t) => t.name), ['customer'], 'the lock table is internal');
  await lock.release('aaa');
  assert.is(await lock.current(), null);
  assert.equal(await lock.tryAcquire(b), { acquired: true });
});

Suite('before the dataset exists the lock is provisional and becomes the lock table when the dataset is created', async () => {
  const w = await open();
  const other = await open();
  const a = { id: 'aaa', pid: 11, host: 'h1', since: '2026-01-01T00:00:00Z', operation: 'apply', who: 'ada@h1' };
  assert.equal(await w.lock().tryAcquire(a), { acquired: true });
  assert.is(await w.getDataset('analytics'), null, 'taking the lock creates nothing');
  await w.createDataset({ name: 'analytics', labels: { 'managed-by': 'mlbridge' } });
  assert.equal(await other.lock().tryAcquire({ ...a, id: 'bbb' }), { acquired: false, holder: a });
  await w.lock().release('aaa');
  assert.is(await other.lock().current(), null);
});

Suite('BIGQUERY_EMULATOR_HOST given as a bare host:port reaches the fake', async () => {
  const saved = process.env.BIGQUERY_EMULATOR_HOST;
  process.env.BIGQUERY_EMULATOR_HOST = fake.endpoint.replace('http://', '');
  try {
    const w = await createBigQueryWarehouse(target, { readOnly: true });
    assert.is(await w.getDataset('analytics'), null);
    assert.equal(fake.calls, ['datasets.get']);
  } finally {
    if (saved === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
    else process.env.BIGQUERY_EMULATOR_HOST = saved;
  }
});

Suite('a read-only warehouse refuses to change anything', async () => {
  const w = await open({ readOnly: true });
  const err = await rejects(w.createDataset({ name: 'analytics', labels: {} }));
  assert.is(err.message, 'bigquery:proj-1: opened read-only; datasets.insert is not allowed');
  assert.not.ok(fake.calls.includes('datasets.insert'));
});

Suite('without an emulator host and without credentials the error names every place ADC looked', async () => {
  await withNoCredentials({ metadataServer: 'off' }, async ({ home }) => {
    const err = await rejects(createBigQueryWarehouse(target, { readOnly: true, env: { HOME: home } }));
    assert.is(err.code, 'CREDENTIALS_MISSING');
    assert.is(
      err.message,
      'No Google Cloud credentials found: tried GOOGLE_APPLICATION_CREDENTIALS (unset), gcloud application-default credentials (~/.config/gcloud/application_default_credentials.json: not found), the metadata server (not reachable). Run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS.',
    );
  });
});

Suite('a metadata server that fails oddly adds no MetadataLookupWarning to the credentials error', async () => {
  // gcp-metadata calls a reset connection an unexpected error and emits a
  // MetadataLookupWarning, which node would print on stderr.
  await withNoCredentials({ metadataServer: 'resetting' }, async ({ home, warnings }) => {
    const err = await rejects(createBigQueryWarehouse(target, { readOnly: true, env: { HOME: home } }));
    assert.is(err.code, 'CREDENTIALS_MISSING');
    assert.match(err.message, /the metadata server \(not reachable\)/);
    await new Promise((r) => setImmediate(r)); // warnings are delivered on a later tick
    assert.equal(warnings, []);
  });
});

Suite.run();
