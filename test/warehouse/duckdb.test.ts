import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ColumnSchema, TableSchema } from '../../src/model/schema.js';
import { createDuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import { parseDuckType, quoteIdent } from '../../src/warehouse/sql-duckdb.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { inPasses, tempDir } from '../engine/fixtures/factories.js';
import { rejects } from '../support/rejects.js';
import { currentSystemColumns, quarantineColumns, rawColumns } from '../../src/engine/desired.js';
import { stageRecord } from '../../src/record/stage-record.js';
import { toColumns } from '../../src/model/staged-columns.js';
import { contentFingerprint } from '../../src/model/content-fingerprint.js';
import { unchangedTest } from '../../src/engine/changes/rows.js';
import type { MappingSpec } from '../../src/spec/types.js';

const Suite = suite('DuckDB warehouse');

let ctx: ReturnType<typeof tempDir>;
Suite.before.each(() => {
  ctx = tempDir('mlbridge-duckdb-');
});
Suite.after.each(() => ctx.cleanup());

const open = (readOnly = false) => createDuckDbWarehouse({ kind: 'duckdb', path: ctx.db, dataset: 'ds' }, { readOnly });
async function use<T>(readOnly: boolean, fn: (w: Warehouse) => Promise<T>): Promise<T> {
  const w = await open(readOnly);
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}
const c = (name: string, type: ColumnSchema['type'], mode: ColumnSchema['mode'] = 'NULLABLE', extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name,
  type,
  mode,
  ...extra,
});
const owned = { 'managed-by': 'mlbridge' };
const tableOf = (name: string, columns: ColumnSchema[], over: Partial<TableSchema> = {}): TableSchema => ({
  dataset: 'ds',
  name,
  columns,
  labels: owned,
  deletionProtection: false,
  ...over,
});
async function rows(w: Warehouse, t: string): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of w.readRows('ds', t)) out.push(r);
  return out;
}

const allTypes: ColumnSchema[] = [
  c('k', 'STRING', 'REQUIRED', { description: 'the key' }),
  c('b', 'BYTES'),
  c('i', 'INT64'),
  c('f', 'FLOAT64'),
  c('n', 'NUMERIC'),
  c('bn', 'BIGNUMERIC'),
  c('ok', 'BOOL'),
  c('ts', 'TIMESTAMP'),
  c('d', 'DATE'),
  c('tm', 'TIME'),
  c('dt', 'DATETIME'),
  c('g', 'GEOGRAPHY'),
  c('j', 'JSON'),
  c('addr', 'RECORD', 'NULLABLE', { fields: [c('street name', 'STRING', 'REQUIRED'), c('zip', 'INT64')] }),
  c('lines', 'RECORD', 'REPEATED', { fields: [c('sku', 'STRING'), c('qty', 'INT64')] }),
  c('tags', 'STRING', 'REPEATED'),
];

Suite('every BigQuery type, mode, nested field and table setting observes back exactly, and the table is owned', async () => {
  const t = tableOf('all-types', allTypes, {
    labels: { ...owned, team: 'growth' },
    description: 'All of them',
    partitioning: { type: 'DAY', field: 'ts', expirationDays: 30 },
    clustering: ['k'],
    deletionProtection: true,
  });
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(t);
  });
  const o = await use(true, (w) => w.getTable('ds', 'all-types'));
  const { etag, owned: isOwned, numRows, ...schema } = o!;
  assert.equal(schema, t);
  assert.ok(isOwned);
  assert.is(numRows, 0);
  assert.is((await use(true, (w) => w.getTable('ds', 'all-types')))!.etag, etag, 'the etag is stable');
  const ds = await use(true, (w) => w.getDataset('ds'));
  assert.equal({ name: ds?.name, labels: ds?.labels, owned: ds?.owned }, { name: 'ds', labels: owned, owned: true });
});

Suite('rows round-trip in the warehouse row conventions, and merge replaces by key', async () => {
  const row: Row = {
    k: 'a',
    b: 'aGk=',
    i: '9007199254740993',
    f: 1.5,
    n: '12.25',
    bn: '3',
    ok: true,
    ts: '2026-01-02T03:04:05.123456Z',
    d: '2026-01-02',
    tm: '03:04:05',
    dt: '2026-01-02T03:04:05',
    g: 'POINT(1 2)',
    j: { x: [1, 'y'] },
    addr: { 'street name': 'Main', zip: '12345' },
    lines: [{ sku: 's1', qty: '2' }],
    tags: ['p', 'q'],
  };
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', allTypes));
    assert.equal(await w.mergeRows('ds', 't', ['k'], [row, { k: 'b', i: '1' }]), { inserted: 2, updated: 0 });
    assert.equal(await w.mergeRows('ds', 't', ['k'], [{ k: 'b', i: '2' }]), { inserted: 0, updated: 1 });
  });
  const got = await use(true, (w) => rows(w, 't'));
  assert.equal(got.length, 2);
  assert.equal(got.find((r) => r.k === 'a'), row);
  assert.is(got.find((r) => r.k === 'b')!.i, '2');
});

Suite('in-place ops: nested fields are added (also in a list of records), columns relaxed, renamed, widened and dropped, rows kept', async () => {
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING', 'REQUIRED'), c('old name', 'INT64', 'REQUIRED'), c('gone', 'STRING'), allTypes[13]!, allTypes[14]!]));
    await w.mergeRows('ds', 't', ['k'], [{ k: 'a', 'old name': '7', gone: 'x', addr: { 'street name': 'Main', zip: '1' }, lines: [{ sku: 's', qty: '1' }] }]);
    const before = (await w.getTable('ds', 't'))!;
    await w.updateTable(
      'ds',
      't',
      [
        { op: 'rename_column', from: 'old name', to: 'new-name' },
        { op: 'widen_column', path: ['new-name'], from: 'INT64', to: 'FLOAT64' },
        { op: 'relax_column', path: ['new-name'] },
        { op: 'relax_column', path: ['addr', 'street name'] },
        { op: 'widen_column', path: ['addr', 'zip'], from: 'INT64', to: 'NUMERIC' },
        { op: 'add_column', parent: ['addr'], column: c('city', 'STRING') },
        { op: 'add_column', parent: ['lines'], column: c('note', 'STRING') },
        { op: 'drop_column', name: 'gone' },
        { op: 'set_column_description', path: ['k'], description: 'key' },
      ],
      before.etag,
    );
  });
  const t = (await use(true, (w) => w.getTable('ds', 't')))!;
  assert.equal(t.columns, [
    c('k', 'STRING', 'REQUIRED', { description: 'key' }),
    c('new-name', 'FLOAT64'),
    c('addr', 'RECORD', 'NULLABLE', { fields: [c('street name', 'STRING'), c('zip', 'NUMERIC'), c('city', 'STRING')] }),
    c('lines', 'RECORD', 'REPEATED', { fields: [c('sku', 'STRING'), c('qty', 'INT64'), c('note', 'STRING')] }),
  ]);
  assert.equal(await use(true, (w) => rows(w, 't')), [
    { k: 'a', 'new-name': 7, addr: { 'street name': 'Main', zip: '1', city: null }, lines: [{ sku: 's', qty: '1', note: null }] },
  ]);
});

Suite('an update against a changed table (etag) is refused', async () => {
  const err = await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING')]));
    return rejects(w.updateTable('ds', 't', [{ op: 'drop_column', name: 'k' }], 'stale-etag'));
  });
  assert.is(err.code, 'TARGET_ERROR');
  assert.match(err.message, 'duckdb_table.ds.t changed since it was observed');
});

Suite('a replacement whose CAST fails keeps the old table and its rows', async () => {
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING'), c('v', 'STRING')]));
    await w.mergeRows('ds', 't', ['k'], [{ k: 'a', v: 'not a number' }]);
    const err = await rejects(w.replaceTable(tableOf('t', [c('k', 'STRING'), c('v', 'INT64')]), { columnSources: { k: 'k', v: 'v' } }));
    assert.is(err.code, 'TARGET_ERROR');
    assert.match(err.message, 'Replacing duckdb_table.ds.t failed; the old table and its rows are kept:');
  });
  const t = (await use(true, (w) => w.getTable('ds', 't')))!;
  assert.equal(t.columns.map((x) => x.type), ['STRING', 'STRING']);
  assert.equal(await use(true, (w) => rows(w, 't')), [{ k: 'a', v: 'not a number' }]);
  assert.equal(await use(true, async (w) => (await w.listTables('ds')).map((x) => x.name)), ['t'], 'no leftover temp table');
});

Suite('a replacement into a stricter schema is refused before copying, naming column, rows and what to do', async () => {
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING'), c('v', 'STRING'), c('n', 'STRING')]));
    await w.mergeRows('ds', 't', ['k'], [{ k: 'a', v: 'returning', n: null }, { k: 'b', v: '7', n: 'x' }, { k: 'c', v: 'new', n: null }]);
    const desired = tableOf('t', [c('k', 'STRING'), c('v', 'INT64'), c('n', 'STRING', 'REQUIRED'), c('customer', 'STRING', 'REQUIRED')]);
    const replace = { columnSources: { k: 'k', v: 'v', n: 'n', customer: undefined } };
    const expected = [
      { column: 'v', source: 'v', rule: 'convert', from: 'STRING', to: 'INT64', rows: 2 },
      { column: 'n', source: 'n', rule: 'required', rows: 2 },
      { column: 'customer', rule: 'required', rows: 3 },
    ];
    assert.equal(await w.countUncopyable(desired, replace), expected);
    const err = await rejects(w.replaceTable(desired, replace));
    assert.is(err.code, 'TARGET_ERROR');
    assert.is(
      err.message,
      'Replacing duckdb_table.ds.t failed; the old table and its rows are kept: ' +
        '2 existing rows hold values in column v that cannot be converted from STRING to INT64; fix or delete those rows, or keep v STRING; ' +
        '2 existing rows hold NULL in column n, which the spec makes REQUIRED; fill or delete those rows, or keep n NULLABLE; ' +
        '3 existing rows would hold NULL in the new column customer, which the spec makes REQUIRED; add customer as NULLABLE first, apply (which fills it), then make it REQUIRED',
    );
    assert.equal(err.details, { uncopyable: expected });
  });
  const t = (await use(true, (w) => w.getTable('ds', 't')))!;
  assert.equal(t.columns.map((x) => `${x.name} ${x.type} ${x.mode}`), ['k STRING NULLABLE', 'v STRING NULLABLE', 'n STRING NULLABLE']);
  assert.equal((await use(true, (w) => rows(w, 't'))).length, 3);
  assert.equal(await use(true, async (w) => (await w.listTables('ds')).map((x) => x.name)), ['t'], 'no leftover temp table');
});

Suite('a replacement whose rows all fit the stricter schema counts none and copies them', async () => {
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING'), c('v', 'STRING')]));
    await w.mergeRows('ds', 't', ['k'], [{ k: 'a', v: '12' }]);
    const desired = tableOf('t', [c('k', 'STRING', 'REQUIRED'), c('v', 'INT64')]);
    const replace = { columnSources: { k: 'k', v: 'v' } };
    assert.equal(await w.countUncopyable(desired, replace), []);
    await w.replaceTable(desired, replace);
    assert.equal(await rows(w, 't'), [{ k: 'a', v: '12' }]);
  });
});

Suite('deletion protection is honoured by deleteTable and replaceTable', async () => {
  await use(false, async (w) => {
    await w.createDataset({ name: 'ds', labels: owned });
    await w.createTable(tableOf('t', [c('k', 'STRING')], { deletionProtection: true }));
    assert.match((await rejects(w.deleteTable('ds', 't'))).message, 'duckdb_table.ds.t has deletion protection; it cannot be deleted');
    assert.match(
      (await rejects(w.replaceTable(tableOf('t', [c('k', 'INT64')], { deletionProtection: true }), { columnSources: { k: 'k' } }))).message,
      'has deletion protection; it cannot be replaced',
    );
    assert.ok(await w.getTable('ds', 't'));
  });
});

Suite('read-only on a missing file observes an empty target and creates nothing', async () => {
  await use(true, async (w) => {
    assert.is(await w.getDataset('ds'), null);
    assert.equal(await w.listTables('ds'), []);
    assert.is(await w.getTable('ds', 't'), null);
    assert.equal(await rows(w, 't'), []);
    const err = await rejects(w.createDataset({ name: 'ds', labels: owned }));
    assert.match(err.message, 'was opened read-only');
  });
  assert.not.ok(existsSync(ctx.db));
});

Suite('a table made by hand is observed from the catalog, unowned', async () => {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(ctx.db);
  const conn = await inst.connect();
  await conn.run(`CREATE SCHEMA ds; CREATE TABLE ds.${quoteIdent('hand made')} (a INTEGER NOT NULL, b VARCHAR[], s STRUCT(x DOUBLE), d DECIMAL(10,2), ts TIMESTAMP WITH TIME ZONE)`);
  conn.closeSync();
  inst.closeSync();
  const t = (await use(true, (w) => w.getTable('ds', 'hand made')))!;
  assert.is(t.owned, false);
  assert.equal(t.labels, {});
  assert.equal(t.columns, [
    c('a', 'INT64', 'REQUIRED'),
    c('b', 'STRING', 'REPEATED'),
    c('s', 'RECORD', 'NULLABLE', { fields: [c('x', 'FLOAT64')] }),
    c('d', 'NUMERIC'),
    c('ts', 'TIMESTAMP'),
  ]);
});

Suite('releasing the lock closes the database first, so the next process can open the file at once', async () => {
  const w = await open();
  const lock = w.lock();
  const info = { id: 'l1', pid: process.pid, host: 'h', since: new Date().toISOString(), operation: 'apply', who: 'me' };
  assert.equal(await lock.tryAcquire(info), { acquired: true });
  await w.createDataset({ name: 'ds', labels: owned }); // opens the database read-write
  await lock.release('l1');
  // Another process opening the file read-write fails while this one still holds it open.
  const script = `import('@duckdb/node-api').then(async (m) => { const i = await m.DuckDBInstance.create(${JSON.stringify(ctx.db)}); i.closeSync(); console.log('opened'); }).catch((e) => { console.log('failed: ' + e.message); });`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
  assert.is(out.trim(), 'opened');
  assert.is(existsSync(`${ctx.db}.mlbridge.lock`), false);
  await w.close();
});

Suite('DuckDB type text parses with quoted names, nesting and lists', () => {
  assert.equal(parseDuckType('STRUCT("a ""b""" BIGINT, c VARCHAR[])[]'), {
    kind: 'list',
    element: {
      kind: 'struct',
      fields: [
        { name: 'a "b"', type: { kind: 'scalar', name: 'BIGINT', args: [] } },
        { name: 'c', type: { kind: 'list', element: { kind: 'scalar', name: 'VARCHAR', args: [] } } },
      ],
    },
  });
  assert.equal(parseDuckType('DECIMAL(38,9)'), { kind: 'scalar', name: 'DECIMAL', args: [38, 9] });
  assert.equal(parseDuckType('TIMESTAMP WITH TIME ZONE'), { kind: 'scalar', name: 'TIMESTAMP WITH TIME ZONE', args: [] });
});

// An Order mapping with one INT64 column, its three tables, and records staged as a snapshot at `now`.
const orderMapping = {
  kind: 'Order',
  fields: [{ name: 'total', from: ['total'], type: 'INT64', mode: 'NULLABLE' }],
  scoring: { quarantine: 0.5, ingest: 0.8, weights: { freshness: 0, completeness: 1, anomaly: 0 }, freshness: { halfLifeSeconds: 900, maxLagSeconds: 86400 } },
} as unknown as MappingSpec;
const mapping = orderMapping;
const now = new Date('2026-11-01T00:00:00Z');
const tables = { kind: 'Order', dataset: 'ds', current: 'order', raw: 'order_raw', quarantine: 'order_quarantine' };
async function createOrderTables(w: Warehouse): Promise<void> {
  await w.createDataset({ name: 'ds', labels: owned });
  await w.createTable(tableOf('order', [...currentSystemColumns(), c('total', 'INT64')]));
  await w.createTable(tableOf('order_raw', rawColumns()));
  await w.createTable(tableOf('order_quarantine', quarantineColumns()));
}
const mergeSnapshot = { mode: 'snapshot', snapshotVersion: '9', kind: 'Order', origin: 'export', ingestTime: '2026-11-01T00:00:00Z' } as const;

Suite('a batch staged only to plan diffs like a whole one, and a merge of it is refused', async () => {
  const record = (id: string, total: unknown) => ({ entityKey: `Order:${id}`, kind: 'Order', operation: 'UPSERT' as const, data: { total }, eventTime: now });
  await use(false, async (w) => {
    await createOrderTables(w);
    const staged = (withRow: boolean) => [record('a', 1), record('b', 'many')].map((r) => stageRecord(r, { mapping, now, withRow }));
    const [accepted, drifted] = staged(false);
    // Planning: the accepted record carries no raw-log fields; the quarantined one is whole.
    assert.equal([accepted!.eventId, accepted!.eventTime, accepted!.flags, accepted!.row], ['', null, [], null]);
    assert.ok(drifted!.eventId.length === 32 && drifted!.reason?.startsWith('type drift: Order Order:b: property total'));
    const plan = await w.openStage(tables);
    const full = await w.openStage(tables);
    try {
      await plan.appendColumns(toColumns('Order', staged(false)));
      await full.appendColumns(toColumns('Order', staged(true)));
      const expected = { insert: 1, update: 0, delete: 0, quarantine: 1, unchanged: 0 };
      assert.equal((await plan.diff({ mode: 'snapshot', snapshotVersion: '1' })).counts, expected);
      assert.equal((await full.diff({ mode: 'snapshot', snapshotVersion: '1' })).counts, expected);
      const refused = await rejects(plan.merge({ mode: 'snapshot', snapshotVersion: '1', kind: 'Order', origin: 'export', ingestTime: '2026-11-01T00:00:00Z' }));
      assert.equal([refused.code, refused.message], ['APPLY_FAILED', 'duckdb_table.ds.order: 1 changed row was staged without its content (first: Order:a); stage them again to apply']);
      assert.equal(await rows(w, 'order'), []);
      const merged = await full.merge({ mode: 'snapshot', snapshotVersion: '1', kind: 'Order', origin: 'export', ingestTime: '2026-11-01T00:00:00Z' });
      assert.equal([merged.inserted, merged.quarantined, merged.logged], [1, 1, 1]);
    } finally {
      await plan.close();
      await full.close();
    }
  });
});

Suite('a snapshot that stages a key twice keeps only its latest row', async () => {
  const staged = (version: number, total: number) =>
    stageRecord({ entityKey: 'Order:a', kind: 'Order', operation: 'UPSERT', data: { total }, eventTime: now, version }, { mapping, now, withRow: true });
  await use(false, async (w) => {
    await createOrderTables(w);
    const stage = await w.openStage(tables);
    try {
      await stage.appendColumns(toColumns('Order', [staged(2, 20), staged(1, 10)]));
      assert.equal((await stage.diff({ mode: 'snapshot', snapshotVersion: '9' })).counts, { insert: 1, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
      assert.equal((await stage.merge(mergeSnapshot)).inserted, 1);
      assert.equal((await rows(w, 'order')).map((r) => [r._key, r._version, r.total]), [['Order:a', '2', '20']]);
    } finally {
      await stage.close();
    }
  });
});

Suite('readRowsByKey reads the keys asked, whole or only the columns named (and _key)', async () => {
  const staged = (id: string, total: number) =>
    stageRecord({ entityKey: `Order:${id}`, kind: 'Order', operation: 'UPSERT', data: { total }, eventTime: now, version: 3 }, { mapping, now, withRow: true });
  await use(false, async (w) => {
    await createOrderTables(w);
    const stage = await w.openStage(tables);
    try {
      await stage.appendColumns(toColumns('Order', [staged('a', 1), staged('b', 2)]));
      await stage.merge(mergeSnapshot);
    } finally {
      await stage.close();
    }
  });
  const keys = ['Order:b', 'Order:none'];
  const whole = await use(true, (w) => w.readRowsByKey('ds', 'order', keys));
  assert.equal(whole.map((r) => [r._key, r._version, r.total]), [['Order:b', '3', '2']]);
  assert.equal(await use(true, (w) => w.readRowsByKey('ds', 'order', keys, ['_version', 'no_such_column'])), [{ _key: 'Order:b', _version: '3' }]);
  assert.equal(await use(true, (w) => w.readRowsByKey('ds', 'order', [], ['_version'])), []);
});

Suite('current rows fingerprint alike in SQL and in JavaScript, so a record current holds is staged without its content', async () => {
  const keys = ['Order:a', 'eu|Order:b', 'Order:tab\there "q" \\ ünï 😀', "Order:it's"];
  await use(false, async (w) => {
    await createOrderTables(w);
    const first = await w.openStage(tables);
    try {
      assert.is(await first.currentFingerprints!().then((f) => f?.length ?? 0), 0);
      const staged = keys.map((k, i) => stageRecord({ entityKey: k, kind: 'Order', operation: 'UPSERT', data: { total: i }, eventTime: now }, { mapping, now, withRow: true }));
      await first.appendColumns(toColumns('Order', staged));
      assert.is((await first.merge(mergeSnapshot)).inserted, 4);
    } finally {
      await first.close();
    }
    const second = await w.openStage(tables);
    try {
      const fps = (await second.currentFingerprints!())!;
      const current = await rows(w, 'order');
      assert.equal([...fps], current.map((r) => contentFingerprint(String(r._key), String(r._hash))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      const unchanged = unchangedTest(fps);
      const again = (total: number) => stageRecord({ entityKey: keys[2]!, kind: 'Order', operation: 'UPSERT', data: { total }, eventTime: now }, { mapping, now, withRow: true, unchanged });
      // The same content: staged as a plan stages it; changed content: whole.
      assert.equal([again(2).row, again(2).eventId], [null, '']);
      assert.equal([JSON.parse(again(3).row!).total, again(3).eventId.length], ['3', 32]);
    } finally {
      await second.close();
    }
  });
});

Suite('a snapshot older than current rows that differ counts them unchanged and describes them as kept, in one pass or several', async () => {
  const exported = '1796045820088510';
  const staged = (id: string, total: number, version: string) =>
    stageRecord({ entityKey: `Order:${id}`, kind: 'Order', operation: 'UPSERT', data: { total }, eventTime: now, version }, { mapping, now, withRow: true });
  await use(false, async (w) => {
    await createOrderTables(w);
    const first = await w.openStage(tables);
    try {
      await first.appendColumns(toColumns('Order', [staged('a', 1, exported), staged('b', 2, exported), staged('c', 3, exported)]));
      await first.merge({ ...mergeSnapshot, snapshotVersion: exported });
    } finally {
      await first.close();
    }
  });
  // A later read whose versions are counters (the emulator's): b and c differ, a does not.
  const later = [staged('a', 1, '5'), staged('b', 20, '7'), staged('c', 30, '6')];
  for (const rowsPerPass of [1_000_000, 1]) {
    const diff = await inPasses(rowsPerPass, () =>
      use(true, async (w) => {
        const stage = await w.openStage(tables);
        try {
          await stage.appendColumns(toColumns('Order', later));
          return await stage.diff({ mode: 'snapshot', snapshotVersion: '1000' });
        } finally {
          await stage.close();
        }
      }),
    );
    assert.equal(diff.counts, { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 3 }, `rows per pass: ${rowsPerPass}`);
    assert.equal(diff.kept, { count: 2, samples: ['Order:b', 'Order:c'], first: { key: 'Order:b', targetVersion: exported, sourceVersion: '7' }, sourceMax: '7', targetMin: exported });
  }
  assert.equal((await use(true, (w) => rows(w, 'order'))).map((r) => [r._key, r._version, r.total]), [
    ['Order:a', exported, '1'],
    ['Order:b', exported, '2'],
    ['Order:c', exported, '3'],
  ]);
});

Suite.run();
