import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../src/engine/index.js';
import { createIngestor, type IncomingChange, type IngestOutcome } from '../../src/engine/ingest.js';
import type { SyncRecord } from '../../src/record/sync-record.js';
import type { Spec } from '../../src/spec/types.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';

// What serve's events merge remembers between batches (the stage tables it reuses, the
// observed tables, the summary of raw's event_ids and DELETE keys) must never change what
// is written: every event once in raw, the version guard, the table as it is now.

// ---- fakes ----

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = () => NOW;
const at = (v: number) => new Date(NOW.getTime() - 60_000 + v).toISOString();

const customers = () => mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('tier', 'STRING')]);

function upsert(name: string, version: number, over: Partial<SyncRecord> = {}): IncomingChange {
  const data = { email: `${name}-v${version}@example.com`, age: 30 + version, tier: version % 2 ? 'gold' : 'silver' };
  const record: SyncRecord = { entityKey: name, kind: 'Customer', operation: 'UPSERT', data, version, eventTime: at(version), origin: 'pubsub', ...over };
  return { record, payload: { message: { data: JSON.stringify(record) } } };
}
const del = (name: string, version: number) => upsert(name, version, { operation: 'DELETE', data: null });

/** Batches of `size` distinct events: keys c0…c{keys-1}, each at versions 1…perKey. */
function batchesOf(keys: number, perKey: number, size: number): IncomingChange[][] {
  const all: IncomingChange[] = [];
  for (let v = 1; v <= perKey; v++) for (let k = 0; k < keys; k++) all.push(upsert(`c${k}`, v));
  const out: IncomingChange[][] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size));
  return out;
}

const sum = (outcomes: IngestOutcome[]): IngestOutcome =>
  outcomes.reduce((t, o) => ({ written: t.written + o.written, duplicates: t.duplicates + o.duplicates, superseded: t.superseded + o.superseded, quarantined: t.quarantined + o.quarantined, rejected: t.rejected + o.rejected }));

const Suite = suite('serve’s events merge across batches on DuckDB');

let ctx: ReturnType<typeof tempDir>;
let s: Spec;
Suite.before.each(async () => {
  ctx = tempDir('mlbridge-ingest-batches-');
  s = spec(ctx.db, [customers()]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
});
Suite.after.each(() => ctx.cleanup());

/** One warehouse and one ingestor for all of `fn` (as one serve process). */
async function serving<T>(target: Spec, fn: (write: (changes: IncomingChange[]) => Promise<IngestOutcome>, w: Warehouse) => Promise<T>): Promise<T> {
  return withWarehouse(target, false, async (w) => {
    const sink = createIngestor(target, w, { clock });
    try {
      return await fn((changes) => sink.write(changes, []), w);
    } finally {
      await sink.close();
    }
  });
}

async function rows(target: Spec, table: string): Promise<Row[]> {
  return withWarehouse(target, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('analytics', table)) out.push(r);
    return out.sort((a, b) => String(a._key).localeCompare(String(b._key)) || String(a._version).localeCompare(String(b._version)));
  });
}

Suite('sixty batches through one ingestor write each event once; redelivered after a restart they are all duplicates', async () => {
  const batches = batchesOf(100, 30, 50); // 3,000 events, 60 batches
  const first = sum(await serving(s, async (write) => Promise.all(batches.map((b) => write(b)))));
  assert.equal(first, { written: 3000, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 });
  const raw = await rows(s, 'customer_raw');
  assert.is(raw.length, 3000);
  assert.is(new Set(raw.map((r) => r.event_id)).size, 3000);

  // A new process knows nothing of the first one's batches: it reads raw to know them.
  const again = sum(await serving(s, async (write) => Promise.all([...batches].reverse().map((b) => write(b)))));
  assert.equal(again, { written: 0, duplicates: 3000, superseded: 0, quarantined: 0, rejected: 0 });
  assert.is((await rows(s, 'customer_raw')).length, 3000);
  const cur = await rows(s, 'customer');
  assert.is(cur.length, 100);
  assert.ok(cur.every((r) => r._version === '30'), 'every key at its latest version');
});

Suite('a DELETE logged before a restart still keeps an older UPSERT out, and lets a newer one in', async () => {
  await serving(s, async (write) => {
    await write([upsert('a', 5), upsert('b', 5)]);
    await write([del('a', 9)]);
  });
  const later = await serving(s, async (write) => [await write([upsert('a', 7), upsert('b', 6)]), await write([upsert('a', 10)])]);
  assert.equal(later[0], { written: 1, duplicates: 0, superseded: 1, quarantined: 0, rejected: 0 });
  assert.equal(later[1], { written: 1, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 });
  assert.equal(
    (await rows(s, 'customer')).map((r) => [r._key, r._version]),
    [
      ['Customer:a', '10'],
      ['Customer:b', '6'],
    ],
  );
});

Suite('an event logged in raw between two batches by another writer is a duplicate, not logged twice', async () => {
  // The raw row the event would write, taken from a second target that ingested it.
  const other = tempDir('mlbridge-ingest-batches-other-');
  try {
    const o = spec(other.db, [customers()]);
    await withWarehouse(o, false, (warehouse) => apply(o, { warehouse }, { skipData: true }));
    await serving(o, (write) => write([upsert('late', 3)]));
    const [logged] = await rows(o, 'customer_raw');

    const outcome = await serving(s, async (write, w) => {
      await write([upsert('early', 1)]);
      // Not through the ingestor: what it remembers of raw no longer covers every row.
      await w.mergeRows('analytics', 'customer_raw', ['event_id'], [logged!]);
      return write([upsert('late', 3)]);
    });
    assert.is(outcome.duplicates, 1);
    const raw = await rows(s, 'customer_raw');
    assert.equal(raw.filter((r) => r.event_id === logged!.event_id).length, 1);
    assert.is(raw.length, 2);
  } finally {
    other.cleanup();
  }
});

Suite('a column dropped from current between two batches: the next batch writes the table as it is now', async () => {
  const [first, second] = await serving(s, async (write, w) => {
    const a = await write([upsert('a', 1)]);
    await w.updateTable('analytics', 'customer', [{ op: 'drop_column', name: 'tier' }]);
    return [a, await write([upsert('b', 1)])];
  });
  assert.is(first!.written, 1);
  assert.is(second!.written, 1);
  assert.equal(
    (await rows(s, 'customer')).map((r) => [r._key, r.email, 'tier' in r]),
    [
      ['Customer:a', 'a-v1@example.com', false],
      ['Customer:b', 'b-v1@example.com', false],
    ],
  );
});

Suite.run();
