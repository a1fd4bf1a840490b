// openWhenFree: how an open waits for a DuckDB file another process holds, on a fake clock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openWhenFree, type BusyWait } from '../../src/warehouse/duckdb-busy-wait.js';
import { MlbridgeError } from '../../src/model/errors.js';

const HOLDER = { process: '/usr/bin/node', pid: 42 };

const busy = () =>
  new MlbridgeError('TARGET_BUSY', 'The DuckDB file /w/wh.duckdb is in use by another process (/usr/bin/node, PID 42); try again later', {
    resource: 'duckdb:/w/wh.duckdb',
    details: { path: '/w/wh.duckdb', holder: HOLDER },
  });

/** A clock that moves only when the wait sleeps; an open that is busy `times` times, then opens. */
function fakes(times: number) {
  let now = 0;
  const sleeps: number[] = [];
  const waits: BusyWait[] = [];
  let tries = 0;
  return {
    sleeps,
    waits,
    tries: () => tries,
    open: async () => {
      tries++;
      if (tries <= times) throw busy();
      return 'connection';
    },
    options: (busyTimeoutMs: number) => ({
      busyTimeoutMs,
      onBusyWait: (w: BusyWait) => waits.push(w),
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    }),
  };
}

const Wait = suite('opening a DuckDB file another process holds');

Wait('without a timeout the busy error is thrown at once, nothing is reported', async () => {
  const f = fakes(1);
  const err = await openWhenFree(f.open, f.options(0)).catch((e: unknown) => e);
  assert.equal([(err as MlbridgeError).message, f.tries(), f.sleeps, f.waits], [busy().message, 1, [], []]);
});

Wait('retries from 100 ms doubling to 2 s, reporting the holder once, until the file is free', async () => {
  const f = fakes(8);
  assert.is(await openWhenFree(f.open, f.options(60_000)), 'connection');
  assert.equal(f.sleeps, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  assert.equal(f.waits, [{ path: '/w/wh.duckdb', holder: HOLDER }]);
});

Wait('gives up at the timeout with the busy text and how long it waited', async () => {
  const f = fakes(Infinity);
  const err = (await openWhenFree(f.open, f.options(1000)).catch((e: unknown) => e)) as MlbridgeError;
  assert.equal(f.sleeps, [100, 200, 400, 300]);
  assert.equal(
    [err.code, err.message, err.resource, err.details],
    ['TARGET_BUSY', `${busy().message} (waited 1s for it)`, 'duckdb:/w/wh.duckdb', { path: '/w/wh.duckdb', holder: HOLDER, waitedMs: 1000 }],
  );
});

Wait('any other failure is thrown at once, without waiting', async () => {
  let tries = 0;
  const broken = async () => {
    tries++;
    throw new MlbridgeError('TARGET_ERROR', 'Cannot open the DuckDB file /w/wh.duckdb: not a database');
  };
  const err = (await openWhenFree(broken, { busyTimeoutMs: 60_000, sleep: async () => assert.unreachable('slept') }).catch((e: unknown) => e)) as MlbridgeError;
  assert.equal([err.code, tries], ['TARGET_ERROR', 1]);
});

Wait.run();
