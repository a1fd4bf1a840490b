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
