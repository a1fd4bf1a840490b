import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ColumnMode, ColumnType } from '../../src/model/schema.js';
import { MlbridgeError } from '../../src/model/errors.js';
import type { FieldSpec, MappingSpec } from '../../src/spec/types.js';
import { RECORD_DEFAULT_SCORING } from '../../src/record/defaults.js';
import { buildBigQueryRow, canonicalJson } from '../../src/record/row.js';
import { scoreRecordFreshness } from '../../src/record/score.js';
import { entityToSyncRecord, type SyncRecord } from '../../src/record/sync-record.js';
import { canonicalKey, type Entity } from '../../src/source/entity.js';
import { mulberry32 } from '../../src/model/prng.js';

// ---- fakes -------------------------------------------------------------------------
const NOW = new Date('2026-06-01T12:00:00.000Z');

function f(name: string, type: ColumnType, extra: { mode?: ColumnMode; from?: string[]; fields?: FieldSpec[] } = {}): FieldSpec {
  return { name, type, mode: extra.mode ?? 'NULLABLE', from: extra.from ?? [name], ...(extra.fields ? { fields: extra.fields } : {}) };
}

type RowMapping = Pick<MappingSpec, 'kind' | 'fields' | 'partitioning' | 'scoring'>;
function mapping(fields: FieldSpec[], partitioning?: MappingSpec['partitioning']): RowMapping {
  return { kind: 'CustomerProfile', fields, scoring: RECORD_DEFAULT_SCORING, ...(partitioning ? { partitioning } : {}) };
}

function rec(data: Record<string, unknown> | null, over: Partial<SyncRecord> = {}): SyncRecord {
  return { entityKey: 'customer-1001', kind: 'CustomerProfile', operation: 'UPSERT', data, eventTime: '2026-06-01T11:59:00Z', ...over };
}

/** The mapped (non-system) columns of a built row. */
function columns(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('_')));
}

function one(type: ColumnType, value: unknown, mode: ColumnMode = 'NULLABLE'): unknown {
  return buildBigQueryRow(rec({ v: value }), mapping([f('v', type, { mode })]), { now: NOW }).v;
}

// ---- coercion ----------------------------------------------------------------------
const Coerce = suite('buildBigQueryRow coercion');

const ok: Array<[ColumnType, unknown, unknown]> = [
  ['INT64', 42, '42'],
  ['INT64', '-0042', '-42'],
  ['INT64', 9223372036854775807n, '9223372036854775807'],
  ['INT64', '-9223372036854775808', '-9223372036854775808'],
  ['FLOAT64', 1.5, 1.5],
  ['FLOAT64', '2.5e3', 2500],
  ['FLOAT64', NaN, 'NaN'],
  ['FLOAT64', -Infinity, '-Infinity'],
  ['NUMERIC', '12345.678900000', '12345.6789'],
  ['NUMERIC', '-0.000000001', '-0.000000001'],
  ['NUMERIC', '1e3', '1000'],
  ['NUMERIC', 0.1 + 0.2, '0.3'],
  ['NUMERIC', 12n, '12'],
  ['NUMERIC', '99999999999999999999999999999.999999999', '99999999999999999999999999999.999999999'],
  ['BIGNUMERIC', '1.00000000000000000000000000000000000001', '1.00000000000000000000000000000000000001'],
  ['BOOL', true, true],
  ['BOOL', 'FALSE', false],
  ['BOOL', 1, true],
  ['STRING', 'héllo', 'héllo'],
  ['STRING', 12, '12'],
  ['BYTES', Buffer.from([0, 1, 2, 255]), 'AAEC/w=='],
  ['BYTES', 'AAEC/w==', 'AAEC/w=='],
  ['TIMESTAMP', 1700000000123456, '2023-11-14T22:13:20.123456Z'],
  ['TIMESTAMP', 1700000000123456n, '2023-11-14T22:13:20.123456Z'],
  ['TIMESTAMP', '1700000000123456', '2023-11-14T22:13:20.123456Z'],
  ['TIMESTAMP', new Date('2023-11-14T22:13:20.123Z'), '2023-11-14T22:13:20.123000Z'],
  ['TIMESTAMP', '2023-11-15T00:13:20.1234567+02:00', '2023-11-14T22:13:20.123456Z'],
  ['TIMESTAMP', '2023-11-14 22:13:20', '2023-11-14T22:13:20.000000Z'],
  ['TIMESTAMP', '0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000000Z'],
  ['TIMESTAMP', -1, '1969-12-31T23:59:59.999999Z'],
  ['DATE', '2024-02-29', '2024-02-29'],
  ['DATE', '2024-02-29T23:30:00-02:00', '2024-03-01'],
  ['DATE', new Date('2024-02-29T10:00:00Z'), '2024-02-29'],
  ['DATETIME', '2024-02-29 10:11:12.5', '2024-02-29T10:11:12.500000'],
  ['DATETIME', '2024-02-29T10:11:12Z', '2024-02-29T10:11:12.000000'],
  ['TIME', '7:05:09.25', '07:05:09.250000'],
  ['GEOGRAPHY', { latitude: 59.9, longitude: 10.75 }, 'POINT(10.75 59.9)'],
  ['GEOGRAPHY', 'POINT(1 2)', 'POINT(1 2)'],
  ['GEOGRAPHY', ' polygon((0 0, 1 0, 1 1, 0 0)) ', 'polygon((0 0, 1 0, 1 1, 0 0))'],
  ['GEOGRAPHY', { type: 'Point', coordinates: [10.75, 59.9] }, '{"type":"Point","coordinates":[10.75,59.9]}'],
  ['JSON', { a: [1, 'x', null], d: new Date('2024-01-01T00:00:00Z'), n: 5n }, { a: [1, 'x', null], d: '2024-01-01T00:00:00.000000Z', n: 5 }],
  ['JSON', 'just a string', 'just a string'],
];
for (const [type, value, expected] of ok) {
  const shown = typeof value === 'bigint' ? `${value}n` : value instanceof Date ? `Date ${value.toISOString()}` : JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  Coerce(`${type} from ${shown}`, () => assert.equal(one(type, value), expected));
}

Coerce('nulls are safe: NULLABLE → null, REPEATED → []', () => {
  for (const type of ['INT64', 'STRING', 'TIMESTAMP', 'RECORD', 'JSON'] as ColumnType[]) {
    assert.is(one(type, null), null);
    assert.is(one(type, undefined), null);
  }
  assert.equal(one('STRING', null, 'REPEATED'), []);
});

Coerce('REPEATED columns coerce each element', () => {
  assert.equal(one('INT64', [1, '2', 3n], 'REPEATED'), ['1', '2', '3']);
  assert.equal(one('TIMESTAMP', [0, '1970-01-01T00:00:01Z'], 'REPEATED'), ['1970-01-01T00:00:00.000000Z', '1970-01-01T00:00:01.000000Z']);
});

Coerce('nested RECORD, REPEATED RECORD and sub-field paths', () => {
  const m = mapping([
    f('address', 'RECORD', {
      fields: [f('street', 'STRING'), f('zip', 'INT64'), f('geo', 'RECORD', { fields: [f('lat', 'FLOAT64', { from: ['latitude'] })] })],
    }),
    f('orders', 'RECORD', { mode: 'REPEATED', fields: [f('sku', 'STRING', { mode: 'REQUIRED' }), f('qty', 'INT64')] }),
    f('city', 'STRING', { from: ['address', 'city'] }),
  ]);
  const row = buildBigQueryRow(
    rec({
      address: { street: 'Main 1', zip: '0150', city: 'Oslo', extra: 'dropped', geo: { latitude: 59.9 } },
      orders: [{ sku: 'A', qty: 2 }, { sku: 'B' }],
    }),
    m,
    { now: NOW },
  );
  assert.equal(columns(row), {
    address: { street: 'Main 1', zip: '150', geo: { lat: 59.9 } },
    orders: [
      { sku: 'A', qty: '2' },
      { sku: 'B', qty: null },
    ],
    city: 'Oslo',
  });
});

Coerce('a double beyond 2^53 in an INT64 column is refused as a FLOAT64 (its details say so), not as an INT64', () => {
  const err = (() => {
    try {
      buildBigQueryRow(rec({ visits: 1e300 }), mapping([f('visits', 'INT64')]), { now: NOW });
    } catch (e) {
      return e as MlbridgeError;
    }
    return undefined;
  })();
  assert.ok(err instanceof MlbridgeError, 'refused');
  assert.equal([err.code, err.details?.expected, err.details?.found], ['INVALID_ARGUMENT', 'INT64', 'FLOAT64']);
});

Coerce('__key__ paths read the record key', () => {
  const m = mapping([
    f('key_name', 'STRING', { from: ['__key__', 'name'] }),
    f('key_id', 'INT64', { from: ['__key__', 'id'] }),
    f('key_kind', 'STRING', { from: ['__key__', 'kind'] }),
    f('key_ns', 'STRING', { from: ['__key__', 'namespace'] }),
    f('key_path', 'STRING', { from: ['__key__', 'path'] }),
  ]);
  const child = buildBigQueryRow(rec({}, { entityKey: 'Org:acme/Customer#1001', kind: 'Customer', namespace: 'eu' }), m, { now: NOW });
  assert.equal(columns(child), { key_name: null, key_id: '1001', key_kind: 'Customer', key_ns: 'eu', key_path: 'Org:acme/Customer#1001' });
  const plain = buildBigQueryRow(rec({}), m, { now: NOW });
  assert.equal(columns(plain), {
    key_name: 'customer-1001',
    key_id: null,
    key_kind: 'CustomerProfile',
    key_ns: '',
    key_path: 'CustomerProfile:customer-1001',
  });
});

const rejections: Array<[string, FieldSpec, unknown, string]> = [
  ['a word as INT64', f('age', 'INT64'), 'abc', `column 'age': cannot coerce "abc" to INT64`],
  ['a fraction as INT64', f('age', 'INT64'), 1.5, `column 'age': cannot coerce 1.5 to INT64 (not an integer)`],
  ['an unsafe integer as INT64', f('age', 'INT64'), 2 ** 60, `column 'age': cannot coerce 1152921504606847000 to INT64 (beyond 2^53: pass a string or bigint)`],
  ['2^63 as INT64', f('age', 'INT64'), '9223372036854775808', `column 'age': cannot coerce "9223372036854775808" to INT64 (out of range)`],
  ['a boolean as INT64', f('age', 'INT64'), true, `column 'age': cannot coerce true to INT64`],
  ['a word as FLOAT64', f('ltv', 'FLOAT64'), 'lots', `column 'ltv': cannot coerce "lots" to FLOAT64`],
  ['10 decimals as NUMERIC', f('price', 'NUMERIC'), '1.0000000001', `column 'price': cannot coerce "1.0000000001" to NUMERIC (more than 9 decimal places)`],
  ['30 digits as NUMERIC', f('price', 'NUMERIC'), '1'.repeat(30), `column 'price': cannot coerce "${'1'.repeat(30)}" to NUMERIC (more than 29 integer digits)`],
  ['NaN as NUMERIC', f('price', 'NUMERIC'), NaN, `column 'price': cannot coerce NaN to NUMERIC (not finite)`],
  ['yes as BOOL', f('ok', 'BOOL'), 'yes', `column 'ok': cannot coerce "yes" to BOOL`],
  ['an object as STRING', f('name', 'STRING'), { a: 1 }, `column 'name': cannot coerce {"a":1} to STRING`],
  ['non-base64 as BYTES', f('blob', 'BYTES'), 'not base64!', `column 'blob': cannot coerce "not base64!" to BYTES (not base64)`],
  ['a bad date as TIMESTAMP', f('at', 'TIMESTAMP'), '2024-02-30T00:00:00Z', `column 'at': cannot coerce "2024-02-30T00:00:00Z" to TIMESTAMP`],
  ['year 10000 as TIMESTAMP', f('at', 'TIMESTAMP'), 253402300800000000n, `column 'at': cannot coerce 253402300800000000 to TIMESTAMP (out of range 0001-01-01..9999-12-31)`],
  ['a number as DATE', f('day', 'DATE'), 20240101, `column 'day': cannot coerce 20240101 to DATE`],
  ['25:00 as TIME', f('t', 'TIME'), '25:00:00', `column 't': cannot coerce "25:00:00" to TIME`],
  [
    'latitude 91 as GEOGRAPHY',
    f('where', 'GEOGRAPHY'),
    { latitude: 91, longitude: 0 },
    `column 'where': cannot coerce {"latitude":91,"longitude":0} to GEOGRAPHY (latitude must be in -90..90 and longitude in -180..180)`,
  ],
  [
    'a place name as GEOGRAPHY',
    f('where', 'GEOGRAPHY'),
    'Oslo',
    `column 'where': cannot coerce "Oslo" to GEOGRAPHY (expected WKT such as POINT(lng lat), GeoJSON, or {latitude, longitude})`,
  ],
  ['Infinity inside JSON', f('doc', 'JSON'), { a: [Infinity] }, `column 'doc.a[0]': cannot coerce Infinity to JSON (not finite)`],
  ['a string as RECORD', f('address', 'RECORD', { fields: [f('zip', 'STRING')] }), 'Main 1', `column 'address': cannot coerce "Main 1" to RECORD`],
  ['a null REQUIRED column', f('email', 'STRING', { mode: 'REQUIRED' }), null, `column 'email': REQUIRED value is null or missing`],
  ['a scalar as REPEATED', f('tags', 'STRING', { mode: 'REPEATED' }), 'a', `column 'tags': cannot coerce "a" to ARRAY<STRING> (expected an array)`],
  ['a null array element', f('tags', 'STRING', { mode: 'REPEATED' }), ['a', null], `column 'tags[1]': arrays cannot hold null`],
  ['a bad element', f('n', 'INT64', { mode: 'REPEATED' }), [1, 'x'], `column 'n[1]': cannot coerce "x" to INT64`],
  [
    'a missing REQUIRED sub-field',
    f('address', 'RECORD', { fields: [f('zip', 'STRING', { mode: 'REQUIRED' })] }),
    { street: 'x' },
    `column 'address.zip': REQUIRED value is null or missing`,
  ],
];
for (const [what, field, value, message] of rejections) {
  Coerce(`rejects ${what} with a clear reason`, () => {
    try {
      buildBigQueryRow(rec({ [field.name]: value }), mapping([field]), { now: NOW });
      assert.unreachable('should have thrown');
    } catch (err) {
      assert.instance(err, MlbridgeError);
      assert.is((err as MlbridgeError).code, 'INVALID_ARGUMENT');
      assert.is((err as Error).message, message);
    }
  });
}

Coerce.run();

// ---- system columns and operations ---------------------------------------------------
const System = suite('buildBigQueryRow system columns and operations');

const customer = mapping([f('email', 'STRING', { mode: 'REQUIRED' }), f('age', 'INT64'), f('created_at', 'TIMESTAMP')], {
  type: 'DAY',
  field: 'created_at',
});

System('sets _key, _version, _hash, _synced_at and _score, system columns first', () => {
  const r = rec({ email: 'a@example.com', age: 40, created_at: '2025-01-01T00:00:00Z' }, { version: 17 });
  const row = buildBigQueryRow(r, customer, { now: NOW });
  assert.equal(Object.keys(row), ['_key', '_version', '_hash', '_synced_at', '_score', 'email', 'age', 'created_at']);
  assert.is(row._key, 'CustomerProfile:customer-1001');
  assert.is(row._version, '17');
  assert.is(row._synced_at, '2026-06-01T12:00:00.000000Z');
  assert.is(row._score, scoreRecordFreshness(r, { mapping: customer, now: NOW }).confidence);
  const expectedHash = createHash('sha256')
    .update('{"age":"40","created_at":"2025-01-01T00:00:00.000000Z","email":"a@example.com"}')
    .digest('hex');
  assert.is(row._hash, expectedHash);
});

System('_hash does not depend on the order of keys in data, and changes with any value', () => {
  const a = buildBigQueryRow(rec({ email: 'e', age: 1, created_at: 0 }), customer, { now: NOW });
  const b = buildBigQueryRow(rec({ created_at: 0, age: 1, email: 'e' }), customer, { now: new Date(0) });
  const c = buildBigQueryRow(rec({ created_at: 0, age: 2, email: 'e' }), customer, { now: NOW });
  assert.is(a._hash, b._hash);
  assert.is.not(a._hash, c._hash);
  assert.is(canonicalJson({ b: [{ z: 1, a: 2 }], a: null }), '{"a":null,"b":[{"a":2,"z":1}]}');
});

System('_hash leaves out empty columns and never depends on the clock', () => {
  const base = rec({ email: 'e', age: 1 }, { eventTime: undefined });
  const withEmpty = buildBigQueryRow(base, customer, { now: NOW });
  const later = buildBigQueryRow(base, customer, { now: new Date('2027-01-01T00:00:00Z') });
  // created_at is the partition column: filled from the clock in the row, not in the hash.
  assert.is(withEmpty.created_at, '2026-06-01T12:00:00.000000Z');
  assert.is(later.created_at, '2027-01-01T00:00:00.000000Z');
  assert.is(withEmpty._hash, later._hash);
  const wider = { ...customer, fields: [...customer.fields, { name: 'nickname', type: 'STRING' as const, mode: 'NULLABLE' as const, from: ['nickname'] }] };
  assert.is(buildBigQueryRow(base, wider, { now: NOW })._hash, withEmpty._hash, 'a column no entity fills changes no hash');
  assert.is.not(buildBigQueryRow(rec({ email: 'e', age: 1, nickname: 'x' }), wider, { now: NOW })._hash, withEmpty._hash);
});

System('_key carries the namespace in canonicalKey format', () => {
  const row = buildBigQueryRow(rec({ email: 'e' }, { namespace: 'eu west', entityKey: 'Org:acme/CustomerProfile:c1' }), customer, { now: NOW });
  assert.is(row._key, 'eu%20west|Org:acme/CustomerProfile:c1');
});

System('_version falls back to eventTime in µs, then to the sync time', () => {
  assert.is(buildBigQueryRow(rec({ email: 'e' }, { eventTime: '2026-06-01T11:59:00.123Z' }), customer, { now: NOW })._version, '1780315140123000');
  assert.is(buildBigQueryRow(rec({ email: 'e' }, { eventTime: undefined }), customer, { now: NOW })._version, '1780315200000000');
  assert.is(buildBigQueryRow(rec({ email: 'e' }, { version: 9007199254740993n }), customer, { now: NOW })._version, '9007199254740993');
});

System('_score takes a given number or score instead of computing one', () => {
  assert.is(buildBigQueryRow(rec({ email: 'e' }), customer, { now: NOW, score: 0.25 })._score, 0.25);
  const s = scoreRecordFreshness(rec({}), { now: NOW });
  assert.is(buildBigQueryRow(rec({ email: 'e' }), customer, { now: NOW, score: { ...s, confidence: 0.5 } })._score, 0.5);
});

System('fills an empty partition column from eventTime, else the sync time', () => {
  const fromEvent = buildBigQueryRow(rec({ email: 'e' }, { eventTime: '2026-05-31T23:00:00Z' }), customer, { now: NOW });
  assert.is(fromEvent.created_at, '2026-05-31T23:00:00.000000Z');
  const fromNow = buildBigQueryRow(rec({ email: 'e', created_at: null }, { eventTime: undefined }), customer, { now: NOW });
  assert.is(fromNow.created_at, '2026-06-01T12:00:00.000000Z');
  const daily = mapping([f('day', 'DATE')], { type: 'DAY', field: 'day' });
  assert.is(buildBigQueryRow(rec({}, { eventTime: '2026-05-31T23:00:00-02:00' }), daily, { now: NOW }).day, '2026-06-01');
  const given = buildBigQueryRow(rec({ email: 'e', created_at: '2020-01-01T00:00:00Z' }), customer, { now: NOW });
  assert.is(given.created_at, '2020-01-01T00:00:00.000000Z');
});

System('a DELETE row has the system columns and empty mapped columns', () => {
  const row = buildBigQueryRow(rec(null, { operation: 'DELETE' }), mapping([f('email', 'STRING', { mode: 'REQUIRED' }), f('tags', 'STRING', { mode: 'REPEATED' })]), {
    now: NOW,
  });
  assert.equal(columns(row), { email: null, tags: [] });
  assert.is(row._key, 'CustomerProfile:customer-1001');
});

System('a PATCH row carries only the columns the patch has (and the partition column)', () => {
  const row = buildBigQueryRow(rec({ age: '41' }, { operation: 'PATCH' }), customer, { now: NOW });
  assert.equal(columns(row), { age: '41', created_at: '2026-06-01T11:59:00.000000Z' });
});

System('without a mapping, data passes through with JSON-safe values', () => {
  const row = buildBigQueryRow(
    rec({ name: 'x', n: 3, big: 2n ** 64n, at: new Date('2024-01-01T00:00:00Z'), blob: Buffer.from('hi'), nested: { list: [1, NaN] }, gone: undefined }),
    undefined,
    { now: NOW },
  );
  assert.equal(columns(row), {
    name: 'x',
    n: 3,
    big: '18446744073709551616',
    at: '2024-01-01T00:00:00.000000Z',
    blob: 'aGk=',
    nested: { list: [1, 'NaN'] },
  });
  assert.is(row._key, 'CustomerProfile:customer-1001');
});

System('data or fields named like a system column are refused', () => {
  try {
    buildBigQueryRow(rec({ _key: 'x' }), undefined, { now: NOW });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.is((err as Error).message, `column '_key': the name is reserved for a system column`);
  }
});

System('a record sent with a plain entityKey and the same entity from an export share one _key', () => {
  const entity: Entity = {
    key: { partitionId: { projectId: 'p', namespaceId: 'eu' }, path: [{ kind: 'CustomerProfile', name: 'customer-1001' }] },
    properties: { email: { stringValue: 'a@example.com' } },
  };
  const fromExport = buildBigQueryRow(entityToSyncRecord(entity), customer, { now: NOW });
  const fromPubSub = buildBigQueryRow(rec({ email: 'a@example.com' }, { namespace: 'eu' }), customer, { now: NOW });
  assert.is(fromPubSub._key, 'eu|CustomerProfile:customer-1001');
  assert.is(fromPubSub._key, fromExport._key);
  assert.is(buildBigQueryRow(rec({ email: 'e' }, { entityKey: 'north/east' }), customer, { now: NOW })._key, 'CustomerProfile:north%2Feast');
});

System('an entity read from an export becomes a row keyed by its canonical key', () => {
  const entity: Entity = {
    key: { partitionId: { projectId: 'p', namespaceId: 'eu' }, path: [{ kind: 'CustomerProfile', id: '1001' }] },
    properties: {
      email: { stringValue: 'a@example.com' },
      age: { integerValue: '40' },
      created_at: { timestampValue: '2025-01-01T00:00:00.123456Z' },
    },
  };
  const row = buildBigQueryRow(entityToSyncRecord(entity, { version: '5' }), customer, { now: NOW });
  assert.is(row._key, canonicalKey(entity.key));
  assert.is(row._version, '5');
  assert.equal(columns(row), { email: 'a@example.com', age: '40', created_at: '2025-01-01T00:00:00.123456Z' });
});

System('any value either coerces or is refused with INVALID_ARGUMENT, never another error (400 seeded cases)', () => {
  const rand = mulberry32(12345);
  const values: unknown[] = [null, 0, -1.5, 2 ** 70, NaN, Infinity, 5n, -(2n ** 80n), '', 'x', '12', '1e400', '2024-13-01', '23:59:59',
    '2024-01-01T00:00:00Z', true, [], [1, null], { latitude: 1, longitude: 2 }, { a: { b: [1] } }, new Date(NaN), new Date(0), Buffer.from('x')];
  const types: ColumnType[] = ['STRING', 'BYTES', 'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'TIMESTAMP', 'DATE', 'TIME', 'DATETIME', 'GEOGRAPHY', 'JSON', 'RECORD'];
  const modes: ColumnMode[] = ['NULLABLE', 'REQUIRED', 'REPEATED'];
  for (let i = 0; i < 400; i++) {
    const type = types[Math.floor(rand() * types.length)]!;
    const mode = modes[Math.floor(rand() * modes.length)]!;
    const value = values[Math.floor(rand() * values.length)];
    const field = f('v', type, { mode, ...(type === 'RECORD' ? { fields: [f('a', 'JSON')] } : {}) });
    try {
      const row = buildBigQueryRow(rec({ v: value }), mapping([field]), { now: NOW });
      assert.ok(JSON.stringify(row).length > 0);
    } catch (err) {
      assert.instance(err, MlbridgeError, `case ${i}: ${type} ${mode} ${String(value)}: ${String(err)}`);
      assert.match((err as Error).message, /^column 'v/);
    }
  }
});

System.run();
