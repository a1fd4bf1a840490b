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

Install('serve from the installed package answers health and acknowledges an Eventarc event', async () => {
  // A sink that holds changes in memory stands in for the warehouse: this checks the install, not the engine.
  writeFileSync(
    join(dir, 'start.mjs'),
    `import { createServer } from './node_modules/mlbridge/dist/src/server/app.js';
const changes = [];
const server = createServer({
  sink: { async write(c) { changes.push(...c); return { written: c.length, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 }; }, async close() {} },
  reconciler: { async reconcile({ id }) { return { id, kinds: {}, durationMs: 0, changed: false }; } },
  kinds: ['CustomerProfile'], auth: { mode: 'disabled' },
});
const url = await server.listen(0, '127.0.0.1');
process.stdout.write(url + '\\n');
process.on('SIGTERM', async () => { await server.close(); process.stdout.write('written ' + changes.length + '\\n'); process.exit(0); });
`,
  );
  const child = spawn(process.execPath, ['start.mjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => out.includes('\n') && resolve(out.split('\n')[0]!));
    child.on('exit', (code) => reject(new Error(`start.mjs exited ${code}`)));
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal([health.status, await health.json()], [200, { status: 'ok' }]);
  const { encodeEntityEvent } = (await import(join(dir, 'node_modules', 'mlbridge', 'dist', 'src', 'server', 'entity-event-proto.js'))) as typeof import('../../src/server/entity-event-proto.js');
  const body = encodeEntityEvent({ value: { entity: { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'CustomerProfile', name: 'a' }] }, properties: {} }, version: '1' } });
  const res = await fetch(`${url}/eventarc`, { method: 'POST', headers: { 'content-type': 'application/protobuf', 'ce-type': 'google.cloud.datastore.entity.v1.created', 'ce-id': '1', 'ce-time': '2026-01-01T00:00:00Z' }, body: new Blob([Buffer.from(body)]) });
  assert.equal([res.status, await res.json()], [200, { status: 'accepted' }]);
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
  assert.match(out, /written 1/);
});

Install.run();
