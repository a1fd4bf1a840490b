import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MlbridgeError } from '../../src/model/errors.js';
import { canonicalKey, type Entity } from '../../src/source/entity.js';
import {
  entityToSyncRecord,
  parseEntityKey,
  recordKey,
  SyncRecord,
  validateSyncRecord,
} from '../../src/record/sync-record.js';

const record = (over: Record<string, unknown> = {}) => ({
  entityKey: 'customer-1001',
  kind: 'CustomerProfile',
  operation: 'UPSERT',
  data: { email: 'a@example.com' },
  ...over,
});

function rejects(input: unknown, message: string): void {
  try {
    validateSyncRecord(input);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, MlbridgeError);
    assert.is((err as MlbridgeError).code, 'INVALID_ARGUMENT');
    assert.is((err as Error).message, message);
  }
}

const Validate = suite('validateSyncRecord');

Validate('accepts a complete record and returns its fields', () => {
  const r = validateSyncRecord(record({ eventTime: '2026-01-01T00:00:00Z', version: '42', namespace: 'eu' }));
  assert.equal(r, {
    entityKey: 'customer-1001',
    kind: 'CustomerProfile',
    operation: 'UPSERT',
    data: { email: 'a@example.com' },
    eventTime: '2026-01-01T00:00:00Z',
    version: '42',
    namespace: 'eu',
  });
});

Validate('lets a DELETE come without data, as null', () => {
  const r = validateSyncRecord({ entityKey: 'k', kind: 'K', operation: 'DELETE' });
  assert.is(r.data, null);
});

const bad: Array<[string, unknown, string]> = [
  ['a non-object', 'x', "record: expected an object, got 'x'"],
  ['an empty entityKey', record({ entityKey: '' }), "entityKey: expected a non-empty string, got ''"],
  ['a numeric kind', record({ kind: 7 }), 'kind: expected a non-empty string, got 7'],
  ['an unknown operation', record({ operation: 'upsert2' }), "operation: expected UPSERT, DELETE or PATCH, got 'upsert2'"],
  ['a lower-case operation', record({ operation: 'upsert' }), "operation: expected UPSERT, DELETE or PATCH, got 'upsert'"],
  ['UPSERT without data', record({ data: undefined }), 'data: expected an object for UPSERT, got undefined'],
  ['PATCH with an array', record({ operation: 'PATCH', data: [1] }), 'data: expected an object for PATCH, got [1]'],
  ['DELETE with a string as data', record({ operation: 'DELETE', data: 's' }), "data: expected an object or null, got 's'"],
  [
    'an unparseable eventTime',
    record({ eventTime: 'yesterday' }),
    "eventTime: expected an RFC 3339 timestamp, a Date or epoch milliseconds, got 'yesterday'",
  ],
  ['a negative version', record({ version: -1 }), 'version: expected a non-negative 64-bit integer, got -1'],
  ['a fractional version', record({ version: 1.5 }), 'version: expected a non-negative 64-bit integer, got 1.5'],
  ['a version beyond INT64', record({ version: '9223372036854775808' }), "version: expected a non-negative 64-bit integer, got '9223372036854775808'"],
  ['a numeric namespace', record({ namespace: 3 }), 'namespace: expected a string, got 3'],
  ['an unknown origin', record({ origin: 'kafka' }), "origin: expected pubsub, eventarc, export or datastore, got 'kafka'"],
  ['an event time that is no real day', record({ eventTime: '2026-02-30T00:00:00Z' }), "eventTime: '2026-02-30T00:00:00Z' is not a real time: February 2026 has 28 days, so day 30 does not exist"],
];
for (const [what, input, message] of bad) {
  Validate(`rejects ${what}, naming the field`, () => rejects(input, message));
}

Validate('accepts eventTime as a Date, epoch milliseconds and an offset string', () => {
  for (const eventTime of [new Date(0), 1_700_000_000_000, '2026-01-01T10:00:00.123456+02:00']) {
    assert.is(validateSyncRecord(record({ eventTime })).eventTime, eventTime);
  }
});

Validate.run();

const Entities = suite('entityToSyncRecord');

const entity: Entity = {
  key: { partitionId: { projectId: 'p', namespaceId: 'eu' }, path: [{ kind: 'Org', name: 'acme' }, { kind: 'Customer', id: '1001' }] },
  properties: {
    small: { integerValue: '42' },
    big: { integerValue: '9223372036854775807' },
    ratio: { doubleValue: 0.5 },
    inf: { doubleValue: 'Infinity' },
    at: { timestampValue: '2026-01-02T03:04:05.123456Z' },
    ref: { keyValue: { partitionId: { projectId: 'p' }, path: [{ kind: 'Region', name: 'north/east' }] } },
    blob: { blobValue: 'AAEC' },
    where: { geoPointValue: { latitude: 1.5, longitude: -2 } },
    address: { entityValue: { properties: { city: { stringValue: 'Oslo' }, zip: { nullValue: null } } } },
    tags: { arrayValue: { values: [{ stringValue: 'a' }, { booleanValue: true }] } },
    empty: { arrayValue: {} },
  },
};

Entities('turns a v1 entity into a record with plain JS data', () => {
  const r = entityToSyncRecord(entity, { origin: 'export', eventTime: '2026-01-02T00:00:00Z' });
  assert.is(r.entityKey, 'Org:acme/Customer#1001');
  assert.is(r.kind, 'Customer');
  assert.is(r.namespace, 'eu');
  assert.is(r.operation, 'UPSERT');
  assert.is(r.origin, 'export');
  const d = r.data!;
  assert.is(d.small, 42);
  assert.is(d.big, '9223372036854775807', 'unsafe integers stay decimal strings');
  assert.is(d.ratio, 0.5);
  assert.is(d.inf, Infinity);
  assert.is(d.at, '2026-01-02T03:04:05.123456Z', 'timestamps keep their microseconds');
  assert.is(d.ref, 'Region:north%2Feast');
  assert.equal([...(d.blob as Buffer)], [0, 1, 2]);
  assert.equal(d.where, { latitude: 1.5, longitude: -2 });
  assert.equal(d.address, { city: 'Oslo', zip: null });
  assert.equal(d.tags, ['a', true]);
  assert.equal(d.empty, []);
});

Entities('gives a key that, with its namespace, is the canonical key of the entity', () => {
  const r = entityToSyncRecord(entity);
  assert.is(recordKey(r), canonicalKey(entity.key));
  assert.is(recordKey(r), 'eu|Org:acme/Customer#1001');
});

Entities('reads canonical keys back, and other keys as a name of the record kind', () => {
  assert.equal(parseEntityKey('Org:acme/Customer#1001', 'Customer'), [
    { kind: 'Org', name: 'acme' },
    { kind: 'Customer', id: '1001' },
  ]);
  assert.equal(parseEntityKey('Region:north%2Feast', 'Region'), [{ kind: 'Region', name: 'north/east' }]);
  assert.equal(parseEntityKey('customer-1001', 'CustomerProfile'), [{ kind: 'CustomerProfile', name: 'customer-1001' }]);
  assert.equal(parseEntityKey('a/b', 'K'), [{ kind: 'K', name: 'a/b' }]);
  assert.equal(parseEntityKey('user:123', 'CustomerProfile'), [{ kind: 'CustomerProfile', name: 'user:123' }], 'a path must end in the kind');
  assert.is(recordKey({ entityKey: 'user:123', kind: 'CustomerProfile' }), 'CustomerProfile:user%3A123');
});

Entities('SyncRecord is also a value: validate and fromEntity', () => {
  assert.is(SyncRecord.validate({ entityKey: 'k', kind: 'K', operation: 'DELETE' }).data, null);
  assert.is(SyncRecord.fromEntity(entity).entityKey, 'Org:acme/Customer#1001');
  assert.equal(SyncRecord.operations, ['UPSERT', 'DELETE', 'PATCH']);
  try {
    SyncRecord.validate({ entityKey: 'k', kind: 'K', operation: 'MERGE' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.is((err as Error).message, "operation: expected UPSERT, DELETE or PATCH, got 'MERGE'");
  }
});

Entities.run();
