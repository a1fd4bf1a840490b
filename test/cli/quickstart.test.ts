// End to end on a temporary copy of examples/quickstart: the commands a user runs, with
// what they print and their exit statuses, against a real DuckDB file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { fakeIO } from './fake-io.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'bin', 'mlbridge.js');

let dir = '';
const run = (...args: string[]) => runWith({}, ...args);
const runWith = async (options: { tty?: boolean; input?: string }, ...args: string[]) => {
  const io = fakeIO({ cwd: dir, ...options });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};
const edit = (from: string, to: string) => {
  const file = join(dir, 'mlbridge.yaml');
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `spec contains ${from}`);
  writeFileSync(file, text.replace(from, to));
};

const Quickstart = suite('quickstart end to end');

Quickstart.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-quickstart-'));
  cpSync(join(root, 'examples', 'quickstart'), dir, { recursive: true, filter: (src) => !src.includes('.data') });
});
Quickstart.after(() => rmSync(dir, { recursive: true, force: true }));

Quickstart('plan lists the tables to create and changes nothing', async () => {
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 2, r.err);
  assert.match(r.out, '  # duckdb_dataset.analytics will be created');
  assert.match(r.out, '  # duckdb_table.analytics.customer_profile will be created');
  assert.match(r.out, '      + columns.tags                   = STRING REPEATED');
  assert.match(r.out, '      + columns.items.quantity         = INT64');
  assert.match(r.out, '  ~ rows.Order: 20 to insert (0 unchanged)');
  assert.ok(r.out.trimEnd().endsWith('Plan: 12 to add, 0 to change, 0 to destroy.\nRows: 40 to insert, 0 to update, 0 to delete, 0 to quarantine.'), r.out);
  const again = await run('plan', '--detailed-exitcode');
  assert.is(again.code, 2, 'still everything to create: plan wrote nothing');
});

Quickstart('--target limits the plan to the named resources (and what they need)', async () => {
  const r = await run('plan', '--target', 'duckdb_table.analytics.order', '--target', 'duckdb_table.analytics.product');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, '  # duckdb_table.analytics.order will be created');
  assert.match(r.out, '  # duckdb_table.analytics.product will be created');
  assert.not.match(r.out, 'customer_profile');
  assert.not.match(r.out, 'order_raw');
});

Quickstart('plan --out saves a plan that show prints as text and JSON', async () => {
  const saved = await run('plan', '--out', 'first.plan');
  assert.is(saved.code, 0, saved.err);
  assert.match(saved.out, 'Saved the plan to: first.plan');
  const shown = await run('show', 'first.plan');
  assert.is(shown.code, 0, shown.err);
  assert.match(shown.out, 'Plan: 12 to add, 0 to change, 0 to destroy.');
  const json = JSON.parse((await run('show', 'first.plan', '--json')).out);
  assert.is(json.format_version, '1');
  assert.equal(json.summary, { add: 12, change: 0, destroy: 0, rows: { insert: 40, update: 0, delete: 0, quarantine: 0 } });
});

Quickstart("Terraform's single-dash spellings work: plan -out=FILE -target X -detailed-exitcode, show -json", async () => {
  const saved = await run('plan', '-out=dash.plan', '-target', 'duckdb_table.analytics.order', '-detailed-exitcode');
  assert.is(saved.code, 2, saved.err);
  assert.match(saved.out, 'Saved the plan to: dash.plan');
  assert.match(saved.out, '  # duckdb_table.analytics.order will be created');
  assert.not.match(saved.out, 'customer_profile');
  const json = JSON.parse((await run('show', '-json', 'dash.plan')).out);
  assert.is(json.format_version, '1');
  // A Terraform option mlbridge does not have stays an error.
  const unknown = await run('plan', '-input=false');
  assert.is(unknown.code, 1);
  assert.match(unknown.err, "Error: unknown option '-input=false'");
});

Quickstart('apply --auto-approve creates the tables, then plan says "No changes." with exit 0', async () => {
  const applied = await run('apply', '--auto-approve');
  assert.is(applied.code, 0, applied.err);
  assert.match(applied.out, 'duckdb_table.analytics.order: Creating...');
  assert.match(applied.out, /duckdb_table\.analytics\.order: Creation complete after \d+\.\ds/);
  assert.match(applied.out, 'Apply complete! Resources: 12 added, 0 changed, 0 destroyed.\nRows: 40 inserted, 0 updated, 0 deleted, 0 quarantined.');
  const plan = await run('plan', '--detailed-exitcode');
  assert.is(plan.code, 0, plan.err);
  assert.is(plan.out, 'No changes. Your target matches the spec.\n');
});

Quickstart('a held lock stops apply naming the holder, and force-unlock releases it', async () => {
  const lockFile = join(dir, '.data', 'warehouse.duckdb.mlbridge.lock');
  const holder = { id: 'L-4242', pid: 4242, host: 'ci-runner-7', since: '2026-11-23T21:00:00Z', operation: 'apply', who: 'ci' };
  writeFileSync(lockFile, JSON.stringify(holder));
  const blocked = await run('apply', '--auto-approve');
  assert.is(blocked.code, 1);
  assert.match(blocked.err, 'lock L-4242 held by pid 4242 on ci-runner-7 since 2026-11-23T21:00:00Z');
  const wrong = await run('force-unlock', 'L-9999', '--force');
  assert.is(wrong.code, 1);
  assert.match(wrong.err, 'Error: No lock with id L-9999');
  const unasked = await run('force-unlock', 'L-4242');
  assert.is(unasked.code, 1);
  assert.is(unasked.err, 'Error: force-unlock needs confirmation: run with --force when there is no terminal\n');
  const released = await run('force-unlock', 'L-4242', '--force');
  assert.is(released.code, 0, released.err);
  assert.is(released.out, 'Lock L-4242 released: the target is unlocked.\n');
  assert.not.ok(existsSync(lockFile));
  assert.is((await run('apply', '--auto-approve')).code, 0);
});

Quickstart('a saved plan made before that apply is refused as stale', async () => {
  const r = await run('apply', 'first.plan');
  assert.is(r.code, 1);
  assert.match(r.err, /^Error: Saved plan is stale: /);
});

Quickstart('an added column is an in-place update', async () => {
  edit('      - name: in_stock\n', '      - name: color\n        type: STRING\n      - name: in_stock\n');
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 2, r.err);
  assert.match(r.out, '  # duckdb_table.analytics.product will be updated in-place');
  assert.match(r.out, '  ~ duckdb_table.analytics.product {');
  assert.match(r.out, /\n {6}\+ columns\.color += STRING\n/);
  // No entity has a color: the rows stay as they are (empty columns are not hashed).
  assert.not.match(r.out, 'rows.Product', 'no row rewritten');
  assert.ok(r.out.trimEnd().endsWith('Plan: 0 to add, 1 to change, 0 to destroy.\nRows: 0 to insert, 0 to update, 0 to delete, 0 to quarantine.'), r.out);
});

Quickstart('on a terminal, apply asks and applies nothing unless the answer is yes', async () => {
  const no = await runWith({ tty: true, input: 'no\n' }, 'apply');
  assert.is(no.code, 1, no.err);
  assert.match(no.out, "Do you want to perform these actions? Only 'yes' will be accepted:");
  assert.match(no.out, 'Apply cancelled.');
  assert.is((await run('plan', '--detailed-exitcode')).code, 2, 'still to change');
  const yes = await runWith({ tty: true, input: 'yes\n' }, 'apply');
  assert.is(yes.code, 0, yes.err);
  assert.match(yes.out, 'duckdb_table.analytics.product: Modifications complete after');
  assert.match(yes.out, 'Apply complete! Resources: 0 added, 1 changed, 0 destroyed.');
});

Quickstart('a saved plan is applied as reviewed, without asking, even with no terminal', async () => {
  edit('      - name: in_stock\n        type: BOOL\n', '      - name: in_stock\n        type: BOOL\n        description: Can be ordered today\n');
  assert.is((await run('plan', '--out', 'describe.plan')).code, 0);
  const r = await run('apply', 'describe.plan');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, '+ columns.in_stock.description = "Can be ordered today"');
  assert.match(r.out, 'Apply complete! Resources: 0 added, 1 changed, 0 destroyed.');
  assert.is((await run('plan', '--detailed-exitcode')).code, 0);
});

Quickstart('a replacement of a deletion-protected table is shown as blocked and refused', async () => {
  edit('      - name: segment\n        type: STRING\n', '      - name: segment\n        type: INT64\n');
  const r = await run('plan');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'Deletion protection blocks 1 change; apply will refuse this plan:');
  const refused = await run('apply', '--auto-approve', '--allow-destructive');
  assert.is(refused.code, 1);
  assert.match(refused.err, 'Error: Deletion protection prevents this change (nothing was applied):');
  // Turn protection off first (an in-place change), as the message says.
  edit('segment\n        type: INT64\n', 'segment\n        type: STRING\n');
  edit('  - kind: CustomerProfile\n', '  - kind: CustomerProfile\n    deletion_protection: false\n');
  const off = await run('apply', '--auto-approve');
  assert.is(off.code, 0, off.err);
  assert.match(off.out, 'Apply complete! Resources: 0 added, 3 changed, 0 destroyed.');
});

const uncopyable =
  'duckdb_table.analytics.customer_profile cannot be replaced: 12 existing rows hold values in column segment that cannot be converted from STRING to INT64; fix or delete those rows, or keep segment STRING';

Quickstart('STRING → INT64 forces a replacement, which plan says cannot copy the rows', async () => {
  edit('      - name: segment\n        type: STRING\n', '      - name: segment\n        type: INT64\n');
  const r = await run('plan');
  assert.is(r.code, 1, 'the rows cannot be copied: an error');
  assert.match(
    r.out + r.err,
    `Error: ${uncopyable}\n  The replacement copies the table's rows before apply writes any data, so apply would refuse it and keep the old table.\n`,
  );
  assert.match(r.out, '  # duckdb_table.analytics.customer_profile must be replaced');
  assert.match(r.out, '-/+ duckdb_table.analytics.customer_profile {');
  assert.match(r.out, /\n {6}~ columns\.segment += STRING → INT64 # forces replacement\n/);
  assert.match(r.out, 'Plan: 1 to add, 0 to change, 1 to destroy.');

  const json = JSON.parse((await run('plan', '--json')).out);
  // Every customer's segment ('new', 'vip', …) is no INT64: type drift, to quarantine.
  assert.equal(json.summary, { add: 1, change: 0, destroy: 1, rows: { insert: 0, update: 0, delete: 0, quarantine: 12 } });
  const rows = json.changes.find((c: { address: string }) => c.address === 'rows.CustomerProfile');
  assert.equal(rows.rows, { insert: 0, update: 0, delete: 0, quarantine: 12, unchanged: 0 });
  const replace = json.changes.find((c: { action: string }) => c.action === 'replace');
  assert.is(replace.address, 'duckdb_table.analytics.customer_profile');
  assert.ok(replace.reasons.some((x: { forces_replacement?: boolean }) => x.forces_replacement));

  const md = await run('plan', '--format', 'markdown');
  assert.match(md.out, '> [!WARNING]');
  assert.match(md.out, '`duckdb_table.analytics.customer_profile` must be replaced');

  const refused = await run('apply', '--auto-approve');
  assert.is(refused.code, 1);
  assert.is(refused.err, `Error: Cannot apply: ${uncopyable}\n`);
  const unchanged = await run('plan', '--detailed-exitcode');
  assert.is(unchanged.code, 1);
  assert.match(unchanged.out, 'Plan: 1 to add, 0 to change, 1 to destroy.', 'nothing was applied');
});

Quickstart('--allow-destructive cannot cast rows that are no INT64: nothing is replaced, the old table and its rows are kept', async () => {
  const r = await run('apply', '--auto-approve', '--allow-destructive');
  assert.is(r.code, 1);
  assert.not.match(r.out, 'Replacing...');
  assert.is(r.err, `Error: Cannot apply: ${uncopyable}\n`);
  edit('      - name: segment\n        type: INT64\n', '      - name: segment\n        type: STRING\n');
  const back = await run('plan', '--detailed-exitcode');
  assert.is(back.code, 0, back.out);
});

Quickstart('a removed column is a destructive drop, named when refused', async () => {
  edit('      - name: price\n        type: FLOAT64\n', '');
  const r = await run('plan');
  assert.match(r.out, '  # duckdb_table.analytics.product will be updated in-place');
  assert.match(r.out, /\n {6}- columns\.price += FLOAT64\n/);
  assert.match(r.out, '  - duckdb_table.analytics.product will be updated in-place: drops the column price and its data');
  const refused = await run('apply', '--auto-approve');
  assert.is(refused.code, 1);
  assert.match(refused.err, 'Error: Refusing 1 destructive change without --allow-destructive');
  assert.match(refused.err, 'duckdb_table.analytics.product (update): drops the column price and its data');
  edit('      - name: in_stock\n', '      - name: price\n        type: FLOAT64\n      - name: in_stock\n');
  assert.is((await run('plan', '--detailed-exitcode')).code, 0, 'nothing was dropped');
});

Quickstart('a DuckDB setting in the environment that is no size or count fails naming the variable', async () => {
  for (const [name, value, error] of [
    ['MLBRIDGE_DUCKDB_MEMORY_LIMIT', 'lots', 'Error: MLBRIDGE_DUCKDB_MEMORY_LIMIT: "lots" is not a size DuckDB takes (use e.g. 512MB, 2GB or 1.5GiB)\n'],
    ['MLBRIDGE_DUCKDB_MEMORY_LIMIT', '4096', 'Error: MLBRIDGE_DUCKDB_MEMORY_LIMIT: "4096" is not a size DuckDB takes (use e.g. 512MB, 2GB or 1.5GiB)\n'],
    ['MLBRIDGE_DUCKDB_ROWS_PER_PASS', '-3', 'Error: MLBRIDGE_DUCKDB_ROWS_PER_PASS: "-3" is not a positive whole number of rows\n'],
  ] as const) {
    process.env[name] = value;
    try {
      const r = await run('plan', '--no-color');
      assert.equal([r.code, r.err], [1, error], `${name}=${value}`);
    } finally {
      delete process.env[name];
    }
  }
});

Quickstart('the launcher exits 0, 2 and 1 for plan --detailed-exitcode', () => {
  const plan = () => spawnSync(process.execPath, [bin, 'plan', '--detailed-exitcode', '--no-color'], { cwd: dir, encoding: 'utf8' });
  const none = plan();
  assert.is(none.status, 0, none.stderr);
  assert.is(none.stdout, 'No changes. Your target matches the spec.\n');
  edit('        type: NUMERIC\n', '        type: NUMERIC\n        description: Order total\n');
  assert.is(plan().status, 2);
  edit('version: 1\n', 'version: 1\nbogus: true\n');
  const broken = plan();
  assert.is(broken.status, 1);
  assert.match(broken.stderr, /mlbridge\.yaml:\d+:1: .*bogus/);
});

Quickstart.run();
