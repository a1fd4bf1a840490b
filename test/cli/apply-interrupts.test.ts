// Signals and lock trouble during `mlbridge apply`, as a user or a CI runner meets them:
// Ctrl-C / SIGTERM / SIGHUP stop at a safe point, release the lock and say how far apply got;
// a second signal or kill -9 leaves a lock that the next apply on this host takes over; an
// empty lock file names the exact recovery command; a failed release is only a warning.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { processRuntime, run as runApply, type ApplyRuntime } from '../../src/cli/commands/apply.js';
import { openDeps } from '../../src/cli/context.js';
import type { SignalSource } from '../../src/cli/interrupts.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { fakeSignals } from '../support/fake-signals.js';
import { fakeIO } from './fake-io.js';
import { lockReleaseFails, overrideWarehouse } from '../support/warehouse-override.js';

// ---- factories ----

const child = fileURLToPath(new URL('./fixtures/apply-cli-child.js', import.meta.url));

/** A spec with `n` kinds: three tables each, plus the profiles table. */
const specText = (n: number) => `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: analytics }
mappings:
${Array.from({ length: n }, (_, i) => `  - kind: Kind${String(i).padStart(2, '0')}\n    fields:\n      - { name: email, type: STRING }\n`).join('')}`;

/** The quickstart spec (its export source, three kinds with rows) on a warehouse at ./wh.duckdb. */
function quickstartIn(at: string): void {
  const quickstart = fileURLToPath(new URL('../../../examples/quickstart', import.meta.url));
  cpSync(join(quickstart, 'export'), join(at, 'export'), { recursive: true });
  const spec = readFileSync(join(quickstart, 'mlbridge.yaml'), 'utf8').replace('path: ./.data/warehouse.duckdb', 'path: ./wh.duckdb');
  writeFileSync(join(at, 'mlbridge.yaml'), spec);
}

/** An apply runtime that sends SIGINT once, as the first kind's rows start to be staged (planning). */
function sigintWhileRowsArePlanned(): ApplyRuntime {
  const signals = fakeSignals();
  let fired = false;
  const wrap = (real: Warehouse) =>
    overrideWarehouse(real, {
      openStage: (o) => {
        if (!fired) signals.fire('SIGINT');
        fired = true;
        return real.openStage(o);
      },
    });
  return runtimeWith(wrap, signals);
}

/** How many times `line` appears in `text`: an interrupt is told once. */
const count = (text: string, line: string) => text.split(line).length - 1;

/** 33 kinds: 99 tables, the profiles and rejected-events tables, 102 changes with the dataset. */
const HUNDRED_TABLES = 33;
const TOTAL_CHANGES = 102;

let dir = '';
const lockFile = () => join(dir, 'wh.duckdb.mlbridge.lock');
const cli = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};

/** The CLI apply in a child process whose `blockAt`-th createTable waits for "go" on stdin. */
function applyChild(blockAt: number) {
  const p = spawn(process.execPath, [child, 'mlbridge.yaml', String(blockAt)], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  p.stdout!.on('data', (d) => ((out += d), poke()));
  p.stderr!.on('data', (d) => ((err += d), poke()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
  /** Resolves once stderr contains `text` (the child says it reached that point). */
  const stderrHas = async (text: string) => {
    while (!err.includes(text)) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`child ended before printing ${JSON.stringify(text)}: ${err}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { p, closed, stderrHas, out: () => out, err: () => err };
}

/** Replaces the warehouse apply opens with `wrap(real)`. */
function runtimeWith(wrap: (real: Warehouse) => Warehouse, signals: SignalSource = fakeSignals()): ApplyRuntime {
  return {
    ...processRuntime,
    signals,
    exit: (code) => assert.unreachable(`exit(${code})`),
    openDeps: async (...args: Parameters<typeof openDeps>) => {
      const opened = await openDeps(...args);
      return { ...opened, deps: { ...opened.deps, warehouse: wrap(opened.deps.warehouse) } };
    },
  };
}

const applyOptions = (over: Partial<Parameters<typeof runApply>[0]> = {}) => ({
  config: 'mlbridge.yaml',
  autoApprove: true,
  allowDestructive: false,
  lockTimeout: '0s',
  target: [],
  json: false,
  color: false,
  ...over,
});

/** A second apply converges: it adds what the first did not get to, then there is nothing to do. */
async function convergesAfter(applied: number): Promise<string> {
  const again = await cli('apply', '--auto-approve');
  assert.is(again.code, 0, again.err);
  assert.match(again.out, `Apply complete! Resources: ${TOTAL_CHANGES - applied} added, 0 changed, 0 destroyed.`);
  const plan = await cli('plan', '--detailed-exitcode');
  assert.is(plan.code, 0, plan.out);
  assert.not.ok(existsSync(lockFile()), 'no lock is left');
  return again.out;
}

const Interrupts = suite('apply under signals and lock trouble');
Interrupts.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-interrupts-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), specText(HUNDRED_TABLES));
});
Interrupts.after.each(() => rmSync(dir, { recursive: true, force: true }));

for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  Interrupts(`${signal} during a 100-table apply stops after the running change, releases the lock and exits ${status}; apply again converges`, async () => {
    const c = applyChild(5);
    await c.stderrHas('waiting in createTable');
    c.p.kill(signal);
    await c.stderrHas(`${signal} received: stopping after the current change (send it again to exit at once).`);
    c.p.stdin!.write('go\n');
    const { code } = await c.closed;
    assert.is(code, status, c.err());
    // The dataset and five tables (the fifth was running when the signal came, and finished).
    assert.match(c.out(), `\nInterrupted: 6 of ${TOTAL_CHANGES} changes applied; run apply again\n`);
    assert.is(count(c.out(), 'Interrupted'), 1, c.out());
    assert.not.match(c.out(), 'Apply complete');
    assert.not.ok(existsSync(lockFile()), 'the lock was released');
    const again = await convergesAfter(6);
    assert.not.match(again, 'taken over');
  });
}

Interrupts('Ctrl-C while the rows are planned says once that nothing was applied, releases the lock and exits 130', async () => {
  quickstartIn(dir);
  const runtime = sigintWhileRowsArePlanned();
  const io = fakeIO({ cwd: dir });
  assert.is(await runApply(applyOptions(), io, runtime), 130, io.err());
  assert.is(count(io.out(), 'Interrupted before any change was applied; run apply again\n'), 1, io.out());
  assert.is(count(io.out(), 'Interrupted'), 1, io.out());
  assert.is(io.err(), '\nSIGINT received: stopping after the current change (send it again to exit at once).\n');
  assert.not.ok(existsSync(lockFile()), 'the lock was released');
});

Interrupts('--json: Ctrl-C while the rows are planned is one interrupted event, then the INTERRUPTED result', async () => {
  quickstartIn(dir);
  const runtime = sigintWhileRowsArePlanned();
  const io = fakeIO({ cwd: dir });
  assert.is(await runApply(applyOptions({ json: true }), io, runtime), 130, io.err());
  const lines = io.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.filter((l) => l.type === 'interrupted'), [{ type: 'interrupted', done: 0 }]);
  assert.equal(lines.at(-1), {
    type: 'apply-result',
    applied: false,
    error: { code: 'INTERRUPTED', message: 'Interrupted before any change was applied; run apply again', details: { done: 0, signal: 'SIGINT' } },
  });
});

Interrupts('kill -9 leaves the lock; the next apply on this host takes it over, says so, and converges', async () => {
  const c = applyChild(5);
  await c.stderrHas('waiting in createTable');
  const held = JSON.parse(readFileSync(lockFile(), 'utf8')) as { id: string; pid: number; since: string };
  assert.is(held.pid, c.p.pid);
  c.p.kill('SIGKILL');
  assert.equal(await c.closed, { code: null, signal: 'SIGKILL' });
  assert.ok(existsSync(lockFile()), 'kill -9 left the lock behind');
  const out = await convergesAfter(5);
  assert.match(
    out,
    `Lock ${held.id} was held by pid ${held.pid} on this host (${hostname()}) since ${held.since}; that process is no longer running, so the lock is taken over.\n`,
  );
});

Interrupts('a second Ctrl-C exits at once with 130 naming the lock it leaves; the next apply takes it over and converges', async () => {
  const c = applyChild(5);
  await c.stderrHas('waiting in createTable');
  const held = JSON.parse(readFileSync(lockFile(), 'utf8')) as { id: string };
  c.p.kill('SIGINT');
  await c.stderrHas('SIGINT received: stopping');
  c.p.kill('SIGINT');
  const { code } = await c.closed;
  assert.is(code, 130);
  assert.match(
    c.err(),
    `SIGINT received again: exiting now. Lock ${held.id} is left behind; the next apply on this host takes it over (elsewhere: mlbridge force-unlock ${held.id}).\n`,
  );
  const out = await convergesAfter(5);
  assert.match(out, `Lock ${held.id} was held by pid ${c.p.pid} on this host`);
});

Interrupts('an empty lock file names the exact recovery command, with the -c the user gave', async () => {
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'conf', 'my spec.yaml'), specText(1).replace('./wh.duckdb', '../wh.duckdb'));
  writeFileSync(lockFile(), '');
  const r = await cli('apply', '--auto-approve', '-c', 'conf/my spec.yaml');
  assert.is(r.code, 1);
  assert.is(
    r.err,
    `Error: Error acquiring the state lock: the lock file ${lockFile()} is empty or unreadable (an apply was killed while taking the lock, or the disk was full)\n` +
      'If no apply is running, release it with:\n' +
      "    mlbridge force-unlock unreadable -c 'conf/my spec.yaml'\n",
  );
  assert.is((await cli('force-unlock', 'unreadable', '--force', '-c', 'conf/my spec.yaml')).code, 0);
  assert.is((await cli('apply', '--auto-approve', '-c', 'conf/my spec.yaml')).code, 0);
});

const releaseFails = (real: Warehouse) => lockReleaseFails(real, 'EIO: i/o error, unlink');

Interrupts('a lock release that fails after a successful apply is a warning and exit 0', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), specText(1));
  const io = fakeIO({ cwd: dir });
  assert.is(await runApply(applyOptions(), io, runtimeWith(releaseFails)), 0, io.err());
  const id = /Acquired lock ([0-9a-f]{16})\./.exec(io.out())?.[1] ?? JSON.parse(readFileSync(lockFile(), 'utf8')).id;
  assert.ok(
    io.out().endsWith(
      '\nApply complete! Resources: 6 added, 0 changed, 0 destroyed.\n' +
        `Warning: could not release lock ${id}: EIO: i/o error, unlink\n` +
        `The changes stand. An apply on this host takes the lock over; elsewhere, release it with: mlbridge force-unlock ${id}\n`,
    ),
    io.out(),
  );
});

Interrupts('--json: a failed release still ends with applied true and the warning', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), specText(1));
  const io = fakeIO({ cwd: dir });
  assert.is(await runApply(applyOptions({ json: true }), io, runtimeWith(releaseFails)), 0, io.err());
  const lines = io.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const id = (lines.find((l) => l.type === 'lock-acquired') as { id: string }).id;
  assert.equal(lines.at(-2), { type: 'lock-release-failed', id, message: 'EIO: i/o error, unlink' });
  assert.equal(lines.at(-1), {
    type: 'apply-result',
    applied: true,
    summary: { add: 6, change: 0, destroy: 0 },
    warnings: [`could not release lock ${id}: EIO: i/o error, unlink; release it with: mlbridge force-unlock ${id}`],
  });
});

Interrupts('--json: SIGTERM ends with an interrupted event and an INTERRUPTED result, exit 143', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), specText(1));
  const signals = fakeSignals();
  let creates = 0;
  const runtime = runtimeWith(
    (real) =>
      overrideWarehouse(real, {
        createTable: async (t) => {
          if (++creates === 2) signals.fire('SIGTERM');
          return real.createTable(t);
        },
      }),
    signals,
  );
  const io = fakeIO({ cwd: dir });
  assert.is(await runApply(applyOptions({ json: true }), io, runtime), 143);
  const lines = io.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.at(-2), { type: 'interrupted', done: 3, total: 6 });
  assert.is(lines.filter((l) => l.type === 'interrupted').length, 1);
  assert.equal(lines.at(-1), {
    type: 'apply-result',
    applied: false,
    error: { code: 'INTERRUPTED', message: 'Interrupted: 3 of 6 changes applied; run apply again', details: { done: 3, total: 6, signal: 'SIGTERM' } },
  });
  assert.is(io.err(), '\nSIGTERM received: stopping after the current change (send it again to exit at once).\n');
  assert.not.ok(existsSync(lockFile()));
});

Interrupts.run();
