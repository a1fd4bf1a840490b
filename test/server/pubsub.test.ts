// Pub/Sub push envelopes carrying the change events an application publishes (README,
// "serve"): decoding, defaults, and the messages that can never succeed.
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bearer, customer, pubsubEnvelope, testServer } from './fakes.js';

async function deliver(body: Buffer) {
  const { server, sink } = testServer();
  const res = await server.app.inject({ method: 'POST', url: '/pubsub', headers: { authorization: bearer(), 'content-type': 'application/json' }, payload: body });
  await server.close();
  return { status: res.statusCode, json: res.json() as { status: string; reason?: string }, sink };
}

const Events = suite('Pub/Sub change events');

Events('an UPSERT without version or eventTime takes publishTime, and its µs as the version', async () => {
  const { status, sink } = await deliver(pubsubEnvelope({ operation: 'UPSERT', entity: customer('p1') }, { publishTime: '2026-03-01T10:00:00.250123456Z' }));
  assert.is(status, 200);
  assert.equal(sink.changes()[0]!.record, {
    entityKey: 'CustomerProfile:p1',
    kind: 'CustomerProfile',
    operation: 'UPSERT',
    data: { email: 'p1@example.com', visits: 3 },
    eventTime: '2026-03-01T10:00:00.250123456Z',
    version: String(Date.parse('2026-03-01T10:00:00.250Z') * 1000 + 123),
    origin: 'pubsub',
  });
  assert.equal(sink.changes()[0]!.payload, {
    messageId: '101',
    publishTime: '2026-03-01T10:00:00.250123456Z',
    attributes: { origin: 'app' },
    subscription: 'projects/mlbridge-test/subscriptions/mlbridge',
    event: { operation: 'UPSERT', entity: customer('p1') },
  });
});

Events('a PATCH carries only its properties; explicit version and eventTime win', async () => {
  const entity = { key: customer('p2').key, properties: { visits: { integerValue: '4' } } };
  const { sink } = await deliver(pubsubEnvelope({ operation: 'PATCH', entity, version: '77', eventTime: '2026-02-01T00:00:00+01:00' }));
  const r = sink.changes()[0]!.record;
  assert.equal([r.operation, r.data, r.version, r.eventTime], ['PATCH', { visits: 4 }, '77', '2026-02-01T00:00:00+01:00']);
});

Events('a DELETE needs only the key', async () => {
  const { sink } = await deliver(pubsubEnvelope({ operation: 'DELETE', entity: { key: customer('p3', {}, 'ns1').key }, version: 9 }));
  const r = sink.changes()[0]!.record;
  assert.equal([r.entityKey, r.namespace, r.operation, r.data, r.version], ['CustomerProfile:p3', 'ns1', 'DELETE', null, '9']);
});

Events('an event without version whose eventTime is far ahead of its receipt is rejected into quarantine; with a version it is accepted', async () => {
  const skewed = await deliver(pubsubEnvelope({ operation: 'UPSERT', entity: customer('p4'), eventTime: '2099-01-01T00:00:00Z' }));
  assert.equal([skewed.status, skewed.json.status, skewed.sink.changes().length], [200, 'rejected', 0]);
  assert.match(skewed.json.reason!, /^future event time: CustomerProfile CustomerProfile:p4: eventTime 2099-01-01T00:00:00Z is \d+ s \(\d+\.\d days\) ahead of its receipt at \d{4}-\d\d-\d\dT[\d:.]+Z \(more than the 60 s tolerated\); its _version 4070908800000000, taken from that time/);
  assert.equal([skewed.sink.rejected()[0]!.kind, skewed.sink.rejected()[0]!.key], ['CustomerProfile', 'CustomerProfile:p4']);
  const versioned = await deliver(pubsubEnvelope({ operation: 'UPSERT', entity: customer('p5'), eventTime: '2099-01-01T00:00:00Z', version: '3' }));
  assert.equal([versioned.status, versioned.sink.changes()[0]!.record.version], [200, '3']);
});

const Rejects = suite('Pub/Sub messages that can never succeed');

const cases: Array<[string, Buffer, string]> = [
  ['a body that is not JSON', Buffer.from('not json'), 'the push body is not JSON'],
  ['an envelope without message', Buffer.from('{"subscription":"s"}'), 'not a Pub/Sub push envelope: no `message` object'],
  ['data that is not JSON', pubsubEnvelope(null, { raw: Buffer.from('{oops').toString('base64') }), 'message.data: the base64-decoded data is not JSON; expected a change event {operation, entity, version?, eventTime?}'],
  ['data that is not base64', pubsubEnvelope(null, { raw: '{"operation":"UPSERT"}' }), 'message.data: not base64 (Pub/Sub push sends the message data base64-encoded)'],
  ['an event without entity', pubsubEnvelope({ operation: 'UPSERT' }), 'entity: expected {"key": …, "properties": …}, got nothing'],
  ['an eventTime before 1970 (its µs would be a negative version)', pubsubEnvelope({ operation: 'DELETE', entity: { key: customer('r').key }, eventTime: '1969-12-31T23:59:59Z' }), 'eventTime: expected an RFC 3339 timestamp from 1970 on, got "1969-12-31T23:59:59Z"'],
  ['entity values nested too deeply to decode', pubsubEnvelope(null, { raw: Buffer.from(`{"operation":"UPSERT","entity":{"key":{"path":[{"kind":"CustomerProfile","name":"deep"}]},"properties":{"email":${'{"entityValue":{"properties":{"a":'.repeat(20_000)}{"nullValue":null}${'}}}'.repeat(20_000)}}}}`).toString('base64') }), 'the message could not be decoded (Maximum call stack size exceeded)'],
  ['an unknown operation', pubsubEnvelope({ operation: 'MERGE', entity: customer('r') }), 'operation: expected UPSERT, PATCH or DELETE, got "MERGE"'],
  ['an incomplete key', pubsubEnvelope({ operation: 'UPSERT', entity: { key: { path: [{ kind: 'CustomerProfile' }] }, properties: {} } }), 'entity.key.path[0]: expected a non-empty `name` or an integer `id` (an event names a complete key)'],
  ['a value of no known type', pubsubEnvelope({ operation: 'UPSERT', entity: { key: customer('r').key, properties: { email: 'plain' } } }), 'entity.properties.email: expected a Datastore value such as {"stringValue": "…"}, got a string'],
  ['an UPSERT without properties', pubsubEnvelope({ operation: 'UPSERT', entity: { key: customer('r').key } }), 'entity.properties: missing (an object of name → Datastore value)'],
  ['a version beyond INT64', pubsubEnvelope({ operation: 'DELETE', entity: { key: customer('r').key }, version: '9223372036854775808' }), 'version: expected a non-negative integer (a decimal string), got "9223372036854775808"'],
  ['a bad eventTime', pubsubEnvelope({ operation: 'DELETE', entity: { key: customer('r').key }, eventTime: 'yesterday' }), 'eventTime: expected an RFC 3339 timestamp, got "yesterday"'],
  ['an unmapped kind', pubsubEnvelope({ operation: 'DELETE', entity: { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Ghost', id: '1' }] } } }), 'kind `Ghost` is not mapped in the spec'],
];

Rejects('a rejected event names its kind and, when its key is complete, the entity\'s _key', async () => {
  const named = await deliver(pubsubEnvelope({ operation: 'UPSERT', entity: { key: customer('r', {}, 'ns1').key, properties: { email: 'plain' } } }));
  assert.equal([named.sink.rejected()[0]!.kind, named.sink.rejected()[0]!.key], ['CustomerProfile', 'ns1|CustomerProfile:r']);
  const incomplete = await deliver(pubsubEnvelope({ operation: 'UPSERT', entity: { key: { path: [{ kind: 'CustomerProfile' }] }, properties: {} } }));
  assert.equal([incomplete.sink.rejected()[0]!.kind, incomplete.sink.rejected()[0]!.key], ['CustomerProfile', undefined]);
});

for (const [what, body, reason] of cases) {
  Rejects(`${what} is acknowledged and recorded: ${reason}`, async () => {
    const { status, json, sink } = await deliver(body);
    assert.equal([status, json.status, json.reason], [200, 'rejected', reason]);
    assert.is(sink.changes().length, 0);
    const [rej] = sink.rejected();
    assert.equal([rej!.id, rej!.origin, rej!.payload], [createHash('sha256').update('pubsub\n').update(body).digest('hex'), 'pubsub', body.toString('utf8')]);
  });
}

Events.run();
Rejects.run();
