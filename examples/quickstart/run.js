#!/usr/bin/env node
// `npm run quickstart`: plan → apply --auto-approve → plan --detailed-exitcode on the
// quickstart spec, printing each command and its output. Starts from an empty warehouse
// each time (removes examples/quickstart/.data, which only this example uses) so the first
// plan always shows the tables to create. Exits non-zero if any step does not do what it should.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = join(root, 'bin', 'mlbridge.js');
const spec = relative(root, here) || '.';

if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
  process.stderr.write('mlbridge is not built yet: run `npm ci` (or `npm run build`) first.\n');
  process.exit(1);
}
const data = join(here, '.data');
if (existsSync(data)) {
  rmSync(data, { recursive: true, force: true });
  process.stdout.write(`(removed ${relative(root, data)} from a previous run)\n`);
}

const steps = [
  { args: ['plan', '-c', spec], expect: 0 },
  { args: ['apply', '-c', spec, '--auto-approve'], expect: 0 },
  { args: ['plan', '-c', spec, '--detailed-exitcode'], expect: 0 },
];

for (const step of steps) {
  process.stdout.write(`\n$ mlbridge ${step.args.join(' ')}\n\n`);
  const r = spawnSync(process.execPath, [bin, ...step.args], { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== step.expect) {
    process.stderr.write(`\nquickstart: \`mlbridge ${step.args.join(' ')}\` exited ${r.status}, expected ${step.expect}\n`);
    process.exit(1);
  }
}
process.stdout.write('\nQuickstart done: the warehouse is at examples/quickstart/.data/warehouse.duckdb and matches the spec.\n');
