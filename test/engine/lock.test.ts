import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, apply, awaitUnlocked, createPlan, forceUnlock } from '../../src/engine/index.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { LockInfo } from '../../src/warehouse/warehouse.js';
import { FileLock } from '../../src/warehouse/duckdb-lock.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';
import { rejects } from '../support/rejects.js';
import { lockReleaseFails } from '../support/warehouse-override.js';

const Suite = suite('the apply lock');
const child = fileURLToPath(new URL('./fixtures/apply-child.js', import.meta.url));

let ctx: ReturnType<typeof tempDir>;
Suite.before.each(() => {
  ctx = tempDir('mlbridge-lock-');
});
Suite.after.each(() => ctx.cleanup());

const holder = (over: Partial<LockInfo> = {}): LockInfo => ({
  id: 'abc123',
  pid: 4242,
  host: 'build-7',
  since: '2026-11-23T10:00:00.000Z',
  operation: 'apply',
  who: 'ci@build-7',
  ...over,
});


/** A pid that certainly names no process: one that just exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

const pidNamespace = (): Record<string, string> => {
  try {
    return { pidNamespace: readlinkSync('/proc/self/ns/pid') };
  } catch {
    return {};
  }
};

/** A holder on this host, in this pid namespace (what a killed apply on this machine leaves). */
const localHolder = (pid: number, over: Partial<LockInfo> = {}) => ({ ...holder({ id: 'dead01', pid, host: hostname(), ...over }), ...pidNamespace() });

/** Runs the child script; resolves each JSON line through onLine, and the process exit. */
function runChild(specFile: string, mode: string, onLine: (o: Record<string, unknown>, p: ChildProcess) => void = () => {}) {
  const p = spawn(process.execPath, [child, specFile, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  p.stdout!.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(o);
      onLine(o, p);
    }
  });
  p.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Record<string, unknown>[]>((resolve, reject) =>
    p.on('close', (code) => (code === 0 ? resolve(lines) : reject(new Error(`child exited ${code}: ${err}`)))),
  );
  return { p, done };
}

Suite('two applies at once: one proceeds, the other fails naming the holder; the target is consistent afterwards', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const specFile = join(ctx.dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(s));
  let second: Record<string, unknown>[] = [];
  let planWhileHeld: Record<string, unknown>[] = [];
  let firstPid = 0;
  const first = runChild(specFile, 'hold', (o, p) => {
    if (o.event !== 'approving') return;
    firstPid = Number(o.pid);
    // The first apply holds the lock (and the open database) until we say go.
    void (async () => {
      second = await runChild(specFile, 'apply').done;
      planWhileHeld = await runChild(specFile, 'plan').done;
      p.stdin!.write('go\n');
    })();
  });
  const firstLines = await first.done;
  assert.equal(firstLines.at(-1), { result: { add: 6, change: 0, destroy: 0 }, applied: true });
  const e = second[0]!.error as { code: string; message: string };
  assert.is(e.code, 'LOCK_HELD');
  assert.match(e.message, new RegExp(`^Error acquiring the state lock: lock [0-9a-f]{16} held by pid ${firstPid} on ${hostname()} since \\d{4}-\\d\\d-\\d\\dT[^ ]+Z \\(operation: apply\\)$`));
  const pe = planWhileHeld[0]!.error as { code: string; message: string };
  assert.is(pe.code, 'TARGET_BUSY');
  assert.match(pe.message, `The DuckDB file ${ctx.db} is in use by another process`);
  assert.not.ok(existsSync(`${ctx.db}.mlbridge.lock`), 'the lock is released');
  const after = await withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }));
  assert.equal(after.summary, { add: 0, change: 0, destroy: 0 });
});

Suite('a held lock fails at once with its id, pid, host, since and operation', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(holder()));
  const err = await rejects(withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {})));
  assert.is(err.code, 'LOCK_HELD');
  assert.is(err.message, 'Error acquiring the state lock: lock abc123 held by pid 4242 on build-7 since 2026-11-23T10:00:00.000Z (operation: apply)');
  assert.not.ok(existsSync(ctx.db), 'nothing was opened or created');
});

Suite('with a lock timeout it waits, reporting lock-wait, and takes the lock once it is released', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const w = await openWarehouse(s.target, { readOnly: false });
  try {
    const lockFile = `${ctx.db}.mlbridge.lock`;
    writeFileSync(lockFile, JSON.stringify(holder()));
    const events: EngineEvent[] = [];
    let clock = 0;
    const got = await acquireLock(w, {
      operation: 'apply',
      timeoutMs: 60_000,
      onEvent: (e) => events.push(e),
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        if (clock >= 1000) await w.lock().release('abc123');
      },
    });
    assert.equal(events.filter((e) => e.type === 'lock-wait').length, 2);
    assert.equal(events[0], { type: 'lock-wait', holder: { id: 'abc123', pid: 4242, host: 'build-7', since: '2026-11-23T10:00:00.000Z' } });
    assert.equal(events.at(-1), { type: 'lock-acquired', id: got.info.id });
    assert.is((await w.lock().current())?.pid, process.pid);
    await got.release();
    assert.not.ok(existsSync(lockFile));
  } finally {
    await w.close();
  }
});

Suite('a lock timeout that runs out is LOCK_HELD', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(holder()));
  const w = await openWarehouse(s.target, { readOnly: false });
  let clock = 0;
  const err = await rejects(acquireLock(w, { operation: 'apply', timeoutMs: 2000, now: () => clock, sleep: async (ms) => void (clock += ms) }));
  await w.close();
  assert.is(err.code, 'LOCK_HELD');
});

Suite('a plan checks the lock without taking it: a live holder fails it with LOCK_HELD, a free lock is left free', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const lockFile = `${ctx.db}.mlbridge.lock`;
  const live = { ...holder({ id: 'live01', host: hostname(), pid: process.pid }), ...pidNamespace() };
  writeFileSync(lockFile, JSON.stringify(live));
  await withWarehouse(s, true, async (w) => {
    const err = await rejects(awaitUnlocked(w, {}));
    assert.equal([err.code, err.message, err.details], ['LOCK_HELD', `Error acquiring the state lock: lock live01 held by pid ${process.pid} on ${hostname()} since 2026-11-23T10:00:00.000Z (operation: apply)`, { lockId: 'live01', holder: live }]);
    assert.is(readFileSync(lockFile, 'utf8'), JSON.stringify(live), 'the holder keeps its lock');
    await w.lock().release('live01');
    await awaitUnlocked(w, {});
    await awaitUnlocked(w, {}); // a second plan is not blocked by the first
    assert.not.ok(existsSync(lockFile), 'a plan takes no lock');
  });
});

Suite('a lock left by a dead apply does not stop a plan, and stays for the next apply to take over', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const lockFile = `${ctx.db}.mlbridge.lock`;
  const dead = localHolder(deadPid());
  writeFileSync(lockFile, JSON.stringify(dead));
  await withWarehouse(s, true, (w) => awaitUnlocked(w, {}));
  assert.is(readFileSync(lockFile, 'utf8'), JSON.stringify(dead));
});

Suite('the lock is released when apply fails', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {}));
  const s2 = spec(ctx.db, [mapping('Customer', [field('email', 'INT64')])]);
  const err = await rejects(withWarehouse(s2, false, (warehouse) => apply(s2, { warehouse }, {})));
  assert.is(err.code, 'DESTRUCTIVE_REFUSED');
  assert.not.ok(existsSync(`${ctx.db}.mlbridge.lock`));
});

Suite('force-unlock removes the named lock and refuses another id', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(holder()));
  const w = await openWarehouse(s.target, { readOnly: false });
  try {
    const err = await rejects(forceUnlock(w, 'nope'));
    assert.is(err.code, 'LOCK_NOT_FOUND');
    assert.is(err.message, `No lock with id nope on duckdb:${ctx.db} (the lock is held as abc123 by pid 4242 on build-7)`);
    await forceUnlock(w, 'abc123');
    assert.not.ok(existsSync(`${ctx.db}.mlbridge.lock`));
    assert.is((await rejects(forceUnlock(w, 'abc123'))).code, 'LOCK_NOT_FOUND');
  } finally {
    await w.close();
  }
  assert.not.ok(existsSync(ctx.db), 'locking never opened the database');
});

Suite('a lock left by a process that died on this host is taken over, and the apply says so', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const pid = deadPid();
  writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(localHolder(pid)));
  const events: EngineEvent[] = [];
  const r = await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { onEvent: (e) => events.push(e) }));
  assert.ok(r.applied);
  assert.equal(events.slice(0, 2), [
    { type: 'lock-takeover', holder: { id: 'dead01', pid, host: hostname(), since: '2026-11-23T10:00:00.000Z' } },
    { type: 'lock-acquired', id: (events[1] as { id: string }).id },
  ]);
  assert.not.ok(existsSync(`${ctx.db}.mlbridge.lock`));
});

Suite('a holder alive on this host, in another pid namespace, or on another host keeps its lock', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const dead = deadPid();
  for (const h of [
    localHolder(process.ppid),
    { ...localHolder(dead), pidNamespace: 'pid:[1]' },
    { ...localHolder(dead), host: 'build-7' },
  ]) {
    writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(h));
    const err = await rejects(withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {})));
    assert.is(err.code, 'LOCK_HELD');
    assert.equal(err.details, { lockId: 'dead01', holder: h });
  }
  assert.not.ok(existsSync(ctx.db), 'nothing was applied');
});

Suite('an empty lock file is LOCK_HELD naming the file as unreadable', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  writeFileSync(`${ctx.db}.mlbridge.lock`, '');
  const err = await rejects(withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {})));
  const why = `the lock file ${ctx.db}.mlbridge.lock is empty or unreadable (an apply was killed while taking the lock, or the disk was full)`;
  assert.is(err.message, `Error acquiring the state lock: ${why}`);
  assert.is(err.details?.lockId, 'unreadable');
  assert.is(err.details?.unreadable, why);
});

Suite('a full disk while writing the lock leaves no lock file behind', async () => {
  const file = `${ctx.db}.mlbridge.lock`;
  const full = new FileLock(file, undefined, async () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  });
  const err = await rejects(full.tryAcquire(holder()));
  assert.is(err.code, 'TARGET_ERROR');
  assert.is(err.message, `Cannot write the lock file ${file} (the lock was not taken): ENOSPC: no space left on device, write`);
  assert.not.ok(existsSync(file));
  assert.equal(await new FileLock(file).tryAcquire(holder()), { acquired: true });
});

Suite('a release that fails after every change succeeded is a warning event, and the apply counts as applied', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const events: EngineEvent[] = [];
  const r = await withWarehouse(s, false, (real) => apply(s, { warehouse: lockReleaseFails(real, 'EIO: i/o error, unlink') }, { onEvent: (e) => events.push(e) }));
  assert.ok(r.applied);
  assert.equal(r.summary, { add: 6, change: 0, destroy: 0 });
  const lockId = (events.find((e) => e.type === 'lock-acquired') as { id: string }).id;
  assert.equal(events.slice(-2).map((e) => e.type), ['apply-done', 'lock-release-failed']);
  assert.equal(events.at(-1), { type: 'lock-release-failed', id: lockId, message: 'EIO: i/o error, unlink' });
});

Suite('an aborted signal stops apply between changes, releases the lock and says how far it got; apply again converges', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  const stop = new AbortController();
  const events: EngineEvent[] = [];
  const err = await rejects(
    withWarehouse(s, false, (warehouse) =>
      apply(s, { warehouse }, {
        signal: stop.signal,
        onEvent: (e) => {
          events.push(e);
          // The signal comes while the second change runs: it finishes, the third never starts.
          if (e.type === 'change-start' && events.filter((x) => x.type === 'change-start').length === 2) stop.abort('SIGTERM');
        },
      }),
    ),
  );
  assert.is(err.code, 'INTERRUPTED');
  assert.is(err.message, 'Interrupted: 2 of 6 changes applied; run apply again');
  assert.equal(err.details, { done: 2, total: 6, signal: 'SIGTERM' });
  assert.equal(events.at(-1), { type: 'interrupted', done: 2, total: 6 });
  assert.equal(events.filter((e) => e.type === 'change-done').length, 2);
  assert.not.ok(existsSync(`${ctx.db}.mlbridge.lock`));
  const again = await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {}));
  assert.equal(again.summary, { add: 4, change: 0, destroy: 0 });
  assert.equal((await withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }))).summary, { add: 0, change: 0, destroy: 0 });
});

Suite('an interrupt while waiting for the lock stops the wait and applies nothing', async () => {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  writeFileSync(`${ctx.db}.mlbridge.lock`, JSON.stringify(holder()));
  const stop = new AbortController();
  const w = await openWarehouse(s.target, { readOnly: false });
  try {
    const err = await rejects(acquireLock(w, { operation: 'apply', timeoutMs: 60_000, signal: stop.signal, sleep: async () => stop.abort('SIGINT') }));
    assert.is(err.code, 'INTERRUPTED');
    assert.is(err.message, 'Interrupted before any change was applied; run apply again');
  } finally {
    await w.close();
  }
});

Suite.run();
