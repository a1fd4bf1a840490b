import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isMlbridgeError } from '../../src/model/errors.js';
import { DEFAULT_SCORING } from '../../src/spec/defaults.js';
import type { ReconcileSpec, Spec, TargetSpec } from '../../src/spec/types.js';
import { desiredSchedulerJob, schedulerRegionForLocation, schedulerScope } from '../../src/scheduler/desired.js';
import { diffSchedulerJob } from '../../src/scheduler/diff.js';
import type { ObservedSchedulerJob, SchedulerJobSpec } from '../../src/scheduler/types.js';
import type { SchedulerJobChange } from '../../src/engine/plan.js';

function desired(overrides: Partial<SchedulerJobSpec> = {}): SchedulerJobSpec {
  return {
    project: 'proj-1',
    region: 'us-central1',
    name: 'mlbridge-reconcile',
    description: 'mlbridge drift reconciliation of dataset analytics [managed-by=mlbridge]',
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    uri: 'https://mlbridge-xyz.a.run.app/reconcile',
    httpMethod: 'POST',
    oidc: { serviceAccountEmail: 'mlbridge@proj-1.iam.gserviceaccount.com', audience: 'https://mlbridge-xyz.a.run.app/reconcile' },
    attemptDeadlineSeconds: 180,
    retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
    state: 'ENABLED',
    ...overrides,
  };
}

function observed(overrides: Partial<ObservedSchedulerJob> = {}): ObservedSchedulerJob {
  return { ...desired(), owned: true, etag: 'e1', ...overrides };
}

function reconcile(overrides: Partial<ReconcileSpec> = {}): ReconcileSpec {
  return {
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    url: 'https://mlbridge-xyz.a.run.app/reconcile',
    serviceAccount: 'mlbridge@proj-1.iam.gserviceaccount.com',
    jobName: 'mlbridge-reconcile',
    paused: false,
    attemptDeadlineSeconds: 180,
    retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
    ...overrides,
  };
}

const BQ: TargetSpec = { kind: 'bigquery', project: 'proj-1', dataset: 'analytics', location: 'US' };
const DUCK: TargetSpec = { kind: 'duckdb', path: '/tmp/w.duckdb', dataset: 'analytics' };

function spec(target: TargetSpec, r?: ReconcileSpec, extra: Partial<Spec> = {}): Spec {
  return { version: 1, target, mappings: [], scoring: DEFAULT_SCORING, files: [], ...(r ? { reconcile: r } : {}), ...extra };
}

/** What a user reads in a plan: action, mask, state change, reason lines. */
function shown(c: SchedulerJobChange) {
  return {
    address: c.address,
    action: c.action,
    updateMask: c.updateMask,
    stateChange: c.stateChange,
    reasons: c.reasons.map((r) => r.message),
    destructive: c.destructive,
  };
}

// ---------------------------------------------------------------------------------------

const Diff = suite('diffSchedulerJob');

const CASES: Array<{ name: string; desired: SchedulerJobSpec | null; observed: ObservedSchedulerJob | null; expect: ReturnType<typeof shown> }> = [
  {
    name: 'a missing job is created',
    desired: desired(),
    observed: null,
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'create',
      updateMask: undefined,
      stateChange: undefined,
      reasons: ['the job does not exist in projects/proj-1/locations/us-central1: create it'],
      destructive: false,
    },
  },
  {
    name: 'a missing job wanted paused is created, then paused',
    desired: desired({ state: 'PAUSED' }),
    observed: null,
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'create',
      updateMask: undefined,
      stateChange: 'pause',
      reasons: ['the job does not exist in projects/proj-1/locations/us-central1: create it, then pause it'],
      destructive: false,
    },
  },
  {
    name: 'an identical job is a no-op',
    desired: desired(),
    observed: observed(),
    expect: { address: 'cloud_scheduler_job.mlbridge-reconcile', action: 'no-op', updateMask: undefined, stateChange: undefined, reasons: [], destructive: false },
  },
  {
    name: 'a changed cron is an update of exactly `schedule`',
    desired: desired({ schedule: '0 * * * *' }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: ['schedule'],
      stateChange: undefined,
      reasons: ['schedule: "*/30 * * * *" → "0 * * * *"'],
      destructive: false,
    },
  },
  {
    name: 'time zone, URI, OIDC token, retry config, deadline and description each get their REST mask path',
    desired: desired({
      description: 'nightly [managed-by=mlbridge]',
      timeZone: 'Europe/Paris',
      uri: 'https://new.a.run.app/reconcile',
      oidc: { serviceAccountEmail: 'ops@proj-1.iam.gserviceaccount.com', audience: 'https://new.a.run.app' },
      retry: { count: 5, minBackoffSeconds: 10, maxBackoffSeconds: 600 },
      attemptDeadlineSeconds: 600,
    }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: ['description', 'timeZone', 'httpTarget.uri', 'httpTarget.oidcToken', 'retryConfig', 'attemptDeadline'],
      stateChange: undefined,
      reasons: [
        'description: "mlbridge drift reconciliation of dataset analytics [managed-by=mlbridge]" → "nightly [managed-by=mlbridge]"',
        'timeZone: "Etc/UTC" → "Europe/Paris"',
        'httpTarget.uri: "https://mlbridge-xyz.a.run.app/reconcile" → "https://new.a.run.app/reconcile"',
        'httpTarget.oidcToken: mlbridge@proj-1.iam.gserviceaccount.com (audience https://mlbridge-xyz.a.run.app/reconcile) → ops@proj-1.iam.gserviceaccount.com (audience https://new.a.run.app)',
        'retryConfig: count 3, backoff 5s–3600s → count 5, backoff 10s–600s',
        'attemptDeadline: 180s → 600s',
      ],
      destructive: false,
    },
  },
  {
    name: 'dropping the service account removes the OIDC token',
    desired: desired({ oidc: undefined }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: ['httpTarget.oidcToken'],
      stateChange: undefined,
      reasons: ['httpTarget.oidcToken: mlbridge@proj-1.iam.gserviceaccount.com (audience https://mlbridge-xyz.a.run.app/reconcile) → none'],
      destructive: false,
    },
  },
  {
    name: 'pausing alone is an update with an empty mask and stateChange pause',
    desired: desired({ state: 'PAUSED' }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: [],
      stateChange: 'pause',
      reasons: ['state: ENABLED → PAUSED (pause)'],
      destructive: false,
    },
  },
  {
    name: 'resuming alone is an update with an empty mask and stateChange resume',
    desired: desired(),
    observed: observed({ state: 'PAUSED' }),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: [],
      stateChange: 'resume',
      reasons: ['state: PAUSED → ENABLED (resume)'],
      destructive: false,
    },
  },
  {
    name: 'a field change and a pause together: mask plus stateChange',
    desired: desired({ schedule: '0 * * * *', state: 'PAUSED' }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'update',
      updateMask: ['schedule'],
      stateChange: 'pause',
      reasons: ['schedule: "*/30 * * * *" → "0 * * * *"', 'state: ENABLED → PAUSED (pause)'],
      destructive: false,
    },
  },
  {
    name: 'an owned job no longer in the spec is deleted',
    desired: null,
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'delete',
      updateMask: undefined,
      stateChange: undefined,
      reasons: ['the spec no longer declares this job (no reconcile block, or another job_name): delete it from projects/proj-1/locations/us-central1'],
      destructive: false,
    },
  },
  {
    name: 'a job mlbridge does not own is never deleted',
    desired: null,
    observed: observed({ owned: false, description: 'made by hand' }),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'no-op',
      updateMask: undefined,
      stateChange: undefined,
      reasons: ['the job is not managed by mlbridge (no [managed-by=mlbridge] in its description); left alone'],
      destructive: false,
    },
  },
  {
    name: 'a job mlbridge does not own is never patched either',
    desired: desired(),
    observed: observed({ owned: false, description: 'made by hand', schedule: '5 5 * * *' }),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'no-op',
      updateMask: undefined,
      stateChange: undefined,
      reasons: [
        'a job named mlbridge-reconcile exists in projects/proj-1/locations/us-central1 but is not managed by mlbridge (no [managed-by=mlbridge] in its description); left alone: choose another reconcile.job_name, or add the marker to adopt it',
      ],
      destructive: false,
    },
  },
  {
    name: 'a region change replaces the job',
    desired: desired({ region: 'europe-west1' }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.mlbridge-reconcile',
      action: 'replace',
      updateMask: undefined,
      stateChange: undefined,
      reasons: ['region: "us-central1" → "europe-west1"'],
      destructive: false,
    },
  },
  {
    name: 'a name change replaces the job',
    desired: desired({ name: 'nightly' }),
    observed: observed(),
    expect: {
      address: 'cloud_scheduler_job.nightly',
      action: 'replace',
      updateMask: undefined,
      stateChange: undefined,
      reasons: ['name: "mlbridge-reconcile" → "nightly"'],
      destructive: false,
    },
  },
];

for (const c of CASES) {
  Diff(c.name, () => {
    assert.equal(shown(diffSchedulerJob(c.desired, c.observed)), c.expect);
  });
}

Diff('before is the observed job without its bookkeeping, after is the desired job', () => {
  const ch = diffSchedulerJob(desired({ schedule: '0 * * * *' }), observed({ updateTime: '2026-01-01T00:00:00.000Z' }));
  assert.equal(ch.before, desired());
  assert.equal(ch.after, desired({ schedule: '0 * * * *' }));
  assert.is(ch.type, 'scheduler_job');
});

Diff('a job of the same name that reconciles another target is an error, not taken over', () => {
  const body = (target: string) => JSON.stringify({ target });
  try {
    diffSchedulerJob(desired({ body: body('bigquery:proj-1.sales') }), observed({ body: body('bigquery:proj-1.analytics') }));
    assert.unreachable('expected an error');
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'SCHEDULER_ERROR'), String(e));
    assert.is(
      (e as Error).message,
      'cloud_scheduler_job.mlbridge-reconcile: the job mlbridge-reconcile in projects/proj-1/locations/us-central1 already reconciles ' +
        'bigquery:proj-1.analytics, not bigquery:proj-1.sales; give this spec its own reconcile.job_name (or delete that job if its spec is gone)',
    );
  }
  // Same target: an ordinary in-place update.
  const same = diffSchedulerJob(desired({ body: body('bigquery:proj-1.analytics'), schedule: '0 * * * *' }), observed({ body: body('bigquery:proj-1.analytics') }));
  assert.is(same.action, 'update');
});

Diff('replace reasons mark that they force replacement', () => {
  const ch = diffSchedulerJob(desired({ region: 'europe-west1' }), observed());
  assert.equal(ch.reasons.map((r) => [r.path, r.forcesReplacement]), [['region', true]]);
});

Diff.run();

// ---------------------------------------------------------------------------------------

const Desired = suite('desiredSchedulerJob');

Desired('no reconcile block means no job', () => {
  assert.is(desiredSchedulerJob(spec(BQ)), null);
});

Desired('builds the HTTP target, OIDC token (audience defaults to the URL), retry, deadline and state', () => {
  const j = desiredSchedulerJob(spec(BQ, reconcile({ paused: true, attemptDeadlineSeconds: 300 })))!;
  assert.equal(j, {
    project: 'proj-1',
    region: 'us-central1',
    name: 'mlbridge-reconcile',
    description: 'mlbridge drift reconciliation of dataset analytics [managed-by=mlbridge]',
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    uri: 'https://mlbridge-xyz.a.run.app/reconcile',
    httpMethod: 'POST',
    body: '{"target":"bigquery:proj-1.analytics"}',
    oidc: { serviceAccountEmail: 'mlbridge@proj-1.iam.gserviceaccount.com', audience: 'https://mlbridge-xyz.a.run.app/reconcile' },
    attemptDeadlineSeconds: 300,
    retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
    state: 'PAUSED',
  });
});

Desired('an explicit audience and description are kept; the ownership marker is appended once', () => {
  const j = desiredSchedulerJob(spec(BQ, reconcile({ audience: 'https://aud', description: 'Nightly sync' })))!;
  assert.is(j.oidc!.audience, 'https://aud');
  assert.is(j.description, 'Nightly sync [managed-by=mlbridge]');
  const again = desiredSchedulerJob(spec(BQ, reconcile({ description: 'Nightly sync [managed-by=mlbridge]' })))!;
  assert.is(again.description, 'Nightly sync [managed-by=mlbridge]');
});

Desired('without a service account there is no OIDC token', () => {
  assert.is(desiredSchedulerJob(spec(BQ, reconcile({ serviceAccount: undefined })))!.oidc, undefined);
});

Desired('region: explicit, else the BigQuery location mapped, else us-central1', () => {
  assert.is(desiredSchedulerJob(spec(BQ, reconcile({ region: 'asia-east1' })))!.region, 'asia-east1');
  assert.is(desiredSchedulerJob(spec({ ...BQ, location: 'EU' }, reconcile()))!.region, 'europe-west1');
  assert.is(desiredSchedulerJob(spec({ ...BQ, location: 'europe-west2' }, reconcile()))!.region, 'europe-west2');
  assert.is(desiredSchedulerJob(spec(DUCK, reconcile({ project: 'p-2' })))!.region, 'us-central1');
  assert.equal(['US', 'us', 'EU', 'asia-northeast1', ''].map(schedulerRegionForLocation), ['us-central1', 'us-central1', 'europe-west1', 'asia-northeast1', 'us-central1']);
});

Desired('project: reconcile.project, else the BigQuery project, else the datastore source, else GOOGLE_CLOUD_PROJECT', () => {
  assert.is(desiredSchedulerJob(spec(BQ, reconcile({ project: 'other' })))!.project, 'other');
  assert.is(desiredSchedulerJob(spec(BQ, reconcile()))!.project, 'proj-1');
  assert.is(desiredSchedulerJob(spec(DUCK, reconcile(), { source: { kind: 'datastore', project: 'ds-proj' } }))!.project, 'ds-proj');
  assert.is(desiredSchedulerJob(spec(DUCK, reconcile()), { env: { GOOGLE_CLOUD_PROJECT: 'env-proj' } })!.project, 'env-proj');
});

Desired('with no project anywhere it says how to set one', () => {
  try {
    desiredSchedulerJob(spec(DUCK, reconcile()), { env: {} });
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'INVALID_ARGUMENT'));
    assert.match((e as Error).message, /^reconcile: cannot tell which Google Cloud project the Cloud Scheduler job belongs to; set reconcile\.project/);
  }
});

Desired('schedulerScope finds where a removed reconcile block would have put the job', () => {
  assert.equal(schedulerScope(spec({ ...BQ, location: 'EU' })), { project: 'proj-1', region: 'europe-west1' });
  assert.equal(schedulerScope(spec(DUCK), { env: { GOOGLE_CLOUD_PROJECT: 'env-proj' } }), { project: 'env-proj', region: 'us-central1' });
  assert.is(schedulerScope(spec(DUCK), { env: {} }), null);
});

Desired.run();
