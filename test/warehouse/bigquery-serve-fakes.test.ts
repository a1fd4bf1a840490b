// serve-fakes as a person uses it: start it, take the `export …` line, drive the real CLI
// against the fakes, inject faults through the control endpoints, stop it with SIGTERM.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const Suite = suite('serve-fakes: the fakes as standalone servers for the CLI');

const root = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/warehouse → repo
const serveScript = join(root, 'dist', 'test', 'support', 'serve-fakes.js');
const cli = join(root, 'bin', 'mlbridge.js');

interface Served {
  child: ChildProcess;
  env: { BIGQUERY_EMULATOR_HOST: string; CLOUD_SCHEDULER_EMULATOR_HOST: string };
}

function serve(): Promise<Served> {
  const child = spawn(process.execPath, [serveScript, '--project', 'demo-project'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /^export BIGQUERY_EMULATOR_HOST=(\S+) CLOUD_SCHEDULER_EMULATOR_HOST=(\S+)\n/.exec(out);
      if (m) resolve({ child, env: { BIGQUERY_EMULATOR_HOST: m[1]!, CLOUD_SCHEDULER_EMULATOR_HOST: m[2]! } });
    });
    child.on('exit', (code) => reject(new Error(`serve-fakes exited with ${code} before printing the export line: ${out}`)));
  });
}

function stop(s: Served, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null) return resolve(s.child.exitCode);
    s.child.once('exit', (code) => resolve(code));
    s.child.kill(signal);
  });
}

function run(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, NO_COLOR: '1', CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function control(host: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://${host}${path}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

const SPEC = `version: 1
target:
  bigquery: { project: demo-project, dataset: analytics }
reconcile:
  schedule: "*/30 * * * *"
  url: https://mlbridge.example/reconcile
mappings:
  - kind: Order-Item v2
    fields:
      - { name: amount, type: NUMERIC, from: ["price.amount"] }
`;

Suite('prints the export line, serves the CLI, takes faults from outside and stops on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-serve-'));
  const s = await serve();
  try {
    writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
    const injected = await control(s.env.BIGQUERY_EMULATOR_HOST, 'POST', '/__fake/fail', { call: 'tables.insert', reason: 'rateLimitExceeded', times: 2, skip: 1 }); // skip the lock table
    assert.is(injected.status, 200);
    const sched = await control(s.env.CLOUD_SCHEDULER_EMULATOR_HOST, 'POST', '/__fake/fail', { call: 'jobs.create', status: 503 });
    assert.equal(sched.json, { method: 'jobs.create', fault: 'UNAVAILABLE', times: 1 });

    const applied = await run(['apply', '--auto-approve'], s.env, dir);
    assert.is(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /bigquery_table\.analytics\.order_item_v2: tables\.insert failed \(.*\(reason: rateLimitExceeded, HTTP 403\)\); retry 1 in/);
    assert.match(applied.stdout, /bigquery_table\.analytics\.order_item_v2: tables\.insert failed .*; retry 2 in/);
    assert.match(applied.stdout, /cloud_scheduler_job\.mlbridge-reconcile: jobs\.create failed \(UNAVAILABLE \(HTTP 503\)/);
    assert.match(applied.stdout, /Apply complete! Resources: 7 added, 0 changed, 0 destroyed\./);

    const again = await run(['plan', '--detailed-exitcode'], s.env, dir);
    assert.is(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /No changes\./);

    const calls = await control(s.env.BIGQUERY_EMULATOR_HOST, 'GET', '/__fake/calls');
    assert.is(calls.json.calls.filter((c: string) => c === 'tables.insert').length, 5 + 1 + 2); // 5 tables, the lock, 2 faults
    const bad = await control(s.env.BIGQUERY_EMULATOR_HOST, 'POST', '/__fake/fail', { status: 429 });
    assert.is(bad.status, 400);
  } finally {
    const code = await stop(s);
    rmSync(dir, { recursive: true, force: true });
    assert.is(code, 0);
  }
});

Suite('plan in CI shows retries on stderr, and a table-only spec plans without Scheduler credentials', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-serve-'));
  const s = await serve();
  try {
    writeFileSync(join(dir, 'mlbridge.yaml'), SPEC.replace(/reconcile:\n.*\n.*\n/, ''));
    await control(s.env.BIGQUERY_EMULATOR_HOST, 'POST', '/__fake/fail', { call: 'datasets.get', reason: 'rateLimitExceeded', times: 2 });
    // Only BigQuery is faked: Cloud Scheduler has no emulator host and no credentials.
    const planned = await run(['plan'], { BIGQUERY_EMULATOR_HOST: s.env.BIGQUERY_EMULATOR_HOST }, dir);
    assert.is(planned.code, 0, planned.stderr);
    assert.match(planned.stderr, /bigquery_dataset\.analytics: datasets\.get failed \(.*rateLimitExceeded.*\); retry 1 in/);
    assert.match(planned.stderr, /retry 2 in/);
    assert.match(planned.stderr, /warning: Cloud Scheduler not checked for a reconcile job left by an earlier spec: Cloud Scheduler: No Google Cloud credentials found: tried GOOGLE_APPLICATION_CREDENTIALS \(unset\)/);
    assert.match(planned.stdout, /Plan: 6 to add, 0 to change, 0 to destroy\./);
  } finally {
    await stop(s);
    rmSync(dir, { recursive: true, force: true });
  }
});

Suite.run();
