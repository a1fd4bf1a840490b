import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run, type ScoreCommandOptions } from '../../src/cli/commands/score.js';
import type { ColumnMode, ColumnType } from '../../src/model/schema.js';
import { PROFILES_TABLE, type KindProfile } from '../../src/record/profile.js';
import { ProfileStore } from '../../src/engine/profiles.js';
import { fakeIO } from './fake-io.js';
import { runProcess, type ProcessResult } from '../support/run-process.js';

// ---- fakes -------------------------------------------------------------------------
const NOW = new Date('2026-06-01T12:00:00Z');
const BIN = fileURLToPath(new URL('../../../bin/mlbridge.js', import.meta.url));

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: analytics }
mappings:
  - kind: CustomerProfile
    scoring: { required: [email, status] }
    fields:
      - { name: email, type: STRING, mode: REQUIRED }
      - { name: status, type: STRING }
      - { name: ltv, type: FLOAT64 }
      - { name: region, type: STRING }
`;

const options = (over: Partial<ScoreCommandOptions> = {}): ScoreCommandOptions => ({
  entityKey: 'customer-1001',
  kind: 'CustomerProfile',
  operation: 'UPSERT',
  data: '{"email":"a@example.com","status":"active","ltv":120,"region":"EU"}',
  eventTime: '2026-06-01T11:59:00Z',
  format: 'json',
  now: NOW,
  ...over,
});

async function tempDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mlbridge-score-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function score(over: Partial<ScoreCommandOptions>, files: Record<string, string> = {}) {
  const dir = await tempDir(files);
  try {
    const io = fakeIO({ cwd: dir });
    const code = await run(options(over), io);
    return { code, out: io.out(), err: io.err() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- run() -------------------------------------------------------------------------
const Run = suite('score command');

Run('prints the score as JSON with the documented defaults when there is no spec', async () => {
  const r = await score({});
  assert.is(r.code, 0);
  assert.is(r.err, '');
  assert.equal(JSON.parse(r.out), {
    entity_key: 'customer-1001',
    kind: 'CustomerProfile',
    operation: 'UPSERT',
    confidence: 0.981937, // 0.4 × 0.5^(60/900) + 0.4 + 0.2
    freshness: 0.954842,
    completeness: 1,
    anomaly: 1,
    lag_seconds: 60,
    flags: ['no_profile'],
    priority: 'normal',
    action: 'ingest',
    reason: null,
    thresholds: { ingest: 0.85, quarantine: 0.5 },
  });
});

Run('prints a summary for people with --format text', async () => {
  const r = await score({ format: 'text', eventTime: '2026-06-01T10:00:00Z' });
  assert.is(r.code, 0);
  assert.is(
    r.out,
    [
      'CustomerProfile customer-1001 (UPSERT): DEFER, priority normal',
      '  confidence    0.602   ingest >= 0.85, quarantine < 0.5',
      '  freshness     0.004   lag 7200s, half-life 900s, max lag 3600s',
      '  completeness  1.000',
      '  anomaly       1.000',
      '  flags         stale:lag=7200s>max=3600s, no_profile',
      '  scoring       built-in defaults',
      '',
    ].join('\n'),
  );
});

Run('uses ./mlbridge.yaml when present and exits 3 when the record is quarantined', async () => {
  const r = await score({ data: '{"ltv":"lots"}', eventTime: '2026-06-01T10:00:00Z' }, { 'mlbridge.yaml': SPEC });
  assert.is(r.code, 3);
  const out = JSON.parse(r.out);
  assert.is(out.action, 'quarantine');
  assert.is(out.priority, 'low');
  assert.equal(out.flags, [
    'type_drift:email',
    'stale:lag=7200s>max=3600s',
    'missing_required:email',
    'missing_required:status',
    'wrong_type:ltv=STRING!=FLOAT64',
    'no_profile',
  ]);
});

Run('a value sync cannot coerce to its column type is quarantined with the reason apply and serve give', async () => {
  const r = await score(
    { format: 'text', data: '{"email":"a@example.com","status":"active","ltv":"n/a"}' },
    { 'mlbridge.yaml': SPEC },
  );
  assert.is(r.code, 3);
  assert.is(
    r.out,
    [
      'CustomerProfile customer-1001 (UPSERT): QUARANTINE, priority low',
      '  confidence    0.000   ingest >= 0.85, quarantine < 0.5',
      '  freshness     0.955   lag 60s, half-life 900s, max lag 3600s',
      '  completeness  0.667',
      '  anomaly       1.000',
      '  flags         type_drift:ltv, wrong_type:ltv=STRING!=FLOAT64, no_profile',
      '  reason        type drift: CustomerProfile CustomerProfile:customer-1001: property ltv (column ltv): expected FLOAT64, found STRING "n/a"',
      '  scoring       mlbridge.yaml (mapping CustomerProfile)',
      '',
    ].join('\n'),
  );
});

Run('a missing REQUIRED value is quarantined with the reason apply and serve give, in JSON too', async () => {
  const r = await score({ data: '{"status":"active"}' }, { 'mlbridge.yaml': SPEC });
  assert.is(r.code, 3);
  assert.equal(JSON.parse(r.out), {
    entity_key: 'customer-1001',
    kind: 'CustomerProfile',
    operation: 'UPSERT',
    confidence: 0,
    freshness: 0.954842,
    completeness: 0.5,
    anomaly: 1,
    lag_seconds: 60,
    flags: ['type_drift:email', 'missing_required:email', 'no_profile'],
    priority: 'low',
    action: 'quarantine',
    reason: 'type drift: CustomerProfile CustomerProfile:customer-1001: property email (column email): expected STRING (REQUIRED), found NULL',
    thresholds: { ingest: 0.85, quarantine: 0.5 },
  });
});

Run('a record scored below the quarantine threshold carries the reason sync records', async () => {
  const r = await score(
    { format: 'text', data: '{"email":"a@example.com"}', eventTime: '2026-06-01T10:00:00Z' },
    { 'mlbridge.yaml': SPEC },
  );
  assert.is(r.code, 3);
  assert.is(
    r.out,
    [
      'CustomerProfile customer-1001 (UPSERT): QUARANTINE, priority low',
      '  confidence    0.402   ingest >= 0.85, quarantine < 0.5',
      '  freshness     0.004   lag 7200s, half-life 900s, max lag 3600s',
      '  completeness  0.500',
      '  anomaly       1.000',
      '  flags         stale:lag=7200s>max=3600s, missing_required:status, no_profile',
      '  reason        score 0.401562 below the quarantine threshold 0.5 (stale:lag=7200s>max=3600s, missing_required:status, no_profile)',
      '  scoring       mlbridge.yaml (mapping CustomerProfile)',
      '',
    ].join('\n'),
  );
});

Run('--event-time accepts February 29 of a leap year', async () => {
  const r = await score({ eventTime: '2028-02-29T12:00:00.5+01:00' });
  assert.is(r.code, 0, r.err);
});

Run('--event-time takes epoch milliseconds as well as RFC 3339', async () => {
  const r = await score({ eventTime: String(NOW.getTime() - 7_200_000) });
  assert.is(r.code, 0);
  assert.is(r.err, '');
  assert.is(JSON.parse(r.out).lag_seconds, 7200);
});

Run('reads --data @file.json relative to the working directory', async () => {
  const r = await score({ data: '@rec.json', config: 'spec.yaml' }, { 'rec.json': '{"email":"e"}', 'spec.yaml': SPEC });
  assert.is(r.code, 0);
  assert.equal(JSON.parse(r.out).flags, ['missing_required:status', 'no_profile']);
  assert.is(JSON.parse(r.out).completeness, 0.5);
  assert.is(JSON.parse(r.out).action, 'defer');
});

Run('a kind the spec does not map is scored with the spec scoring, and says so', async () => {
  const r = await score({ kind: 'Invoice', config: 'spec.yaml' }, { 'spec.yaml': SPEC });
  assert.is(r.code, 0);
  assert.is(r.err, 'warning: spec.yaml has no mapping for kind Invoice; using the spec\'s scoring\n');
  assert.is(JSON.parse(r.out).kind, 'Invoice');
});

Run('a DELETE needs no --data and gets high priority', async () => {
  const { data: _omit, ...rest } = options({ operation: 'delete' });
  const dir = await tempDir();
  try {
    const io = fakeIO({ cwd: dir });
    assert.is(await run(rest, io), 0);
    const out = JSON.parse(io.out());
    assert.is(out.operation, 'DELETE');
    assert.is(out.priority, 'high');
    assert.equal(out.flags, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const failures: Array<[string, Partial<ScoreCommandOptions>, string]> = [
  ['bad JSON in --data', { data: '{"email":' }, 'Error: --data is not valid JSON: Unexpected end of JSON input\n'],
  ['a JSON array in --data', { data: '[1]' }, "Error: --data must be a JSON object of the entity's properties\n"],
  ['a missing data file', { data: '@nope.json' }, /* path varies */ ''],
  ['an unknown operation', { operation: 'upsert2' }, "Error: --operation: expected UPSERT, DELETE or PATCH, got 'UPSERT2'\n"],
  [
    'a bad --event-time',
    { eventTime: 'noon' },
    "Error: --event-time: expected an RFC 3339 timestamp, a Date or epoch milliseconds, got 'noon'\n",
  ],
  [
    'a calendar date that does not exist in --event-time (not rolled over to March 2)',
    { eventTime: '2026-02-30T00:00:00Z' },
    'Error: --event-time: 2026-02-30T00:00:00Z is not a valid timestamp: February 2026 has 28 days, so day 30 does not exist\n',
  ],
  ['a month 13 in --event-time', { eventTime: '2026-13-01T00:00:00Z' }, 'Error: --event-time: 2026-13-01T00:00:00Z is not a valid timestamp: month 13 does not exist\n'],
  ['an hour 24 in --event-time', { eventTime: '2026-06-01T24:00:00+02:00' }, 'Error: --event-time: 2026-06-01T24:00:00+02:00 is not a valid timestamp: 24:00:00 is not a time of day\n'],
  ['an empty --entity-key', { entityKey: '' }, "Error: --entity-key: expected a non-empty string, got ''\n"],
  ['a bad --version', { version: 'v2' }, "Error: --version: expected a non-negative 64-bit integer, got 'v2'\n"],
];
for (const [what, over, message] of failures) {
  Run(`exits 1 with a clear message on ${what}`, async () => {
    const r = await score(over);
    assert.is(r.code, 1);
    assert.is(r.out, '');
    if (message) assert.is(r.err, message);
    else assert.match(r.err, /^Error: --data @nope\.json: cannot read .*nope\.json: no such file\n$/);
  });
}

Run('exits 1 and prints the diagnostics of a broken spec', async () => {
  const r = await score({ config: 'bad.yaml' }, { 'bad.yaml': 'version: 2\n' });
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.match(r.err, /^bad\.yaml:\d+:\d+: /);
});

Run('uses the profile stored in the target for anomaly flags', async () => {
  const dir = await tempDir({ 'mlbridge.yaml': SPEC });
  const { createDuckDbWarehouse } = await import('../../src/warehouse/duckdb.js');
  const wh = await createDuckDbWarehouse({ kind: 'duckdb', path: join(dir, 'wh.duckdb'), dataset: 'analytics' }, { readOnly: false });
  try {
    await wh.createDataset({ name: 'analytics', labels: {} });
    const col = (name: string, type: ColumnType, mode: ColumnMode) => ({ name, type, mode });
    await wh.createTable({
      dataset: 'analytics',
      name: PROFILES_TABLE,
      columns: [col('mapping', 'STRING', 'REQUIRED'), col('updated_at', 'TIMESTAMP', 'REQUIRED'), col('sample_count', 'INT64', 'REQUIRED'), col('profile', 'JSON', 'NULLABLE')],
      labels: {},
      deletionProtection: false,
    });
    const profile: KindProfile = {
      formatVersion: 1,
      kind: 'CustomerProfile',
      sampleCount: 500,
      maxCardinality: 50,
      fields: {
        ltv: { type: 'FLOAT64', count: 500, nulls: 0, nullRate: 0, numeric: { median: 100, mad: 10, meanAbsDev: 12, count: 500 } },
        region: { type: 'STRING', count: 500, nulls: 0, nullRate: 0, values: ['EU', 'US'] },
      },
    };
    await new ProfileStore(wh, 'analytics').put(profile, NOW);
  } finally {
    await wh.close();
  }
  try {
    const io = fakeIO({ cwd: dir });
    const code = await run(options({ data: '{"email":"e","status":"s","ltv":235,"region":"XX"}' }), io);
    assert.is(io.err(), '');
    assert.is(code, 0);
    const out = JSON.parse(io.out());
    assert.equal(out.flags, ['anomaly:ltv:z=9.1', 'unseen_value:region=XX']);
    assert.is(out.anomaly, 0.15);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Run.run();

// ---- the installed binary ----------------------------------------------------------------
const Bin = suite('mlbridge score (bin/mlbridge.js)');

function mlbridge(args: string[], cwd: string): Promise<ProcessResult> {
  return runProcess(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '' } });
}

Bin('prints a JSON object with confidence and action (JSON is the default format)', async () => {
  const dir = await tempDir();
  try {
    const r = await mlbridge(
      ['score', '--entity-key', 'customer-1001', '--kind', 'CustomerProfile', '--operation', 'UPSERT', '--data', '{"email":"a@example.com"}'],
      dir,
    );
    assert.is(r.err, '');
    assert.is(r.code, 0);
    const out = JSON.parse(r.out);
    assert.is(out.confidence, 1);
    assert.is(out.action, 'ingest');
    assert.equal(out.flags, ['no_event_time', 'no_profile']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Bin('exits 3 when the record is quarantined', async () => {
  const dir = await tempDir({ 'mlbridge.yaml': SPEC });
  try {
    const r = await mlbridge(
      ['score', '--entity-key', 'c1', '--kind', 'CustomerProfile', '--operation', 'UPSERT', '--data', '{}', '--event-time', '2000-01-01T00:00:00Z', '--format', 'json'],
      dir,
    );
    assert.is(r.code, 3);
    assert.is(JSON.parse(r.out).action, 'quarantine');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Bin.run();
