// Desired vs observed Cloud Scheduler job → one SchedulerJobChange. Everything but the
// job's project, region and name is patched in place (the update mask lists exactly the
// changed fields, in the API's REST field names); pause/resume are separate API calls, so
// a state change rides along as `stateChange` (alone: an update with an empty mask).
// A job in another project/region/name is replaced (create the new one, delete the old).
// Jobs without the ownership marker are never changed or deleted; an owned job serving
// another target is an error (never taken over).

import { schedulerJobAddress } from '../model/address.js';
import type { Reason } from '../model/change.js';
import { MlbridgeError } from '../model/errors.js';
import { OWNER_MARKER, jobTargetKey } from './desired.js';
import type { ObservedSchedulerJob, SchedulerJobChange, SchedulerJobSpec } from './types.js';

const DEFAULT_JOB_NAME = 'mlbridge-reconcile';

/** The plain job spec of an observation (drops owned / etag / updateTime). */
export function specOf(o: ObservedSchedulerJob): SchedulerJobSpec {
  const { owned: _owned, etag: _etag, updateTime: _updateTime, ...spec } = o;
  return spec;
}

function q(v: string | undefined): string {
  return v === undefined ? 'none' : JSON.stringify(v);
}

function secs(n: number): string {
  return `${Number.isInteger(n) ? n : Number(n.toFixed(3))}s`;
}

function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-6;
}

function oidcText(o: SchedulerJobSpec['oidc']): string {
  return o ? `${o.serviceAccountEmail} (audience ${o.audience})` : 'none';
}

function retryText(r: SchedulerJobSpec['retry']): string {
  return `count ${r.count}, backoff ${secs(r.minBackoffSeconds)}–${secs(r.maxBackoffSeconds)}`;
}

interface FieldRule {
  /** REST field path used in the update mask. */
  mask: string;
  same: (d: SchedulerJobSpec, o: SchedulerJobSpec) => boolean;
  show: (j: SchedulerJobSpec) => string;
}

/** Compared fields, in the order their mask paths are listed. */
const FIELDS: FieldRule[] = [
  { mask: 'description', same: (d, o) => (d.description ?? '') === (o.description ?? ''), show: (j) => q(j.description) },
  { mask: 'schedule', same: (d, o) => d.schedule === o.schedule, show: (j) => q(j.schedule) },
  { mask: 'timeZone', same: (d, o) => d.timeZone === o.timeZone, show: (j) => q(j.timeZone) },
  { mask: 'httpTarget.uri', same: (d, o) => d.uri === o.uri, show: (j) => q(j.uri) },
  { mask: 'httpTarget.httpMethod', same: (d, o) => d.httpMethod === o.httpMethod, show: (j) => j.httpMethod },
  { mask: 'httpTarget.body', same: (d, o) => (d.body ?? '') === (o.body ?? ''), show: (j) => q(j.body) },
  {
    mask: 'httpTarget.oidcToken',
    same: (d, o) =>
      d.oidc?.serviceAccountEmail === o.oidc?.serviceAccountEmail && d.oidc?.audience === o.oidc?.audience,
    show: (j) => oidcText(j.oidc),
  },
  {
    mask: 'retryConfig',
    same: (d, o) =>
      d.retry.count === o.retry.count &&
      sameNumber(d.retry.minBackoffSeconds, o.retry.minBackoffSeconds) &&
      sameNumber(d.retry.maxBackoffSeconds, o.retry.maxBackoffSeconds),
    show: (j) => retryText(j.retry),
  },
  {
    mask: 'attemptDeadline',
    same: (d, o) => sameNumber(d.attemptDeadlineSeconds, o.attemptDeadlineSeconds),
    show: (j) => secs(j.attemptDeadlineSeconds),
  },
];

function where(j: SchedulerJobSpec): string {
  return `projects/${j.project}/locations/${j.region}`;
}

function change(
  address: string,
  action: SchedulerJobChange['action'],
  before: SchedulerJobSpec | null,
  after: SchedulerJobSpec | null,
  reasons: Reason[],
  extra: Pick<SchedulerJobChange, 'updateMask' | 'stateChange'> = {},
): SchedulerJobChange {
  // Deleting or replacing a job loses no data (it holds none), so it is not destructive.
  return { type: 'scheduler_job', address, action, before, after, reasons, destructive: false, ...extra };
}

export function diffSchedulerJob(desired: SchedulerJobSpec | null, observed: ObservedSchedulerJob | null): SchedulerJobChange {
  const address = schedulerJobAddress(desired?.name ?? observed?.name ?? DEFAULT_JOB_NAME);
  const before = observed ? specOf(observed) : null;

  if (!desired && !observed) {
    return change(address, 'no-op', null, null, [{ rule: 'job-absent', message: 'no reconcile block and no job' }]);
  }

  if (!desired) {
    if (!observed!.owned) {
      return change(address, 'no-op', before, null, [
        {
          rule: 'job-not-owned',
          message: `the job is not managed by mlbridge (no ${OWNER_MARKER} in its description); left alone`,
        },
      ]);
    }
    return change(address, 'delete', before, null, [
      // Also reached for the old job of a renamed reconcile.job_name: don't claim the block is gone.
      { rule: 'job-not-in-spec', message: `the spec no longer declares this job (no reconcile block, or another job_name): delete it from ${where(before!)}` },
    ]);
  }

  const pausedAfterCreate = desired.state === 'PAUSED' ? { stateChange: 'pause' as const } : {};
  if (!observed) {
    return change(
      address,
      'create',
      null,
      desired,
      [{ rule: 'job-missing', message: `the job does not exist in ${where(desired)}: create it${desired.state === 'PAUSED' ? ', then pause it' : ''}` }],
      pausedAfterCreate,
    );
  }

  if (!observed.owned) {
    return change(address, 'no-op', before, desired, [
      {
        rule: 'job-not-owned',
        message:
          `a job named ${desired.name} exists in ${where(before!)} but is not managed by mlbridge (no ${OWNER_MARKER} ` +
          'in its description); left alone: choose another reconcile.job_name, or add the marker to adopt it',
      },
    ]);
  }

  // Same name, ours, but it serves another target (another spec in this project and region,
  // both on the default job_name): patching it would take it over, and the two specs would
  // flip it back and forth on every apply. Stop with what to do instead.
  const theirs = jobTargetKey(observed.body);
  const ours = jobTargetKey(desired.body);
  if (theirs !== undefined && ours !== undefined && theirs !== ours) {
    throw new MlbridgeError(
      'SCHEDULER_ERROR',
      `${address}: the job ${desired.name} in ${where(before!)} already reconciles ${theirs}, not ${ours}; ` +
        'give this spec its own reconcile.job_name (or delete that job if its spec is gone)',
      { resource: address },
    );
  }

  const moved: Reason[] = [];
  if (observed.project !== desired.project) moved.push({ path: 'project', rule: 'job-moved', message: `project: ${q(observed.project)} → ${q(desired.project)}`, forcesReplacement: true });
  if (observed.region !== desired.region) moved.push({ path: 'region', rule: 'job-moved', message: `region: ${q(observed.region)} → ${q(desired.region)}`, forcesReplacement: true });
  if (observed.name !== desired.name) moved.push({ path: 'name', rule: 'job-moved', message: `name: ${q(observed.name)} → ${q(desired.name)}`, forcesReplacement: true });
  if (moved.length) {
    // Project, region and name are part of the job's resource name: they cannot be patched.
    return change(address, 'replace', before, desired, moved, pausedAfterCreate);
  }

  const reasons: Reason[] = [];
  const updateMask: string[] = [];
  for (const f of FIELDS) {
    if (f.same(desired, before!)) continue;
    updateMask.push(f.mask);
    reasons.push({ path: f.mask, rule: 'job-field-changed', message: `${f.mask}: ${f.show(before!)} → ${f.show(desired)}` });
  }
  let stateChange: SchedulerJobChange['stateChange'];
  if (desired.state === 'PAUSED' && observed.state === 'ENABLED') stateChange = 'pause';
  if (desired.state === 'ENABLED' && observed.state === 'PAUSED') stateChange = 'resume';
  if (stateChange) reasons.push({ path: 'state', rule: 'job-state-changed', message: `state: ${observed.state} → ${desired.state} (${stateChange})` });
  if (!stateChange && observed.state !== desired.state) {
    // DISABLED / UPDATE_FAILED are set by Google, not by pause/resume; report, do not act.
    reasons.push({ path: 'state', rule: 'job-state-unmanaged', message: `state: ${observed.state} (set by Cloud Scheduler; mlbridge only pauses and resumes)` });
  }

  if (!updateMask.length && !stateChange) return change(address, 'no-op', before, desired, reasons);
  return change(address, 'update', before, desired, reasons, { updateMask, ...(stateChange ? { stateChange } : {}) });
}
