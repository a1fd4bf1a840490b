// Acceptance: create → change the cron → pause → resume → remove from the spec. Each step's
// change shows exactly that change, and executing it makes it (checked in the fake's store).
// Once through diff/execute directly, once through the engine's createPlan/apply.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCORING } from '../../src/spec/defaults.js';
import type { ReconcileSpec, Spec } from '../../src/spec/types.js';
import type { SchedulerJobChange } from '../../src/engine/plan.js';
import { desiredSchedulerJob } from '../../src/scheduler/desired.js';
import { diffSchedulerJob } from '../../src/scheduler/diff.js';
import { executeSchedulerJobChange } from '../../src/scheduler/execute.js';
import { openScheduler } from '../../src/scheduler/open.js';
import type { SchedulerClientLike } from '../../src/scheduler/types.js';
import { startSchedulerFake, type FakeJob, type SchedulerFake } from '../support/scheduler-fake.js';

function reconcile(overrides: Partial<ReconcileSpec> = {}): ReconcileSpec {
  return {
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    url: 'https://mlbridge-xyz.a.run.app/reconcile',
    serviceAccount: 'mlbridge@proj-1.iam.gserviceaccount.com',
    jobName: 'mlbridge-reconcile',
    project: 'proj-1',
    paused: false,
    attemptDeadlineSeconds: 300,
    retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
    ...overrides,
  };
}

function spec(dbPath: string, r?: ReconcileSpec): Spec {
  return {
    version: 1,
    target: { kind: 'duckdb', path: dbPath, dataset: 'analytics' },
    mappings: [],
    scoring: DEFAULT_SCORING,
    files: [],
    ...(r ? { reconcile: r } : {}),
  };
}

/** The steps of the acceptance sequence: the reconcile block, and what the plan must show. */
const STEPS: Array<{
  step: string;
  reconcile?: ReconcileSpec;
  action: SchedulerJobChange['action'];
  updateMask?: string[];
  stateChange?: 'pause' | 'resume';
  stored: (j: FakeJob | undefined) => void;
}> = [
  {
    step: 'create',
    reconcile: reconcile(),
    action: 'create',
    stored: (j) => {
      assert.ok(j, 'job created');
      assert.is(j!.schedule, '*/30 * * * *');
      assert.is(j!.state, 'ENABLED');
      assert.equal(j!.httpTarget!.oidcToken, { serviceAccountEmail: 'mlbridge@proj-1.iam.gserviceaccount.com', audience: 'https://mlbridge-xyz.a.run.app/reconcile' });
      assert.is(j!.attemptDeadline, '300s');
      assert.is(j!.retryConfig.retryCount, 3);
      assert.is(j!.description, 'mlbridge drift reconciliation of dataset analytics [managed-by=mlbridge]');
    },
  },
  {
    step: 'change the cron',
    reconcile: reconcile({ schedule: '0 * * * *' }),
    action: 'update',
    updateMask: ['schedule'],
    stored: (j) => {
      assert.is(j!.schedule, '0 * * * *');
      assert.is(j!.state, 'ENABLED');
    },
  },
  {
    step: 'pause',
    reconcile: reconcile({ schedule: '0 * * * *', paused: true }),
    action: 'update',
    updateMask: [],
    stateChange: 'pause',
    stored: (j) => {
      assert.is(j!.state, 'PAUSED');
      assert.is(j!.schedule, '0 * * * *');
    },
  },
  {
    step: 'resume',
    reconcile: reconcile({ schedule: '0 * * * *', paused: false }),
    action: 'update',
    updateMask: [],
    stateChange: 'resume',
    stored: (j) => assert.is(j!.state, 'ENABLED'),
  },
  {
    step: 'remove from the spec',
    action: 'delete',
    stored: (j) => assert.is(j, undefined),
  },
];

interface Ctx {
  fake: SchedulerFake;
  client: SchedulerClientLike;
  dir: string;
}

async function setUp(ctx: Ctx): Promise<void> {
  ctx.fake = await startSchedulerFake();
  ctx.client = await openScheduler({ env: { CLOUD_SCHEDULER_EMULATOR_HOST: ctx.fake.host }, sleep: async () => {} });
  ctx.dir = mkdtempSync(join(tmpdir(), 'mlbridge-scheduler-'));
}

async function tearDown(ctx: Ctx): Promise<void> {
  await ctx.client.close();
  await ctx.fake.stop();
  rmSync(ctx.dir, { recursive: true, force: true });
}

function checkChange(c: SchedulerJobChange | undefined, s: (typeof STEPS)[number]): void {
  assert.ok(c, `${s.step}: a scheduler_job change`);
  assert.is(c!.address, 'cloud_scheduler_job.mlbridge-reconcile', s.step);
  assert.is(c!.action, s.action, s.step);
  assert.equal(c!.updateMask, s.updateMask, `${s.step}: updateMask`);
  assert.is(c!.stateChange, s.stateChange, `${s.step}: stateChange`);
}

// ---------------------------------------------------------------------------------------

const Direct = suite<Ctx>('reconcile job lifecycle through diff and execute');
Direct.before.each(setUp);
Direct.after.each(tearDown);

Direct('create → change the cron → pause → resume → remove: each diff is exactly that change and executing makes it', async (ctx) => {
  const where = { project: 'proj-1', region: 'us-central1', name: 'mlbridge-reconcile' };
  for (const s of STEPS) {
    const desired = desiredSchedulerJob(spec(join(ctx.dir, 'w.duckdb'), s.reconcile));
    const observed = await ctx.client.getJob(where.project, where.region, where.name);
    const change = diffSchedulerJob(desired, observed);
    checkChange(change, s);
    await executeSchedulerJobChange(change, ctx.client);
    s.stored(ctx.fake.job(where.project, where.region, where.name));
    // Applied: the same spec now diffs to nothing.
    const again = diffSchedulerJob(desired, await ctx.client.getJob(where.project, where.region, where.name));
    assert.is(again.action, 'no-op', `${s.step}: converged`);
  }
  // Exactly the calls each step needed, in order.
  assert.equal(
    ctx.fake.calls.filter((c) => c.method !== 'jobs.get').map((c) => c.method),
    ['jobs.create', 'jobs.patch', 'jobs.pause', 'jobs.resume', 'jobs.delete'],
  );
});

Direct('a description too long for Cloud Scheduler is shortened so the ownership marker still fits, and the job stays owned', async (ctx) => {
  const where = { project: 'proj-1', region: 'us-central1', name: 'mlbridge-reconcile' };
  const long = `Nightly reconcile ${'of the analytics dataset '.repeat(30)}`.trim();
  const desired = desiredSchedulerJob(spec(join(ctx.dir, 'w.duckdb'), reconcile({ description: long })))!;
  assert.is([...desired.description!].length, 500);
  assert.ok(desired.description!.endsWith('… [managed-by=mlbridge]'), desired.description!.slice(-40));
  assert.ok(desired.description!.startsWith('Nightly reconcile of the analytics dataset'));
  await executeSchedulerJobChange(diffSchedulerJob(desired, null), ctx.client);
  const observed = await ctx.client.getJob(where.project, where.region, where.name);
  assert.is(observed!.owned, true);
  assert.is(diffSchedulerJob(desired, observed).action, 'no-op');
  // What the fake (like Cloud Scheduler) refuses: the same text with the marker appended whole.
  const refused = await ctx.client.createJob({ ...desired, name: 'too-long', description: `${long} [managed-by=mlbridge]` }).then(() => 'created', (e: Error) => e.message);
  assert.match(refused, /Description must be at most 500 characters, got 7\d\d/);
});

Direct('a region change replaces the job: the new one is created before the old one is deleted', async (ctx) => {
  const first = desiredSchedulerJob(spec(join(ctx.dir, 'w.duckdb'), reconcile()))!;
  await executeSchedulerJobChange(diffSchedulerJob(first, null), ctx.client);
  const moved = desiredSchedulerJob(spec(join(ctx.dir, 'w.duckdb'), reconcile({ region: 'europe-west1', paused: true })))!;
  const old = await ctx.client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  const change = diffSchedulerJob(moved, old);
  assert.is(change.action, 'replace');
  await executeSchedulerJobChange(change, ctx.client);
  assert.equal(ctx.fake.jobs().map((j) => [j.name, j.state]), [['projects/proj-1/locations/europe-west1/jobs/mlbridge-reconcile', 'PAUSED']]);
  assert.equal(
    ctx.fake.calls.filter((c) => c.method !== 'jobs.get').map((c) => `${c.method} ${c.path}`),
    [
      'jobs.create /v1/projects/proj-1/locations/us-central1/jobs',
      'jobs.create /v1/projects/proj-1/locations/europe-west1/jobs',
      'jobs.pause /v1/projects/proj-1/locations/europe-west1/jobs/mlbridge-reconcile:pause',
      'jobs.delete /v1/projects/proj-1/locations/us-central1/jobs/mlbridge-reconcile',
    ],
  );
});

Direct('removing the block leaves a job mlbridge does not own alone', async (ctx) => {
  ctx.fake.put({
    name: 'projects/proj-1/locations/us-central1/jobs/mlbridge-reconcile',
    schedule: '0 0 * * *',
    description: 'made by hand',
    httpTarget: { uri: 'https://x.example/', httpMethod: 'POST' },
  });
  const change = diffSchedulerJob(null, await ctx.client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile'));
  assert.is(change.action, 'no-op');
  await executeSchedulerJobChange(change, ctx.client);
  assert.is(ctx.fake.jobs().length, 1);
});

Direct.run();

// ---------------------------------------------------------------------------------------

const Engine = suite<Ctx>('reconcile job lifecycle through createPlan / apply on a DuckDB target');
Engine.before.each(setUp);
Engine.after.each(tearDown);

Engine('each plan shows exactly the scheduler change and apply makes it', async (ctx) => {
  const { createPlan, apply } = await import('../../src/engine/index.js');
  const { openWarehouse } = await import('../../src/warehouse/open.js');
  const db = join(ctx.dir, 'w.duckdb');
  // With the reconcile block gone, the job's project comes from the environment, as on Cloud Run.
  const savedProject = process.env['GOOGLE_CLOUD_PROJECT'];
  process.env['GOOGLE_CLOUD_PROJECT'] = 'proj-1';
  try {
    for (const s of STEPS) {
      const sp = spec(db, s.reconcile);
      const wh = await openWarehouse(sp.target, { readOnly: false });
      try {
        const deps = { warehouse: wh, scheduler: ctx.client };
        const plan = await createPlan(sp, deps);
        const jobChanges = plan.changes.filter((c) => c.type === 'scheduler_job') as SchedulerJobChange[];
        assert.is(jobChanges.length, 1, `${s.step}: one scheduler_job change`);
        checkChange(jobChanges[0], s);
        // No --allow-destructive: deleting a job loses no data.
        const result = await apply(sp, deps, {});
        assert.ok(result.applied, `${s.step}: applied`);
        s.stored(ctx.fake.job('proj-1', 'us-central1', 'mlbridge-reconcile'));
        const again = await createPlan(sp, deps);
        assert.equal(
          again.changes.filter((c) => c.type === 'scheduler_job' && c.action !== 'no-op').map((c) => c.address),
          [],
          `${s.step}: converged`,
        );
      } finally {
        await wh.close();
      }
    }
  } finally {
    if (savedProject === undefined) delete process.env['GOOGLE_CLOUD_PROJECT'];
    else process.env['GOOGLE_CLOUD_PROJECT'] = savedProject;
  }
});

Engine.run();
