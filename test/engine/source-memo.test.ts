// The source memo on DuckDB (record/source-memo.ts): an apply on staging workers remembers
// what each export record staged as; a later plan or apply skips the records it knows, and
// says and writes exactly what decoding every record would: after drift, after a write to
// current since (staged again without the memo), after a mapping change (a new salt).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { apply, createPlan } from '../../src/engine/index.js';
import type { Plan, RowsChange } from '../../src/engine/plan.js';
import { learnProfile, parseProfile } from '../../src/record/profile.js';
import { memoSalt } from '../../src/record/source-memo.js';
import { loadSpec } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/types.js';
import type { Entity } from '../../src/source/entity.js';
import { openSnapshotSource } from '../../src/source/snapshot-source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import { takeMemo } from '../../src/warehouse/duckdb-memo.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import { writeExport } from '../support/export-writer.js';
import { inPasses } from './fixtures/factories.js';
import { exportSpecYaml } from '../support/export-spec.js';

const N = 24_000;

/** Items (odd ids) and Notes (even ids); `drift` deletes every 1000th, changes every 700th and adds 30 of each; `also` changes one more. */
function* entities(drift: boolean, also = 0): Generator<Entity> {
  for (let i = 1; i <= N + (drift ? 60 : 0); i++) {
    if (drift && i % 1000 === 0) continue;
    yield {
      key: { partitionId: { projectId: 'p' }, path: [{ kind: i % 2 ? 'Item' : 'Note', id: String(i) }] },
      properties: {
        n: i === 4001 ? { stringValue: 'lots' } : { integerValue: String((drift && i % 700 === 0) || i === also ? i + 1 : i) },
        label: { stringValue: `label ${i % 17}` },
        price: { doubleValue: i / 8 },
      },
    };
  }
}

const SPEC = exportSpecYaml(`  - kind: Item
    fields:
      - { name: n, type: INT64 }
      - { name: label, type: STRING }
      - { name: price, type: FLOAT64 }
  - kind: Note
    deletion_protection: false
    fields:
      - { name: n, type: INT64 }
      - { name: label, type: STRING }
`);

let dir = '';

async function specOf(text: string): Promise<Spec> {
  writeFileSync(join(dir, 'mlbridge.yaml'), text);
  return (await loadSpec(join(dir, 'mlbridge.yaml'))).spec!;
}

async function onTarget<T>(readOnly: boolean, fn: (wh: DuckDbWarehouse) => Promise<T>): Promise<T> {
  const wh = new DuckDbWarehouse(join(dir, 'wh.duckdb'), readOnly);
  try {
    return await fn(wh);
  } finally {
    await wh.close();
  }
}

const plan = (spec: Spec, jobs: number) => onTarget(true, async (warehouse) => createPlan(spec, { warehouse, source: await openSnapshotSource(spec.source!) }, { jobs }));
const applyWith = (spec: Spec, jobs: number) => onTarget(false, async (warehouse) => apply(spec, { warehouse, source: await openSnapshotSource(spec.source!) }, { jobs }));
const rowsOf = (p: Plan) => p.changes.filter((c) => c.type === 'rows').map((c) => ({ address: c.address, after: c.after, samples: (c as { sampleKeys: unknown }).sampleKeys }));

/** Rows of a SQL query on the target file (read-only, closed after). */
async function sql(query: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(join(dir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(query)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Runs statements on the target file (as another writer would), closed after. */
async function write(statement: string): Promise<void> {
  const db = await DuckDBInstance.create(join(dir, 'wh.duckdb'));
  const c = await db.connect();
  try {
    await c.run(statement);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const readTable = (table: string) =>
  onTarget(true, async (wh) => {
    const out: Row[] = [];
    for await (const r of wh.readRows('w', table)) out.push(r);
    return out;
  });

const Memo = suite('the source memo');

let spec: Spec;

Memo.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-source-memo-'));
  await writeExport(join(dir, 'exports'), entities(false), { exportId: '2026-11-01T00:00:00_000', maxFileBytes: 256 * 1024 });
  spec = await specOf(SPEC);
  await applyWith(spec, 2);
});
Memo.after(() => rmSync(dir, { recursive: true, force: true }));

Memo('an apply on workers remembers each accepted record under its mapping salt, not the quarantined one', async () => {
  const items = await sql(`SELECT salt, count(*)::INTEGER AS n, count(DISTINCT _key)::INTEGER AS keys FROM "_mlbridge_memo"."w.item" GROUP BY salt`);
  assert.equal(items, [{ salt: memoSalt(spec.mappings[0]!), n: 11_999, keys: 11_999 }]);
  const [held] = await sql(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.item" m JOIN w.item c ON c._key = m._key AND c._hash = m._hash`);
  assert.is(held!.n, 11_999, 'every entry names a key and hash current holds');
  assert.equal(await sql(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.item" WHERE _key = 'Item#4001'`), [{ n: 0 }]);
  assert.equal(await sql(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.note"`), [{ n: 12_000 }]);
});

Memo('the prints of the memo read in sixteen ranges are the prints read in one sort', async () => {
  const db = await DuckDBInstance.create(join(dir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    const memo = '"_mlbridge_memo"."w.note"';
    const salt = memoSalt(spec.mappings[1]!);
    const one = await takeMemo(c, memo, salt);
    const ranged = await takeMemo(c, memo, salt, 500);
    assert.is(one.set.hits.length, 12_000);
    assert.equal(Array.from(ranged.set.pairs), Array.from(one.set.pairs));
    assert.equal(Array.from(ranged.set.index), Array.from(one.set.index));
  } finally {
    c.closeSync();
    db.closeSync();
  }
});

Memo('a plan on workers takes the records it knows from the memo: what the memo says is what the plan shows', async () => {
  assert.equal(rowsOf(await plan(spec, 2)).map((r) => r.after!.unchanged), [12_000, 12_000], 'the same export: nothing to do');
  // Tamper with one entry (a test only: an entry is a function of the record's bytes): the
  // plan on workers believes it, the plan in one thread decodes the record and does not.
  await write(`UPDATE "_mlbridge_memo"."w.note" SET _hash = 'tampered' WHERE _key = 'Note#2'`);
  try {
    const [, notes] = rowsOf(await plan(spec, 2));
    assert.equal(notes!.after, { insert: 0, update: 1, delete: 0, quarantine: 0, unchanged: 11_999 });
    assert.equal(notes!.samples, { insert: [], update: ['Note#2'], delete: [], quarantine: [] });
    assert.equal(rowsOf(await plan(spec, 1))[1]!.after!.update, 0);
  } finally {
    await write(`UPDATE "_mlbridge_memo"."w.note" SET _hash = (SELECT _hash FROM w.note WHERE _key = 'Note#2') WHERE _key = 'Note#2'`);
  }
});

Memo('after drift and a write to current since, plan and apply on workers do what one thread does', async () => {
  // A write since the apply (as serve makes), older than the next export: that export wins.
  await write(`UPDATE w.note SET label = 'written since', _hash = 'since', _version = 1 WHERE _key = 'Note#4'`);
  await writeExport(join(dir, 'exports'), entities(true), { exportId: '2026-11-02T00:00:00_000', maxFileBytes: 256 * 1024 });
  const one = rowsOf(await plan(spec, 1));
  assert.equal(rowsOf(await plan(spec, 2)), one);
  // The key joins split into five passes (as a large table's are) say the same, from the
  // memo (a full join) and from decoded records (a left join and an orphan anti-join).
  assert.equal(rowsOf(await inPasses(2_500, () => plan(spec, 2))), one);
  assert.equal(rowsOf(await inPasses(2_500, () => plan(spec, 1))), one);
  assert.equal(one.map((r) => [r.address, r.after]), [
    // Odd ids: 30 new; the quarantined one, unchanged, counts as unchanged.
    ['rows.Item', { insert: 30, update: 0, delete: 0, quarantine: 0, unchanged: 12_000 }],
    // Even ids: 30 new, 24 deleted (every 1000th), 31 changed (every 700th but 3 deleted) and Note#4.
    ['rows.Note', { insert: 30, update: 32, delete: 24, quarantine: 0, unchanged: 11_944 }],
  ]);

  // The apply meets Note#4 in the memo but must write its content: it stages again, decoding.
  const result = await applyWith(spec, 2);
  assert.equal(rowsOf(result.plan), one);
  const notes = await readTable('note');
  assert.is(notes.length, 12_006);
  assert.is(notes.find((r) => r._key === 'Note#4')!.label, 'label 4');
  assert.is(notes.find((r) => r._key === 'Note#1400')!.n, '1401');
  assert.is(notes.find((r) => r._key === 'Note#2000'), undefined);
  assert.equal(rowsOf(await plan(spec, 2)).map((r) => r.after!.unchanged), [12_030, 12_006]);
  const [memo] = await sql(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.note" m JOIN w.note c ON c._key = m._key AND c._hash = m._hash`);
  assert.is(memo!.n, 12_006, 'the memo follows current: deleted keys gone, changed ones renewed');
  assert.equal(await sql(`SELECT count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.note"`), [{ n: 12_006 }]);
});

Memo('the profile stored after an apply that took records from the memo is the profile of current', async () => {
  // An apply that takes most records from the memo learns its profile in SQL, from current's
  // rows (counts, nulls, categories) and, for numbers, the 10,000 with the smallest hash of their key.
  await writeExport(join(dir, 'exports'), entities(true, 6), { exportId: '2026-11-03T00:00:00_000', maxFileBytes: 256 * 1024 });
  const result = await applyWith(spec, 2);
  assert.equal(rowsOf(result.plan)[1]!.after, { insert: 0, update: 1, delete: 0, quarantine: 0, unchanged: 12_005 });
  const stored = await readTable('_mlbridge_profiles');
  const notes = parseProfile(stored.find((r) => r.mapping === 'Note')!.profile)!;
  const current = await readTable('note');
  const whole = learnProfile(current, spec.mappings[1]!);
  assert.is(notes.sampleCount, 12_006);
  assert.equal(notes.fields.label, whole.fields.label);
  assert.equal({ ...notes.fields.n, numeric: undefined }, { ...whole.fields.n, numeric: undefined });
  const keys = new Set((await sql(`SELECT _key FROM w.note ORDER BY hash(_key), _key LIMIT 10000`)).map((r) => r._key));
  const sampled = learnProfile(
    current.filter((r) => keys.has(r._key as string)),
    spec.mappings[1]!,
  );
  assert.equal({ ...notes.fields.n.numeric, count: 0 }, { ...sampled.fields.n!.numeric, count: 0 });
  assert.is(notes.fields.n!.numeric!.count, 12_006);
});

/** The drifted entities with `also` changed, less Note#3002 and Item#3001, plus two new notes. */
function* fourth(also: number): Generator<Entity> {
  for (const e of entities(true, also)) if (e.key.path[0]!.id !== '3002' && e.key.path[0]!.id !== '3001') yield e;
  for (const id of [900_002, 900_004]) yield { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Note', id: String(id) }] }, properties: { n: { integerValue: '1' }, label: { stringValue: 'new' } } };
}

Memo('an apply whose key joins take several passes writes what one pass writes', async () => {
  // Note#8 changes, Note#3002 and Item#3001 go, two new notes come: in passes of 2,500 rows.
  const before = await readTable('note');
  await writeExport(join(dir, 'exports'), fourth(8), { exportId: '2026-11-04T00:00:00_000', maxFileBytes: 256 * 1024 });
  const result = await inPasses(2_500, () => applyWith(spec, 2));
  assert.equal(rowsOf(result.plan).map((r) => [r.address, r.after]), [
    ['rows.Item', { insert: 0, update: 0, delete: 1, quarantine: 0, unchanged: 12_029 }],
    // Note#6 goes back to the export's n (the previous test's export changed it), Note#8 changes.
    ['rows.Note', { insert: 2, update: 2, delete: 1, quarantine: 0, unchanged: 12_003 }],
  ]);
  const notes = await readTable('note');
  assert.is(notes.length, before.length + 1);
  assert.is(notes.find((r) => r._key === 'Note#8')!.n, '9');
  assert.is(notes.find((r) => r._key === 'Note#3002'), undefined);
  assert.is(notes.find((r) => r._key === 'Note#900002')!.label, 'new');
  assert.is((await readTable('item')).find((r) => r._key === 'Item#3001'), undefined);
  const [raw] = await sql(`SELECT count(*)::INTEGER AS n, count(DISTINCT event_id)::INTEGER AS ids FROM w.note_raw WHERE ingest_time = (SELECT max(ingest_time) FROM w.note_raw)`);
  assert.equal(raw, { n: 5, ids: 5 }, 'one raw row per change: 2 inserts, 2 updates, 1 delete');
  assert.equal(rowsOf(await plan(spec, 2)).map((r) => r.after!.unchanged), [12_029, 12_007]);
});

Memo('a row written since at a newer version is kept and reported, by a plan and by an apply taking the export from the memo', async () => {
  // serve wrote Note#10 after every export so far; the next export changes Note#12 (and Note#8 back).
  const [was] = await sql(`SELECT label, _hash, _version::VARCHAR AS v FROM w.note WHERE _key = 'Note#10'`);
  await write(`UPDATE w.note SET label = 'serve wrote', _hash = 'newer', _version = 9000000000000000 WHERE _key = 'Note#10'`);
  try {
    await writeExport(join(dir, 'exports'), fourth(12), { exportId: '2026-11-05T00:00:00_000', maxFileBytes: 256 * 1024 });
    const kept = (p: Plan) => p.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.summary);
    const warning = (p: Plan) => {
      const exported = (p.changes.find((c) => c.address === 'rows.Note') as RowsChange).snapshotVersion; // the export's start time in µs
      return `rows.Note: 1 row differs from the source but is kept: the target's row is newer (_version 9000000000000000 in the target, ${exported} in the source), e.g. Note#10`;
    };
    for (const p of [await plan(spec, 1), await plan(spec, 2)]) {
      assert.equal(kept(p), [warning(p)]);
      assert.equal(rowsOf(p)[1]!.after, { insert: 0, update: 2, delete: 0, quarantine: 0, unchanged: 12_005 });
    }
    // The apply's diff keeps its changes for the merge: the kept row must not be among them.
    const result = await applyWith(spec, 2);
    assert.equal(kept(result.plan), [warning(result.plan)]);
    const notes = await readTable('note');
    assert.equal(['Note#8', 'Note#10', 'Note#12'].map((k) => notes.find((r) => r._key === k)!.n), ['8', '10', '13']);
    assert.equal(notes.find((r) => r._key === 'Note#10')!.label, 'serve wrote');
    assert.equal(notes.find((r) => r._key === 'Note#10')!._version, '9000000000000000');
  } finally {
    await write(`UPDATE w.note SET label = '${String(was!.label)}', _hash = '${String(was!._hash)}', _version = ${String(was!.v)} WHERE _key = 'Note#10'`);
  }
});

Memo('a changed mapping is a new salt: no record is taken from the old memo', async () => {
  // Notes now map price too: the content of every note with a price changes. Taken from the memo, none would.
  const changed = await specOf(SPEC.replace(/(- kind: Note\n.*\n {4}fields:\n)/, '$1      - { name: price, type: FLOAT64 }\n'));
  assert.is.not(memoSalt(changed.mappings[1]!), memoSalt(spec.mappings[1]!));
  assert.is(memoSalt(changed.mappings[0]!), memoSalt(spec.mappings[0]!), "the items' mapping did not change");
  const two = rowsOf(await plan(changed, 2));
  assert.equal(two, rowsOf(await plan(changed, 1)));
  // The two notes without a price hash the same: an empty column is left out of `_hash`.
  assert.equal(two[1]!.after, { insert: 0, update: 12_005, delete: 0, quarantine: 0, unchanged: 2 });
  await applyWith(changed, 2);
  assert.equal(await sql(`SELECT salt, count(*)::INTEGER AS n FROM "_mlbridge_memo"."w.note" GROUP BY salt`), [{ salt: memoSalt(changed.mappings[1]!), n: 12_007 }]);
  assert.equal(rowsOf(await plan(changed, 2))[1]!.after!.unchanged, 12_007);
});

Memo('a table dropped takes its memo along; the other tables keep theirs', async () => {
  await onTarget(false, (wh) => wh.deleteTable('w', 'note'));
  const memos = await sql(`SELECT table_name FROM duckdb_tables() WHERE schema_name = '_mlbridge_memo' ORDER BY 1`);
  assert.equal(memos, [{ table_name: 'w.item' }]);
});

Memo.run();
