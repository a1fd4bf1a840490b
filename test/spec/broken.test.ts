import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TARGET, cleanup, load, problems } from './helpers.js';

const Broken = suite('Broken specs');
Broken.after(cleanup);

const cases: Array<{ name: string; yaml: string; env?: NodeJS.ProcessEnv; expect: string[] }> = [
  {
    name: 'bad YAML syntax is reported at the parser error position',
    yaml: `${TARGET}mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }\n  - kind: Item\n`,
    expect: ['spec.yaml:6:3: YAML syntax error: deficient indentation'],
  },
  {
    name: 'an unknown key gets a did-you-mean hint',
    yaml: `${TARGET}mappings:\n  - kind: Order\n    tabel: orders\n    fields: [{ name: id, type: STRING }]\n`,
    expect: ['spec.yaml:5:5: unknown key `tabel` in `mappings[0]`; did you mean `table`?'],
  },
  {
    name: 'an unknown top-level key without a close match lists the allowed keys',
    yaml: `${TARGET}frobnicate: 1\n`,
    expect: ['spec.yaml:3:1: unknown key `frobnicate` at the top level; expected `version`, `target`, `source`, `scoring`, `reconcile`, `serve` or `mappings`'],
  },
  {
    name: 'a wrong type names what was expected and what was found',
    yaml: `${TARGET}scoring:\n  ingest: high\n  anomaly: { min_samples: 2.5 }\nmappings:\n  - kind: Order\n    deletion_protection: "no"\n    fields: { name: id }\n`,
    expect: [
      'spec.yaml:4:11: `scoring.ingest`: expected a number, got a string',
      'spec.yaml:5:27: `scoring.anomaly.min_samples`: expected an integer, got 2.5',
      'spec.yaml:8:26: `mappings[0].deletion_protection`: expected true or false, got a string',
      'spec.yaml:9:13: `mappings[0].fields`: expected a list, got a mapping',
    ],
  },
  {
    name: 'a mapping without kind is missing a required key',
    yaml: `${TARGET}mappings:\n  - table: orders\n    fields: [{ name: id, type: STRING }]\n`,
    expect: ['spec.yaml:4:5: `mappings[0]` is missing required key `kind`'],
  },
  {
    name: 'a spec without target says so',
    yaml: 'version: 1\nmappings: []\n',
    expect: ['spec.yaml:1:1: the spec is missing required key `target`'],
  },
  {
    name: 'two mappings to one table point at both',
    yaml: `${TARGET}mappings:\n  - kind: Order\n    table: orders\n    fields: [{ name: id, type: STRING }]\n  - kind: OrderV2\n    table: orders\n    fields: [{ name: id, type: STRING }]\n`,
    expect: [
      'spec.yaml:8:12: two mappings write table `orders`: kind `Order` (current table, at spec.yaml:5:12) and kind `OrderV2` (current table); give one of them another `table`',
    ],
  },
  {
    name: 'a default table name can collide with another mapping’s raw table',
    yaml: `${TARGET}mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\n  - kind: OrderRaw\n    fields: [{ name: id, type: STRING }]\n`,
    expect: [
      'spec.yaml:6:11: two mappings write table `order_raw`: kind `Order` (raw table, at spec.yaml:4:11) and kind `OrderRaw` (current table); give one of them another `table`',
    ],
  },
  {
    name: 'a kind mapped twice is reported once',
    yaml: `${TARGET}mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\n`,
    expect: ['spec.yaml:6:11: kind `Order` is mapped twice (first at spec.yaml:4:11); each kind maps to one set of tables'],
  },
  {
    name: 'a bad cron schedule is named at the field that is wrong',
    yaml: `${TARGET}reconcile:\n  schedule: "0 61 * * *"\n  url: https://x.example/reconcile\n`,
    expect: ['spec.yaml:4:16: `reconcile.schedule`: `0 61 * * *` is not a valid Cloud Scheduler schedule: hour field `61`: 61 is out of range (0-23)'],
  },
  {
    name: 'a cron schedule needs exactly five fields, and the time zone must exist',
    yaml: `${TARGET}reconcile:\n  schedule: "0 */5 * * * *"\n  time_zone: Europe/Pari\n  url: ftp://x\n`,
    expect: [
      'spec.yaml:4:13: `reconcile.schedule`: `0 */5 * * * *` is not a valid Cloud Scheduler schedule: it has 6 fields; a schedule has 5 (minute hour day-of-month month day-of-week)',
      'spec.yaml:5:14: `reconcile.time_zone`: unknown time zone `Europe/Pari`; did you mean `Europe/Paris`?',
      'spec.yaml:6:8: `reconcile.url`: `ftp://x` is not an http(s) URL',
    ],
  },
  {
    name: 'an unset environment variable is named at its `${`',
    yaml: `target:\n  bigquery: { project: "p-\${PROJECT_SUFFIX}", dataset: analytics }\n`,
    expect: ['spec.yaml:2:27: environment variable `PROJECT_SUFFIX` is not set (use `${PROJECT_SUFFIX:-default}` to give a default)'],
  },
  {
    name: 'a field path to nowhere: through a scalar, an empty segment, an unknown key member',
    yaml:
      `${TARGET}mappings:\n  - kind: Customer\n    fields:\n` +
      '      - { name: address, type: STRING }\n' +
      '      - { name: city, type: STRING, from: address.city }\n' +
      '      - { name: zip, type: STRING, from: "address..zip" }\n' +
      '      - { name: key_name, type: STRING, from: __key__.nam }\n' +
      '      - { name: k, type: STRING, from: __key__ }\n',
    expect: [
      'spec.yaml:7:43: `mappings[0].fields[1].from`: `address.city` goes through `address`, which field `address` (line 6:17) declares as STRING; only a RECORD or JSON property has members',
      'spec.yaml:8:42: `mappings[0].fields[2].from`: `address..zip` has an empty segment',
      'spec.yaml:9:47: `mappings[0].fields[3].from`: `__key__.nam` is not a key member; expected one of `__key__.name`, `__key__.id`, `__key__.kind`, `__key__.namespace`, `__key__.path`',
      'spec.yaml:10:40: `mappings[0].fields[4].from`: `__key__` needs a member: one of `__key__.name`, `__key__.id`, `__key__.kind`, `__key__.namespace`, `__key__.path`',
    ],
  },
  {
    name: 'names BigQuery cannot accept',
    yaml:
      'target:\n  bigquery: { project: My_Project, dataset: my-data }\nmappings:\n  - kind: Order\n    table: "orders!"\n    fields:\n' +
      '      - { name: a.b, type: STRING }\n' +
      '      - { name: _PARTITIONTIME, type: TIMESTAMP }\n' +
      '      - { name: _hash, type: STRING }\n' +
      '      - { name: Email, type: STRING }\n' +
      '      - { name: email, type: STRING }\n' +
      '      - { name: amount, type: MONEY }\n' +
      '      - { name: n, type: STRING, mode: OPTIONAL }\n',
    expect: [
      'spec.yaml:2:24: `target.bigquery.project`: `My_Project` is not a Google Cloud project ID (6 to 30 lowercase letters, digits or hyphens, starting with a letter)',
      'spec.yaml:2:45: `target.bigquery.dataset`: dataset name `my-data` contains `-`; a dataset name may hold only letters, digits and underscores',
      'spec.yaml:5:12: `mappings[0].table`: table name `orders!` contains `!`; a table name may hold only letters, marks, numbers, underscores, dashes and spaces',
      'spec.yaml:7:17: `mappings[0].fields[0].name`: column name `a.b` contains `.`, which BigQuery does not allow in a column name (to read a nested property, keep the name simple and use `from: a.b`)',
      'spec.yaml:8:17: `mappings[0].fields[1].name`: column name `_PARTITIONTIME` starts with `_PARTITION`, a prefix BigQuery reserves',
      'spec.yaml:9:17: `mappings[0].fields[2].name`: column name `_hash` is a system column mlbridge adds to every table (_key, _version, _hash, _synced_at, _score); choose another name',
      'spec.yaml:11:17: `mappings[0].fields[4].name`: duplicate column `email` (first at line 10:17); BigQuery column names are case-insensitive',
      'spec.yaml:12:31: `mappings[0].fields[5].type`: unknown column type `MONEY`; expected one of STRING, BYTES, INT64, INTEGER, INT, SMALLINT, BIGINT, TINYINT, BYTEINT, FLOAT64, FLOAT, NUMERIC, DECIMAL, BIGNUMERIC, BIGDECIMAL, BOOL, BOOLEAN, TIMESTAMP, DATE, TIME, DATETIME, GEOGRAPHY, JSON, RECORD, STRUCT',
      'spec.yaml:13:40: `mappings[0].fields[6].mode`: unknown column mode `OPTIONAL`; expected `NULLABLE`, `REQUIRED` or `REPEATED`',
    ],
  },
  {
    name: 'scoring thresholds out of range, inverted, and weights not summing to 1',
    yaml:
      `${TARGET}scoring:\n  ingest: 1.5\n  weights: { freshness: 0.5, completeness: 0.5, anomaly: 0.2 }\n` +
      'mappings:\n  - kind: Order\n    scoring: { quarantine: 0.9, ingest: 0.7, freshness: { half_life: soon } }\n    fields: [{ name: id, type: STRING }]\n',
    expect: [
      'spec.yaml:4:11: `scoring.ingest`: must be between 0 and 1, got 1.5',
      'spec.yaml:5:12: `scoring.weights`: weights must sum to 1, they sum to 1.2 (freshness 0.5 + completeness 0.5 + anomaly 0.2)',
      'spec.yaml:8:28: `mappings[0].scoring`: quarantine threshold 0.9 is above ingest threshold 0.7; records below `quarantine` are quarantined, at or above `ingest` ingested, so quarantine must be <= ingest',
      'spec.yaml:8:70: `mappings[0].scoring.freshness.half_life`: `soon` is not a duration; use e.g. 30s, 15m, 1h, 2d, 1h30m or a number of seconds',
    ],
  },
  {
    name: 'partitioning and clustering columns must exist and have the right types',
    yaml:
      `${TARGET}mappings:\n  - kind: Order\n    partitioning: { field: total, type: WEEK }\n    clustering: [region, score, regoin, tags, _key]\n    fields:\n` +
      '      - { name: total, type: FLOAT64 }\n      - { name: region, type: STRING }\n      - { name: score, type: FLOAT }\n      - { name: tags, type: STRING, mode: REPEATED }\n',
    expect: [
      'spec.yaml:5:41: `mappings[0].partitioning.type`: unknown partitioning type `WEEK`; expected `HOUR`, `DAY`, `MONTH` or `YEAR`',
      'spec.yaml:5:28: `mappings[0].partitioning.field`: `total` is FLOAT64; a partitioning column must be TIMESTAMP, DATE or DATETIME',
      'spec.yaml:6:17: `mappings[0].clustering`: at most 4 clustering columns are allowed, got 5',
      'spec.yaml:6:26: `mappings[0].clustering[1]`: `score` is FLOAT64; BigQuery clusters only by BIGNUMERIC, BOOL, DATE, DATETIME, GEOGRAPHY, INT64, NUMERIC, STRING, TIMESTAMP columns',
      'spec.yaml:6:33: `mappings[0].clustering[2]`: `regoin` is not a top-level column of this mapping; did you mean `region`?',
      'spec.yaml:6:41: `mappings[0].clustering[3]`: `tags` is REPEATED; clustering columns hold one value',
    ],
  },
];

for (const c of cases) {
  Broken(c.name, async () => {
    const res = await load(c.yaml, c.env ?? {});
    assert.is(res.spec, undefined, 'no spec when there are errors');
    assert.equal(
      (await problems(c.yaml, c.env ?? {})).sort(),
      [...c.expect].sort(),
    );
  });
}

Broken('every problem in one file is reported together, in file order', async () => {
  const yaml =
    'version: 2\ntarget:\n  duckdb: { path: ./w.duckdb }\nscoring: { ingest: 2 }\nreconcile:\n  schedule: "* * *"\n  url: "${URL}"\n' +
    'mappings:\n  - kind: Order\n    fields:\n      - { name: id, type: STRNG }\n  - fields: []\n';
  const got = await problems(yaml);
  assert.equal(got, [
    'spec.yaml:1:10: `version`: unsupported spec version 2; this mlbridge reads version 1',
    'spec.yaml:3:11: `target.duckdb` is missing required key `dataset`',
    'spec.yaml:4:20: `scoring.ingest`: must be between 0 and 1, got 2',
    'spec.yaml:6:13: `reconcile.schedule`: `* * *` is not a valid Cloud Scheduler schedule: it has 3 fields; a schedule has 5 (minute hour day-of-month month day-of-week)',
    'spec.yaml:7:9: environment variable `URL` is not set (use `${URL:-default}` to give a default)',
    'spec.yaml:11:27: `mappings[0].fields[0].type`: unknown column type `STRNG`; did you mean `STRING`?',
    'spec.yaml:12:5: `mappings[1]` is missing required key `kind`',
    'spec.yaml:12:13: `mappings[1].fields`: a mapping needs at least one field',
  ]);
});

Broken('a second target in another file of a folder names both places', async () => {
  const got = await problems({
    'a.yaml': TARGET,
    'b.yaml': 'mappings:\n  - kind: Order\n    fields: [{ name: id, type: STRING }]\ntarget:\n  duckdb: { path: ./x.duckdb, dataset: other }\n',
  });
  assert.equal(got, ['b.yaml:4:1: `target` is already set at a.yaml:1:1; set it in one file only']);
});

Broken('a missing file or an empty folder is a diagnostic, not a crash', async () => {
  assert.equal(await problems({}), ['no .yaml or .yml files in folder .']);
  const res = await load('x: 1', {}, 'nope.yaml');
  assert.equal(res.diagnostics.map((d) => d.summary), ['no such file or folder: nope.yaml']);
});

Broken('YAML-level problems: duplicate keys, several documents, a non-mapping top', async () => {
  assert.equal(await problems(`${TARGET}target: {}\n`), ['spec.yaml:3:1: duplicate key `target` (first at line 1:1)']);
  assert.equal(await problems(`${TARGET}---\nversion: 1\n`), [
    'spec.yaml:4:1: a spec file holds one YAML document; put each part in its own file in a folder instead',
  ]);
  assert.equal(await problems('- a\n- b\n'), ['spec.yaml:1:1: expected a mapping at the top of the file, got a list']);
});

Broken.run();
