// idleRelease: when serve lets go of the target, on fake timers and a fake warehouse queue.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { idleRelease, type IdleTimers } from '../../src/server/idle-release.js';

/** Timers fired by the test; the pending one and what each release decided. */
function fakes() {
  let pending: { fn: () => void; ms: number } | undefined;
  const timers: IdleTimers = {
    setTimeout: (fn, ms) => (pending = { fn, ms }),
    clearTimeout: (t) => {
      if (t === pending) pending = undefined;
    },
  };
  const log: string[] = [];
  /** What a queued release does when its turn comes; the test may hold it (a busy warehouse queue). */
  let gate: Promise<void> = Promise.resolve();
  const release = async (stillIdle: () => boolean) => {
    await gate;
    log.push(stillIdle() ? 'closed' : 'skipped');
  };
  return {
    timers,
    log,
    release,
    pending: () => pending,
    fire: () => {
      const p = pending!;
      pending = undefined;
      p.fn();
    },
    holdQueue: () => {
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      return () => open();
    },
  };
}

const failOnError = (e: unknown) => assert.unreachable(String(e));
const tick = () => new Promise((r) => setImmediate(r));

const Idle = suite('serve releasing the target when idle');

Idle('the release is scheduled after the last operation ends, not while one runs', async () => {
  const f = fakes();
  const idle = idleRelease(f.release, 2000, failOnError, f.timers);
  let finish!: () => void;
  const first = idle.run(() => new Promise<void>((r) => (finish = r)));
  const second = idle.run(async () => 'done');
  assert.is(await second, 'done');
  assert.is(f.pending(), undefined, 'no release while the first operation runs');
  finish();
  await first;
  assert.is(f.pending()?.ms, 2000);
  f.fire();
  await tick();
  assert.equal(f.log, ['closed']);
});

Idle('new work before the idle period ends cancels the release', async () => {
  const f = fakes();
  const idle = idleRelease(f.release, 2000, failOnError, f.timers);
  await idle.run(async () => undefined);
  const timer = f.pending();
  assert.ok(timer);
  let finish!: () => void;
  const running = idle.run(() => new Promise<void>((r) => (finish = r)));
  assert.is(f.pending(), undefined, 'the timer was cleared');
  await tick();
  finish();
  await running;
  assert.ok(f.pending() && f.pending() !== timer, 'a new idle period starts');
  assert.equal(f.log, []);
});

Idle('work that arrives while a release waits in the warehouse queue keeps the target open and runs after it', async () => {
  const f = fakes();
  const idle = idleRelease(f.release, 2000, failOnError, f.timers);
  await idle.run(async () => undefined);
  const openQueue = f.holdQueue();
  f.fire(); // the release is queued behind work the warehouse still runs
  const order: string[] = [];
  const work = idle.run(async () => void order.push(`work after: ${f.log.join(',')}`));
  await tick();
  assert.equal(order, [], 'the work waits for the release that began');
  openQueue();
  await work;
  assert.equal(f.log, ['skipped']);
  assert.equal(order, ['work after: skipped']);
});

Idle('0 never releases, and stop() cancels a pending release', async () => {
  const f = fakes();
  await idleRelease(f.release, 0, failOnError, f.timers).run(async () => undefined);
  assert.is(f.pending(), undefined);
  const idle = idleRelease(f.release, 2000, failOnError, f.timers);
  await idle.run(async () => undefined);
  idle.stop();
  assert.is(f.pending(), undefined);
});

Idle('a failed release is reported and the next operation still runs', async () => {
  const f = fakes();
  const errors: string[] = [];
  const idle = idleRelease(async () => Promise.reject(new Error('close failed')), 2000, (e) => errors.push((e as Error).message), f.timers);
  await idle.run(async () => undefined);
  f.fire();
  assert.is(await idle.run(async () => 'ran'), 'ran');
  assert.equal(errors, ['close failed']);
});

Idle.run();
