// An event versioned by its own time (a Pub/Sub event without `version`, an Eventarc delete at
// its ce-time) whose time lies far ahead of its receipt is quarantined, never written: at that
// version the row would outrank every later snapshot and event (record/future-version.ts).
// Through serve's decoders and the ingestor on DuckDB, then a later snapshot as usual.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../src/engine/index.js';
import { createIngestor } from '../../src/engine/ingest.js';
import type { Decoded } from '../../src/server/decoded.js';
import { decodeEventarc } from '../../src/server/eventarc.js';
import { decodePubsub } from '../../src/server/pubsub.js';
import type { Spec } from '../../src/spec/types.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import { pubsubEnvelope } from '../server/fakes.js';
import { customerEntity, snapshotOf } from './fixtures/deleted-after-snapshot.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';

// ---- fakes ----

const SNAPSHOT = '2026-11-01T00:00:00.000Z';
const RECEIVED = new Date('2026-11-02T00:00:00.000Z');
const KINDS = new Set(['Customer']);
const micros = (at: string) => String(BigInt(Date.parse(at)) * 1000n);

const pubsub = (event: object): Decoded => decodePubsub({ body: pubsubEnvelope(event, { publishTime: RECEIVED.toISOString() }), receivedAt: RECEIVED }, KINDS);
const upsert = (name: string, email: string, extra: object) => ({ operation: 'UPSERT', entity: customerEntity(name, email, 30), ...extra });

function eventarcDelete(name: string, time: string, lastVersion: string): Decoded {
  const event = {
    specversion: '1.0',
    type: 'google.cloud.datastore.entity.v1.deleted',
    id: `del-${name}`,
    source: '//datastore.googleapis.com/projects/live/databases/(default)',
    time,
    datacontenttype: 'application/json',
    data: { oldValue: { entity: customerEntity(name, `${name}@x.io`, 30), version: lastVersion } },
  };
  return decodeEventarc({ 'content-type': 'application/cloudevents+json' }, { body: Buffer.from(JSON.stringify(event)), receivedAt: RECEIVED }, KINDS);
}

let ctx: ReturnType<typeof tempDir>;
let s: Spec;

/** Writes what serve decoded, as one batch received at RECEIVED. */
async function serve(...decoded: Decoded[]): Promise<void> {
  await withWarehouse(s, false, async (w) => {
    const sink = createIngestor(s, w, { clock: () => RECEIVED });
    try {
      await sink.write(
        decoded.flatMap((d) => ('change' in d ? [d.change] : [])),
        decoded.flatMap((d) => ('rejected' in d ? [d.rejected] : [])),
      );
    } finally {
      await sink.close();
    }
  });
}

const rowsOf = (table: string) =>
  withWarehouse(s, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('analytics', table)) out.push(r);
    return out.sort((a, b) => String(a._key).localeCompare(String(b._key)));
  });
const current = async () => (await rowsOf('customer')).map((r) => `${r._key} ${r._version} ${r.email}`);

const Future = suite('events versioned by a time far ahead of their receipt');

Future.before.each(async () => {
  ctx = tempDir('mlbridge-future-time-');
  s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64')])]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse, source: snapshotOf([customerEntity('a', 'a@x.io', 30), customerEntity('b', 'b@x.io', 30)], SNAPSHOT) }));
});
Future.after.each(() => ctx.cleanup());

Future('a Pub/Sub UPSERT without version dated 2099 is quarantined with its reason; current is untouched and the next snapshot writes as usual', async () => {
  const decoded = pubsub(upsert('a', 'skewed@x.io', { eventTime: '2099-01-01T00:00:00Z' }));
  const reason =
    'future event time: Customer Customer:a: eventTime 2099-01-01T00:00:00Z is 2277331200 s (26358.0 days) ahead of its receipt at 2026-11-02T00:00:00.000Z ' +
    '(more than the 60 s tolerated); its _version 4070908800000000, taken from that time, would outrank every later snapshot and event. ' +
    "Fix the publishing clock, or send the entity's version with the event";
  assert.equal('rejected' in decoded && [decoded.rejected.kind, decoded.rejected.key, decoded.rejected.reason], ['Customer', 'Customer:a', reason]);
  await serve(decoded);
  assert.equal((await rowsOf('customer_quarantine')).map((r) => [r._key, r.reason]), [['Customer:a', reason]]);
  assert.equal(await current(), [`Customer:a ${micros(SNAPSHOT)} a@x.io`, `Customer:b ${micros(SNAPSHOT)} b@x.io`]);
  assert.equal((await rowsOf('customer_raw')).filter((r) => r.origin === 'pubsub'), [], 'nothing logged as a change');

  const next = '2026-11-03T00:00:00.000Z';
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse, source: snapshotOf([customerEntity('a', 'a2@x.io', 31), customerEntity('b', 'b@x.io', 30)], next) }));
  assert.equal(await current(), [`Customer:a ${micros(next)} a2@x.io`, `Customer:b ${micros(SNAPSHOT)} b@x.io`]);
});

Future('an eventTime within the tolerance, or an explicit version, is written as before', async () => {
  const soon = new Date(RECEIVED.getTime() + 30_000).toISOString();
  await serve(pubsub(upsert('a', 'soon@x.io', { eventTime: soon })), pubsub(upsert('c', 'counted@x.io', { eventTime: '2099-01-01T00:00:00Z', version: '5' })));
  assert.equal(await current(), [`Customer:a ${micros(soon)} soon@x.io`, `Customer:b ${micros(SNAPSHOT)} b@x.io`, 'Customer:c 5 counted@x.io']);
  assert.equal(await rowsOf('customer_quarantine'), []);
});

Future('an Eventarc delete whose ce-time is in 2099 is quarantined; the row stays', async () => {
  const decoded = eventarcDelete('b', '2099-01-01T00:00:00Z', micros('2026-10-01T00:00:00Z'));
  await serve(decoded);
  const q = await rowsOf('customer_quarantine');
  assert.equal(q.map((r) => r._key), ['Customer:b']);
  assert.match(String(q[0]!.reason), /^future event time: Customer Customer:b: eventTime 2099-01-01T00:00:00Z is 2277331200 s \(26358\.0 days\) ahead of its receipt at 2026-11-02T00:00:00\.000Z/);
  assert.equal(await current(), [`Customer:a ${micros(SNAPSHOT)} a@x.io`, `Customer:b ${micros(SNAPSHOT)} b@x.io`]);
  // The same delete at its real time deletes the row.
  await serve(eventarcDelete('b', '2026-11-01T12:00:00Z', micros('2026-10-01T00:00:00Z')));
  assert.equal(await current(), [`Customer:a ${micros(SNAPSHOT)} a@x.io`]);
});

Future.run();
