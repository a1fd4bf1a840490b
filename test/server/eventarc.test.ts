// Eventarc deliveries (Datastore-mode entity events) in binary and structured content mode,
// encoded from entities, through the HTTP server into a recording sink.
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeEntityEvent } from '../../src/server/entity-event-proto.js';
import { bearer, customer, eventarcBinary, testServer } from './fakes.js';

const Binary = suite('Eventarc binary content mode');

Binary('a created event becomes an UPSERT at the entity version, timed by update_time', async () => {
  const { server, sink } = testServer();
  const entity = customer('cust-1', { score: { doubleValue: 0.5 }, tags: { arrayValue: { values: [{ stringValue: 'a' }] } } });
  const req = eventarcBinary('created', { value: { entity, version: '1700000000000042', updateTime: '2026-03-01T09:59:59.654321Z' } });
  const res = await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: req.body });
  assert.is(res.statusCode, 200);
  assert.equal(res.json(), { status: 'accepted' });
  assert.equal(sink.changes().map((c) => c.record), [
    {
      entityKey: 'CustomerProfile:cust-1',
      kind: 'CustomerProfile',
      operation: 'UPSERT',
      data: { email: 'cust-1@example.com', visits: 3, score: 0.5, tags: ['a'] },
      eventTime: '2026-03-01T09:59:59.654321Z',
      version: '1700000000000042',
      origin: 'eventarc',
    },
  ]);
  const payload = sink.changes()[0]!.payload as { type: string; data: { value: { entity: unknown } } };
  assert.is(payload.type, 'google.cloud.datastore.entity.v1.created');
  assert.equal(payload.data.value.entity, entity);
  await server.close();
});

Binary('an update in a namespace under an ancestor keeps the key path and namespace', async () => {
  const { server, sink } = testServer();
  const entity = customer('x', {}, 'tenant-a');
  entity.key.path = [{ kind: 'Account', id: '9007199254740993' }, { kind: 'CustomerProfile', name: 'x' }];
  const req = eventarcBinary('updated', { value: { entity, version: '7', updateTime: '2026-03-01T10:00:00Z' }, oldValue: { entity, version: '6' }, updateMask: ['visits'] });
  const res = await server.app.inject({ method: 'POST', url: '/', headers: req.headers, payload: req.body });
  assert.is(res.statusCode, 200);
  const r = sink.changes()[0]!.record;
  assert.is(r.entityKey, 'Account#9007199254740993/CustomerProfile:x');
  assert.is(r.namespace, 'tenant-a');
  assert.is(r.version, '7');
  await server.close();
});

Binary('a deleted event becomes a DELETE of old_value at the time of the delete (ce-time in µs), timed by ce-time', async () => {
  const { server, sink } = testServer();
  // old_value.version is the entity's last version: the delete itself happened at ce-time.
  const req = eventarcBinary('deleted', { oldValue: { entity: customer('gone'), version: '99', updateTime: '2026-01-01T00:00:00Z' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: req.body });
  assert.equal(sink.changes()[0]!.record, {
    entityKey: 'CustomerProfile:gone',
    kind: 'CustomerProfile',
    operation: 'DELETE',
    data: null,
    eventTime: '2026-03-01T10:00:00.123456Z',
    version: String(Date.UTC(2026, 2, 1, 10) * 1000 + 123_456),
    origin: 'eventarc',
  });
  // A last version later than ce-time (a clock behind the versions) is kept.
  const later = eventarcBinary('deleted', { oldValue: { entity: customer('gone'), version: '9000000000000000' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: later.headers, payload: later.body });
  assert.is(sink.changes()[1]!.record.version, '9000000000000000');
  await server.close();
});

Binary('a written event without a value is a delete', async () => {
  const { server, sink } = testServer();
  const req = eventarcBinary('written', { oldValue: { entity: customer('w'), version: '5' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: req.body });
  assert.is(sink.changes()[0]!.record.operation, 'DELETE');
  await server.close();
});

const Structured = suite('Eventarc structured content mode');

Structured('JSON data (the proto3 JSON of EntityEventData) gives the same record as the binary form', async () => {
  const { server, sink } = testServer();
  const entity = customer('cust-2', { since: { timestampValue: '2025-12-31T23:59:59.5Z' } });
  const ce = {
    specversion: '1.0',
    type: 'google.cloud.datastore.entity.v1.written',
    id: 'e-1',
    source: '//datastore.googleapis.com/projects/mlbridge-test/databases/(default)',
    time: '2026-03-01T10:00:00Z',
    datacontenttype: 'application/json',
    data: { value: { entity, version: '12', updateTime: '2026-03-01T09:00:00Z' } },
  };
  const json = await server.app.inject({ method: 'POST', url: '/eventarc', headers: { 'content-type': 'application/cloudevents+json', authorization: bearer() }, payload: JSON.stringify(ce) });
  assert.is(json.statusCode, 200);
  const binary = eventarcBinary('written', { value: { entity, version: '12', updateTime: '2026-03-01T09:00:00Z' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: binary.headers, payload: binary.body });
  const [a, b] = sink.changes().map((c) => c.record);
  assert.equal(a, b);
  assert.equal(a!.data, { email: 'cust-2@example.com', visits: 3, since: '2025-12-31T23:59:59.500Z' }, 'canonical proto3 JSON time');
  await server.close();
});

Structured('data_base64 carries the protobuf form', async () => {
  const { server, sink } = testServer();
  const data = Buffer.from(encodeEntityEvent({ value: { entity: customer('b64'), version: '3' } })).toString('base64');
  const ce = { specversion: '1.0', type: 'google.cloud.datastore.entity.v1.created', id: 'e-2', source: 's', time: '2026-03-01T10:00:01Z', data_base64: data };
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: { 'content-type': 'application/cloudevents+json', authorization: bearer() }, payload: JSON.stringify(ce) });
  const r = sink.changes()[0]!.record;
  assert.is(r.entityKey, 'CustomerProfile:b64');
  assert.is(r.version, '3');
  assert.is(r.eventTime, '2026-03-01T10:00:01Z', 'no update_time: ce-time');
  await server.close();
});

const Rejected = suite('Eventarc messages that can never succeed');

Rejected('undecodable protobuf is acknowledged and recorded with the sha256 of its endpoint and body', async () => {
  const { server, sink } = testServer();
  const req = eventarcBinary('created', {});
  const body = Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]);
  const res = await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: body });
  assert.is(res.statusCode, 200);
  assert.is(res.json().status, 'rejected');
  assert.is(sink.changes().length, 0);
  const [rej] = sink.rejected();
  assert.is(rej!.id, createHash('sha256').update('eventarc\n').update(body).digest('hex'));
  assert.is(rej!.origin, 'eventarc');
  assert.match(rej!.reason, /^google\.cloud\.datastore\.entity\.v1\.created: undecodable protobuf EntityEventData/);
  assert.is(rej!.payload, `base64:${body.toString('base64')}`);
  await server.close();
});

Rejected('an event for a kind the spec does not map is rejected naming the kind', async () => {
  const { server, sink } = testServer();
  const entity = customer('u');
  entity.key.path = [{ kind: 'AuditLog', name: 'u' }];
  const req = eventarcBinary('created', { value: { entity, version: '1' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: req.body });
  assert.equal(sink.rejected().map((r) => [r.kind, r.reason]), [['AuditLog', 'kind `AuditLog` is not mapped in the spec']]);
  await server.close();
});

Rejected('another event type, a created event without value and a body without ce-type are rejected', async () => {
  const { server, sink } = testServer();
  const other = eventarcBinary('created', { value: { entity: customer('a'), version: '1' } }, { 'ce-type': 'google.cloud.firestore.document.v1.created' });
  const empty = eventarcBinary('created', {});
  const bare = { 'content-type': 'application/json', authorization: bearer() };
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: other.headers, payload: other.body });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: empty.headers, payload: empty.body });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: bare, payload: '{}' });
  assert.equal(sink.rejected().map((r) => r.reason), [
    'unsupported event type `google.cloud.firestore.document.v1.created`; expected one of google.cloud.datastore.entity.v1.created, google.cloud.datastore.entity.v1.updated, google.cloud.datastore.entity.v1.deleted, google.cloud.datastore.entity.v1.written',
    'google.cloud.datastore.entity.v1.created: no value.entity in the event data',
    'not a CloudEvent: no ce-type header (binary mode) and not application/cloudevents+json (structured mode)',
  ]);
  await server.close();
});

Rejected('a protobuf entity without a key, or with a key element lacking name and id, is rejected naming the field', async () => {
  const { server, sink } = testServer();
  const keyless = eventarcBinary('created', { value: { entity: { properties: { email: { stringValue: 'a@example.com' } } } as never, version: '1' } });
  const incomplete = customer('x');
  incomplete.key.path = [{ kind: 'CustomerProfile' }];
  const partial = eventarcBinary('deleted', { oldValue: { entity: incomplete, version: '1' } });
  const answers = [];
  for (const req of [keyless, partial]) {
    const res = await server.app.inject({ method: 'POST', url: '/eventarc', headers: req.headers, payload: req.body });
    answers.push([res.statusCode, res.json().status]);
  }
  assert.equal(answers, [[200, 'rejected'], [200, 'rejected']]);
  assert.equal(sink.rejected().map((r) => r.reason), [
    'google.cloud.datastore.entity.v1.created: value.entity.key.path: expected a non-empty list of {kind, name | id}',
    'google.cloud.datastore.entity.v1.deleted: old_value.entity.key.path[0]: expected a non-empty `name` or an integer `id` (an event names a complete key)',
  ]);
  assert.is(sink.changes().length, 0);
  await server.close();
});

Rejected('a negative protobuf version, or a JSON one beyond INT64, is rejected', async () => {
  const { server, sink } = testServer();
  const negative = eventarcBinary('created', { value: { entity: customer('n'), version: '-7' } });
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: negative.headers, payload: negative.body });
  const json = { ...negative.headers, 'content-type': 'application/json' };
  await server.app.inject({ method: 'POST', url: '/eventarc', headers: json, payload: JSON.stringify({ value: { entity: customer('h'), version: '9223372036854775808' } }) });
  assert.equal(sink.rejected().map((r) => [r.kind, r.reason]), [
    ['CustomerProfile', 'google.cloud.datastore.entity.v1.created: value.version: expected a positive 64-bit integer, got -7'],
    ['CustomerProfile', 'google.cloud.datastore.entity.v1.created: value.version: expected a positive 64-bit integer, got 9223372036854775808'],
  ]);
  assert.is(sink.changes().length, 0);
  await server.close();
});

Rejected('JSON event data nested too deeply to decode is rejected without blaming protobuf', async () => {
  const { server, sink } = testServer();
  const deep = `${'{"entityValue":{"properties":{"a":'.repeat(20_000)}{"nullValue":null}${'}}}'.repeat(20_000)}`;
  const body = `{"specversion":"1.0","type":"google.cloud.datastore.entity.v1.created","data":{"value":{"entity":{"key":{"path":[{"kind":"CustomerProfile","name":"d"}]},"properties":{"email":${deep}}}}}}`;
  const res = await server.app.inject({ method: 'POST', url: '/eventarc', headers: { 'content-type': 'application/cloudevents+json', authorization: bearer() }, payload: body });
  assert.equal([res.statusCode, res.json().reason], [200, 'google.cloud.datastore.entity.v1.created: the event data could not be decoded (Maximum call stack size exceeded)']);
  assert.is(sink.rejected().length, 1);
  await server.close();
});

Binary.run();
Structured.run();
Rejected.run();
