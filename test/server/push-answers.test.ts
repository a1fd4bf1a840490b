// What a push is answered is what was done with it, through serve's HTTP app onto a real DuckDB
// ingestor: an event from another project or database than the spec's datastore source is
// rejected into _mlbridge_rejected (its `_key` names neither, so it would overwrite the
// source's entity of the same key); an event in a namespace the mapping leaves out answers
// "rejected", a far-future one "quarantined", each with the reason its row holds; a rejected
// CloudEvent keeps its time as the row's event_time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../src/engine/index.js';
import { createIngestor } from '../../src/engine/ingest.js';
import { createServer } from '../../src/server/app.js';
import { encodeEntityEvent, type EntityEvent } from '../../src/server/entity-event-proto.js';
import type { Entity } from '../../src/source/entity.js';
import type { MappingSpec, Spec } from '../../src/spec/types.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec, tempDir, withWarehouse } from '../engine/fixtures/factories.js';
import { manualReconciler, pubsubEnvelope } from './fakes.js';

// ---- fakes ----

const CE_TIME = '2026-03-01T10:00:00.123456Z';

function product(sku: string, title: string, partition: Entity['key']['partitionId'] = { projectId: '' }): Entity {
  return { key: { partitionId: partition, path: [{ kind: 'Product', name: sku }] }, properties: { title: { stringValue: title } } };
}

const upsert = (entity: Entity, extra: Record<string, unknown> = {}) => pubsubEnvelope({ operation: 'UPSERT', entity, version: '100', ...extra });

/** A binary-mode Datastore CloudEvent (protobuf data) from `source`. */
function eventarc(entity: Entity, source: string): Delivery {
  const event: EntityEvent = { value: { entity, version: '200', updateTime: CE_TIME } };
  return {
    url: '/eventarc',
    headers: {
      'content-type': 'application/protobuf',
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.datastore.entity.v1.written',
      'ce-id': 'evt-1',
      'ce-source': source,
      'ce-time': CE_TIME,
    },
    body: Buffer.from(encodeEntityEvent(event)),
  };
}

interface Delivery {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}
const pubsub = (body: Buffer): Delivery => ({ url: '/pubsub', headers: { 'content-type': 'application/json' }, body });

let ctx: ReturnType<typeof tempDir>;
let s: Spec;

async function setUp(m: MappingSpec, overrides: Partial<Spec> = {}): Promise<void> {
  ctx = tempDir('mlbridge-push-answers-');
  s = spec(ctx.db, [m], overrides);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
}

/** Pushes each delivery in turn through serve's app and answers with the (status, body) of each; closes it after. */
async function push(deliveries: Delivery[], now?: Date): Promise<Array<[number, Record<string, unknown>]>> {
  const warehouse = await openWarehouse(s.target, { readOnly: false });
  const sink = createIngestor(s, warehouse, now ? { clock: () => now } : {});
  const server = createServer({ sink, reconciler: manualReconciler(), kinds: ['Product'], auth: { mode: 'disabled' }, batch: { maxDelayMs: 0 } });
  try {
    const out: Array<[number, Record<string, unknown>]> = [];
    for (const d of deliveries) {
      const res = await server.app.inject({ method: 'POST', url: d.url, headers: d.headers, payload: d.body });
      out.push([res.statusCode, res.json() as Record<string, unknown>]);
    }
    return out;
  } finally {
    await server.close();
    await warehouse.close();
  }
}

const rows = (table: string, columns: string[]) =>
  withWarehouse(s, true, async (w) => {
    const out: Array<Record<string, unknown>> = [];
    for await (const r of w.readRows('analytics', table) as AsyncIterable<Row>) out.push(Object.fromEntries(columns.map((c) => [c, r[c]])));
    return out;
  });

const productSpec = () => mapping('Product', [field('title', 'STRING')]);
const PROD = { source: { kind: 'datastore' as const, project: 'prod-proj', databaseId: 'main-db' } };

// ---- events from another project or database ----

const Foreign = suite('an event from another project or database than the datastore source');
Foreign.before.each(() => setUp(productSpec(), PROD));
Foreign.after.each(() => ctx.cleanup());

Foreign('from Eventarc is answered rejected with both projects and databases, and stored in _mlbridge_rejected with its ce-time', async () => {
  const answers = await push([eventarc(product('sku-001', 'staging'), '//datastore.googleapis.com/projects/staging-proj/databases/(default)')]);
  const reason = "event from project staging-proj, database (default); this spec's source is project prod-proj, database main-db";
  assert.equal(answers.map(([code, body]) => [code, body.status, body.reason]), [[200, 'rejected', reason]]);
  assert.equal(await rows('_mlbridge_rejected', ['event_id', '_key', 'kind', 'reason', 'event_time']), [{ event_id: answers[0]![1].id, _key: 'Product:sku-001', kind: 'Product', reason, event_time: CE_TIME }]);
  assert.equal(await rows('product', ['_key']), []);
});

Foreign('from Pub/Sub does not overwrite the source entity of the same key; its own project and database are taken', async () => {
  const answers = await push([
    pubsub(upsert(product('sku-001', 'prod', { projectId: 'prod-proj', databaseId: 'main-db' }))),
    pubsub(upsert(product('sku-001', 'other', { projectId: 'other-proj', databaseId: 'other-db' }), { version: '900' })),
    eventarc(product('sku-002', 'prod'), '//datastore.googleapis.com/projects/prod-proj/databases/main-db'),
  ]);
  const reason = "event from project other-proj, database other-db; this spec's source is project prod-proj, database main-db";
  assert.equal(answers.map(([code, body]) => [code, body.status, body.reason]), [[200, 'accepted', undefined], [200, 'rejected', reason], [200, 'accepted', undefined]]);
  assert.equal(await rows('product', ['_key', 'title', '_version']), [{ _key: 'Product:sku-001', title: 'prod', _version: '100' }, { _key: 'Product:sku-002', title: 'prod', _version: '200' }]);
  assert.equal(await rows('_mlbridge_rejected', ['_key', 'reason']), [{ _key: 'Product:sku-001', reason }]);
});

Foreign('is only the project or database an event names: one naming neither, or the source project alone, is accepted', async () => {
  const answers = await push([pubsub(upsert(product('sku-003', 'no partition'))), pubsub(upsert(product('sku-004', 'project only', { projectId: 'prod-proj' })))]);
  assert.equal(answers, [[200, { status: 'accepted' }], [200, { status: 'accepted' }]]);
  assert.equal((await rows('product', ['_key'])).map((r) => r._key).sort(), ['Product:sku-003', 'Product:sku-004']);
  assert.equal(await rows('_mlbridge_rejected', ['_key']), []);
});

Foreign.run();

const Export = suite('an event under a spec whose source is an export');
Export.before.each(() => setUp(productSpec(), { source: { kind: 'export', path: '/exports/prod' } }));
Export.after.each(() => ctx.cleanup());

Export('is accepted from any project: an export names none', async () => {
  const answers = await push([pubsub(upsert(product('sku-001', 'other', { projectId: 'other-proj', databaseId: 'other-db' })))]);
  assert.equal(answers, [[200, { status: 'accepted' }]]);
  assert.equal(await rows('product', ['_key', 'title']), [{ _key: 'Product:sku-001', title: 'other' }]);
});

Export.run();

// ---- the answer says what was done ----

const Answer = suite('the answer to a push');
Answer.after.each(() => ctx.cleanup());

Answer('to an event in a namespace the mapping leaves out is rejected, with the reason stored in _mlbridge_rejected', async () => {
  await setUp(mapping('Product', [field('title', 'STRING')], { namespaces: [''] }));
  const answers = await push([pubsub(upsert(product('sku-001', 'tenant', { projectId: 'p', namespaceId: 'tenant-a' })))]);
  const reason = 'kind Product is mapped for namespace (default) only, not tenant-a';
  assert.equal(answers.map(([code, body]) => [code, body.status, body.reason]), [[200, 'rejected', reason]]);
  assert.equal(await rows('_mlbridge_rejected', ['event_id', 'reason']), [{ event_id: answers[0]![1].id, reason }]);
  assert.equal(await rows('product', ['_key']), []);
});

Answer('to a far-future event is quarantined, with the reason stored in the kind quarantine table', async () => {
  await setUp(productSpec());
  const answers = await push([pubsub(pubsubEnvelope({ operation: 'UPSERT', entity: product('sku-001', 'future'), eventTime: '2099-01-01T00:00:00Z' }))], new Date('2026-03-01T10:00:00Z'));
  const [[code, body]] = answers as [[number, Record<string, unknown>]];
  assert.equal([code, body.status], [200, 'quarantined']);
  assert.match(String(body.reason), /^future event time: Product Product:sku-001: eventTime 2099-01-01T00:00:00Z is /);
  assert.equal(await rows('product_quarantine', ['event_id', 'reason']), [{ event_id: body.id, reason: body.reason }]);
  assert.equal(await rows('_mlbridge_rejected', ['event_id']), []);
  assert.equal(await rows('product', ['_key']), []);
});

Answer('to a PATCH the mapping refuses (a new key left without a REQUIRED column) is quarantined, with the reason stored', async () => {
  await setUp(mapping('Product', [field('title', 'STRING', 'REQUIRED'), field('stock', 'INT64')]));
  const patch = { operation: 'PATCH', entity: { key: product('sku-001', '').key, properties: { stock: { integerValue: '4' } } }, version: '5' };
  const answers = await push([pubsub(pubsubEnvelope(patch))]);
  const reason = 'Product Product:sku-001: PATCH at version 5 of a key not in the current table leaves column title empty, and it is REQUIRED';
  assert.equal(answers.map(([code, body]) => [code, body.status, body.reason]), [[200, 'quarantined', reason]]);
  assert.equal(await rows('product_quarantine', ['event_id', 'reason']), [{ event_id: answers[0]![1].id, reason }]);
  assert.equal(await rows('product', ['_key']), []);
});

Answer('to a CloudEvent of an unmapped kind is rejected, and its row keeps the ce-time as event_time', async () => {
  await setUp(productSpec());
  const other: Entity = { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Order', name: 'o-1' }] }, properties: {} };
  const structured: Delivery = {
    url: '/eventarc',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: Buffer.from(JSON.stringify({ specversion: '1.0', type: 'google.cloud.datastore.entity.v1.written', id: 'e2', source: 'x', time: '2026-03-02T08:00:00Z', data: 'not an object' })),
  };
  const answers = await push([eventarc(other, '//datastore.googleapis.com/projects/p/databases/(default)'), structured]);
  assert.equal(answers.map(([code, body]) => [code, body.status]), [[200, 'rejected'], [200, 'rejected']]);
  const stored = (await rows('_mlbridge_rejected', ['event_id', 'reason', 'event_time'])).sort((a, b) => String(a.event_time).localeCompare(String(b.event_time)));
  assert.equal(stored, [
    { event_id: answers[0]![1].id, reason: 'kind `Order` is not mapped in the spec', event_time: CE_TIME },
    { event_id: answers[1]![1].id, reason: answers[1]![1].reason, event_time: '2026-03-02T08:00:00Z' },
  ]);
});

Answer.run();
