// Live Cloud Scheduler run (npm run test:live): the acceptance sequence against a real
// project, for what the fake cannot show (IAM, real validation and error wording, nested
// update-mask paths, OIDC service-account permissions). Needs MLBRIDGE_LIVE_PROJECT and
// Application Default Credentials; optional MLBRIDGE_LIVE_REGION (default us-central1) and
// MLBRIDGE_LIVE_SERVICE_ACCOUNT (an account the caller may act as, for the OIDC token).
// Uses a uniquely named job and deletes it at the end, even on failure.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { diffSchedulerJob } from '../../src/scheduler/diff.js';
import { executeSchedulerJobChange } from '../../src/scheduler/execute.js';
import { openScheduler } from '../../src/scheduler/open.js';
import { withOwnerMarker } from '../../src/scheduler/desired.js';
import { cloudSchedulerCronProblem } from '../../src/spec/cron.js';
import type { SchedulerClientLike, SchedulerJobSpec } from '../../src/scheduler/types.js';

const project = process.env['MLBRIDGE_LIVE_PROJECT'];
const region = process.env['MLBRIDGE_LIVE_REGION'] ?? 'us-central1';
const serviceAccount = process.env['MLBRIDGE_LIVE_SERVICE_ACCOUNT'];

const Live = suite('Cloud Scheduler (live)');

if (!project) {
  process.stdout.write('scheduler live suite skipped: set MLBRIDGE_LIVE_PROJECT (and credentials) to run it\n');
  Live.skip('the reconcile job lifecycle against a real project', () => {});
} else {
  const name = `mlbridge-live-${Date.now().toString(36)}`;
  const base: SchedulerJobSpec = {
    project,
    region,
    name,
    description: withOwnerMarker('mlbridge live test job (safe to delete)'),
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    uri: 'https://example.com/mlbridge-live-reconcile',
    httpMethod: 'POST',
    ...(serviceAccount ? { oidc: { serviceAccountEmail: serviceAccount, audience: 'https://example.com' } } : {}),
    attemptDeadlineSeconds: 300,
    retry: { count: 2, minBackoffSeconds: 5, maxBackoffSeconds: 600 },
    state: 'ENABLED',
  };
  let client: SchedulerClientLike;

  Live.before(async () => {
    client = await openScheduler({ onRetry: (i) => process.stdout.write(`retry ${i.call} #${i.attempt}: ${i.error}\n`) });
  });
  Live.after(async () => {
    try {
      if (await client.getJob(project, region, name)) await client.deleteJob(project, region, name);
    } finally {
      await client.close();
    }
  });

  // Issue #11: the claims the fake makes about Cloud Scheduler's own rules.
  Live('a description past 500 characters is shortened so the ownership marker stays; the job is still ours', async () => {
    const long = { ...base, name: `${name}-long`, description: withOwnerMarker(`mlbridge live test job ${'x'.repeat(700)}`) };
    try {
      await client.createJob(long);
      const after = await client.getJob(project, region, long.name);
      assert.ok(after && [...(after.description ?? '')].length <= 500, 'Cloud Scheduler kept it: at most 500 characters');
      assert.is(diffSchedulerJob(long, after).action, 'no-op', 'recognised as owned and unchanged');
    } finally {
      if (await client.getJob(project, region, long.name)) await client.deleteJob(project, region, long.name);
    }
  });

  Live('Cloud Scheduler refuses the cron forms validate refuses, and accepts the ones it accepts', async () => {
    for (const schedule of ['0 0 L * *', '0 0 * * 1#2', '*/61 * * * *', '0 0 ? * *']) {
      assert.ok(cloudSchedulerCronProblem(schedule), `validate refuses ${schedule}`);
      const job = { ...base, name: `${name}-cron`, schedule };
      let refused = false;
      try {
        await client.createJob(job);
      } catch {
        refused = true;
      } finally {
        if (await client.getJob(project, region, job.name)) await client.deleteJob(project, region, job.name);
      }
      assert.ok(refused, `Cloud Scheduler refuses ${schedule}`);
    }
    for (const schedule of ['*/15 9-17 * * MON-FRI', '0 0 1,15 * *']) assert.is(cloudSchedulerCronProblem(schedule), undefined, `validate accepts ${schedule}`);
  });

  Live('the reconcile job lifecycle against a real project', async () => {
    const steps: Array<{ desired: SchedulerJobSpec | null; action: string; mask?: string[]; state?: 'pause' | 'resume' }> = [
      { desired: base, action: 'create' },
      { desired: { ...base, schedule: '0 * * * *' }, action: 'update', mask: ['schedule'] },
      { desired: { ...base, schedule: '0 * * * *', state: 'PAUSED' }, action: 'update', mask: [], state: 'pause' },
      { desired: { ...base, schedule: '0 * * * *' }, action: 'update', mask: [], state: 'resume' },
      { desired: null, action: 'delete' },
    ];
    for (const s of steps) {
      const change = diffSchedulerJob(s.desired, await client.getJob(project, region, name));
      assert.is(change.action, s.action);
      assert.equal(change.updateMask, s.mask);
      assert.is(change.stateChange, s.state);
      await executeSchedulerJobChange(change, client);
      const after = await client.getJob(project, region, name);
      if (s.desired) {
        assert.is(after?.schedule, s.desired.schedule);
        assert.is(after?.state, s.desired.state);
        assert.is(diffSchedulerJob(s.desired, after).action, 'no-op');
      } else {
        assert.is(after, null);
      }
    }
  });
}

Live.run();
