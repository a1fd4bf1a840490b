// cloud_scheduler_job.<project>.<region>.<name>: the job that calls `/reconcile` (spec
// `reconcile:`). Planned only when a Cloud Scheduler client was given: the spec's job
// against the one observed, plus a delete for each job of this deployment the spec no
// longer declares (renamed job, removed reconcile block).

import { warningDiag, type Diagnostic } from '../../model/diagnostic.js';
import { MlbridgeError } from '../../model/errors.js';
import { desiredSchedulerJob, jobTargetKey, reconcileTargetKey, schedulerScope } from '../../scheduler/desired.js';
import { diffSchedulerJob } from '../../scheduler/diff.js';
import { executeSchedulerJobChange } from '../../scheduler/execute.js';
import type { SchedulerJobChange } from '../../scheduler/types.js';
import type { ChangeModule } from '../context.js';

export const schedulerJobChanges: ChangeModule<'scheduler_job'> = {
  type: 'scheduler_job',
  async plan(ctx) {
    const changes: SchedulerJobChange[] = [];
    const fingerprints: Record<string, string> = {};
    const diagnostics: Diagnostic[] = [];
    const client = ctx.scheduler;
    if (!client) return { changes, fingerprints, diagnostics };
    const spec = ctx.spec;
    const job = desiredSchedulerJob(spec);
    if (job) {
      const current = await ctx.observe(`scheduler job ${job.name}`, () => client.getJob(job.project, job.region, job.name));
      // diffSchedulerJob leaves an unowned job alone (a no-op with the reason).
      const main = diffSchedulerJob(job, current);
      fingerprints[main.address] = current?.etag ?? 'absent';
      changes.push(main);
      // A job the spec asks for that mlbridge may not touch: say so, or it would never run.
      const notOwned = main.action === 'no-op' ? main.reasons.find((r) => r.rule === 'job-not-owned') : undefined;
      if (notOwned) diagnostics.push(warningDiag(`${main.address}: ${notOwned.message}`, spec.reconcile?.source));
    }
    // Owned jobs the spec no longer declares (renamed job, removed reconcile block) are deleted.
    const scope = job ? { project: job.project, region: job.region } : schedulerScope(spec);
    if (!scope) return { changes, fingerprints, diagnostics };
    const owned = await ctx.observe(`scheduler jobs in ${scope.region}`, () => client.listOwnedJobs(scope.project, scope.region));
    const ours = reconcileTargetKey(spec);
    for (const o of owned) {
      if (job && o.name === job.name) continue;
      // Another deployment's job (or one whose target we cannot tell) is not ours to delete.
      if (jobTargetKey(o.body) !== ours) continue;
      const del = diffSchedulerJob(null, o);
      fingerprints[del.address] = o.etag;
      changes.push(del);
    }
    return { changes, fingerprints, diagnostics };
  },
  async execute(change, { scheduler }) {
    if (change.action === 'no-op') return;
    if (!scheduler) {
      throw new MlbridgeError('SCHEDULER_ERROR', `${change.address}: no Cloud Scheduler client was configured to apply this change`, {
        resource: change.address,
      });
    }
    await executeSchedulerJobChange(change, scheduler);
  },
};
