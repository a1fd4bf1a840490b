// `mlbridge plan` while an `apply` of the same DuckDB target runs: the apply (a child
// process, over an export of 20,000 entities) is stopped with SIGSTOP while it stages the
// source, so it holds the lock and the open database for as long as the test needs; plan
// runs against it as a user would, then the apply is let go.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Entity } from '../../src/source/entity.js';
import type { LockInfo } from '../../src/warehouse/warehouse.js';
import { writeExport } from '../support/export-writer.js';
import { startApply, type ApplyChild } from '../support/apply-child.js';
import { fakeIO, runCli } from './fake-io.js';

const ITEMS = 20_000;

function* items(): Generator<Entity> {
  for (let i = 1; i <= ITEMS; i++) {
    yield { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] }, properties: { n: { integerValue: String(i) }, name: { stringValue: `item ${i}` } } };
  }
}

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: shop }
source:
  export: { path: ./exports }
mappings:
  - kind: Item
    fields:
      - { name: n, type: INT64 }
      - { name: name, type: STRING }
`;

const Locked = suite('plan while an apply holds the target');

let dir = '';
let apply: ApplyChild | null = null;

Locked.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-plan-lock-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), items(), { exportId: '2026-11-30T00:00:00_000', maxFileBytes: 512 * 1024 });
});
Locked.after.each(async () => {
  // A failed test must not leave a stopped apply behind.
  if (apply && apply.child.exitCode === null && apply.child.signalCode === null) {
    apply.child.kill('SIGKILL');
    apply.child.kill('SIGCONT');
    await apply.done;
  }
  apply = null;
  rmSync(join(dir, 'wh.duckdb'), { force: true });
  rmSync(join(dir, 'wh.duckdb.wal'), { force: true });
  rmSync(join(dir, 'wh.duckdb.mlbridge.lock'), { force: true });
});
Locked.after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the apply and stops it once it stages the source: it holds the lock and the open database. */
async function stoppedApply(): Promise<{ child: ChildProcess; lock: LockInfo }> {
  let stopped!: () => void;
  const reached = new Promise<void>((r) => (stopped = r));
  apply = startApply(dir, (e, child) => {
    if (e.type === 'observe-start' && String(e.what).startsWith('rows of')) {
      child.kill('SIGSTOP');
      stopped();
    }
  });
  const ended = apply.done.then((r) => {
    throw new Error(`the apply ended before it was stopped (${r.code ?? r.signal}):\n${r.out.slice(-2000)}`);
  });
  await Promise.race([reached, ended]);
  void ended.catch(() => undefined);
  return { child: apply.child, lock: JSON.parse(readFileSync(join(dir, 'wh.duckdb.mlbridge.lock'), 'utf8')) as LockInfo };
}

/** Lets the stopped apply finish; resolves with its exit code. */
async function resume(child: ChildProcess): Promise<number | null> {
  child.kill('SIGCONT');
  return (await apply!.done).code;
}

Locked('plan fails with exit 1 naming the lock: id, operation, who, since, and how to go on', async () => {
  const { child, lock } = await stoppedApply();
  const plan = await runCli(dir, ['plan', '--no-color']);
  assert.is(plan.code, 1);
  assert.is(plan.out, '');
  assert.is(
    plan.err,
    `Error: Error acquiring the state lock: duckdb:${join(dir, 'wh.duckdb')} is locked by another mlbridge run\n` +
      'Lock Info:\n' +
      `  ID:        ${lock.id}\n` +
      '  Operation: apply\n' +
      `  Who:       ${lock.who}\n` +
      `  Process:   pid ${child.pid} on ${lock.host}\n` +
      `  Since:     ${lock.since}\n` +
      '\n' +
      'plan does not read a target while another run holds its lock. Run plan again once that run has\n' +
      'finished, or let plan wait for it with --lock-timeout=DURATION (e.g. --lock-timeout=5m).\n' +
      'If it is no longer running (it was killed or its machine went away), release the lock with:\n' +
      `    mlbridge force-unlock ${lock.id}\n`,
  );
  assert.is(await resume(child), 0, 'the apply was not disturbed');
});

Locked('plan --json while the apply holds the lock leaves a JSON document naming the lock on stdout, and exits 1', async () => {
  const { child, lock } = await stoppedApply();
  const plan = await runCli(dir, ['plan', '--json']);
  assert.is(plan.code, 1);
  const doc = JSON.parse(plan.out) as { changes: unknown[]; diagnostics: { severity: string; summary: string; detail: string }[]; error: { code: string; resource: string; details: { lock_id: string; holder: { id: string; pid: number } } } };
  assert.equal(doc.changes, []);
  assert.is(doc.diagnostics.length, 1);
  assert.is(doc.diagnostics[0]!.severity, 'error');
  assert.is(doc.diagnostics[0]!.summary, `Error acquiring the state lock: duckdb:${join(dir, 'wh.duckdb')} is locked by another mlbridge run`);
  assert.ok(doc.diagnostics[0]!.detail.includes(`    mlbridge force-unlock ${lock.id}`), doc.diagnostics[0]!.detail);
  assert.is(doc.error.code, 'LOCK_HELD');
  assert.is(doc.error.resource, `duckdb:${join(dir, 'wh.duckdb')}`);
  assert.is(doc.error.details.lock_id, lock.id);
  assert.is(doc.error.details.holder.pid, child.pid);
  assert.ok(plan.err.startsWith('Error: Error acquiring the state lock'), plan.err);
  assert.is(await resume(child), 0, 'the apply was not disturbed');
});

Locked('plan -lock-timeout=5m waits for the apply, saying so, then plans what it applied', async () => {
  const { child, lock } = await stoppedApply();
  const io = fakeIO({ cwd: dir });
  const planning = main(['plan', '-lock-timeout=5m', '--no-color'], io);
  const waiting = `Waiting for the lock held by ${lock.id} (pid ${child.pid} on ${lock.host} since ${lock.since})...\n`;
  while (io.err() !== waiting) {
    assert.is(io.err(), waiting.slice(0, io.err().length), 'nothing but the wait is printed');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.is(await resume(child), 0);
  assert.is(await planning, 0);
  assert.is(io.out(), 'No changes. Your target matches the spec.\n');
});

Locked('plan -lock=false skips the lock and meets the open database instead', async () => {
  const { child } = await stoppedApply();
  const plan = await runCli(dir, ['plan', '-lock=false', '--no-color']);
  assert.is(plan.code, 1);
  assert.ok(plan.err.startsWith(`Error: The DuckDB file ${join(dir, 'wh.duckdb')} is in use by another process (`), plan.err);
  assert.ok(plan.err.includes(`, PID ${child.pid})`), plan.err);
  assert.not.ok(plan.err.includes('state lock'), plan.err);
  assert.is(await resume(child), 0);
});

Locked('--lock takes true or false only, and plan checks the duration before reading anything', async () => {
  const bad = await runCli(dir, ['plan', '--lock=maybe']);
  assert.equal([bad.code, bad.err], [1, "Error: option '--lock <bool>' argument 'maybe' is invalid. expected true or false.\n(run 'mlbridge --help' for usage)\n"]);
  const timeout = await runCli(dir, ['plan', '--lock-timeout=soon']);
  assert.equal([timeout.code, timeout.err], [1, 'Error: --lock-timeout: "soon" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)\n']);
});

Locked.run();
