// `mlbridge reconcile` from a terminal or cron (exit 0 / 2 / 1, --json) and the `serve`
// block of the spec, run in-process through main() or the command modules.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../src/cli/main.js';
import { run as reconcile } from '../../src/cli/commands/reconcile.js';
import type { OpenPorts } from '../../src/cli/commands/serve-ports.js';
import { loadSpec } from '../../src/spec/load.js';
import { formatDiagnostic } from '../../src/model/diagnostic.js';
import type { Reconciler } from '../../src/server/ports.js';
import { fakeIO } from '../cli/fake-io.js';
import { recordingSink } from './fakes.js';

const SPEC = 'target:\n  duckdb: { path: wh.duckdb, dataset: main }\nmappings:\n  - kind: CustomerProfile\n    fields: [{ name: email, type: STRING }]\n  - kind: Order\n    fields: [{ name: total, type: FLOAT64 }]\n';

function specDir(text = SPEC): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-cmd-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), text);
  return dir;
}

function portsWith(reconciler: Reconciler): { open: OpenPorts; closed: () => boolean } {
  let closed = false;
  return {
    open: async () => ({ sink: recordingSink(), reconciler, close: async () => void (closed = true) }),
    closed: () => closed,
  };
}

const counts = (insert: number) => ({ insert, update: 0, delete: 0, quarantine: 0, unchanged: 4 });

const Reconcile = suite('mlbridge reconcile');

Reconcile('exits 0 with nothing to repair and prints one line per kind', async () => {
  const io = fakeIO({ cwd: specDir() });
  const ports = portsWith({ reconcile: async ({ id }) => ({ id, kinds: { CustomerProfile: counts(0), Order: counts(0) }, resources: [], durationMs: 1500, changed: false }) });
  assert.is(await reconcile({ config: 'mlbridge.yaml', kind: [], json: false }, io, ports.open), 0);
  const lines = io.out().trim().split('\n');
  assert.match(lines[0]!, /^Reconcile [0-9a-f-]{36} finished in 1\.5s: nothing to repair\.$/);
  assert.equal(lines.slice(1), [
    '  CustomerProfile: 0 inserted, 0 updated, 0 deleted, 0 quarantined, 4 unchanged',
    '  Order: 0 inserted, 0 updated, 0 deleted, 0 quarantined, 4 unchanged',
  ]);
  assert.ok(ports.closed());
});

Reconcile('exits 2 when it repaired rows, and --json prints the summary', async () => {
  const io = fakeIO({ cwd: specDir() });
  let asked: string[] | undefined;
  const ports = portsWith({ reconcile: async ({ id, kinds }) => ((asked = kinds), { id, kinds: { Order: counts(3) }, resources: [], durationMs: 20, changed: true }) });
  assert.is(await reconcile({ config: 'mlbridge.yaml', kind: ['Order'], json: true }, io, ports.open), 2);
  const summary = JSON.parse(io.out());
  assert.equal([summary.changed, summary.kinds, asked], [true, { Order: counts(3) }, ['Order']]);
  // snake_case keys, as every JSON mlbridge prints; kind names stay as the spec writes them.
  assert.equal(Object.keys(summary), ['id', 'kinds', 'resources', 'duration_ms', 'changed']);
});

Reconcile('exits 1 naming an unmapped kind, without opening anything', async () => {
  const io = fakeIO({ cwd: specDir() });
  let opened = false;
  const code = await reconcile({ config: 'mlbridge.yaml', kind: ['Ghost'], json: false }, io, async () => {
    opened = true;
    throw new Error('unreachable');
  });
  assert.equal([code, opened, io.err().trim()], [1, false, 'Error: kind `Ghost` is not mapped in the spec (mapped: CustomerProfile, Order)']);
});

Reconcile('a failing reconcile exits 1 with the error, and the ports are closed', async () => {
  const dir = specDir();
  const io = fakeIO({ cwd: dir });
  const ports = portsWith({ reconcile: async () => { throw new Error('source unreachable'); } });
  let error: unknown;
  await reconcile({ config: 'mlbridge.yaml', kind: [], json: false }, io, ports.open).catch((e) => (error = e));
  assert.is((error as Error).message, 'source unreachable');
  assert.ok(ports.closed());
});

Reconcile('main registers reconcile and serve', async () => {
  const io = fakeIO({ cwd: specDir() });
  assert.is(await main(['--help'], io), 0);
  assert.match(io.out(), /serve \[options\]/);
  assert.match(io.out(), /reconcile \[options\]/);
});

const ServeSpec = suite('the serve block of the spec');

async function load(text: string) {
  const dir = specDir(text);
  return loadSpec(join(dir, 'mlbridge.yaml'), { cwd: dir, env: {} });
}

ServeSpec('serve.auth takes one audience or a list, and a list of service accounts', async () => {
  const one = await load(`${SPEC}serve:\n  auth:\n    audience: https://a.run.app\n    service_accounts: [p@x.iam.gserviceaccount.com]\n`);
  assert.equal([one.spec?.serve?.auth?.audiences, one.spec?.serve?.auth?.serviceAccounts], [['https://a.run.app'], ['p@x.iam.gserviceaccount.com']]);
  const many = await load(`${SPEC}serve:\n  auth:\n    audience: [https://a.run.app, projects/1/subscriptions/s]\n    service_accounts: p@x.iam.gserviceaccount.com\n`);
  assert.equal(many.spec?.serve?.auth?.audiences, ['https://a.run.app', 'projects/1/subscriptions/s']);
});

ServeSpec('problems in serve are reported at file:line:col', async () => {
  const r = await load(`${SPEC}serve:\n  auth:\n    audience: []\n    service_accounts: [not-an-email]\n  port: 80\n`);
  assert.equal(r.diagnostics.map(formatDiagnostic), [
    'mlbridge.yaml:10:15: `serve.auth.audience`: must list at least one value',
    'mlbridge.yaml:11:24: `serve.auth.service_accounts[0]`: `not-an-email` is not a service account email (name@project.iam.gserviceaccount.com)',
    'mlbridge.yaml:12:3: unknown key `port` in `serve`; expected `auth`',
  ]);
  const missing = await load(`${SPEC}serve:\n  auth:\n    audience: https://a.run.app\n`);
  assert.equal(missing.diagnostics.map(formatDiagnostic), ['mlbridge.yaml:10:5: `serve.auth` is missing required key `service_accounts`']);
});

Reconcile.run();
ServeSpec.run();
