import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MlbridgeError } from '../../src/model/errors.js';
import type { ColumnMode, ColumnSchema, ColumnType, ObservedTable, TableSchema } from '../../src/model/schema.js';
import type { FieldSpec, MappingSpec, Spec } from '../../src/spec/types.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { RECORD_DEFAULT_SCORING } from '../../src/record/defaults.js';
import { learnProfile, PROFILES_TABLE, NUMERIC_SAMPLE_LIMIT } from '../../src/record/profile.js';
import { ProfileStore, refreshProfiles } from '../../src/engine/profiles.js';
import { buildBigQueryRow } from '../../src/record/row.js';
import { scoreRecordFreshness } from '../../src/record/score.js';

// ---- fakes -------------------------------------------------------------------------
function f(name: string, type: ColumnType, mode: ColumnMode = 'NULLABLE'): FieldSpec {
  return { name, type, mode, from: [name] };
}

const customer: MappingSpec = {
  kind: 'CustomerProfile',
  tables: { current: 'customer_profile', raw: 'customer_profile_raw', quarantine: 'customer_profile_quarantine' },
  fields: [f('email', 'STRING', 'REQUIRED'), f('ltv', 'FLOAT64'), f('age', 'INT64'), f('region', 'STRING'), f('tags', 'STRING', 'REPEATED')],
  labels: {},
  deletionProtection: false,
  scoring: { ...RECORD_DEFAULT_SCORING, anomaly: { ...RECORD_DEFAULT_SCORING.anomaly, maxCardinality: 3 } },
};

/** Rows the way a warehouse returns them (INT64 as strings). */
function customerRows(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    _key: `c${i}`,
    email: `c${i}@example.com`,
    ltv: 100 + (i % 9) - 4,
    age: String(30 + (i % 5)),
    region: ['EU', 'US', 'APAC'][i % 3]!,
    tags: i % 2 ? ['vip'] : [],
  }));
}

/** A Warehouse holding tables in memory; only what profiles use is implemented. */
class MemoryWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly location = 'memory:test';
  tables = new Map<string, Row[]>();
  merges: Array<{ table: string; keys: string[]; rows: Row[] }> = [];

  async getTable(dataset: string, name: string): Promise<ObservedTable | null> {
    if (!this.tables.has(`${dataset}.${name}`)) return null;
    return { dataset, name, columns: [], labels: {}, deletionProtection: false, etag: 'e', owned: true };
  }
  async *readRows(dataset: string, table: string): AsyncIterable<Row> {
    for (const r of this.tables.get(`${dataset}.${table}`) ?? []) yield structuredClone(r);
  }
  async mergeRows(dataset: string, table: string, keyColumns: string[], rows: Row[]) {
    this.merges.push({ table, keys: keyColumns, rows });
    const list = this.tables.get(`${dataset}.${table}`)!;
    let inserted = 0;
    let updated = 0;
    for (const row of rows) {
      const i = list.findIndex((r) => keyColumns.every((k) => r[k] === row[k]));
      if (i >= 0) (list[i] = row), updated++;
      else list.push(row), inserted++;
    }
    return { inserted, updated };
  }
  getDataset(): never { throw new Error('not used'); }
  createDataset(): never { throw new Error('not used'); }
  deleteDataset(): never { throw new Error('not used'); }
  listTables(): never { throw new Error('not used'); }
  createTable(): never { throw new Error('not used'); }
  updateTable(): never { throw new Error('not used'); }
  replaceTable(): never { throw new Error('not used'); }
  countUncopyable(): never { throw new Error('not used'); }
  deleteTable(): never { throw new Error('not used'); }
  openStage(): never { throw new Error('not used'); }
  readRowsByKey(): never { throw new Error('not used'); }
  lock(): never { throw new Error('not used'); }
  async close(): Promise<void> {}
}

const spec = (mappings: MappingSpec[], path = '/unused.duckdb'): Pick<Spec, 'target' | 'mappings'> => ({
  target: { kind: 'duckdb', path, dataset: 'analytics' },
  mappings,
});

// ---- learnProfile --------------------------------------------------------------------
const Learn = suite('learnProfile');

Learn('learns median, MAD, null rate and low-cardinality values per column', () => {
  const p = learnProfile(customerRows(90), customer);
  assert.is(p.kind, 'CustomerProfile');
  assert.is(p.sampleCount, 90);
  assert.is(p.maxCardinality, 3);
  assert.equal(p.fields.ltv!.numeric, { median: 100, mad: 2, meanAbsDev: 20 / 9, count: 90 });
  assert.equal(p.fields.age!.numeric, { median: 32, mad: 1, meanAbsDev: 1.2, count: 90 });
  assert.equal(p.fields.region!.values, ['APAC', 'EU', 'US']);
  assert.is(p.fields.region!.nullRate, 0);
  assert.is(p.fields.tags!.nullRate, 0.5, 'an empty array counts as null');
  assert.is(p.fields.email!.values, undefined, 'more distinct values than maxCardinality: not categorical');
});

Learn('a column whose values do not repeat is not categorical, however few they are', () => {
  const wide = { ...customer, scoring: RECORD_DEFAULT_SCORING }; // maxCardinality 50
  const p = learnProfile(customerRows(40), wide);
  assert.is(p.fields.email!.values, undefined, '40 distinct emails in 40 rows');
  assert.equal(p.fields.region!.values, ['APAC', 'EU', 'US']);
  const r = scoreRecordFreshness(
    { entityKey: 'c99', kind: 'CustomerProfile', operation: 'UPSERT', data: { email: 'new@example.com', ltv: 100, age: 32, region: 'EU', tags: ['vip'] } },
    { mapping: wide, profile: p, now: new Date(0), scoring: { ...RECORD_DEFAULT_SCORING, anomaly: { ...RECORD_DEFAULT_SCORING.anomaly, minSamples: 30 } } },
  );
  assert.equal(r.flags, ['no_event_time'], 'a new customer\'s email is not an anomaly');
  assert.is(learnProfile(customerRows(14), customer).fields.region!.values, undefined, '3 values in 14 rows: fewer than 5 rows each');
});

Learn('counts nulls and keeps them out of the numbers', () => {
  const rows: Row[] = [{ ltv: 1 }, { ltv: null }, { ltv: 3 }, {}];
  const p = learnProfile(rows, customer);
  assert.equal(p.fields.ltv, { type: 'FLOAT64', count: 4, nulls: 2, nullRate: 0.5, numeric: { median: 2, mad: 1, meanAbsDev: 1, count: 2 } });
});

Learn('samples huge columns deterministically, counting every value', () => {
  const rows = Array.from({ length: NUMERIC_SAMPLE_LIMIT * 3 }, (_, i) => ({ ltv: i % 1000 }));
  const a = learnProfile(rows, customer);
  const b = learnProfile(rows, customer);
  assert.equal(a, b);
  assert.is(a.fields.ltv!.numeric!.count, NUMERIC_SAMPLE_LIMIT * 3);
  assert.ok(Math.abs(a.fields.ltv!.numeric!.median - 500) < 25, `median ${a.fields.ltv!.numeric!.median}`);
});

Learn('a learned profile drives the anomaly flags', () => {
  const p = learnProfile(customerRows(90), customer);
  const now = new Date('2026-01-01T00:00:00Z');
  const record = {
    entityKey: 'c-new',
    kind: 'CustomerProfile',
    operation: 'UPSERT' as const,
    data: { email: 'x@example.com', ltv: 500, age: 33, region: 'MARS', tags: ['vip'] },
    eventTime: now,
  };
  const s = scoreRecordFreshness(record, { mapping: customer, profile: p, now });
  assert.equal(s.flags, ['anomaly:ltv:z=134.9', 'unseen_value:region=MARS']);
});

Learn.run();

// ---- ProfileStore / refreshProfiles with an in-memory warehouse ---------------------------
const Store = suite('ProfileStore and refreshProfiles (in-memory warehouse)');

Store('refreshProfiles learns each mapping from its table and stores one row per mapping', async () => {
  const wh = new MemoryWarehouse();
  wh.tables.set('analytics.customer_profile', customerRows(40));
  wh.tables.set(`analytics.${PROFILES_TABLE}`, []);
  const orders: MappingSpec = { ...customer, kind: 'Order', tables: { current: 'order', raw: 'order_raw', quarantine: 'order_q' } };
  const now = new Date('2026-02-03T04:05:06.789Z');
  const result = await refreshProfiles(wh, spec([customer, orders]), { now });
  assert.equal(result, [{ kind: 'CustomerProfile', sampleCount: 40 }], 'the Order table does not exist yet: skipped');
  const stored = wh.tables.get(`analytics.${PROFILES_TABLE}`)!;
  assert.is(stored.length, 1);
  assert.is(stored[0]!.mapping, 'CustomerProfile');
  assert.is(stored[0]!.updated_at, '2026-02-03T04:05:06.789000Z');
  assert.is(stored[0]!.sample_count, '40');
  assert.equal(wh.merges[0]!.keys, ['mapping']);

  // A second refresh replaces the row rather than adding one.
  wh.tables.get('analytics.customer_profile')!.push(...customerRows(10));
  await refreshProfiles(wh, spec([customer]), { now });
  const got = await new ProfileStore(wh, 'analytics').get('CustomerProfile');
  assert.is(wh.tables.get(`analytics.${PROFILES_TABLE}`)!.length, 1);
  assert.is(got!.profile.sampleCount, 50);
  assert.equal(got!.profile, learnProfile([...customerRows(40), ...customerRows(10)], customer));
});

Store('a missing profiles table reads as no profile, and refresh says to run apply', async () => {
  const wh = new MemoryWarehouse();
  assert.is(await new ProfileStore(wh, 'analytics').get('CustomerProfile'), null);
  try {
    await refreshProfiles(wh, spec([customer]));
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, MlbridgeError);
    assert.is((err as Error).message, `memory:test: table analytics.${PROFILES_TABLE} does not exist (run apply)`);
  }
});

Store('profiles stored as JSON text are read back; unreadable ones are ignored', async () => {
  const wh = new MemoryWarehouse();
  const p = learnProfile(customerRows(5), customer);
  wh.tables.set(`analytics.${PROFILES_TABLE}`, [
    { mapping: 'CustomerProfile', updated_at: 't', sample_count: '5', profile: JSON.stringify(p) },
    { mapping: 'Broken', updated_at: 't', sample_count: '5', profile: '{"formatVersion":99}' },
  ]);
  const all = await new ProfileStore(wh, 'analytics').getAll();
  assert.equal([...all.keys()], ['CustomerProfile']);
  assert.equal(all.get('CustomerProfile')!.profile, p);
});

Store.run();

// ---- against DuckDB ------------------------------------------------------------------
const Duck = suite('refreshProfiles against a DuckDB warehouse');

function col(name: string, type: ColumnType, mode: ColumnMode = 'NULLABLE'): ColumnSchema {
  return { name, type, mode };
}

Duck('stores profiles learned from synced rows in _mlbridge_profiles and reads them back', async () => {
  const { createDuckDbWarehouse } = await import('../../src/warehouse/duckdb.js');
  const dir = await mkdtemp(join(tmpdir(), 'mlbridge-profile-'));
  const path = join(dir, 'wh.duckdb');
  const wh = await createDuckDbWarehouse({ kind: 'duckdb', path, dataset: 'analytics' }, { readOnly: false });
  try {
    await wh.createDataset({ name: 'analytics', labels: {} });
    const current: TableSchema = {
      dataset: 'analytics',
      name: 'customer_profile',
      columns: [
        col('_key', 'STRING', 'REQUIRED'),
        col('_version', 'INT64', 'REQUIRED'),
        col('_hash', 'STRING'),
        col('_synced_at', 'TIMESTAMP'),
        col('_score', 'FLOAT64'),
        ...customer.fields.map((x) => col(x.name, x.type, x.mode)),
      ],
      labels: {},
      deletionProtection: false,
    };
    await wh.createTable(current);
    await wh.createTable({
      dataset: 'analytics',
      name: PROFILES_TABLE,
      columns: [col('mapping', 'STRING', 'REQUIRED'), col('updated_at', 'TIMESTAMP', 'REQUIRED'), col('sample_count', 'INT64', 'REQUIRED'), col('profile', 'JSON')],
      labels: {},
      deletionProtection: false,
    });
    const now = new Date('2026-01-01T00:00:00Z');
    const rows = customerRows(60).map((data, i) =>
      buildBigQueryRow({ entityKey: `c${i}`, kind: 'CustomerProfile', operation: 'UPSERT', data, eventTime: now }, customer, { now }),
    );
    await wh.mergeRows('analytics', 'customer_profile', ['_key'], rows);

    assert.equal(await refreshProfiles(wh, spec([customer], path), { now }), [{ kind: 'CustomerProfile', sampleCount: 60 }]);
    const got = await new ProfileStore(wh, 'analytics').get('CustomerProfile');
    assert.ok(got, 'a stored profile');
    assert.is(got!.profile.sampleCount, 60);
    assert.equal(got!.profile.fields.region!.values, ['APAC', 'EU', 'US']);
    assert.equal(got!.profile.fields.ltv!.numeric!.median, 100);
    assert.equal(got!.profile.fields.age!.numeric!.median, 32);
    assert.is(got!.profile.fields.tags!.nullRate, 0.5);
    assert.ok(got!.updatedAt.startsWith('2026-01-01'), got!.updatedAt);
  } finally {
    await wh.close();
    await rm(dir, { recursive: true, force: true });
  }
});

Duck.run();
