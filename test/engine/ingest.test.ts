import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../src/engine/index.js';
import { createIngestor, type IncomingChange, type IngestOutcome, type RejectedMessage } from '../../src/engine/ingest.js';
import type { SyncRecord } from '../../src/record/sync-record.js';
import type { Spec } from '../../src/spec/types.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { mulberry32 } from '../../src/model/prng.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';
import { outOfOrderPatchScenario } from './fixtures/out-of-order-patch.js';
import { decodePubsub } from '../../src/server/pubsub.js';

// ---- fakes ----

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = () => NOW;
const at = (v: number) => new Date(NOW.getTime() - 60_000 + v).toISOString();

const customers = () =>
  mapping('Customer', [field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('tier', 'STRING')]);

function upsert(name: string, version: number, data: Record<string, unknown>, over: Partial<SyncRecord> = {}): IncomingChange {
  const record: SyncRecord = { entityKey: name, kind: 'Customer', operation: 'UPSERT', data, version, eventTime: at(version), origin: 'pubsub', ...over };
  return { record, payload: { message: { data: JSON.stringify(record) } } };
}
const patch = (name: string, version: number, data: Record<string, unknown>) => upsert(name, version, data, { operation: 'PATCH' });
const del = (name: string, version: number) => upsert(name, version, {}, { operation: 'DELETE', data: null });

function rejectedMessage(id: string, over: Partial<RejectedMessage> = {}): RejectedMessage {
  return { id, origin: 'pubsub', reason: 'the body is not JSON: Unexpected token } at byte 9', payload: '{"kind": }', receivedAt: NOW, ...over };
}

/** A deterministic shuffle, so a failure reproduces. */
function shuffled<T>(items: T[], seed: number): T[] {
  const rand = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const Suite = suite('ingesting change events into DuckDB');

let ctx: ReturnType<typeof tempDir>;
let s: Spec;
Suite.before.each(async () => {
  ctx = tempDir('mlbridge-ingest-');
  s = spec(ctx.db, [customers()]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
});
Suite.after.each(() => ctx.cleanup());

async function ingest<T>(fn: (write: (changes: IncomingChange[], rejected?: RejectedMessage[]) => Promise<IngestOutcome>, w: Warehouse) => Promise<T>): Promise<T> {
  return withWarehouse(s, false, async (w) => {
    const sink = createIngestor(s, w, { clock });
    try {
      return await fn((changes, rejected = []) => sink.write(changes, rejected), w);
    } finally {
      await sink.close();
    }
  });
}

async function rows(table: string): Promise<Row[]> {
  return withWarehouse(s, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('analytics', table)) out.push(r);
    return out.sort((a, b) => String(a._key).localeCompare(String(b._key)) || String(a.event_id ?? '').localeCompare(String(b.event_id ?? '')));
  });
}

const current = async () => (await rows('customer')).map((r) => ({ key: r._key, version: r._version, email: r.email, age: r.age, tier: r.tier }));

Suite('2,000 shuffled events with 30% duplicates leave the latest version of each key, one raw row per event, and a redelivery changes nothing', async () => {
  const keys = 200;
  const perKey = 7; // 1,400 distinct events + 600 duplicates = 2,000 deliveries
  const distinct: IncomingChange[] = [];
  const latest = new Map<string, { version: string; email: string; age: string; tier: string }>();
  for (let k = 0; k < keys; k++) {
    for (let v = 1; v <= perKey; v++) {
      const data = { email: `c${k}-v${v}@example.com`, age: 20 + ((k + v) % 50), tier: v % 2 ? 'gold' : 'silver' };
      distinct.push(upsert(`c${k}`, v, data));
      if (v === perKey) latest.set(`Customer:c${k}`, { version: String(v), email: data.email, age: String(data.age), tier: data.tier });
    }
  }
  const dupes = shuffled(distinct, 7).slice(0, 600);
  const deliveries = shuffled([...distinct, ...dupes], 42);
  assert.is(deliveries.length, 2000);
  const batches: IncomingChange[][] = [];
  for (let i = 0; i < deliveries.length; i += 100) batches.push(deliveries.slice(i, i + 100));

  const first = await ingest(async (write) => {
    const total: IngestOutcome = { written: 0, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 };
    for (const b of batches) {
      const o = await write(b);
      for (const k of Object.keys(total) as (keyof IngestOutcome)[]) total[k] += o[k];
    }
    return total;
  });
  assert.is(first.duplicates, 600);
  assert.is(first.quarantined + first.rejected, 0);
  assert.is(first.written + first.superseded, 1400, 'every distinct event is either applied or superseded');

  const cur = await current();
  assert.is(cur.length, keys);
  for (const r of cur) {
    const want = latest.get(String(r.key))!;
    assert.equal({ version: r.version, email: r.email, age: r.age, tier: r.tier }, want, String(r.key));
  }
  const raw = await rows('customer_raw');
  assert.is(raw.length, 1400);
  assert.is(new Set(raw.map((r) => r.event_id)).size, 1400);

  const again = await ingest(async (write) => {
    let written = 0;
    let duplicates = 0;
    for (const b of batches) {
      const o = await write(b);
      written += o.written + o.superseded;
      duplicates += o.duplicates;
    }
    return { written, duplicates };
  });
  assert.equal(again, { written: 0, duplicates: 2000 });
  assert.equal(await current(), cur);
  assert.is((await rows('customer_raw')).length, 1400);
});

Suite('a PATCH keeps the columns it omits, and its _hash is the hash of the full row an UPSERT of it would have', async () => {
  await ingest(async (write) => {
    await write([upsert('ann', 1, { email: 'ann@example.com', age: 30, tier: 'gold' })]);
    const o = await write([patch('ann', 2, { age: 31 })]);
    assert.equal(o, { written: 1, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 });
    // Within one batch: the PATCH applies over the earlier UPSERT of the batch, in version order.
    await write([patch('bob', 6, { tier: 'silver' }), upsert('bob', 5, { email: 'bob@example.com', age: 40, tier: 'gold' })]);
  });
  assert.equal(await current(), [
    { key: 'Customer:ann', version: '2', email: 'ann@example.com', age: '31', tier: 'gold' },
    { key: 'Customer:bob', version: '6', email: 'bob@example.com', age: '40', tier: 'silver' },
  ]);
  const patchedHash = (await rows('customer')).find((r) => r._key === 'Customer:ann')!._hash;
  // The same content sent as a full UPSERT hashes the same (and, at the same version, changes nothing).
  const o = await ingest((write) => write([upsert('ann', 2, { email: 'ann@example.com', age: 31, tier: 'gold' })]));
  assert.is(o.written, 0);
  assert.is((await rows('customer')).find((r) => r._key === 'Customer:ann')!._hash, patchedHash);
});

Suite('a PATCH of a key not in current is an UPSERT of what it carries; missing a REQUIRED column it is quarantined', async () => {
  await ingest(async (write) => {
    await write([patch('cy', 3, { email: 'cy@example.com' })]);
    const o = await write([patch('dee', 3, { age: 50 })]);
    assert.equal(o, { written: 0, duplicates: 0, superseded: 0, quarantined: 1, rejected: 0 });
  });
  assert.equal(await current(), [{ key: 'Customer:cy', version: '3', email: 'cy@example.com', age: null, tier: null }]);
  const q = await rows('customer_quarantine');
  assert.equal(q.map((r) => r.reason), ['Customer Customer:dee: PATCH at version 3 of a key not in the current table leaves column email empty, and it is REQUIRED']);
  // Kept as raw would log the PATCH, so that an older UPSERT arriving later can replay it.
  assert.equal(q.map((r) => [r.data, (r.flags as string[]).filter((f) => f.startsWith('patch')).sort()]), [[{ _version: '3', age: '50' }, ['patch', 'patch_column:age', 'patch_incomplete:email']]]);
});

Suite('a PATCH read back from quarantine is replayed only when its row is what the PATCH quarantined', async () => {
  await ingest(async (write) => {
    await write([patch('gus', 3, { age: 50 }), patch('hal', 3, { age: 60 }), patch('ida', 3, { age: 70 })]);
  });
  // Edit two of the quarantine rows: a value the PATCH did not carry (its event_id no longer
  // matches its content), and a column the mapping does not have.
  const quarantined = await rows('customer_quarantine');
  const edited = quarantined.flatMap((r) =>
    r._key === 'Customer:hal' ? [{ ...r, data: { _version: '3', age: '61' } }]
    : r._key === 'Customer:ida' ? [{ ...r, data: { _version: '3', age: '70', shoe: '9' }, flags: [...(r.flags as string[]), 'patch_column:shoe'] }]
    : [],
  );
  await withWarehouse(s, false, (w) => w.mergeRows('analytics', 'customer_quarantine', ['event_id'], edited));
  await ingest((write) => write([upsert('gus', 2, { email: 'gus@example.com', age: 1 }), upsert('hal', 2, { email: 'hal@example.com', age: 1 }), upsert('ida', 2, { email: 'ida@example.com', age: 1 })]));
  assert.equal(await current(), [
    { key: 'Customer:gus', version: '3', email: 'gus@example.com', age: '50', tier: null },
    { key: 'Customer:hal', version: '2', email: 'hal@example.com', age: '1', tier: null },
    { key: 'Customer:ida', version: '2', email: 'ida@example.com', age: '1', tier: null },
  ]);
});

Suite('events of a key delivered out of order around PATCHes leave current as in-order delivery would; a redelivery of all changes nothing', async () => {
  s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64'), field('tier', 'STRING')])]);
  await outOfOrderPatchScenario(s, (readOnly, fn) => withWarehouse(s, readOnly, fn));
});

Suite('a DELETE removes the row and logs it; an older UPSERT arriving later does not bring it back, a newer one does', async () => {
  await ingest(async (write) => {
    await write([upsert('eve', 1, { email: 'eve@example.com' })]);
    assert.equal(await write([del('eve', 5)]), { written: 1, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 });
    assert.equal(await current(), []);
    // The late UPSERT v3 is logged (a distinct event) but current stays without the key.
    assert.equal(await write([upsert('eve', 3, { email: 'late@example.com' })]), { written: 0, duplicates: 0, superseded: 1, quarantined: 0, rejected: 0 });
    assert.equal(await current(), []);
    // A DELETE that reaches an empty key first still guards it.
    await write([del('fay', 9)]);
    await write([upsert('fay', 8, { email: 'fay@example.com' })]);
    assert.equal(await current(), []);
    await write([upsert('eve', 6, { email: 'eve-again@example.com' })]);
  });
  assert.equal(await current(), [{ key: 'Customer:eve', version: '6', email: 'eve-again@example.com', age: null, tier: null }]);
  const raw = (await rows('customer_raw')).map((r) => `${r._key} ${r.operation} ${JSON.stringify(r.data)}`).sort();
  assert.equal(raw, [
    'Customer:eve DELETE {"_version":"5"}',
    'Customer:eve UPSERT {"_version":"1","email":"eve@example.com","age":null,"tier":null}',
    'Customer:eve UPSERT {"_version":"3","email":"late@example.com","age":null,"tier":null}',
    'Customer:eve UPSERT {"_version":"6","email":"eve-again@example.com","age":null,"tier":null}',
    'Customer:fay DELETE {"_version":"9"}',
    'Customer:fay UPSERT {"_version":"8","email":"fay@example.com","age":null,"tier":null}',
  ]);
});

Suite('a wrong-typed value is quarantined with kind, key, property, expected and found type; sent twice it is stored once', async () => {
  const bad = upsert('gus', 2, { email: 'gus@example.com', age: 'forty' });
  await ingest(async (write) => {
    assert.equal(await write([bad, upsert('hal', 1, { email: 'hal@example.com' })]), { written: 1, duplicates: 0, superseded: 0, quarantined: 1, rejected: 0 });
    assert.equal(await write([bad]), { written: 0, duplicates: 1, superseded: 0, quarantined: 0, rejected: 0 });
  });
  const q = await rows('customer_quarantine');
  assert.equal(q.map((r) => r.reason), ['type drift: Customer Customer:gus: property age (column age): expected INT64, found STRING "forty"']);
  assert.equal(q[0]!.data, { email: 'gus@example.com', age: 'forty' });
  assert.equal((await current()).map((r) => r.key), ['Customer:hal']);
});

Suite('a message that can never succeed goes to _mlbridge_rejected (no mapping) or the kind quarantine, once per message', async () => {
  const unmapped = upsert('x1', 1, { anything: true }, { kind: 'Invoice' });
  const invalid: IncomingChange = { record: { entityKey: 'y', kind: 'Customer', operation: 'UPSERT', data: null } as unknown as SyncRecord, payload: { raw: 'y' } };
  const noKind = rejectedMessage('a'.repeat(64));
  await ingest(async (write) => {
    const o = await write([unmapped, invalid], [noKind, rejectedMessage('b'.repeat(64), { kind: 'Customer', reason: 'undecodable proto' })]);
    assert.equal(o, { written: 0, duplicates: 0, superseded: 0, quarantined: 0, rejected: 4 });
    assert.equal(await write([unmapped, invalid], [noKind, noKind]), { written: 0, duplicates: 0 + 4, superseded: 0, quarantined: 0, rejected: 0 });
  });
  const shared = await rows('_mlbridge_rejected');
  assert.equal(
    shared.map((r) => ({ kind: r.kind, reason: r.reason, data: r.data, origin: r.origin })).sort((a, b) => String(a.reason).localeCompare(String(b.reason))),
    [
      { kind: 'Invoice', reason: 'no mapping for kind Invoice', data: unmapped.payload as Row[string], origin: 'pubsub' },
      { kind: null, reason: 'the body is not JSON: Unexpected token } at byte 9', data: '{"kind": }', origin: 'pubsub' },
    ],
  );
  const q = await rows('customer_quarantine');
  assert.equal(q.map((r) => r.reason).sort(), ['invalid record: data: expected an object for UPSERT, got null', 'undecodable proto']);
  assert.equal(await rows('customer'), []);
});

Suite('a rejected Pub/Sub message whose key is complete is stored under that _key, in _mlbridge_rejected or the kind quarantine', async () => {
  const push = (event: unknown) => {
    const body = Buffer.from(JSON.stringify({ message: { data: Buffer.from(JSON.stringify(event)).toString('base64'), messageId: '7', publishTime: NOW.toISOString() } }));
    const decoded = decodePubsub({ body, receivedAt: NOW }, new Set(['Customer']));
    if (!('rejected' in decoded)) throw new Error('expected a rejection');
    return decoded.rejected;
  };
  const key = (kind: string, name: string, namespaceId?: string) => ({ partitionId: { projectId: 'p', ...(namespaceId ? { namespaceId } : {}) }, path: [{ kind, name }] });
  const unmapped = push({ operation: 'DELETE', entity: { key: key('Invoice', 'inv-1', 'billing') } });
  const badValue = push({ operation: 'UPSERT', entity: { key: key('Ghost', 'g1'), properties: { email: 'plain' } } });
  const badTime = push({ operation: 'DELETE', entity: { key: key('Customer', 'kim') }, eventTime: 'yesterday' });
  const noKey = push({ operation: 'DELETE', entity: { key: { path: [{ kind: 'Ghost' }] } } });
  assert.equal(await ingest((write) => write([], [unmapped, badValue, badTime, noKey])), { written: 0, duplicates: 0, superseded: 0, quarantined: 0, rejected: 4 });
  assert.equal(
    (await rows('_mlbridge_rejected')).map((r) => [r._key, r.kind, r.reason]).sort((a, b) => String(a[2]).localeCompare(String(b[2]))),
    [
      ['', 'Ghost', 'entity.key.path[0]: expected a non-empty `name` or an integer `id` (an event names a complete key)'],
      ['Ghost:g1', 'Ghost', 'entity.properties.email: expected a Datastore value such as {"stringValue": "…"}, got a string'],
      ['billing|Invoice:inv-1', 'Invoice', 'kind `Invoice` is not mapped in the spec'],
    ],
  );
  assert.equal((await rows('customer_quarantine')).map((r) => [r._key, r.reason]), [
    ['Customer:kim', 'eventTime: expected an RFC 3339 timestamp, got "yesterday"'],
  ]);
});

Suite('a change in a namespace its mapping does not read goes to _mlbridge_rejected', async () => {
  s = spec(ctx.db, [{ ...customers(), namespaces: ['prod'] }]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
  const o = await ingest((write) => write([upsert('ivy', 1, { email: 'ivy@example.com' }, { namespace: 'test' }), upsert('jo', 1, { email: 'jo@example.com' }, { namespace: 'prod' })]));
  assert.equal(o, { written: 1, duplicates: 0, superseded: 0, quarantined: 0, rejected: 1 });
  assert.equal((await rows('_mlbridge_rejected')).map((r) => r.reason), ['kind Customer is mapped for namespace prod only, not test']);
  assert.equal((await rows('customer')).map((r) => r._key), ['prod|Customer:jo']);
});

Suite.run();
