import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SCORING } from '../../src/spec/defaults.js';
import { formatDiagnostic } from '../../src/model/diagnostic.js';
import { TARGET, cleanup, load, problems } from './helpers.js';

const ORDER = 'mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\n';

const Defaults = suite('Defaults');
Defaults.after(cleanup);

Defaults('table names derive from the kind in snake_case, raw and quarantine from the table', async () => {
  const { spec } = await load(
    `${TARGET}mappings:\n` +
      '  - kind: Order-Item v2\n    fields: [{ name: id, type: STRING }]\n' +
      '  - kind: CustomerProfile\n    fields: [{ name: id, type: STRING }]\n' +
      '  - kind: HTTPLog\n    table: logs\n    tables: { quarantine: bad_logs }\n    fields: [{ name: id, type: STRING }]\n',
  );
  assert.equal(spec!.mappings.map((m) => m.tables), [
    { current: 'order_item_v2', raw: 'order_item_v2_raw', quarantine: 'order_item_v2_quarantine' },
    { current: 'customer_profile', raw: 'customer_profile_raw', quarantine: 'customer_profile_quarantine' },
    { current: 'logs', raw: 'logs_raw', quarantine: 'bad_logs' },
  ]);
});

Defaults('fields default to NULLABLE and to reading the property of their own name; mappings to protection on', async () => {
  const { spec } = await load(`${TARGET}${ORDER}`);
  const m = spec!.mappings[0]!;
  assert.is(m.deletionProtection, true);
  assert.equal(m.labels, {});
  assert.is(m.namespaces, undefined);
  assert.equal(
    m.fields.map((f) => ({ name: f.name, type: f.type, mode: f.mode, from: f.from })),
    [{ name: 'id', type: 'STRING', mode: 'NULLABLE', from: ['id'] }],
  );
  assert.equal(m.fields[0]!.source, { file: 'spec.yaml', line: 5, col: 22 });
});

Defaults('type aliases fold to canonical names and modes are case-insensitive', async () => {
  const { spec } = await load(
    `${TARGET}mappings:\n  - kind: T\n    fields:\n` +
      '      - { name: a, type: integer, mode: required }\n      - { name: b, type: BOOLEAN }\n' +
      '      - { name: c, type: DECIMAL }\n      - { name: d, type: STRUCT, fields: [{ name: e, type: FLOAT }] }\n',
  );
  const fields = spec!.mappings[0]!.fields;
  assert.equal(fields.map((f) => `${f.name}:${f.type}:${f.mode}`), ['a:INT64:REQUIRED', 'b:BOOL:NULLABLE', 'c:NUMERIC:NULLABLE', 'd:RECORD:NULLABLE']);
  assert.equal(fields[3]!.fields!.map((f) => `${f.name}:${f.type}:${f.from.join('.')}`), ['e:FLOAT64:e']);
});

Defaults('scoring merges built-in defaults, the spec block, then the mapping block', async () => {
  const { spec } = await load(
    `${TARGET}scoring:\n  ingest: 0.7\n  freshness: { half_life: 1h30m }\n  weights: { freshness: 0.5, completeness: 0.3, anomaly: 0.2 }\n` +
      'mappings:\n  - kind: A\n    scoring: { quarantine: 0.4, anomaly: { min_samples: 10 }, required: [email] }\n' +
      '    fields: [{ name: email, type: STRING }, { name: id, type: STRING, mode: REQUIRED }]\n' +
      '  - kind: B\n    fields: [{ name: id, type: STRING, mode: REQUIRED }, { name: x, type: STRING }]\n',
  );
  assert.is(spec!.scoring.ingest, 0.7);
  assert.is(spec!.scoring.quarantine, DEFAULT_SCORING.quarantine);
  assert.is(spec!.scoring.freshness.halfLifeSeconds, 5400);
  assert.is(spec!.scoring.freshness.maxLagSeconds, 3600);
  assert.is(spec!.scoring.required, undefined);
  const [a, b] = spec!.mappings;
  assert.equal([a!.scoring.ingest, a!.scoring.quarantine, a!.scoring.anomaly.minSamples], [0.7, 0.4, 10]);
  assert.equal(a!.scoring.weights, { freshness: 0.5, completeness: 0.3, anomaly: 0.2 });
  assert.equal(a!.scoring.required, ['email']);
  assert.equal([b!.scoring.ingest, b!.scoring.quarantine, b!.scoring.anomaly.minSamples], [0.7, 0.5, 30]);
  assert.equal(b!.scoring.required, ['id'], 'default: the REQUIRED fields');
});

Defaults('without a scoring block the built-in defaults apply', async () => {
  const { spec } = await load(`${TARGET}${ORDER}`);
  assert.equal(spec!.scoring, DEFAULT_SCORING);
});

Defaults('reconcile gets Cloud Scheduler defaults; durations are in seconds', async () => {
  const { spec } = await load(`${TARGET}reconcile:\n  schedule: "*/30 * * * *"\n  url: https://x.example/reconcile\n  attempt_deadline: 90\n`);
  const { source, ...rest } = spec!.reconcile!;
  assert.equal(rest, {
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    url: 'https://x.example/reconcile',
    jobName: 'mlbridge-reconcile',
    paused: false,
    attemptDeadlineSeconds: 90,
    retry: { count: 0, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
  });
  assert.equal(source, { file: 'spec.yaml', line: 3, col: 1 });
});

Defaults('relative paths resolve against the spec file folder, not the working directory', async () => {
  const res = await load({ 'conf/mlbridge.yaml': 'target:\n  duckdb: { path: ./.data/w.duckdb, dataset: a }\nsource:\n  export: { path: ../exports }\n' });
  // load() uses the temp folder as cwd and '.'; load the file itself instead:
  const { loadSpec } = await import('../../src/spec/load.js');
  const direct = await loadSpec('conf/mlbridge.yaml', { cwd: res.dir, env: {} });
  assert.equal(direct.diagnostics, []);
  assert.equal(direct.spec!.target, { kind: 'duckdb', path: join(res.dir, 'conf', '.data', 'w.duckdb'), dataset: 'a', source: { file: join('conf', 'mlbridge.yaml'), line: 1, col: 1 } });
  assert.is(direct.spec!.source!.kind === 'export' && direct.spec!.source!.path, join(res.dir, 'exports'));
  assert.equal(direct.spec!.files, [join(res.dir, 'conf', 'mlbridge.yaml')]);
  assert.equal(res.diagnostics.map(formatDiagnostic), ['no .yaml or .yml files in folder .']);
});

Defaults('bigquery location defaults to US and gs:// export paths are kept as they are', async () => {
  const { spec } = await load('target:\n  bigquery: { project: my-proj, dataset: analytics }\nsource:\n  export: { path: gs://my-bucket/exports/ }\n');
  assert.equal(spec!.target, { kind: 'bigquery', project: 'my-proj', dataset: 'analytics', location: 'US', source: { file: 'spec.yaml', line: 1, col: 1 } });
  assert.equal(spec!.source, { kind: 'export', path: 'gs://my-bucket/exports', source: { file: 'spec.yaml', line: 3, col: 1 } });
});

Defaults.run();

const Interpolation = suite('Environment interpolation');
Interpolation.after(cleanup);

Interpolation('${VAR} and ${VAR:-default} are replaced; $${ is a literal ${', async () => {
  const { spec, diagnostics } = await load(
    'target:\n  bigquery:\n    project: ${PROJECT}\n    dataset: ${DATASET:-analytics}\n    location: "${LOC:-EU}"\n' +
      'mappings:\n  - kind: T\n    description: "costs $${AMOUNT} and $5"\n    fields: [{ name: id, type: STRING }]\n',
    { PROJECT: 'my-proj', LOC: '' },
  );
  assert.equal(diagnostics, []);
  assert.is(spec!.target.kind === 'bigquery' && spec!.target.project, 'my-proj');
  assert.is(spec!.target.dataset, 'analytics');
  assert.is(spec!.target.kind === 'bigquery' && spec!.target.location, 'EU', 'empty counts as unset for :-');
  assert.is(spec!.mappings[0]!.description, 'costs ${AMOUNT} and $5');
});

Interpolation('an unquoted value is typed after interpolation, a quoted one stays a string', async () => {
  const { spec } = await load(`${TARGET}scoring:\n  ingest: \${INGEST}\n  anomaly:\n    min_samples: \${N:-12}\n${ORDER}`, { INGEST: '0.9' });
  assert.is(spec!.scoring.ingest, 0.9);
  assert.is(spec!.scoring.anomaly.minSamples, 12);
  assert.equal(await problems(`${TARGET}scoring:\n  ingest: "\${INGEST}"\n`, { INGEST: '0.9' }), [
    'spec.yaml:4:11: `scoring.ingest`: expected a number, got a string',
  ]);
});

Interpolation('every unset variable is reported, and a malformed reference too', async () => {
  assert.equal(await problems('target:\n  bigquery: { project: "${A}-${B}", dataset: "${1X}" }\n'), [
    'spec.yaml:2:25: environment variable `A` is not set (use `${A:-default}` to give a default)',
    'spec.yaml:2:30: environment variable `B` is not set (use `${B:-default}` to give a default)',
    'spec.yaml:2:47: `${1X}` is not a valid reference; use `${NAME}` or `${NAME:-default}` (write `$${` for a literal `${`)',
  ]);
});

Interpolation.run();

const Folders = suite('Folders of spec files');
Folders.after(cleanup);

Folders('files are merged in name order: singletons once, mappings concatenated', async () => {
  const { spec, diagnostics } = await load({
    '10-orders.yml': 'mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\n',
    '00-main.yaml': `version: 1\n${TARGET}scoring: { ingest: 0.9 }\nmappings:\n  - kind: Customer\n    fields: [{ name: id, type: STRING }]\n`,
    '20-items.yaml': 'version: 1\nmappings:\n  - kind: Item\n    fields: [{ name: id, type: STRING }]\n',
    'notes.txt': 'not a spec',
  });
  assert.equal(diagnostics, []);
  assert.equal(spec!.mappings.map((m) => m.kind), ['Customer', 'Order', 'Item']);
  assert.equal(spec!.mappings.map((m) => m.scoring.ingest), [0.9, 0.9, 0.9]);
  assert.equal(spec!.files.map((f) => f.split('/').pop()), ['00-main.yaml', '10-orders.yml', '20-items.yaml']);
  assert.equal(spec!.mappings[1]!.source, { file: '10-orders.yml', line: 2, col: 5 });
});

Folders('problems across files are reported together with each file’s name', async () => {
  const got = await problems({
    'a.yaml': `${TARGET}mappings:\n  - kind: Order\n    table: orders\n    fields: [{ name: id, type: STRING }]\n`,
    'b.yaml': 'mappings:\n  - kind: Other\n    table: orders\n    fields: [{ name: id, type: STRNG }]\n',
    'c.yaml': 'mappings: [\n',
  });
  assert.equal(got, [
    'a.yaml:5:12: two mappings write table `orders`: kind `Order` (current table, at a.yaml:5:12) and kind `Other` (current table); give one of them another `table`'.replace('a.yaml:5:12: two', 'b.yaml:3:12: two'),
    'b.yaml:4:32: `mappings[0].fields[0].type`: unknown column type `STRNG`; did you mean `STRING`?',
    'c.yaml:2:1: YAML syntax error: deficient indentation',
  ].sort());
});

Folders.run();

const Anchors = suite('YAML features');
Anchors.after(cleanup);

Anchors('anchors and aliases share field lists; flow and block styles mix', async () => {
  const { spec, diagnostics } = await load(
    `${TARGET}mappings:\n  - kind: A\n    fields: &common\n      - { name: id, type: STRING }\n      - name: at\n        type: TIMESTAMP\n  - kind: B\n    fields: *common\n`,
  );
  assert.equal(diagnostics, []);
  assert.equal(spec!.mappings.map((m) => m.fields.map((f) => f.name)), [['id', 'at'], ['id', 'at']]);
});

Anchors('dotted names in from: backticks or a list', async () => {
  const { spec } = await load(
    `${TARGET}mappings:\n  - kind: A\n    fields:\n      - { name: p, type: NUMERIC, from: "price.\`amount.usd\`" }\n      - { name: q, type: NUMERIC, from: ["a.b", c] }\n      - { name: k, type: INT64, from: __key__.id }\n      - { name: r, type: RECORD, from: addr, fields: [{ name: z, type: STRING, from: zip.code }] }\n      - { name: j, type: JSON, from: addr }\n      - { name: s, type: STRING, from: addr.street }\n`,
  );
  const f = spec!.mappings[0]!.fields;
  assert.equal(f.map((x) => x.from), [['price', 'amount.usd'], ['a.b', 'c'], ['__key__', 'id'], ['addr'], ['addr'], ['addr', 'street']]);
  assert.equal(f[3]!.fields![0]!.from, ['zip', 'code']);
});

Anchors.run();
