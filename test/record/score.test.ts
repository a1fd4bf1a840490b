import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ColumnType, ColumnMode } from '../../src/model/schema.js';
import type { FieldSpec, MappingSpec } from '../../src/spec/types.js';
import { RECORD_DEFAULT_SCORING, type ScoringConfig } from '../../src/record/defaults.js';
import type { KindProfile } from '../../src/record/profile.js';
import { scoreRecordFreshness } from '../../src/record/score.js';
import type { SyncRecord } from '../../src/record/sync-record.js';
import { mulberry32 } from '../../src/model/prng.js';

// ---- fakes -------------------------------------------------------------------------
const NOW = new Date('2026-06-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();

function field(name: string, type: ColumnType, mode: ColumnMode = 'NULLABLE', from: string[] = [name]): FieldSpec {
  return { name, type, mode, from };
}

function scoring(over: Partial<ScoringConfig> = {}): ScoringConfig {
  return {
    ...RECORD_DEFAULT_SCORING,
    freshness: { halfLifeSeconds: 900, maxLagSeconds: 900 },
    ...over,
  };
}

function mapping(fields: FieldSpec[], sc: ScoringConfig = scoring()): Pick<MappingSpec, 'kind' | 'fields' | 'scoring'> {
  return { kind: 'CustomerProfile', fields, scoring: sc };
}

const customer = mapping([
  field('email', 'STRING', 'REQUIRED'),
  field('status', 'STRING', 'REQUIRED'),
  field('age', 'INT64'),
  field('ltv', 'FLOAT64'),
  field('region', 'STRING'),
  field('phone', 'STRING'),
  field('city', 'STRING', 'NULLABLE', ['address', 'city']),
]);

function rec(over: Partial<SyncRecord> = {}): SyncRecord {
  return {
    entityKey: 'customer-1001',
    kind: 'CustomerProfile',
    operation: 'UPSERT',
    data: { email: 'a@example.com', status: 'active', age: 40, ltv: 105, region: 'EU', phone: '+4712345678' },
    eventTime: ago(0),
    ...over,
  };
}

const profile: KindProfile = {
  formatVersion: 1,
  kind: 'CustomerProfile',
  sampleCount: 1000,
  maxCardinality: 50,
  fields: {
    email: { type: 'STRING', count: 1000, nulls: 0, nullRate: 0 },
    status: { type: 'STRING', count: 1000, nulls: 0, nullRate: 0, values: ['active', 'closed'] },
    age: { type: 'INT64', count: 1000, nulls: 100, nullRate: 0.1, numeric: { median: 40, mad: 8, meanAbsDev: 9, count: 900 } },
    ltv: { type: 'FLOAT64', count: 1000, nulls: 0, nullRate: 0, numeric: { median: 100, mad: 10, meanAbsDev: 12, count: 1000 } },
    region: { type: 'STRING', count: 1000, nulls: 0, nullRate: 0, values: ['EU', 'US'] },
    phone: { type: 'STRING', count: 1000, nulls: 50, nullRate: 0.05 },
    city: { type: 'STRING', count: 1000, nulls: 900, nullRate: 0.9 },
  },
};

const score = (r: SyncRecord, opts: Parameters<typeof scoreRecordFreshness>[1] = {}) =>
  scoreRecordFreshness(r, { mapping: customer, profile, now: NOW, ...opts });

// ---- flags -------------------------------------------------------------------------
const Flags = suite('scoreRecordFreshness flags');

const flagCases: Array<[string, SyncRecord, Parameters<typeof scoreRecordFreshness>[1], string[]]> = [
  ['a fresh, complete, ordinary record has no flags', rec(), {}, []],
  ['a record older than max lag is stale', rec({ eventTime: ago(3600) }), {}, ['stale:lag=3600s>max=900s']],
  ['a record exactly at max lag is not stale', rec({ eventTime: ago(900) }), {}, []],
  ['a fractional lag shows milliseconds', rec({ eventTime: ago(900.5) }), {}, ['stale:lag=900.5s>max=900s']],
  ['a record without eventTime says so', rec({ eventTime: undefined }), {}, ['no_event_time']],
  ['an eventTime far in the future is flagged', rec({ eventTime: ago(-120) }), {}, ['future_event_time:ahead=120s']],
  ['a little clock skew is tolerated', rec({ eventTime: ago(-30) }), {}, []],
  [
    'a missing required field',
    rec({ data: { email: 'a@example.com', age: 40, ltv: 105, region: 'EU', phone: '1' } }),
    {},
    ['missing_required:status'],
  ],
  [
    'a null required field',
    rec({ data: { email: 'a@example.com', status: null, age: 40, ltv: 105, region: 'EU', phone: '1' } }),
    {},
    ['missing_required:status'],
  ],
  [
    'an optional field of the wrong type',
    rec({ data: { email: 'a@example.com', status: 'active', age: 'forty', ltv: 105, region: 'EU', phone: '1' } }),
    {},
    ['wrong_type:age=STRING!=INT64'],
  ],
  [
    'scoring.required replaces the REQUIRED fields',
    rec({ data: { email: 'a@example.com', status: 'active', ltv: 105, region: 'EU', phone: '1' } }),
    { scoring: scoring({ required: ['email', 'age'] }) },
    ['missing_required:age'],
  ],
  ['a numeric outlier', rec({ data: { ...rec().data, ltv: 235 } }), {}, ['anomaly:ltv:z=9.1']],
  ['a numeric outlier below', rec({ data: { ...rec().data, ltv: -35 } }), {}, ['anomaly:ltv:z=-9.1']],
  ['a value just under the z threshold is not an outlier', rec({ data: { ...rec().data, ltv: 188.9 } }), {}, []],
  ['an unseen categorical value', rec({ data: { ...rec().data, region: 'XX' } }), {}, ['unseen_value:region=XX']],
  ['a null in a rarely null column', rec({ data: { ...rec().data, phone: null } }), {}, ['null_rate_shift:phone=0.05->1']],
  [
    'a null in a column that is null a third of the time is not news',
    rec({ data: { ...rec().data, region: null } }),
    { profile: { ...profile, fields: { ...profile.fields, region: { ...profile.fields.region!, nulls: 333, nullRate: 0.333 } } } },
    [],
  ],
  ['an absent, rarely null column counts as null for UPSERT', rec({ data: { email: 'e', status: 'active', age: 40, ltv: 100, region: 'EU' } }), {}, ['null_rate_shift:phone=0.05->1']],
  ['a null in a mostly null column is ordinary', rec({ data: { ...rec().data, address: { city: null } } }), {}, []],
  ['no profile: no anomaly checks, and says so', rec({ data: { ...rec().data, ltv: 1e9 } }), { profile: null }, ['no_profile']],
  [
    'a profile from too few rows is not used',
    rec({ data: { ...rec().data, ltv: 1e9 } }),
    { profile: { ...profile, sampleCount: 12 } },
    ['profile_too_small:n=12<min=30'],
  ],
  [
    'flags come in order: time, completeness, anomaly',
    rec({ eventTime: ago(7200), data: { email: 'e', age: 'x', ltv: 1000, region: 'XX', phone: '1' } }),
    {},
    ['stale:lag=7200s>max=900s', 'missing_required:status', 'wrong_type:age=STRING!=INT64', 'anomaly:ltv:z=60.7', 'unseen_value:region=XX'],
  ],
];
for (const [name, r, opts, flags] of flagCases) {
  Flags(name, () => assert.equal(score(r, opts).flags, flags));
}

Flags('without a mapping, required columns are checked by presence in data', () => {
  const s = scoreRecordFreshness(rec({ data: { email: 'e' } }), { scoring: scoring({ required: ['email', 'status'] }), now: NOW });
  assert.equal(s.flags, ['missing_required:status', 'no_profile']);
  assert.is(s.completeness, 0.5);
});

Flags('a nested from path is followed for completeness', () => {
  const m = mapping([field('city', 'STRING', 'REQUIRED', ['address', 'city'])]);
  assert.equal(scoreRecordFreshness(rec({ data: { address: { city: 'Oslo' } } }), { mapping: m, now: NOW }).flags, ['no_profile']);
  assert.equal(scoreRecordFreshness(rec({ data: { address: {} } }), { mapping: m, now: NOW }).flags, ['missing_required:city', 'no_profile']);
});

Flags('a far-future eventTime is not trusted: freshness decays with the skew', () => {
  const r = score(rec({ eventTime: new Date(NOW.getTime() + 10 * 365 * 86400_000).toISOString() }));
  assert.is(r.freshness, 0);
  assert.is(r.lagSeconds, 0);
  assert.is(r.action, 'defer');
  assert.equal(r.flags, ['future_event_time:ahead=315360000s']);
  assert.is(score(rec({ eventTime: ago(-900) })).freshness, 0.5);
  assert.is(score(rec({ eventTime: ago(-30) })).freshness, 1, 'within the tolerance');
});

Flags.run();

// ---- components and operations ------------------------------------------------------
const Components = suite('scoreRecordFreshness components and operations');

Components('freshness halves every half-life', () => {
  assert.is(score(rec({ eventTime: ago(0) })).freshness, 1);
  assert.is(score(rec({ eventTime: ago(900) })).freshness, 0.5);
  assert.is(score(rec({ eventTime: ago(1800) })).freshness, 0.25);
  assert.is(score(rec({ eventTime: ago(1800) })).lagSeconds, 1800);
});

Components('completeness is the share of required fields present and well typed', () => {
  const s = score(rec({ data: { email: 'a@example.com', status: 12 } }));
  // status 12 coerces to STRING "12": present and of the declared type.
  assert.is(s.completeness, 1);
  assert.is(score(rec({ data: { email: 'a@example.com' } })).completeness, 0.5);
  assert.is(score(rec({ data: {} })).completeness, 0);
  // An optional column of the wrong type counts as a failed check.
  assert.is(score(rec({ data: { email: 'e', status: 's', age: 'x' } })).completeness, 0.666667);
});

Components('anomaly loses a fixed weight per flag and stops at 0', () => {
  assert.is(score(rec({ data: { ...rec().data, ltv: 1000 } })).anomaly, 0.5);
  assert.is(score(rec({ data: { ...rec().data, ltv: 1000, region: 'XX' } })).anomaly, 0.15);
  assert.is(score(rec({ data: { ...rec().data, ltv: 1000, age: 1000, region: 'XX' } })).anomaly, 0);
});

Components('confidence is the weighted mean of the components', () => {
  const s = score(rec({ eventTime: ago(900), data: { email: 'e', age: 40, ltv: 105, region: 'EU' } }));
  // 0.4 × 0.5 + 0.4 × 0.5 + 0.2 × (1 − 0.25 for the null phone)
  assert.is(s.completeness, 0.5);
  assert.is(s.anomaly, 0.75);
  assert.is(s.confidence, 0.55);
  assert.is(s.action, 'defer');
  assert.is(s.priority, 'normal');
});

Components('DELETE needs no data: completeness 1, no anomaly checks, high priority', () => {
  const s = score(rec({ operation: 'DELETE', data: null }));
  assert.equal(
    { completeness: s.completeness, anomaly: s.anomaly, flags: s.flags, priority: s.priority, action: s.action },
    { completeness: 1, anomaly: 1, flags: [], priority: 'high', action: 'ingest' },
  );
});

Components('a stale DELETE is still scored on freshness, and stays high priority', () => {
  const s = score(rec({ operation: 'DELETE', data: null, eventTime: ago(86400) }));
  assert.is(s.freshness, 0);
  assert.is(s.confidence, 0.6);
  assert.is(s.action, 'defer');
  assert.is(s.priority, 'high');
});

Components('PATCH is scored on the fields it carries only', () => {
  const s = score(rec({ operation: 'PATCH', data: { region: 'US' } }));
  assert.equal(s.flags, []);
  assert.is(s.completeness, 1);
  assert.is(s.confidence, 1);
});

Components('PATCH that nulls a required field, or carries a bad value, is flagged', () => {
  assert.equal(score(rec({ operation: 'PATCH', data: { status: null } })).flags, ['missing_required:status']);
  assert.equal(score(rec({ operation: 'PATCH', data: { age: 'x' } })).flags, ['wrong_type:age=STRING!=INT64']);
  assert.equal(score(rec({ operation: 'PATCH', data: { phone: null } })).flags, ['null_rate_shift:phone=0.05->1']);
});

Components('UPSERT with nothing at all is quarantined with low priority', () => {
  const s = score(rec({ data: {}, eventTime: ago(86400) }));
  assert.is(s.completeness, 0);
  assert.is(s.action, 'quarantine');
  assert.is(s.priority, 'low');
});

Components('uses the mapping scoring when no scoring option is given, else the defaults', () => {
  const strict = mapping(customer.fields, scoring({ ingest: 0.99, quarantine: 0.98 }));
  assert.is(scoreRecordFreshness(rec({ eventTime: ago(120) }), { mapping: strict, now: NOW }).action, 'quarantine');
  const noMapping = scoreRecordFreshness(rec({ eventTime: ago(900) }), { now: NOW });
  // Built-in defaults: half-life 15 min, so 0.4 × 0.5 + 0.4 + 0.2.
  assert.is(noMapping.confidence, 0.8);
  assert.is(noMapping.action, 'defer'); // below the default ingest threshold 0.85
});

Components('NaN and missing weights never produce NaN', () => {
  const weird = scoring({ weights: { freshness: NaN, completeness: -1, anomaly: Infinity } });
  const s = scoreRecordFreshness(rec(), { scoring: weird, now: NOW });
  assert.is(s.confidence, 0);
  assert.is(s.action, 'quarantine');
  const nanData = score(rec({ data: { ...rec().data, ltv: NaN, age: Infinity } }));
  assert.ok(nanData.confidence >= 0 && nanData.confidence <= 1);
  assert.equal(nanData.flags, ['wrong_type:age=FLOAT64!=INT64']);
});

Components.run();

// ---- thresholds ---------------------------------------------------------------------
const Thresholds = suite('scoreRecordFreshness thresholds');

// Confidence is the completeness alone (weights 0/1/0): 4 required columns, n present.
const four = mapping(['a', 'b', 'c', 'd'].map((n) => field(n, 'STRING', 'REQUIRED')));
const only = (ingest: number, quarantine: number) =>
  scoring({ ingest, quarantine, weights: { freshness: 0, completeness: 1, anomaly: 0 } });
const present = (n: number) => rec({ data: Object.fromEntries(['a', 'b', 'c', 'd'].slice(0, n).map((k) => [k, 'x'])) });

const thresholdCases: Array<[string, number, number, number, string]> = [
  // [name, present of 4, ingest, quarantine, action]
  ['exactly at ingest → ingest', 3, 0.75, 0.5, 'ingest'],
  ['just below ingest → defer', 3, 0.750001, 0.5, 'defer'],
  ['above ingest → ingest', 4, 0.75, 0.5, 'ingest'],
  ['exactly at quarantine → defer', 2, 0.75, 0.5, 'defer'],
  ['just below quarantine → quarantine', 2, 0.75, 0.500001, 'quarantine'],
  ['below quarantine → quarantine', 1, 0.75, 0.5, 'quarantine'],
  ['ingest equal to quarantine: at it ingests', 2, 0.5, 0.5, 'ingest'],
];
for (const [name, n, ingest, quarantine, action] of thresholdCases) {
  Thresholds(name, () => {
    const s = scoreRecordFreshness(present(n), { mapping: four, scoring: only(ingest, quarantine), now: NOW });
    assert.is(s.confidence, n / 4);
    assert.is(s.action, action);
  });
}

Thresholds('freshness exactly at the ingest boundary ingests, a second later defers', () => {
  const sc = scoring({ ingest: 0.5, quarantine: 0.25, weights: { freshness: 1, completeness: 0, anomaly: 0 } });
  const at = (lag: number) => scoreRecordFreshness(rec({ eventTime: ago(lag) }), { mapping: customer, scoring: sc, now: NOW });
  assert.is(at(900).action, 'ingest');
  assert.is(at(901).action, 'defer');
  assert.is(at(1800).action, 'defer');
  assert.is(at(1801).action, 'quarantine');
  assert.is(at(1801).priority, 'low');
});

Thresholds.run();

// ---- properties ---------------------------------------------------------------------
const Properties = suite('scoreRecordFreshness properties');


function randomRecord(rand: () => number): SyncRecord {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const value = () =>
    pick<unknown>([null, undefined, 'x', '', 0, -1, 42, 1e12, NaN, Infinity, rand() * 1000, true, 'EU', 'XX', { a: 1 }, [1, 2]]);
  const data: Record<string, unknown> = {};
  for (const f of ['email', 'status', 'age', 'ltv', 'region', 'phone', 'address']) {
    const v = value();
    if (v !== undefined) data[f] = f === 'address' && rand() < 0.5 ? { city: value() } : v;
  }
  const op = pick(['UPSERT', 'PATCH', 'DELETE'] as const);
  return {
    entityKey: `k${Math.floor(rand() * 1e6)}`,
    kind: 'CustomerProfile',
    operation: op,
    data: op === 'DELETE' && rand() < 0.5 ? null : data,
    ...(rand() < 0.9 ? { eventTime: ago(rand() * 100_000 - 1000) } : {}),
  };
}

function randomScoring(rand: () => number): ScoringConfig {
  const q = rand();
  return scoring({
    ingest: q + rand() * (1 - q),
    quarantine: q,
    freshness: { halfLifeSeconds: 1 + rand() * 7200, maxLagSeconds: rand() * 86400 },
    weights: { freshness: rand(), completeness: rand(), anomaly: rand() },
  });
}

Properties('confidence and every component stay in 0..1 (500 seeded cases)', () => {
  const rand = mulberry32(20261123);
  for (let i = 0; i < 500; i++) {
    const r = randomRecord(rand);
    const s = scoreRecordFreshness(r, { mapping: customer, scoring: randomScoring(rand), profile: rand() < 0.7 ? profile : null, now: NOW });
    for (const k of ['confidence', 'freshness', 'completeness', 'anomaly'] as const) {
      assert.ok(s[k] >= 0 && s[k] <= 1, `case ${i}: ${k}=${s[k]} for ${JSON.stringify(r)}`);
    }
    assert.ok(s.lagSeconds >= 0);
    assert.ok(['ingest', 'defer', 'quarantine'].includes(s.action));
  }
});

Properties('confidence never rises as lag grows, and falls while freshness weighs (300 seeded cases)', () => {
  const rand = mulberry32(7);
  for (let i = 0; i < 300; i++) {
    const base = randomRecord(rand);
    const sc = randomScoring(rand);
    const lags = Array.from({ length: 6 }, () => rand() * 20_000).sort((a, b) => a - b);
    const scores = lags.map((lag) =>
      scoreRecordFreshness({ ...base, eventTime: ago(lag) }, { mapping: customer, scoring: sc, profile, now: NOW }),
    );
    for (let j = 1; j < scores.length; j++) {
      assert.ok(scores[j]!.confidence <= scores[j - 1]!.confidence, `case ${i}: lag ${lags[j - 1]} → ${lags[j]}`);
    }
    // With the freshness weight and a clearly larger lag, the drop is visible.
    const short = scoreRecordFreshness({ ...base, eventTime: ago(0) }, { mapping: customer, scoring: sc, profile, now: NOW });
    const long = scoreRecordFreshness({ ...base, eventTime: ago(sc.freshness.halfLifeSeconds) }, { mapping: customer, scoring: sc, profile, now: NOW });
    if (sc.weights.freshness > 0.01) assert.ok(long.confidence < short.confidence, `case ${i}`);
  }
});

Properties('the same record and profile always score the same (300 seeded cases)', () => {
  const rand = mulberry32(99);
  for (let i = 0; i < 300; i++) {
    const r = randomRecord(rand);
    const sc = randomScoring(rand);
    const a = scoreRecordFreshness(r, { mapping: customer, scoring: sc, profile, now: NOW });
    const b = scoreRecordFreshness(structuredClone(r), { mapping: customer, scoring: structuredClone(sc), profile: structuredClone(profile), now: new Date(NOW) });
    assert.equal(a, b, `case ${i}`);
  }
});

Properties.run();
