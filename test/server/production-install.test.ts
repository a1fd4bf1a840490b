// The production install, as the Cloud Run image builds it: `npm pack`, then an install
// with --omit=dev in an empty folder. serve must start from it (its HTTP stack, protobuf
// and token libraries are production dependencies) and answer health and an Eventarc event.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const Install = suite('production install from npm pack');

let dir = '';

Install.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-pack-'));
  // dist/ is built by `npm test` (tsc) before the suites run; pack it as published.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'pipe' });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], { cwd: dir, stdio: 'pipe' });
});

Install('the installed CLI lists serve and reconcile', () => {
  const help = execFileSync(process.execPath, [join(dir, 'node_modules', 'mlbridge', 'bin', 'mlbridge.js'), '--help'], { encoding: 'utf8' });
  assert.match(help, /serve \[options\]/);
  assert.match(help, /reconcile \[options\]/);
});

Install('devDependencies are not installed', () => {
  assert.not.ok(readdirSync(join(dir, 'node_modules')).includes('typescript'));
  assert.not.ok(readdirSync(join(dir, 'node_modules')).includes('uvu'));
});

Install('`mlbridge serve` from the installed package writes an Eventarc event into DuckDB', async () => {
  writeFileSync(
    join(dir, 'mlbridge.yaml'),
    `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: live }
mappings:
  - kind: CustomerProfile
    fields:
      - { name: email, type: STRING }
`,
  );
  const bin = join(dir, 'node_modules', 'mlbridge', 'bin', 'mlbridge.js');
  // The tables first, as a deployment does (apply, then serve).
  execFileSync(process.execPath, [bin, 'apply', '--auto-approve', '-c', '.'], { cwd: dir, stdio: 'pipe' });
  const child = spawn(process.execPath, [bin, 'serve', '-c', '.', '--no-auth', '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) resolve(m[1]!.replace('0.0.0.0', '127.0.0.1'));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${out}`)));
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal([health.status, await health.json()], [200, { status: 'ok' }]);
  const { encodeEntityEvent } = (await import(join(dir, 'node_modules', 'mlbridge', 'dist', 'src', 'server', 'entity-event-proto.js'))) as typeof import('../../src/server/entity-event-proto.js');
  const body = encodeEntityEvent({
    value: { entity: { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'CustomerProfile', name: 'a' }] }, properties: { email: { stringValue: 'a@example.com' } } }, version: '7' },
  });
  const res = await fetch(`${url}/eventarc`, {
    method: 'POST',
    headers: { 'content-type': 'application/protobuf', 'ce-type': 'google.cloud.datastore.entity.v1.created', 'ce-id': '1', 'ce-time': '2026-01-01T00:00:00Z' },
    body: new Blob([Buffer.from(body)]),
  });
  assert.equal([res.status, await res.json()], [200, { status: 'accepted' }], out);
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
  const { DuckDBInstance } = (await import(join(dir, 'node_modules', '@duckdb', 'node-api', 'lib', 'index.js'))) as typeof import('@duckdb/node-api');
  const db = await DuckDBInstance.create(join(dir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  const rows = (await c.runAndReadAll('SELECT _key, _version, email FROM live.customer_profile')).getRowObjectsJson();
  c.closeSync();
  db.closeSync();
  assert.equal(rows, [{ _key: 'CustomerProfile:a', _version: '7', email: 'a@example.com' }]);
});

Install.run();
