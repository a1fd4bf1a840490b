// What a platform engineer runs into on the DuckDB target, and what they are told:
// typos in --target, tables mlbridge does not own, a lock left by a killed apply, a DuckDB
// path that goes through a file, a `plan --json` report passed to apply, protected deletes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { processIO } from '../../src/cli/io.js';
import { fakeIO } from './fake-io.js';

const spec = (path: string, kinds: string[]) => `version: 1
target:
  duckdb: { path: ${path}, dataset: analytics }
mappings:
${kinds.map((k) => `  - kind: ${k}\n    fields:\n      - { name: email, type: STRING }\n`).join('')}`;

let dir = '';
const write = (text: string) => writeFileSync(join(dir, 'mlbridge.yaml'), text);
const run = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};
async function sql(statement: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(join(dir, 'wh.duckdb'));
  const conn = await instance.connect();
  try {
    await conn.run(statement);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const Journeys = suite('user journeys on the DuckDB target');
Journeys.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-journeys-'));
});
Journeys.after.each(() => rmSync(dir, { recursive: true, force: true }));

Journeys('a --target that names no resource is an error listing the addresses, not "No changes."', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  const r = await run('plan', '--target', 'duckdb_table.analytics.custmer');
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.match(r.err, 'Error: --target duckdb_table.analytics.custmer matches no resource of this spec or target. Resources:\n  duckdb_table.analytics.customer\n');
  assert.ok(r.err.endsWith('  duckdb_dataset.analytics\nDid you mean duckdb_table.analytics.customer?\n'), r.err);
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'plan created nothing');
});

Journeys('a rows --target in the wrong case lists the rows addresses first and suggests the right one', async () => {
  const exportDir = fileURLToPath(new URL('../../../examples/quickstart/export', import.meta.url));
  write(`${spec('./wh.duckdb', ['Order'])}source:\n  export: { path: ${JSON.stringify(exportDir)} }\n`);
  const r = await run('plan', '--target', 'rows.order');
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.is(
    r.err,
    'Error: --target rows.order matches no resource of this spec or target. Resources:\n  rows.Order\n  duckdb_dataset.analytics\n' +
      '  duckdb_table.analytics.order\n  duckdb_table.analytics.order_raw\n  duckdb_table.analytics.order_quarantine\n' +
      '  duckdb_table.analytics._mlbridge_profiles\n  duckdb_table.analytics._mlbridge_rejected\nDid you mean rows.Order?\n',
  );
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'plan created nothing');
});

Journeys('a --target that names no kind of the quickstart lists every one of its 15 addresses', async () => {
  const exportDir = fileURLToPath(new URL('../../../examples/quickstart/export', import.meta.url));
  const quickstart = fileURLToPath(new URL('../../../examples/quickstart/mlbridge.yaml', import.meta.url));
  const { readFileSync } = await import('node:fs');
  write(readFileSync(quickstart, 'utf8').replace('./${QUICKSTART_EXPORT:-export}', exportDir).replace('./.data/warehouse.duckdb', './wh.duckdb'));
  const r = await run('plan', '--target', 'rows.Nope');
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.is(
    r.err,
    [
      'Error: --target rows.Nope matches no resource of this spec or target. Resources:',
      '  rows.CustomerProfile',
      '  rows.Order',
      '  rows.Product',
      '  duckdb_dataset.analytics',
      '  duckdb_table.analytics.customer_profile',
      '  duckdb_table.analytics.customer_profile_raw',
      '  duckdb_table.analytics.customer_profile_quarantine',
      '  duckdb_table.analytics.order',
      '  duckdb_table.analytics.order_raw',
      '  duckdb_table.analytics.order_quarantine',
      '  duckdb_table.analytics.product',
      '  duckdb_table.analytics.product_raw',
      '  duckdb_table.analytics.product_quarantine',
      '  duckdb_table.analytics._mlbridge_profiles',
      '  duckdb_table.analytics._mlbridge_rejected',
      '',
    ].join('\n'),
  );
});

Journeys('past 30 addresses a --target error lists the first 30 and says how many more there are', async () => {
  write(spec('./wh.duckdb', Array.from({ length: 10 }, (_, i) => `Kind${i}`)));
  const r = await run('plan', '--target', 'duckdb_table.analytics.nope', '--skip-data');
  assert.is(r.code, 1);
  const lines = r.err.trimEnd().split('\n');
  assert.is(lines[0], 'Error: --target duckdb_table.analytics.nope matches no resource of this spec or target. Resources:');
  assert.is(lines.length, 1 + 30 + 1, r.err);
  assert.is(lines[30], '  duckdb_table.analytics.kind9_quarantine');
  assert.is(lines[31], '  … and 3 more (33 in all)');
});

Journeys('a --target prefix typed with its trailing dot selects the resources under it', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  const r = await run('plan', '--target', 'duckdb_table.analytics.customer.');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, '# duckdb_table.analytics.customer will be created');
  assert.ok(r.out.trimEnd().endsWith('Plan: 2 to add, 0 to change, 0 to destroy.'), r.out);
});

Journeys('plan exits 1 with "Error:" when a spec table already exists unowned, and does not claim "No changes."', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  assert.is((await run('apply', '--auto-approve')).code, 0);
  write(spec('./wh.duckdb', ['Customer', 'Order']));
  await sql('CREATE TABLE analytics."order" (x INTEGER)');
  const r = await run('plan', '--target', 'duckdb_table.analytics.order', '--detailed-exitcode');
  assert.is(r.code, 1, r.out);
  assert.not.match(r.out, 'No changes');
  assert.match(
    r.out,
    'Error: duckdb_table.analytics.order already exists and is not managed by mlbridge (no managed-by=mlbridge label); mlbridge will not change it\n  Rename the table in the spec (tables:) or remove the existing table.',
  );
  const md = await run('plan', '--target', 'duckdb_table.analytics.order', '--format', 'markdown');
  assert.is(md.code, 1);
  assert.match(md.out, '**Errors: apply would refuse this plan.**');
  assert.not.match(md.out, 'No changes');
});

Journeys('a protected table planned for deletion states the protection once, not twice', async () => {
  write(spec('./wh.duckdb', ['Customer', 'Order']));
  assert.is((await run('apply', '--auto-approve')).code, 0);
  write(spec('./wh.duckdb', ['Customer']));
  const r = await run('plan');
  assert.is(r.code, 0, r.err);
  const block = r.out.split('\n\n').find((b) => b.includes('# duckdb_table.analytics.order will be destroyed'))!;
  assert.ok(block, r.out);
  assert.is(block.split('has deletion protection').length - 1, 1, block);
  assert.match(block, '  # (blocked: duckdb_table.analytics.order has deletion protection and cannot be deleted;');
  const md = await run('plan', '--format', 'markdown');
  assert.match(
    md.out,
    '> [!CAUTION]\n> **Deletion protection blocks 3 changes**; apply will refuse this plan:\n' +
      '> - duckdb_table.analytics.order has deletion protection and cannot be deleted; put its mapping back with deletion_protection: false, apply, then remove it\n',
  );
});

Journeys('a lock left by a killed apply: the error names the holder and says how to release it', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  const holder = { id: 'dead0001', pid: 999999, host: 'ci-7', since: '2026-11-23T10:00:00.000Z', operation: 'apply', who: 'ci@ci-7' };
  writeFileSync(join(dir, 'wh.duckdb.mlbridge.lock'), JSON.stringify(holder));
  const r = await run('apply', '--auto-approve');
  assert.is(r.code, 1);
  assert.is(
    r.err,
    'Error: Error acquiring the state lock: lock dead0001 held by pid 999999 on ci-7 since 2026-11-23T10:00:00.000Z (operation: apply)\n' +
      'If that apply is no longer running (it was killed or its machine went away), release the lock with:\n' +
      '    mlbridge force-unlock dead0001\n',
  );
  assert.is((await run('force-unlock', 'dead0001', '--force')).code, 0);
  assert.is((await run('apply', '--auto-approve')).code, 0);
});

Journeys('an empty lock file (its apply killed between create and write) can be force-unlocked, then apply converges', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  writeFileSync(join(dir, 'wh.duckdb.mlbridge.lock'), '');
  const r = await run('apply', '--auto-approve');
  assert.is(r.code, 1);
  assert.is(
    r.err,
    `Error: Error acquiring the state lock: the lock file ${join(dir, 'wh.duckdb.mlbridge.lock')} is empty or unreadable (an apply was killed while taking the lock, or the disk was full)\n` +
      'If no apply is running, release it with:\n' +
      '    mlbridge force-unlock unreadable\n',
  );
  const unlock = await run('force-unlock', 'unreadable', '--force');
  assert.is(unlock.code, 0, unlock.err);
  assert.is(unlock.out, 'Lock unreadable released: the target is unlocked.\n');
  assert.is((await run('apply', '--auto-approve')).code, 0);
  assert.is((await run('plan', '--detailed-exitcode')).code, 0);
});

Journeys('a DuckDB path through a file (not a folder) is a plain error naming that file', async () => {
  writeFileSync(join(dir, 'data'), 'not a folder');
  write(spec('./data/wh.duckdb', ['Customer']));
  const r = await run('apply', '--auto-approve');
  assert.is(r.code, 1);
  assert.is(r.err, `Error: Cannot create the folder ${join(dir, 'data')} for the DuckDB file: ${join(dir, 'data')} exists and is not a folder\n`);
});

Journeys('apply given `plan --json` output instead of a saved plan says which command saves one', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  const planned = await run('plan', '--json');
  writeFileSync(join(dir, 'changes.json'), planned.out);
  const r = await run('apply', 'changes.json');
  assert.is(r.code, 1);
  assert.match(r.err, 'is not a valid mlbridge plan: this is `mlbridge plan --json` output; save a plan for apply with `mlbridge plan --out FILE`');
  assert.not.match(r.err, 'undefined');
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'nothing was created');
});

Journeys('apply PLANFILE with --target is refused: the saved plan carries its own targets', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  assert.is((await run('plan', '--out', 'all.plan')).code, 0);
  const r = await run('apply', 'all.plan', '--target', 'duckdb_table.analytics.customer');
  assert.is(r.code, 1);
  assert.is(r.err, 'Error: --target cannot be used with a saved plan; pass --target to `mlbridge plan --out` instead\n');
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'nothing was created');
});

Journeys('making a column REQUIRED while rows hold NULL fails naming the column, and the rows stay', async () => {
  const text = spec('./wh.duckdb', ['Customer']).replace('    fields:', '    deletion_protection: false\n    fields:');
  write(text);
  assert.is((await run('apply', '--auto-approve')).code, 0);
  await sql(`INSERT INTO analytics.customer (_key, _version, _hash, _synced_at) VALUES ('k1', 1, 'h', now())`);
  write(text.replace('{ name: email, type: STRING }', '{ name: email, type: STRING, mode: REQUIRED }'));
  const why = 'duckdb_table.analytics.customer cannot be replaced: 1 existing row holds NULL in column email, which the spec makes REQUIRED; fill or delete those rows, or keep email NULLABLE';
  const planned = await run('plan');
  assert.is(planned.code, 1, 'plan predicts the failure');
  assert.match(planned.out + planned.err, why);
  const r = await run('apply', '--auto-approve', '--allow-destructive');
  assert.is(r.code, 1);
  assert.is(r.err, `Error: Cannot apply: ${why}\n`);
  assert.not.match(r.out + r.err, '__mlbridge_replace');
  await sql(`DELETE FROM analytics.customer WHERE _key = 'k1'`);
  assert.is((await run('apply', '--auto-approve', '--allow-destructive')).code, 0, 'converges once the rows are fixed');
});

Journeys('STRING → INT64 over a value that is not a number fails naming the column and the rows, and the rows stay', async () => {
  const text = spec('./wh.duckdb', ['Customer']).replace('    fields:', '    deletion_protection: false\n    fields:');
  write(text);
  assert.is((await run('apply', '--auto-approve')).code, 0);
  await sql(`INSERT INTO analytics.customer (_key, _version, _hash, _synced_at, email) VALUES ('k1', 1, 'h', now(), 'abc')`);
  write(text.replace('{ name: email, type: STRING }', '{ name: email, type: INT64 }'));
  const r = await run('apply', '--auto-approve', '--allow-destructive');
  assert.is(r.code, 1);
  assert.is(
    r.err,
    'Error: Cannot apply: duckdb_table.analytics.customer cannot be replaced: ' +
      '1 existing row holds a value in column email that cannot be converted from STRING to INT64; fix or delete those rows, or keep email STRING\n',
  );
  assert.not.match(r.err, 'LINE 1');
});

Journeys('apply --json that is refused still ends stdout with an apply-result line naming the error', async () => {
  const text = spec('./wh.duckdb', ['Customer']).replace('    fields:', '    deletion_protection: false\n    fields:');
  write(text);
  assert.is((await run('apply', '--auto-approve')).code, 0);
  write(text.replace('{ name: email, type: STRING }', '{ name: email, type: INT64 }'));
  const r = await run('apply', '--json', '--auto-approve');
  assert.is(r.code, 1);
  const lines = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; applied?: boolean; error?: { code: string; message: string } });
  const last = lines.at(-1)!;
  assert.is(last.type, 'apply-result');
  assert.is(last.applied, false);
  assert.is(last.error?.code, 'DESTRUCTIVE_REFUSED');
  assert.match(last.error?.message ?? '', '- duckdb_table.analytics.customer (replace): STRING → INT64 is not a widening BigQuery allows in place');
  assert.match(r.err, /^Error: /);
});

Journeys('apply --json whose export cannot be read ends stdout with an apply-result line naming the error, and writes nothing', async () => {
  write(`${spec('./wh.duckdb', ['Customer'])}source:\n  export: { path: ./exports }\n`);
  const r = await run('apply', '--json', '--auto-approve');
  assert.is(r.code, 1);
  const message = `${join(dir, 'exports')}: no export found: no such file or folder`;
  assert.equal(JSON.parse(r.out), { type: 'apply-result', applied: false, error: { code: 'EXPORT_NOT_FOUND', message } });
  assert.is(r.err, `Error: ${message}\n`);
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'the target was not created');
});

Journeys('apply --json without --auto-approve ends stdout with an apply-result line too', async () => {
  write(spec('./wh.duckdb', ['Customer']));
  const r = await run('apply', '--json');
  assert.is(r.code, 1);
  assert.equal(JSON.parse(r.out), {
    type: 'apply-result',
    applied: false,
    error: { code: 'APPROVAL_REQUIRED', message: 'apply needs confirmation: run with --auto-approve when there is no terminal' },
  });
});

Journeys('plan in a folder without a spec says so as an error, with the way out', async () => {
  const r = await run('plan');
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.is(r.err, 'Error: no such file or folder: mlbridge.yaml\n  Point -c at the spec file or folder, or write a spec with `mlbridge init`.\n');
});

Journeys('a terminal that reports 0 columns gets plain progress lines, not a live view', () => {
  const saved = {
    outTTY: Object.getOwnPropertyDescriptor(process.stdout, 'isTTY'),
    inTTY: Object.getOwnPropertyDescriptor(process.stdin, 'isTTY'),
    columns: Object.getOwnPropertyDescriptor(process.stdout, 'columns'),
    noColor: process.env.NO_COLOR,
    ci: process.env.CI,
    term: process.env.TERM,
  };
  delete process.env.NO_COLOR;
  delete process.env.CI;
  process.env.TERM = 'xterm-256color';
  Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
  Object.defineProperty(process.stdin, 'isTTY', { value: true, configurable: true });
  try {
    Object.defineProperty(process.stdout, 'columns', { value: 0, configurable: true });
    assert.is(processIO().interactive, false);
    Object.defineProperty(process.stdout, 'columns', { value: 120, configurable: true });
    assert.is(processIO().interactive, true);
  } finally {
    const restore = (o: object, k: string, d: PropertyDescriptor | undefined) => (d ? Object.defineProperty(o, k, d) : delete (o as Record<string, unknown>)[k]);
    restore(process.stdout, 'isTTY', saved.outTTY);
    restore(process.stdin, 'isTTY', saved.inTTY);
    restore(process.stdout, 'columns', saved.columns);
    if (saved.noColor !== undefined) process.env.NO_COLOR = saved.noColor;
    if (saved.ci !== undefined) process.env.CI = saved.ci;
    if (saved.term !== undefined) process.env.TERM = saved.term;
    else delete process.env.TERM;
  }
});

Journeys.run();
