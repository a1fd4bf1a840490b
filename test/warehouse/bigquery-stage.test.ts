// Data reconciliation on BigQuery (issue #9): the stage (load job into the scratch dataset),
// the diff and the merge, through the official client against the REST fake — first via
// the engine (plan/apply with a snapshot source), then the stage on its own for the version
// guard, events mode, lost replies and readRowsByKey.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply, createPlan } from '../../src/engine/index.js';
import type { RowsChange } from '../../src/engine/plan.js';
import type { StagedRecord } from '../../src/model/staged.js';
import { stageRecord } from '../../src/record/stage-record.js';
import type { SyncRecord } from '../../src/record/sync-record.js';
import type { Value } from '../../src/source/entity.js';
import type { SnapshotSource, SourceEntity } from '../../src/source/snapshot-source.js';
import type { MappingSpec, Spec } from '../../src/spec/types.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec } from '../engine/fixtures/factories.js';
import { startBigQueryFake, type BigQueryFake } from '../support/bigquery-fake.js';

// ---- factories --------------------------------------------------------------------------

const PROJECT = 'proj-1';
const T0 = '2026-03-01T00:00:00.000Z';
const T1 = '2026-03-02T00:00:00.000Z';
const us = (iso: string) => String(BigInt(Date.parse(iso)) * 1000n);

const customer = (): MappingSpec =>
  mapping('Customer', [
    field('email', 'STRING', 'REQUIRED'),
    field('age', 'INT64'),
    field('tags', 'STRING', 'REPEATED'),
    field('address', 'RECORD', 'NULLABLE', { fields: [field('city', 'STRING'), field('zip', 'INT64')] }),
  ]);
const order = (): MappingSpec => mapping('Order', [field('amount', 'FLOAT64'), field('placed', 'TIMESTAMP'), field('paid', 'BOOL')]);
const bqSpec = (mappings: MappingSpec[]): Spec => spec('', mappings, { target: { kind: 'bigquery', project: PROJECT, dataset: 'analytics', location: 'US' } });

type Props = Record<string, Value>;
const str = (s: string): Value => ({ stringValue: s });
const int = (n: number): Value => ({ integerValue: String(n) });
const arr = (...v: Value[]): Value => ({ arrayValue: { values: v } });
const ent = (kind: string, name: string, properties: Props) => ({ key: { partitionId: { projectId: PROJECT }, path: [{ kind, name }] }, properties });
const cust = (name: string, email: string, age: Value, city = 'Oslo') =>
  ent('Customer', name, { email: str(email), age, tags: arr(str('a'), str('b')), address: { entityValue: { properties: { city: str(city), zip: int(150) } } } });
const ord = (name: string, amount: number) => ent('Order', name, { amount: { doubleValue: amount }, placed: { timestampValue: '2026-02-01T10:00:00.123456Z' }, paid: { booleanValue: true } });

/** An export-like snapshot in memory (what openSnapshotSource returns for an export). */
function snapshot(startTime: string, entities: ReturnType<typeof ent>[]): SnapshotSource {
  const version = us(startTime);
  return {
    identity: { kind: 'export', exportId: `export-${startTime}`, startTime },
    snapshotVersion: version,
    snapshotTime: new Date(startTime),
    expectedCount: () => undefined,
    async *read(select) {
      const kinds = new Set(select.map((s) => s.kind));
      const batch: SourceEntity[] = entities.filter((e) => kinds.has(e.key.path[0]!.kind)).map((entity) => ({ entity, version }));
      yield batch;
    },
  };
}

/** A live read (the Datastore API, here the emulator's counter versions) in memory, at `readTime`. */
function liveRead(readTime: string, entities: Array<[ReturnType<typeof ent>, string]>): SnapshotSource {
  return {
    identity: { kind: 'datastore', project: PROJECT, database: '', readTime },
    snapshotVersion: us(readTime),
    snapshotTime: new Date(readTime),
    expectedCount: () => undefined,
    async *read(select) {
      const kinds = new Set(select.map((s) => s.kind));
      yield entities.filter(([e]) => kinds.has(e.key.path[0]!.kind)).map(([entity, version]) => ({ entity, version }));
    },
  };
}

let fake: BigQueryFake;
const saved = process.env.BIGQUERY_EMULATOR_HOST;
const open = (readOnly: boolean) => openWarehouse({ kind: 'bigquery', project: PROJECT, dataset: 'analytics', location: 'US' }, { readOnly });
async function withWarehouse<T>(readOnly: boolean, fn: (w: Warehouse) => Promise<T>): Promise<T> {
  const w = await open(readOnly);
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}
const clock = (iso: string) => () => new Date(Date.parse(iso) + 3600_000);
const plan = (s: Spec, source: SnapshotSource) => withWarehouse(true, (warehouse) => createPlan(s, { warehouse, source }, { clock: clock(source.identity.kind === 'export' ? source.identity.startTime : T0) }));
const applyWith = (s: Spec, source: SnapshotSource) => withWarehouse(false, (warehouse) => apply(s, { warehouse, source }, { clock: clock(source.identity.kind === 'export' ? source.identity.startTime : T0) }));
const counts = (changes: { type: string }[], kind: string) => (changes.find((c) => c.type === 'rows' && (c as RowsChange).kind === kind) as RowsChange | undefined)?.after;

const customers = () => fake.sql(`SELECT _key, _version, email, age, tags, address FROM "analytics"."customer" ORDER BY _key`);
const raw = (table = 'customer_raw') => fake.sql(`SELECT event_id, _key, operation, origin FROM "analytics"."${table}" ORDER BY _key, operation`);

function setup(S: ReturnType<typeof suite>): void {
  S.before.each(async () => {
    fake = await startBigQueryFake({ project: PROJECT });
    process.env.BIGQUERY_EMULATOR_HOST = fake.endpoint;
  });
  S.after.each(async () => {
    await fake.stop();
    if (saved === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
    else process.env.BIGQUERY_EMULATOR_HOST = saved;
  });
}

// ---- through the engine -------------------------------------------------------------------

const Engine = suite('plan and apply reconcile a snapshot into BigQuery');
setup(Engine);

const first = () => snapshot(T0, [cust('c1', 'a@x', int(30)), cust('c2', 'b@x', int(40)), cust('c3', 'c@x', int(50)), ord('o1', 9.5), ord('o2', 20)]);
const second = () =>
  snapshot(T1, [
    cust('c1', 'a@x', int(30)), // unchanged
    cust('c2', 'b2@x', int(41), 'Bergen'), // updated
    // c3 deleted
    cust('c4', 'd@x', int(60)), // inserted
    cust('c5', 'e@x', str('sixty')), // wrong type: quarantined
    ord('o1', 9.5),
    ord('o2', 20),
  ]);

Engine('a first apply stages both kinds and writes every row with its typed columns', async () => {
  const s = bqSpec([customer(), order()]);
  const p = await plan(s, first());
  assert.equal(counts(p.changes, 'Customer'), { insert: 3, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
  assert.equal(counts(p.changes, 'Order'), { insert: 2, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
  await applyWith(s, first());
  assert.equal(await customers(), [
    { _key: 'Customer:c1', _version: us(T0), email: 'a@x', age: '30', tags: ['a', 'b'], address: { city: 'Oslo', zip: '150' } },
    { _key: 'Customer:c2', _version: us(T0), email: 'b@x', age: '40', tags: ['a', 'b'], address: { city: 'Oslo', zip: '150' } },
    { _key: 'Customer:c3', _version: us(T0), email: 'c@x', age: '50', tags: ['a', 'b'], address: { city: 'Oslo', zip: '150' } },
  ]);
  assert.equal(await fake.sql(`SELECT _key, amount, CAST(placed AS VARCHAR) AS placed, paid FROM "analytics"."order" ORDER BY _key`), [
    { _key: 'Order:o1', amount: 9.5, placed: '2026-02-01 10:00:00.123456+00', paid: true },
    { _key: 'Order:o2', amount: 20, placed: '2026-02-01 10:00:00.123456+00', paid: true },
  ]);
  assert.equal((await raw()).map((r) => `${r._key} ${r.operation} ${r.origin}`), ['Customer:c1 UPSERT export', 'Customer:c2 UPSERT export', 'Customer:c3 UPSERT export']);
  const again = await plan(s, first());
  assert.equal(counts(again.changes, 'Customer'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3 });
  assert.equal(counts(again.changes, 'Order'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 2 });
});

Engine('a mutated snapshot shows exact counts, apply converges, and a re-plan is all unchanged', async () => {
  const s = bqSpec([customer(), order()]);
  await applyWith(s, first());
  const p = await plan(s, second());
  assert.equal(counts(p.changes, 'Customer'), { insert: 1, update: 1, delete: 1, quarantine: 1, unchanged: 1 });
  const rows = p.changes.find((c) => c.type === 'rows' && (c as RowsChange).kind === 'Customer') as RowsChange;
  assert.equal(rows.sampleKeys, { insert: ['Customer:c4'], update: ['Customer:c2'], delete: ['Customer:c3'], quarantine: ['Customer:c5'] });
  assert.equal(counts(p.changes, 'Order'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 2 });

  await applyWith(s, second());
  assert.equal(await customers(), [
    { _key: 'Customer:c1', _version: us(T0), email: 'a@x', age: '30', tags: ['a', 'b'], address: { city: 'Oslo', zip: '150' } },
    { _key: 'Customer:c2', _version: us(T1), email: 'b2@x', age: '41', tags: ['a', 'b'], address: { city: 'Bergen', zip: '150' } },
    { _key: 'Customer:c4', _version: us(T1), email: 'd@x', age: '60', tags: ['a', 'b'], address: { city: 'Oslo', zip: '150' } },
  ]);
  assert.equal((await raw()).map((r) => `${r._key} ${r.operation}`), [
    'Customer:c1 UPSERT',
    'Customer:c2 UPSERT',
    'Customer:c2 UPSERT',
    'Customer:c3 DELETE',
    'Customer:c3 UPSERT',
    'Customer:c4 UPSERT',
  ]);
  const q = await fake.sql(`SELECT _key, reason FROM "analytics"."customer_quarantine"`);
  assert.equal(q.map((r) => r._key), ['Customer:c5']);
  assert.match(String(q[0]!.reason), /type drift: Customer Customer:c5: property age \(column age\): expected INT64/);

  const after = await plan(s, second());
  assert.equal(counts(after.changes, 'Customer'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 4 });
  await applyWith(s, second());
  assert.is((await raw()).length, 6, 'a second apply of the same snapshot logs nothing');
  assert.is((await fake.sql(`SELECT count(*) AS n FROM "analytics"."customer_quarantine"`))[0]!.n, '1');
});

Engine('a live read whose counter versions are below the exported rows warns of each row it keeps, and apply writes none', async () => {
  const s = bqSpec([customer()]);
  await applyWith(s, first());
  const live = () => liveRead(T1, [[cust('c1', 'a@x', int(30)), '3'], [cust('c2', 'b2@x', int(41)), '7'], [cust('c3', 'c@x', int(50)), '2']]);
  const warning = `rows.Customer: 1 row differs from the source but is kept: the target's row is newer (_version ${us(T0)} in the target, 7 in the source), e.g. Customer:c2`;
  for (const p of [await plan(s, live()), (await applyWith(s, live())).plan]) {
    assert.equal(counts(p.changes, 'Customer'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3 });
    const warnings = p.diagnostics.filter((d) => d.severity === 'warning');
    assert.equal(warnings.map((d) => d.summary), [warning]);
    assert.match(warnings[0]!.detail!, `the source's versions (at most 7) are not commit times in µs, while the target's are (at least ${us(T0)}): the Datastore emulator counts entity versions from 1`);
  }
  assert.equal((await customers()).map((r) => `${r._key} ${r._version} ${r.email}`), [`Customer:c1 ${us(T0)} a@x`, `Customer:c2 ${us(T0)} b@x`, `Customer:c3 ${us(T0)} c@x`]);
});

Engine('plan against a fresh target stages in the scratch dataset only, and leaves no stage behind', async () => {
  const s = bqSpec([customer()]);
  const p = await plan(s, first());
  assert.equal(counts(p.changes, 'Customer'), { insert: 3, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
  const ds = await fake.sql(`SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'analytics%' ORDER BY 1`);
  assert.equal(ds.map((r) => r.schema_name), ['analytics_mlbridge_scratch']);
  assert.equal(await fake.sql(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics_mlbridge_scratch'`), []);
});

Engine.run();

// ---- the stage on its own ------------------------------------------------------------------

const Stage = suite('BigQueryRowStage');
setup(Stage);

const tables = { kind: 'Customer', dataset: 'analytics', current: 'customer', raw: 'customer_raw', quarantine: 'customer_quarantine' };
const rec = (name: string, version: number, email: string | null, operation: SyncRecord['operation'] = 'UPSERT'): StagedRecord =>
  stageRecord(
    { entityKey: `Customer:${name}`, kind: 'Customer', operation, data: operation === 'DELETE' ? null : { email, age: 7 }, version, eventTime: T0 },
    { mapping: customer(), now: new Date(T0), withRow: true },
  );
const createTables = () => withWarehouse(false, (w) => apply(bqSpec([customer()]), { warehouse: w }, {}));
const stageOnce = <T>(records: StagedRecord[], fn: (st: Awaited<ReturnType<Warehouse['openStage']>>) => Promise<T>, readOnly = false): Promise<T> =>
  withWarehouse(readOnly, async (w) => {
    const st = await w.openStage(tables);
    try {
      await st.append(records);
      return await fn(st);
    } finally {
      await st.close();
    }
  });
const snapshotMerge = (version: string) => ({ mode: 'snapshot' as const, kind: 'Customer', snapshotVersion: version, origin: 'export' as const, ingestTime: T1, snapshotTime: T1 });
const current = async () => (await fake.sql(`SELECT _key, _version, email FROM "analytics"."customer" ORDER BY _key`)).map((r) => `${r._key} v${r._version} ${r.email}`);

Stage('the version guard keeps a newer current row: neither overwritten nor deleted by an older snapshot', async () => {
  await createTables();
  await stageOnce([rec('c1', 100, 'a'), rec('c2', 100, 'b'), rec('c3', 100, 'c')], (st) => st.merge(snapshotMerge('100')));
  await fake.sql(`UPDATE "analytics"."customer" SET _version = 999 WHERE _key IN ('Customer:c1', 'Customer:c3')`);
  const result = await stageOnce([rec('c1', 200, 'changed')], async (st) => {
    const diff = await st.diff({ mode: 'snapshot', snapshotVersion: '200' });
    assert.equal(diff.counts, { insert: 0, update: 0, delete: 1, quarantine: 0, unchanged: 1 });
    assert.equal(diff.kept, { count: 1, samples: ['Customer:c1'], first: { key: 'Customer:c1', targetVersion: '999', sourceVersion: '200' }, sourceMax: '200', targetMin: '999' });
    return st.merge(snapshotMerge('200'));
  });
  assert.equal(result, { inserted: 0, updated: 0, deleted: 1, quarantined: 0, logged: 1, superseded: 0 });
  assert.equal(await current(), ['Customer:c1 v999 a', 'Customer:c3 v999 c']);
});

Stage('events mode keeps the highest version per key and logs each distinct event once, out of order and duplicated', async () => {
  await createTables();
  const events = [rec('c1', 5, 'five'), rec('c1', 3, 'three'), rec('c1', 5, 'five'), rec('c2', 2, 'two'), rec('c2', 4, null, 'DELETE'), rec('c3', 1, 'one')];
  const merge = { mode: 'events' as const, kind: 'Customer', origin: 'pubsub' as const, ingestTime: T1 };
  const r1 = await stageOnce(events, (st) => st.merge(merge));
  assert.equal(r1, { inserted: 2, updated: 0, deleted: 0, quarantined: 0, logged: 5, superseded: 3 });
  assert.equal(await current(), ['Customer:c1 v5 five', 'Customer:c3 v1 one']);
  const r2 = await stageOnce([...events].reverse(), (st) => st.merge(merge));
  assert.equal(r2, { inserted: 0, updated: 0, deleted: 0, quarantined: 0, logged: 0, superseded: 0 }, 'merging the same events again changes nothing');
  const r3 = await stageOnce([rec('c3', 9, null, 'DELETE'), rec('c1', 4, 'four')], (st) => st.merge(merge));
  assert.equal(r3, { inserted: 0, updated: 0, deleted: 1, quarantined: 0, logged: 2, superseded: 1 });
  assert.equal(await current(), ['Customer:c1 v5 five']);
  assert.equal((await raw()).map((r) => `${r._key} ${r.operation} ${r.origin}`), [
    'Customer:c1 UPSERT pubsub',
    'Customer:c1 UPSERT pubsub',
    'Customer:c1 UPSERT pubsub',
    'Customer:c2 DELETE pubsub',
    'Customer:c2 UPSERT pubsub',
    'Customer:c3 DELETE pubsub',
    'Customer:c3 UPSERT pubsub',
  ]);
});

Stage('a load job whose reply is lost is not loaded twice: the retry finds the job by its id', async () => {
  fake.failNext('jobs.insert', { status: 503, reason: 'backendError', afterServing: true });
  const staged = await stageOnce([rec('c1', 1, 'a'), rec('c2', 1, 'b')], async (st) => {
    const d = await st.diff({ mode: 'snapshot', snapshotVersion: '1' });
    const [t] = await fake.sql(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics_mlbridge_scratch'`);
    return { d, n: (await fake.sql(`SELECT count(*) AS n FROM "analytics_mlbridge_scratch"."${String(t!.table_name)}"`))[0]!.n };
  }, true);
  assert.equal(staged.d.counts, { insert: 2, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
  assert.is(staged.n, '2');
  assert.equal(fake.calls.filter((c) => c.startsWith('jobs.')).slice(0, 3), ['jobs.insert', 'jobs.insert', 'jobs.get']);
});

Stage('merge into a target whose tables do not exist names the missing table', async () => {
  const err = await stageOnce([rec('c1', 1, 'a')], (st) => st.merge(snapshotMerge('1'))).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.is(err?.message, 'bigquery_table.analytics.customer does not exist; apply the tables first');
});

Stage('readRowsByKey returns the current rows of the keys asked, typed like readRows', async () => {
  await createTables();
  await stageOnce([rec('c1', 1, 'a'), rec('c2', 1, 'b'), rec("it's", 1, 'q')], (st) => st.merge(snapshotMerge('1')));
  const rows = await withWarehouse(true, (w) => w.readRowsByKey('analytics', 'customer', ['Customer:c2', "Customer:it's", 'Customer:none']));
  assert.equal(
    rows.map((r) => [r._key, r._version, r.email, r.age, r.tags, r.address]).sort(),
    [
      ['Customer:c2', '1', 'b', '7', [], null],
      ["Customer:it's", '1', 'q', '7', [], null],
    ],
  );
  assert.equal(await withWarehouse(true, (w) => w.readRowsByKey('analytics', 'customer', [])), []);
});

Stage('readRowsByKey with columns reads only those the table has, and _key', async () => {
  await createTables();
  await stageOnce([rec('c1', 1, 'a'), rec('c2', 4, 'b')], (st) => st.merge(snapshotMerge('1')));
  const rows = await withWarehouse(true, (w) => w.readRowsByKey('analytics', 'customer', ['Customer:c2', 'Customer:none'], ['_version', 'no_such_column']));
  assert.equal(rows, [{ _key: 'Customer:c2', _version: '4' }]);
});

Stage.run();

// ---- the fake's GoogleSQL for staging ---------------------------------------------------------

const Sql = suite('the BigQuery fake runs the staging GoogleSQL and refuses what BigQuery refuses');
setup(Sql);

const query = async (sql: string, params?: Record<string, unknown>) => {
  const { BigQuery } = await import('@google-cloud/bigquery');
  const { GoogleAuth, PassThroughClient } = await import('google-auth-library');
  const bq = new BigQuery({ projectId: PROJECT, apiEndpoint: fake.endpoint, autoRetry: false, authClient: new GoogleAuth({ authClient: new PassThroughClient() }) as never });
  const [rows] = await bq.query({ query: sql, ...(params ? { params } : {}) });
  return rows as Record<string, unknown>[];
};
const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error) => e.message);

Sql('QUALIFY without WHERE, GROUP BY or HAVING is refused; with WHERE it runs', async () => {
  assert.is(
    await refused(query('SELECT x FROM UNNEST([1, 2]) AS x QUALIFY ROW_NUMBER() OVER (ORDER BY x) = 1')),
    'QUALIFY clause must be used in conjunction with WHERE or GROUP BY or HAVING clause',
  );
  assert.equal(await query('SELECT x FROM UNNEST([2, 1]) AS x WHERE TRUE QUALIFY ROW_NUMBER() OVER (ORDER BY x) = 1'), [{ x: 1 }]);
});

Sql('WHERE without FROM and an undefined parameter are refused', async () => {
  assert.is(await refused(query('SELECT 1 AS x WHERE FALSE')), 'Query without FROM clause cannot have a WHERE clause');
  assert.is(await refused(query('SELECT 1 AS x FROM UNNEST([1]) AS y WHERE y IN UNNEST(@ids)')), "Query parameter 'ids' not found");
});

Sql('JSON extraction, STRUCT, ordered ARRAY and the orphan event id behave like GoogleSQL', async () => {
  const [r] = await query(
    `SELECT JSON_VALUE(j, '$.a') AS a, JSON_VALUE(j, '$.o') AS o, JSON_QUERY(j, '$.n') AS n, ` +
      `ARRAY(SELECT CAST(e AS INT64) FROM UNNEST(JSON_VALUE_ARRAY(j, '$.l')) AS e WITH OFFSET AS i ORDER BY i) AS l, ` +
      `STRUCT(JSON_VALUE(j, '$.o.c') AS c) AS s, TO_HEX(SHA256('abc')) AS h, ARRAY_AGG(k ORDER BY k LIMIT 2) AS k ` +
      `FROM (SELECT '{"a":"x","o":{"c":"d"},"n":null,"l":["3","1","2"]}' AS j) t, UNNEST(['c', 'a', 'b']) AS k WHERE k IN UNNEST(@keys) GROUP BY j`,
    { keys: ['a', 'b', 'c'] },
  );
  assert.equal(r, { a: 'x', o: null, n: 'null', l: [3, 1, 2], s: { c: 'd' }, h: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', k: ['a', 'b'] });
});

Sql.run();
