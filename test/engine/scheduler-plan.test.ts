import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { apply, createPlan } from '../../src/engine/index.js';
import { isOwnedDescription } from '../../src/scheduler/desired.js';
import type { ObservedSchedulerJob, SchedulerClientLike, SchedulerJobSpec } from '../../src/scheduler/types.js';
import type { ReconcileSpec, Spec } from '../../src/spec/types.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';

const Suite = suite('planning and applying the Cloud Scheduler job alongside tables');

let ctx: ReturnType<typeof tempDir>;
Suite.before.each(() => {
  ctx = tempDir('mlbridge-sched-');
});
Suite.after.each(() => ctx.cleanup());

/** An in-memory scheduler: enough to see which calls the engine makes. */
function memoryScheduler() {
  const jobs = new Map<string, SchedulerJobSpec>();
  const calls: string[] = [];
  const key = (p: string, r: string, n: string) => `${p}/${r}/${n}`;
  const observe = (j: SchedulerJobSpec): ObservedSchedulerJob => ({
    ...structuredClone(j),
    owned: isOwnedDescription(j.description),
    etag: createHash('sha256').update(JSON.stringify(j)).digest('hex'),
  });
  const client: SchedulerClientLike = {
    async getJob(p, r, n) {
      const j = jobs.get(key(p, r, n));
      return j ? observe(j) : null;
    },
    async listOwnedJobs(p, r) {
      return [...jobs.values()].filter((j) => j.project === p && j.region === r && isOwnedDescription(j.description)).map(observe);
    },
    async createJob(j) {
      calls.push(`create ${j.name}`);
      jobs.set(key(j.project, j.region, j.name), { ...structuredClone(j), state: 'ENABLED' });
    },
    async updateJob(j, mask) {
      calls.push(`update ${j.name} ${mask.join(',')}`);
      const cur = jobs.get(key(j.project, j.region, j.name))!;
      jobs.set(key(j.project, j.region, j.name), { ...structuredClone(j), state: cur.state });
    },
    async pauseJob(p, r, n) {
      calls.push(`pause ${n}`);
      jobs.get(key(p, r, n))!.state = 'PAUSED';
    },
    async resumeJob(p, r, n) {
      calls.push(`resume ${n}`);
      jobs.get(key(p, r, n))!.state = 'ENABLED';
    },
    async deleteJob(p, r, n) {
      calls.push(`delete ${n}`);
      jobs.delete(key(p, r, n));
    },
    async close() {},
  };
  return { client, calls, jobs };
}

const reconcile = (over: Partial<ReconcileSpec> = {}): ReconcileSpec => ({
  schedule: '*/30 * * * *',
  timeZone: 'Etc/UTC',
  url: 'https://mlbridge.example/reconcile',
  jobName: 'mlbridge-reconcile',
  project: 'proj',
  paused: false,
  attemptDeadlineSeconds: 180,
  retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
  ...over,
});

const run = withWarehouse;

Suite('the job is created after the tables, converges, and is deleted when the reconcile block goes', async () => {
  const sched = memoryScheduler();
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { reconcile: reconcile() });
  const p = await run(s, true, (warehouse) => createPlan(s, { warehouse, scheduler: sched.client }));
  assert.equal(p.summary, { add: 7, change: 0, destroy: 0 });
  assert.equal(p.fingerprints['cloud_scheduler_job.mlbridge-reconcile'], 'absent');
  const order: string[] = [];
  await run(s, false, (warehouse) =>
    apply(s, { warehouse, scheduler: sched.client }, { onEvent: (e) => e.type === 'change-start' && order.push(e.changeType) }),
  );
  assert.equal(order, ['dataset', 'table', 'table', 'table', 'table', 'table', 'scheduler_job']);
  assert.equal(sched.calls, ['create mlbridge-reconcile']);
  const again = await run(s, true, (warehouse) => createPlan(s, { warehouse, scheduler: sched.client }));
  assert.equal(again.summary, { add: 0, change: 0, destroy: 0 });

  // Without a reconcile block the engine looks where a job would default to (here the
  // datastore source's project, us-central1) and deletes the owned job it finds.
  const noJob = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { source: { kind: 'datastore', project: 'proj' } });
  const gone = await run(noJob, true, (warehouse) => createPlan(noJob, { warehouse, scheduler: sched.client }));
  assert.equal(
    gone.changes.filter((c) => c.action !== 'no-op').map((c) => `${c.action} ${c.address}`),
    ['delete cloud_scheduler_job.mlbridge-reconcile'],
  );
  await run(noJob, false, (warehouse) => apply(noJob, { warehouse, scheduler: sched.client }, {}));
  assert.equal(sched.calls, ['create mlbridge-reconcile', 'delete mlbridge-reconcile']);
});

Suite('a renamed job: the new one is created and the old owned one deleted', async () => {
  const sched = memoryScheduler();
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { reconcile: reconcile() });
  await run(s, false, (warehouse) => apply(s, { warehouse, scheduler: sched.client }, {}));
  const s2 = { ...s, reconcile: reconcile({ jobName: 'nightly' }) };
  const p = await run(s2, true, (warehouse) => createPlan(s2, { warehouse, scheduler: sched.client }));
  assert.equal(
    p.changes.filter((c) => c.type === 'scheduler_job').map((c) => `${c.action} ${c.address}`),
    ['create cloud_scheduler_job.nightly', 'delete cloud_scheduler_job.mlbridge-reconcile'],
  );
  await run(s2, false, (warehouse) => apply(s2, { warehouse, scheduler: sched.client }, {}));
  assert.equal(sched.calls.slice(1), ['create nightly', 'delete mlbridge-reconcile']);
  assert.equal([...sched.jobs.values()].map((j) => j.name), ['nightly']);
});

Suite('an owned job of another target in the same project and region is left alone', async () => {
  const sched = memoryScheduler();
  const other = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { reconcile: reconcile({ jobName: 'other-team' }) });
  const otherTarget = { ...other, target: { ...other.target, dataset: 'other_dataset' } } as Spec;
  await run(otherTarget, false, (warehouse) => apply(otherTarget, { warehouse, scheduler: sched.client }, {}));
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { reconcile: reconcile() });
  const p = await run(s, true, (warehouse) => createPlan(s, { warehouse, scheduler: sched.client }));
  assert.equal(
    p.changes.filter((c) => c.type === 'scheduler_job').map((c) => `${c.action} ${c.address}`),
    ['create cloud_scheduler_job.mlbridge-reconcile'],
  );
});

Suite('a job of the same name that mlbridge does not own is left alone, with a warning in the plan', async () => {
  const sched = memoryScheduler();
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])], { reconcile: reconcile() });
  const theirs = (await import('../../src/scheduler/desired.js')).desiredSchedulerJob(s)!;
  sched.jobs.set(`proj/${theirs.region}/mlbridge-reconcile`, { ...theirs, description: 'hand-made' });
  const p = await run(s, true, (warehouse) => createPlan(s, { warehouse, scheduler: sched.client }));
  assert.equal(p.changes.filter((c) => c.type === 'scheduler_job').map((c) => c.action), ['no-op']);
  assert.equal(
    p.diagnostics.map((d) => `${d.severity}: ${d.summary}`),
    [
      'warning: cloud_scheduler_job.mlbridge-reconcile: a job named mlbridge-reconcile exists in projects/proj/locations/us-central1 ' +
        'but is not managed by mlbridge (no [managed-by=mlbridge] in its description); left alone: choose another reconcile.job_name, or add the marker to adopt it',
    ],
  );
});

Suite.run();
