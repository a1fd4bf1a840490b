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
  assert.equal(counts(after.changes, 'Customer'), { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3 });
  await applyWith(s, second());
  assert.is((await raw()).length, 6, 'a second apply of the same snapshot logs nothing');
  assert.is((await fake.sql(`SELECT count(*) AS n FROM "analytics"."customer_quarantine"`))[0]!.n, '1');
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
