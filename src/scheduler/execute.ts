// Carries out one planned SchedulerJobChange. It executes the change's own data (after /
// before / updateMask / stateChange), never its reasons, so a saved plan applies exactly
// what it showed.

import { MlbridgeError } from '../model/errors.js';
import type { SchedulerClientLike, SchedulerJobChange, SchedulerJobSpec } from './types.js';

function need(job: SchedulerJobSpec | null, change: SchedulerJobChange, which: 'before' | 'after'): SchedulerJobSpec {
  if (!job) {
    throw new MlbridgeError('PLAN_INVALID', `${change.address}: a ${change.action} change needs a "${which}" job`, { resource: change.address });
  }
  return job;
}

async function createThenMaybePause(job: SchedulerJobSpec, change: SchedulerJobChange, client: SchedulerClientLike): Promise<void> {
  await client.createJob(job);
  // Jobs are always created ENABLED; a paused one is paused right after.
  if (change.stateChange === 'pause' || job.state === 'PAUSED') await client.pauseJob(job.project, job.region, job.name);
}

export async function executeSchedulerJobChange(change: SchedulerJobChange, client: SchedulerClientLike): Promise<void> {
  switch (change.action) {
    case 'no-op':
      return;
    case 'create':
      await createThenMaybePause(need(change.after, change, 'after'), change, client);
      return;
    case 'update': {
      const after = need(change.after, change, 'after');
      const mask = change.updateMask ?? [];
      if (mask.length) await client.updateJob(after, mask);
      if (change.stateChange === 'pause') await client.pauseJob(after.project, after.region, after.name);
      if (change.stateChange === 'resume') await client.resumeJob(after.project, after.region, after.name);
      return;
    }
    case 'delete': {
      const before = need(change.before, change, 'before');
      await client.deleteJob(before.project, before.region, before.name);
      return;
    }
    case 'replace': {
      // The new job lives at a different resource name, so it is created first: a failure
      // leaves the old job running rather than none.
      const before = need(change.before, change, 'before');
      await createThenMaybePause(need(change.after, change, 'after'), change, client);
      await client.deleteJob(before.project, before.region, before.name);
      return;
    }
  }
}
