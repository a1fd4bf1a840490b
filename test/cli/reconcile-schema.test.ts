// `mlbridge reconcile` on a temporary copy of examples/quickstart: what it prints when it
// changes a table's schema (a NULLABLE column added to a mapping), in text and --json.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { fakeIO } from './fake-io.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

let dir = '';
let firstOut = '';
const run = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};
const addNullableColumn = (name: string) => {
  const file = join(dir, 'mlbridge.yaml');
  const anchor = '      - name: segment\n        type: STRING\n';
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(anchor), 'spec has the segment field');
  writeFileSync(file, text.replace(anchor, `${anchor}      - name: ${name}\n        type: STRING\n`));
};
const TABLE = 'duckdb_table.analytics.customer_profile';

const ReconcileSchema = suite('reconcile reports the schema changes it applies');

ReconcileSchema.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-reconcile-schema-'));
  cpSync(join(root, 'examples', 'quickstart'), dir, { recursive: true, filter: (src) => !src.includes('.data') });
  const first = await run('reconcile');
  assert.is(first.code, 2, first.err);
  firstOut = first.out;
});
ReconcileSchema.after(() => rmSync(dir, { recursive: true, force: true }));

ReconcileSchema('a reconcile on an empty warehouse lists every table it created', () => {
  for (const table of ['customer_profile', 'order', 'product', '_mlbridge_profiles', '_mlbridge_rejected']) {
    assert.ok(firstOut.includes(`  duckdb_table.analytics.${table}: created\n`), `${table} in:\n${firstOut}`);
  }
  assert.ok(firstOut.includes('  duckdb_dataset.analytics: created\n'), firstOut);
});

ReconcileSchema('a reconcile on an empty warehouse leaves plan nothing to add, _mlbridge_rejected included', async () => {
  const plan = await run('plan', '--detailed-exitcode');
  assert.is(plan.code, 0, `plan after the first reconcile:\n${plan.out}`);
  assert.match(plan.out, 'No changes.');
});

ReconcileSchema('a reconcile with nothing to do says nothing to repair and exits 0', async () => {
  const r = await run('reconcile');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /finished in [0-9.]+s: nothing to repair\.\n/);
});

ReconcileSchema('a column added to a mapping is listed with its table, and the reconcile exits 2', async () => {
  addNullableColumn('nickname');
  const r = await run('reconcile');
  assert.is(r.code, 2, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.match(lines[0]!, /finished in [0-9.]+s: Resources: 0 added, 1 changed, 0 destroyed\.$/);
  assert.is(lines[1], `  ${TABLE}: updated in place`);
  assert.ok(!r.out.includes('nothing to repair'), r.out);
});

ReconcileSchema('--json lists the changed table under resources', async () => {
  addNullableColumn('nickname2');
  const r = await run('reconcile', '--json');
  assert.is(r.code, 2, r.err);
  const summary = JSON.parse(r.out);
  assert.equal([summary.changed, summary.resources], [true, [{ address: TABLE, action: 'update' }]]);
});

ReconcileSchema.run();
