// The BigQuery REST fake speaks enough of the API for the official client: checked here
// with @google-cloud/bigquery calls the adapter does not make (PUT, queries, insertAll, …)
// and with BigQuery's error shapes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BigQuery } from '@google-cloud/bigquery';
import { GoogleAuth, PassThroughClient } from 'google-auth-library';
import { startBigQueryFake, type BigQueryFake } from '../support/bigquery-fake.js';

const Suite = suite('BigQuery REST fake with the official client');

let fake: BigQueryFake;
let bq: BigQuery;

Suite.before.each(async () => {
  fake = await startBigQueryFake({ project: 'proj-1' });
  const { BigQuery } = await import('@google-cloud/bigquery');
  bq = new BigQuery({
    projectId: 'proj-1',
    apiEndpoint: fake.endpoint,
    autoRetry: false,
    authClient: new GoogleAuth({ authClient: new PassThroughClient() }) as never,
  });
  await bq.createDataset('d');
  await bq.dataset('d').createTable('t', {
    schema: { fields: [{ name: 'k', type: 'STRING', mode: 'REQUIRED' }, { name: 'n', type: 'INT64' }, { name: 's', type: 'RECORD', fields: [{ name: 'a', type: 'STRING' }] }] },
  });
});
Suite.after.each(async () => {
  await fake.stop();
});

interface ApiErr {
  code?: number;
  errors?: Array<{ reason?: string; message?: string }>;
  message?: string;
}
async function apiError(p: Promise<unknown>): Promise<ApiErr> {
  try {
    await p;
  } catch (e) {
    return e as ApiErr;
  }
  assert.unreachable('expected an API error');
  throw new Error('unreachable');
}

Suite('tables.get answers legacy type names, modes and a string numRows', async () => {
  const [meta] = await bq.dataset('d').table('t').getMetadata();
  assert.equal(meta.schema.fields.map((f: { name: string; type: string; mode: string }) => `${f.name} ${f.type} ${f.mode}`), ['k STRING REQUIRED', 'n INTEGER NULLABLE', 's RECORD NULLABLE']);
  assert.is(meta.numRows, '0');
  assert.is(meta.id, 'proj-1:d.t');
});

Suite('a type change on tables.patch is 400 invalid with BigQuery message, status and reason', async () => {
  const err = await apiError(
    bq.dataset('d').table('t').setMetadata({ schema: { fields: [{ name: 'k', type: 'STRING', mode: 'REQUIRED' }, { name: 'n', type: 'STRING' }, { name: 's', type: 'RECORD', fields: [{ name: 'a', type: 'STRING' }] }] } }),
  );
  assert.is(err.code, 400);
  assert.is(err.errors?.[0]?.reason, 'invalid');
  assert.is(err.message, 'Provided Schema does not match Table proj-1:d.t. Field n has changed type from INTEGER to STRING');
  const missing = await apiError(bq.dataset('d').table('t').setMetadata({ schema: { fields: [{ name: 'k', type: 'STRING', mode: 'REQUIRED' }] } }));
  assert.is(missing.message, 'Provided Schema does not match Table proj-1:d.t. Field n is missing in new schema');
  const tighten = await apiError(
    bq.dataset('d').table('t').setMetadata({ schema: { fields: [{ name: 'k', type: 'STRING', mode: 'REQUIRED' }, { name: 'n', type: 'INTEGER', mode: 'REQUIRED' }, { name: 's', type: 'RECORD', fields: [{ name: 'a', type: 'STRING' }] }] } }),
  );
  assert.is(tighten.message, 'Provided Schema does not match Table proj-1:d.t. Field n has changed mode from NULLABLE to REQUIRED');
});

Suite('a patch with a stale etag is 412 conditionNotMet; duplicates are 409; missing tables 404', async () => {
  const [meta] = await bq.dataset('d').table('t').getMetadata();
  await bq.dataset('d').table('t').setMetadata({ description: 'one', etag: meta.etag });
  const stale = await apiError(bq.dataset('d').table('t').setMetadata({ description: 'two', etag: meta.etag }));
  assert.equal([stale.code, stale.errors?.[0]?.reason, stale.message], [412, 'conditionNotMet', 'Precondition check failed.']);
  const dup = await apiError(bq.dataset('d').createTable('t', { schema: { fields: [{ name: 'x', type: 'STRING' }] } }));
  assert.equal([dup.code, dup.errors?.[0]?.reason, dup.message], [409, 'duplicate', 'Already Exists: Table proj-1:d.t']);
  const nf = await apiError(bq.dataset('d').table('nope').getMetadata());
  assert.equal([nf.code, nf.errors?.[0]?.reason, nf.message], [404, 'notFound', 'Not found: Table proj-1:d.nope']);
});

Suite('tables.update (PUT) replaces labels and description but still enforces schema rules', async () => {
  const t = bq.dataset('d').table('t');
  await t.setMetadata({ labels: { a: '1', b: '2' }, description: 'x' });
  const [meta] = await t.getMetadata();
  const [updated] = await t.request({ method: 'PUT', uri: '', json: { ...meta, labels: { c: '3' }, description: undefined } } as never) as unknown as [Record<string, any>];
  assert.equal(updated.labels, { c: '3' });
  assert.is(updated.description, undefined);
});

Suite('insertAll rows are read back by tabledata.list and by a query through jobs.query', async () => {
  const t = bq.dataset('d').table('t');
  await t.insert([{ k: 'a', n: 1, s: { a: 'x' } }, { k: 'b', n: 2 }]);
  const [rows] = await t.getRows();
  assert.equal(rows.map((r: Record<string, unknown>) => [r.k, r.n, r.s]), [['a', 1, { a: 'x' }], ['b', 2, null]]);
  const [q] = await bq.query({ query: 'SELECT `k`, `n` * 10 AS `n10` FROM `proj-1.d.t` ORDER BY `k`' });
  assert.equal(q, [{ k: 'a', n10: 10 }, { k: 'b', n10: 20 }]);
});

Suite('a MERGE query job reports inserted and updated rows in dmlStats', async () => {
  const t = bq.dataset('d').table('t');
  await t.insert([{ k: 'a', n: 1 }]);
  await bq.dataset('d').createTable('src', { schema: { fields: [{ name: 'k', type: 'STRING' }, { name: 'n', type: 'INTEGER' }] } });
  await bq.dataset('d').table('src').insert([{ k: 'a', n: 5 }, { k: 'c', n: 7 }]);
  const [job] = await bq.createQueryJob({
    query: 'MERGE `proj-1`.`d`.`t` AS T USING `proj-1`.`d`.`src` AS S ON T.`k` = S.`k` WHEN MATCHED THEN UPDATE SET `n` = S.`n` WHEN NOT MATCHED THEN INSERT (`k`, `n`) VALUES (S.`k`, S.`n`)',
  });
  const [meta] = await job.getMetadata();
  assert.equal(meta.statistics.query.dmlStats, { insertedRowCount: '1', updatedRowCount: '1', deletedRowCount: '0' });
  const [rows] = await bq.query('SELECT `k`, `n` FROM `proj-1.d.t` ORDER BY `k`');
  assert.equal(rows, [{ k: 'a', n: 5 }, { k: 'c', n: 7 }]);
});

Suite('a failing query job is DONE with errorResult, and getQueryResults answers its error', async () => {
  const err = await apiError(bq.createQueryJob({ query: 'SELECT * FROM `proj-1.d.missing`', jobId: 'j1' }));
  assert.match(String(err.message), 'Not found: Table proj-1:d.missing was not found in location US');
  const [meta] = await bq.job('j1').getMetadata();
  assert.equal(meta.status.errorResult.reason, 'notFound');
  const again = await apiError(bq.job('j1').getQueryResults());
  assert.is(again.code, 400);
});

Suite('a dataset with tables is not deleted without force; with force it is', async () => {
  const busy = await apiError(bq.dataset('d').delete());
  assert.equal([busy.code, busy.errors?.[0]?.reason], [400, 'resourceInUse']);
  await bq.dataset('d').delete({ force: true });
  const [datasets] = await bq.getDatasets();
  assert.equal(datasets.map((d) => d.id), []);
});

Suite('injected faults answer the chosen call only, then normal service resumes', async () => {
  fake.failNext('tables.get', { status: 503, reason: 'backendError', message: 'Service unavailable' }, 1);
  const err = await apiError(bq.dataset('d').table('t').getMetadata());
  assert.equal([err.code, err.errors?.[0]?.reason, err.message], [503, 'backendError', 'Service unavailable']);
  await bq.dataset('d').getMetadata();
  const [meta] = await bq.dataset('d').table('t').getMetadata();
  assert.is(meta.id, 'proj-1:d.t');
});

Suite('a job is RUNNING when inserted and DONE once polled; jobs.get from another location is 404', async () => {
  const [job, insert] = await bq.createQueryJob({ query: 'SELECT 1 AS `x`', jobId: 'poll1', location: 'US' });
  assert.is((insert as { status?: { state?: string } }).status?.state, 'RUNNING');
  const [meta] = await job.getMetadata();
  assert.is(meta.status.state, 'DONE');
  const elsewhere = await apiError(bq.job('poll1', { location: 'EU' }).getMetadata());
  assert.equal([elsewhere.code, elsewhere.message], [404, 'Not found: Job proj-1:EU.poll1']);
});

Suite('a job run in another location than its dataset fails notFound, naming the dataset and the location', async () => {
  await bq.createDataset('eu', { location: 'EU' });
  await bq.dataset('eu').createTable('t', { schema: { fields: [{ name: 'k', type: 'STRING' }] } });
  const err = await apiError(bq.createQueryJob({ query: 'ALTER TABLE `proj-1.eu.t` ADD COLUMN `n` INT64', location: 'US' }));
  assert.match(String(err.message), 'Not found: Dataset proj-1:eu was not found in location US');
  const [job] = await bq.createQueryJob({ query: 'ALTER TABLE `proj-1.eu.t` ADD COLUMN `n` INT64', location: 'EU' });
  await job.promise();
});

Suite('rate limits are 403 rateLimitExceeded, as BigQuery answers them', async () => {
  fake.failNext('tables.get', { reason: 'rateLimitExceeded' });
  const err = await apiError(bq.dataset('d').table('t').getMetadata());
  assert.equal([err.code, err.errors?.[0]?.reason], [403, 'rateLimitExceeded']);
});

Suite('a call whose reply is lost was done all the same', async () => {
  fake.failNext('tables.insert', { replyLost: 503 });
  const err = await apiError(bq.dataset('d').createTable('lost', { schema: { fields: [{ name: 'k', type: 'STRING' }] } }));
  assert.is(err.code, 503);
  assert.ok(fake.table('d', 'lost'), 'the table was created');
  fake.failNext('tables.get', { replyLost: 'drop' });
  const dropped = await apiError(bq.dataset('d').table('lost').getMetadata());
  assert.match(String(dropped.message), /socket hang up|ECONNRESET/);
});

Suite('table names are case-sensitive: Customer and customer are two tables with their own rows', async () => {
  const schema = { fields: [{ name: 'k', type: 'STRING' }] };
  await bq.dataset('d').createTable('customer', { schema });
  await bq.dataset('d').createTable('Customer', { schema });
  await bq.dataset('d').table('Customer').insert([{ k: 'upper' }]);
  const [lower] = await bq.dataset('d').table('customer').getRows();
  const [upper] = await bq.dataset('d').table('Customer').getRows();
  assert.equal([lower, upper.map((r: Record<string, unknown>) => r.k)], [[], ['upper']]);
  assert.equal(await fake.sql(`SELECT k FROM ${fake.ref('d', 'Customer')}`), [{ k: 'upper' }]);
});

Suite('64 labels are accepted and 65 refused; a field description of 1,025 characters is refused', async () => {
  const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v']));
  await bq.dataset('d').table('t').setMetadata({ labels: labels(64) });
  const many = await apiError(bq.dataset('d').table('t').setMetadata({ labels: { extra: 'v' } }));
  assert.equal([many.code, many.message], [400, 'Too many labels on proj-1:d.t: 65. A resource can have at most 64 labels.']);
  const long = await apiError(bq.dataset('d').createTable('desc', { schema: { fields: [{ name: 'k', type: 'STRING', description: 'x'.repeat(1025) }] } }));
  assert.equal([long.code, long.message], [400, 'The description for field k is too long. The maximum length is 1024 characters.']);
});

Suite('CAST between STRUCTs with different field counts and between different ARRAY types is refused like BigQuery', async () => {
  await bq.dataset('d').createTable('src', { schema: { fields: [{ name: 's', type: 'RECORD', fields: [{ name: 'city', type: 'STRING' }, { name: 'zip', type: 'STRING' }] }, { name: 'l', type: 'INTEGER', mode: 'REPEATED' }] } });
  const struct = await apiError(bq.createQueryJob({ query: 'INSERT INTO `proj-1.d.t` (`k`, `s`) SELECT \'k\', CAST(`s` AS STRUCT<`a` STRING>) FROM `proj-1.d.src`' }));
  assert.match(String(struct.message), 'Invalid cast from STRUCT<city STRING, zip STRING> to STRUCT<a STRING>');
  const array = await apiError(bq.createQueryJob({ query: 'SELECT CAST(`l` AS ARRAY<FLOAT64>) AS `x` FROM `proj-1.d.src`' }));
  assert.match(String(array.message), 'Invalid cast from ARRAY<INT64> to ARRAY<FLOAT64>');
});

Suite('UNIX_MICROS reads a TIMESTAMP as µs since the epoch (NULL stays NULL) and refuses a DATETIME like BigQuery', async () => {
  await bq.dataset('d').createTable('times', { schema: { fields: [{ name: 'at', type: 'TIMESTAMP' }, { name: 'local', type: 'DATETIME' }] } });
  await bq.dataset('d').table('times').insert([{ at: '2026-11-30T02:03:52.715123Z', local: '2026-11-30T02:03:52' }, { at: null, local: null }]);
  const [rows] = await bq.query('SELECT UNIX_MICROS(`at`) AS `us` FROM `proj-1.d.times` ORDER BY `us` NULLS FIRST');
  assert.equal(rows.map((r: { us: unknown }) => (r.us === null ? null : String(r.us))), [null, '1796004232715123']);
  const err = await apiError(bq.query('SELECT UNIX_MICROS(`local`) AS `us` FROM `proj-1.d.times`'));
  assert.match(String(err.message), 'No matching signature for function UNIX_MICROS for argument types: DATETIME. Supported signature: UNIX_MICROS(TIMESTAMP)');
});

Suite('a query whose result holds an array with a NULL element is refused like BigQuery; ARRAY_AGG IGNORE NULLS leaves them out', async () => {
  await bq.dataset('d').createTable('vals', { schema: { fields: [{ name: 'g', type: 'STRING' }, { name: 'v', type: 'STRING' }] } });
  await bq.dataset('d').table('vals').insert([{ g: 'a', v: 'x' }, { g: 'a', v: null }, { g: 'b', v: null }]);
  const err = await apiError(bq.query('SELECT `g`, ARRAY_AGG(`v` ORDER BY `v` LIMIT 2) AS `vs` FROM `proj-1.d.vals` GROUP BY `g`'));
  assert.match(String(err.message), 'Array cannot have a null element; error in writing field vs');
  const [rows] = await bq.query('SELECT `g`, ARRAY_AGG(`v` IGNORE NULLS ORDER BY `v` LIMIT 1) AS `vs` FROM `proj-1.d.vals` GROUP BY `g` ORDER BY `g`');
  // A group with no value left gives a NULL array, which BigQuery answers as an empty one.
  assert.equal(rows, [{ g: 'a', vs: ['x'] }, { g: 'b', vs: [] }]);
});

for (const echo of ['table', 'nested', 'both'] as const) {
  Suite(`requirePartitionFilter is kept at table level and echoed where BigQuery might (${echo})`, async () => {
    await fake.stop();
    fake = await startBigQueryFake({ project: 'proj-1', requireFilterEcho: echo });
    const { BigQuery } = await import('@google-cloud/bigquery');
    bq = new BigQuery({ projectId: 'proj-1', apiEndpoint: fake.endpoint, autoRetry: false, authClient: new GoogleAuth({ authClient: new PassThroughClient() }) as never });
    await bq.createDataset('d');
    await bq.dataset('d').createTable('p', { schema: { fields: [{ name: 'at', type: 'TIMESTAMP' }] }, timePartitioning: { type: 'DAY', field: 'at' }, requirePartitionFilter: true } as never);
    const [meta] = await bq.dataset('d').table('p').getMetadata();
    assert.equal([meta.requirePartitionFilter, meta.timePartitioning.requirePartitionFilter], [echo === 'nested' ? undefined : true, echo === 'table' ? undefined : true]);
    assert.is(fake.table('d', 'p')!.requirePartitionFilter, true);
  });
}

Suite.run();
