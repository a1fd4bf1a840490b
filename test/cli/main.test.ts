import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { fakeIO } from './fake-io.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'bin', 'mlbridge.js');
const pkgVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

const GOOD = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: analytics }
mappings:
  - kind: Customer
    fields:
      - { name: email, type: STRING, mode: REQUIRED }
`;

const BROKEN = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: analytics }
mappings:
  - kind: Customer
    tabel: customer
    fields:
      - name: email
        type: STRNG
`;

function tempSpec(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-cli-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), text);
  return dir;
}

const Main = suite('main');
const dirs: string[] = [];
Main.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

Main('--version prints the package version', async () => {
  const io = fakeIO({ cwd: root });
  assert.is(await main(['--version'], io), 0);
  assert.is(io.out(), `${pkgVersion}\n`);
});

Main('an unknown command is an error with a suggestion, exit 1', async () => {
  const io = fakeIO({ cwd: root });
  assert.is(await main(['valdate'], io), 1);
  assert.match(io.err(), "Error: unknown command 'valdate'");
  assert.match(io.err(), '(Did you mean validate?)');
  assert.is(io.out(), '');
});

Main('an unknown option is an error, exit 1', async () => {
  const io = fakeIO({ cwd: root });
  assert.is(await main(['plan', '--frob'], io), 1);
  assert.match(io.err(), "Error: unknown option '--frob'");
});

Main('validate accepts a good spec', async () => {
  const dir = tempSpec(GOOD);
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['validate'], io), 0);
  assert.is(io.out(), 'Success! The spec is valid: 1 mapping, target duckdb analytics.\n');
});

Main('validate reports every problem of a broken spec as file:line:col and exits 1', async () => {
  const dir = tempSpec(BROKEN);
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['validate', '-c', 'mlbridge.yaml'], io), 1);
  const lines = io.err().split('\n');
  assert.ok(lines.some((l) => /^(.*\/)?mlbridge\.yaml:6:5: .*tabel.*did you mean `table`/.test(l)), io.err());
  assert.ok(lines.some((l) => /^(.*\/)?mlbridge\.yaml:9:15: .*STRNG/.test(l)), io.err());
  assert.match(io.err(), 'Error: the spec has 2 problems.');
  assert.not.match(io.err(), '    at ', 'no stack trace');
});

Main('plan --json on a broken spec prints only JSON diagnostics and exits 1', async () => {
  const dir = tempSpec(BROKEN);
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['plan', '--json'], io), 1);
  const doc = JSON.parse(io.out());
  assert.is(doc.format_version, '1');
  assert.is(doc.diagnostics.length, 2);
  assert.is(doc.diagnostics[0].source.line, 6);
  assert.is(io.err(), '');
});

Main('apply without a terminal and without --auto-approve refuses and touches nothing', async () => {
  const dir = tempSpec(GOOD);
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['apply'], io), 1);
  assert.is(io.err(), 'Error: apply needs confirmation: run with --auto-approve when there is no terminal\n');
  assert.not.ok(existsSync(join(dir, 'wh.duckdb')), 'the target was not created');
});

Main('a bad --lock-timeout is an error naming the flag', async () => {
  const dir = tempSpec(GOOD);
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['apply', '--auto-approve', '--lock-timeout', 'soon'], io), 1);
  assert.is(io.err(), 'Error: --lock-timeout: "soon" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)\n');
});

Main('show of a file that is not a plan is an error without a stack', async () => {
  const dir = tempSpec(GOOD);
  dirs.push(dir);
  writeFileSync(join(dir, 'junk.plan'), 'not a plan');
  const io = fakeIO({ cwd: dir });
  assert.is(await main(['show', 'junk.plan'], io), 1);
  assert.match(io.err(), /^Error: /);
  assert.not.match(io.err(), '    at ');
});

Main('init needs exactly one source', async () => {
  const io = fakeIO({ cwd: root });
  assert.is(await main(['init'], io), 1);
  assert.is(io.err(), 'Error: init needs exactly one of --from-export LOCATION or --from-datastore PROJECT\n');
});

Main('score --version is the entity version, not mlbridge\'s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-cli-'));
  dirs.push(dir);
  const io = fakeIO({ cwd: dir });
  const code = await main(['score', '--entity-key', 'Customer/c1', '--kind', 'Customer', '--operation', 'UPSERT', '--version', '7', '--format', 'json'], io);
  assert.is(code, 0, io.err());
  assert.is.not(io.out(), `${pkgVersion}\n`);
  assert.type(JSON.parse(io.out()), 'object');
});

Main('plan --help states the default of --lock once', async () => {
  const io = fakeIO({ cwd: root });
  assert.is(await main(['plan', '--help'], io), 0);
  assert.match(io.out(), '  --lock <bool>              false: read the target even while an apply holds\n                             its lock (default: true)\n');
});

Main('no option of any command states its default twice', async () => {
  for (const command of ['validate', 'plan', 'apply', 'show', 'force-unlock', 'export dump', 'export stats', 'init', 'score', 'serve', 'reconcile']) {
    const io = fakeIO({ cwd: root });
    assert.is(await main([...command.split(' '), '--help'], io), 0, io.err());
    const help = io.out().replace(/\s+/g, ' ');
    assert.not.match(help, /\(default[^()]*\) \(default/, `${command} --help: ${io.out()}`);
  }
});

Main('the launcher maps outcomes to exit statuses', () => {
  const dir = tempSpec(BROKEN);
  dirs.push(dir);
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
  const version = run(['--version']);
  assert.is(version.status, 0);
  assert.is(version.stdout, `${pkgVersion}\n`);
  const invalid = run(['validate']);
  assert.is(invalid.status, 1);
  assert.match(invalid.stderr, 'mlbridge.yaml:6:5:');
  const unknown = run(['frobnicate']);
  assert.is(unknown.status, 1);
  assert.match(unknown.stderr, "Error: unknown command 'frobnicate'");
});

Main.run();
