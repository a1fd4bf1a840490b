// The BigQuery lock table when its holder died: taken over on the holder's host, kept elsewhere.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { EngineEvent } from '../../src/engine/events.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import { field, mapping } from '../engine/fixtures/factories.js';
import { helpers, rejects, type ScenarioTarget } from '../live/bigquery-scenarios.js';
import { startBigQueryFake, type BigQueryFake } from '../support/bigquery-fake.js';

// ---- factories ----

const pidNamespace = (): Record<string, string> => {
  try {
    return { pidNamespace: readlinkSync('/proc/self/ns/pid') };
  } catch {
    return {};
  }
};
const deadHolder = (over: Record<string, unknown> = {}) => ({
  id: 'dead01',
  pid: spawnSync(process.execPath, ['-e', '']).pid!,
  host: hostname(),
  since: '2026-11-23T10:00:00.000Z',
  operation: 'apply',
  who: 'ci',
  ...pidNamespace(),
  ...over,
});

const Lock = suite('the BigQuery lock table of a dead apply');
let fake: BigQueryFake;
const savedHost = process.env.BIGQUERY_EMULATOR_HOST;
Lock.before.each(async () => {
  fake = await startBigQueryFake({ project: 'proj-1' });
  process.env.BIGQUERY_EMULATOR_HOST = fake.endpoint;
});
Lock.after.each(async () => {
  await fake.stop();
  if (savedHost === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
  else process.env.BIGQUERY_EMULATOR_HOST = savedHost;
});

const target = (): ScenarioTarget => ({
  project: 'proj-1',
  dataset: 'analytics',
  location: 'US',
  open: (readOnly) => openWarehouse({ kind: 'bigquery', project: 'proj-1', dataset: 'analytics', location: 'US' }, { readOnly }),
});
const h = helpers(target);
const customers = (extra: ReturnType<typeof field>[] = []) => h.bq([mapping('Customer', [field('email', 'STRING'), ...extra])]);

Lock('a lock table left by a dead process on this host is taken over, and apply proceeds', async () => {
  await h.applySpec(customers());
  const holder = deadHolder();
  await h.withWarehouse(false, (w) => w.lock().tryAcquire(holder));
  const events: EngineEvent[] = [];
  const r = await h.applySpec(customers([field('city', 'STRING')]), { onEvent: (e) => events.push(e) });
  assert.ok(r.applied);
  assert.equal(events[0], { type: 'lock-takeover', holder: { id: 'dead01', pid: holder.pid, host: hostname(), since: '2026-11-23T10:00:00.000Z' } });
  assert.is(await h.withWarehouse(true, (w) => w.lock().current()), null, 'released after the apply');
});

Lock('the same dead pid recorded on another host keeps the lock', async () => {
  await h.applySpec(customers());
  await h.withWarehouse(false, (w) => w.lock().tryAcquire(deadHolder({ host: 'build-7' })));
  const err = await rejects(h.applySpec(customers([field('city', 'STRING')])));
  assert.is(err.code, 'LOCK_HELD');
  assert.is(err.details?.lockId, 'dead01');
});

Lock.run();
