import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isMlbridgeError, MlbridgeError } from '../../src/model/errors.js';
import { openScheduler, parseEmulatorHost } from '../../src/scheduler/open.js';
import type { SchedulerClientLike, SchedulerJobSpec } from '../../src/scheduler/types.js';
import { startSchedulerFake, type SchedulerFake } from '../support/scheduler-fake.js';
import { withNoCredentials } from '../support/no-credentials.js';

type RetryInfo = { resource: string; call: string; attempt: number; delayMs: number; error: string };

function job(overrides: Partial<SchedulerJobSpec> = {}): SchedulerJobSpec {
  return {
    project: 'proj-1',
    region: 'us-central1',
    name: 'mlbridge-reconcile',
    description: 'mlbridge drift reconciliation of dataset analytics [managed-by=mlbridge]',
    schedule: '*/30 * * * *',
    timeZone: 'Europe/Paris',
    uri: 'https://mlbridge-xyz.a.run.app/reconcile',
    httpMethod: 'POST',
    oidc: { serviceAccountEmail: 'mlbridge@proj-1.iam.gserviceaccount.com', audience: 'https://mlbridge-xyz.a.run.app' },
    attemptDeadlineSeconds: 300,
    retry: { count: 3, minBackoffSeconds: 10, maxBackoffSeconds: 600 },
    state: 'ENABLED',
    ...overrides,
  };
}

interface Ctx {
  fake: SchedulerFake;
  client: SchedulerClientLike;
  retries: RetryInfo[];
}

async function open(ctx: Ctx, extra: { timeoutMs?: number } = {}): Promise<void> {
  ctx.fake = await startSchedulerFake();
  ctx.retries = [];
  ctx.client = await openScheduler({
    env: { CLOUD_SCHEDULER_EMULATOR_HOST: ctx.fake.host },
    onRetry: (i) => ctx.retries.push(i),
    sleep: async () => {},
    ...extra,
  });
}

async function close(ctx: Ctx): Promise<void> {
  await ctx.client.close();
  await ctx.fake.stop();
}

// ---------------------------------------------------------------------------------------

const Crud = suite<Ctx>('scheduler client CRUD against the REST fake');
Crud.before.each((ctx) => open(ctx));
Crud.after.each((ctx) => close(ctx));

Crud('a job that does not exist observes as null', async ({ client }) => {
  assert.is(await client.getJob('proj-1', 'us-central1', 'nope'), null);
});

Crud('creates a job with HTTP target, OIDC token, retry config and deadline, and reads it back', async ({ client, fake }) => {
  await client.createJob(job());
  const stored = fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!;
  assert.equal(stored.httpTarget, {
    uri: 'https://mlbridge-xyz.a.run.app/reconcile',
    httpMethod: 'POST',
    oidcToken: { serviceAccountEmail: 'mlbridge@proj-1.iam.gserviceaccount.com', audience: 'https://mlbridge-xyz.a.run.app' },
  });
  assert.equal(stored.retryConfig, { retryCount: 3, maxRetryDuration: '0s', minBackoffDuration: '10s', maxBackoffDuration: '600s', maxDoublings: 5 });
  assert.is(stored.attemptDeadline, '300s');
  assert.is(stored.state, 'ENABLED');
  assert.is(stored.timeZone, 'Europe/Paris');

  const observed = await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.ok(observed);
  const { owned, etag, updateTime, ...spec } = observed!;
  assert.equal(spec, job());
  assert.is(owned, true);
  assert.match(etag, /^[0-9a-f]{16}$/);
  assert.is(updateTime, new Date(stored.userUpdateTime.replace(/(\.\d{3})\d+Z$/, '$1Z')).toISOString());
});

Crud('a JSON request body round-trips (bytes on the wire) with its content type', async ({ client, fake }) => {
  await client.createJob(job({ body: '{"trigger":"scheduler"}' }));
  const stored = fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!;
  assert.is(Buffer.from(stored.httpTarget!.body!, 'base64').toString('utf8'), '{"trigger":"scheduler"}');
  assert.equal(stored.httpTarget!.headers, { 'Content-Type': 'application/json' });
  assert.is((await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile'))!.body, '{"trigger":"scheduler"}');
});

Crud('patches only the fields named in the update mask', async ({ client, fake }) => {
  await client.createJob(job());
  await client.updateJob(job({ schedule: '0 * * * *', timeZone: 'Etc/UTC', attemptDeadlineSeconds: 60 }), ['schedule']);
  const stored = fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!;
  assert.is(stored.schedule, '0 * * * *');
  assert.is(stored.timeZone, 'Europe/Paris');
  assert.is(stored.attemptDeadline, '300s');
  const patch = fake.calls.find((c) => c.method === 'jobs.patch')!;
  assert.is(patch.query['updateMask'], 'schedule');
  assert.is(patch.httpMethod, 'PATCH');
  assert.is(patch.path, '/v1/projects/proj-1/locations/us-central1/jobs/mlbridge-reconcile');
});

Crud('patches nested fields: the OIDC token and the target URI', async ({ client, fake }) => {
  await client.createJob(job());
  const changed = job({ uri: 'https://other.a.run.app/reconcile', oidc: { serviceAccountEmail: 'ops@proj-1.iam.gserviceaccount.com', audience: 'aud-2' } });
  await client.updateJob(changed, ['httpTarget.uri', 'httpTarget.oidcToken']);
  const observed = await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.is(observed!.uri, 'https://other.a.run.app/reconcile');
  assert.equal(observed!.oidc, { serviceAccountEmail: 'ops@proj-1.iam.gserviceaccount.com', audience: 'aud-2' });
  assert.is(fake.calls.find((c) => c.method === 'jobs.patch')!.query['updateMask'], 'httpTarget.uri,httpTarget.oidcToken');
});

Crud('pauses and resumes; patch keeps a paused job paused', async ({ client, fake }) => {
  await client.createJob(job());
  await client.pauseJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.is(fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!.state, 'PAUSED');
  await client.updateJob(job({ schedule: '15 * * * *' }), ['schedule']);
  assert.is((await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile'))!.state, 'PAUSED');
  await client.resumeJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.is(fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!.state, 'ENABLED');
});

Crud('deletes a job', async ({ client, fake }) => {
  await client.createJob(job());
  await client.deleteJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.equal(fake.jobs(), []);
  assert.is(await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile'), null);
});

Crud('lists only the jobs mlbridge owns in the location', async ({ client, fake }) => {
  await client.createJob(job());
  await client.createJob(job({ name: 'other-owned' }));
  await client.createJob(job({ name: 'elsewhere', region: 'europe-west1' }));
  fake.put({ name: 'projects/proj-1/locations/us-central1/jobs/hand-made', schedule: '0 0 * * *', description: 'made by hand', httpTarget: { uri: 'https://x.example/', httpMethod: 'POST' } });
  const owned = await client.listOwnedJobs('proj-1', 'us-central1');
  assert.equal(owned.map((j) => j.name).sort(), ['mlbridge-reconcile', 'other-owned']);
});

Crud('follows list pages to the end', async () => {
  const fake = await startSchedulerFake({ maxPageSize: 2 });
  const client = await openScheduler({ env: { CLOUD_SCHEDULER_EMULATOR_HOST: fake.host } });
  try {
    for (const n of ['a', 'b', 'c', 'd', 'e']) await client.createJob(job({ name: n }));
    const owned = await client.listOwnedJobs('proj-1', 'us-central1');
    assert.equal(owned.map((j) => j.name), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(fake.calls.filter((c) => c.method === 'jobs.list').map((c) => c.query['pageToken'] ?? ''), ['', '2', '4']);
  } finally {
    await client.close();
    await fake.stop();
  }
});

Crud('a job without the marker observes as not owned', async ({ client, fake }) => {
  fake.put({ name: 'projects/proj-1/locations/us-central1/jobs/hand-made', schedule: '0 0 * * *', description: 'made by hand', httpTarget: { uri: 'https://x.example/', httpMethod: 'POST' } });
  const o = await client.getJob('proj-1', 'us-central1', 'hand-made');
  assert.is(o!.owned, false);
  assert.is(o!.attemptDeadlineSeconds, 180);
  assert.equal(o!.retry, { count: 0, minBackoffSeconds: 5, maxBackoffSeconds: 3600 });
});

Crud.run();

// ---------------------------------------------------------------------------------------

const Rejects = suite<Ctx>('scheduler client: what the API rejects');
Rejects.before.each((ctx) => open(ctx));
Rejects.after.each((ctx) => close(ctx));

async function rejection(p: Promise<unknown>): Promise<MlbridgeError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isMlbridgeError(e), `expected an MlbridgeError, got ${String(e)}`);
    return e as MlbridgeError;
  }
  assert.unreachable('should have thrown');
  throw new Error('unreachable');
}

Rejects('a bad cron schedule names the job, the call and the rule', async ({ client }) => {
  const e = await rejection(client.createJob(job({ schedule: '61 * * * *' })));
  assert.is(e.code, 'SCHEDULER_ERROR');
  assert.is(e.resource, 'cloud_scheduler_job.mlbridge-reconcile');
  assert.is(e.message, 'cloud_scheduler_job.mlbridge-reconcile: jobs.create rejected: INVALID_ARGUMENT (HTTP 400): Schedule or time zone is invalid. Schedule: "61 * * * *"');
});

Rejects('an unknown time zone is rejected on patch', async ({ client }) => {
  await client.createJob(job());
  const e = await rejection(client.updateJob(job({ timeZone: 'Mars/Olympus' }), ['timeZone']));
  assert.is(e.message, 'cloud_scheduler_job.mlbridge-reconcile: jobs.patch rejected: INVALID_ARGUMENT (HTTP 400): Schedule or time zone is invalid. Time zone: "Mars/Olympus"');
});

Rejects('an attempt deadline outside 15s–30m is rejected', async ({ client }) => {
  const e = await rejection(client.createJob(job({ attemptDeadlineSeconds: 10 })));
  assert.match(e.message, /jobs\.create rejected: INVALID_ARGUMENT \(HTTP 400\): The attempt deadline for an HTTP target must be between 15s and 30m, got 10s/);
  const e2 = await rejection(client.createJob(job({ attemptDeadlineSeconds: 1801 })));
  assert.match(e2.message, /between 15s and 30m, got 1801s/);
});

Rejects('a retry count outside 0–5 is rejected', async ({ client }) => {
  const e = await rejection(client.createJob(job({ retry: { count: 6, minBackoffSeconds: 5, maxBackoffSeconds: 60 } })));
  assert.match(e.message, /jobs\.create rejected: INVALID_ARGUMENT \(HTTP 400\): RetryConfig\.retry_count must be between 0 and 5, got 6/);
});

Rejects('creating a job that exists is ALREADY_EXISTS', async ({ client }) => {
  await client.createJob(job());
  const e = await rejection(client.createJob(job()));
  assert.is(
    e.message,
    'cloud_scheduler_job.mlbridge-reconcile: jobs.create rejected: ALREADY_EXISTS (HTTP 409): Job projects/proj-1/locations/us-central1/jobs/mlbridge-reconcile already exists.',
  );
});

Rejects('patching or deleting a missing job is NOT_FOUND', async ({ client }) => {
  const e = await rejection(client.updateJob(job(), ['schedule']));
  assert.match(e.message, /^cloud_scheduler_job\.mlbridge-reconcile: jobs\.patch rejected: NOT_FOUND \(HTTP 404\)/);
  const d = await rejection(client.deleteJob('proj-1', 'us-central1', 'mlbridge-reconcile'));
  assert.match(d.message, /jobs\.delete rejected: NOT_FOUND/);
});

Rejects('resuming a job that is not paused is FAILED_PRECONDITION', async ({ client }) => {
  await client.createJob(job());
  const e = await rejection(client.resumeJob('proj-1', 'us-central1', 'mlbridge-reconcile'));
  assert.match(e.message, /jobs\.resume rejected: FAILED_PRECONDITION \(HTTP 400\): .*only a PAUSED job can be resumed/);
});

Rejects.run();

// ---------------------------------------------------------------------------------------

const Retries = suite<Ctx>('scheduler client retries');
Retries.before.each((ctx) => open(ctx, { timeoutMs: 300 }));
Retries.after.each((ctx) => close(ctx));

Retries('a patch goes through three consecutive 429s, each retry reported', async ({ client, fake, retries }) => {
  await client.createJob(job());
  fake.inject({ method: 'jobs.patch', fault: 'RESOURCE_EXHAUSTED', times: 3 });
  await client.updateJob(job({ schedule: '0 * * * *' }), ['schedule']);
  assert.is(fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!.schedule, '0 * * * *');
  assert.equal(
    retries.map((r) => [r.resource, r.call, r.attempt]),
    [
      ['cloud_scheduler_job.mlbridge-reconcile', 'jobs.patch', 1],
      ['cloud_scheduler_job.mlbridge-reconcile', 'jobs.patch', 2],
      ['cloud_scheduler_job.mlbridge-reconcile', 'jobs.patch', 3],
    ],
  );
  assert.match(retries[0]!.error, /^RESOURCE_EXHAUSTED \(HTTP 429\): Quota exceeded/);
  assert.equal(fake.calls.filter((c) => c.method === 'jobs.patch').map((c) => c.status), [429, 429, 429, 200]);
});

Retries('500 and 503 are retried too', async ({ client, fake, retries }) => {
  fake.inject({ method: 'jobs.create', fault: 'INTERNAL' });
  fake.inject({ method: 'jobs.create', fault: 'UNAVAILABLE' });
  await client.createJob(job());
  assert.equal(retries.map((r) => r.error.split(':')[0]), ['INTERNAL (HTTP 500)', 'UNAVAILABLE (HTTP 503)']);
  assert.is(fake.jobs().length, 1);
});

Retries('a hung call times out and is retried', async ({ client, fake, retries }) => {
  await client.createJob(job());
  fake.inject({ method: 'jobs.get', fault: 'hang' });
  const o = await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.is(o!.name, 'mlbridge-reconcile');
  assert.equal(retries.map((r) => [r.call, r.error]), [['jobs.get', 'DEADLINE_EXCEEDED: no response within 300 ms']]);
});

Retries('fails cleanly when the faults outlast the retries, naming job, call and last error', async ({ client, fake }) => {
  await client.createJob(job());
  fake.inject({ method: 'jobs.patch', fault: 'RESOURCE_EXHAUSTED', times: 100 });
  try {
    await client.updateJob(job({ schedule: '0 * * * *' }), ['schedule']);
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'RETRIES_EXHAUSTED'));
    assert.is(
      (e as Error).message,
      "cloud_scheduler_job.mlbridge-reconcile: jobs.patch failed after 6 attempts: RESOURCE_EXHAUSTED (HTTP 429): Quota exceeded for quota metric 'Requests' of service 'cloudscheduler.googleapis.com'.",
    );
  }
  assert.is(fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!.schedule, '*/30 * * * *');
});

Retries('a 400 is not retried', async ({ client, fake, retries }) => {
  try {
    await client.createJob(job({ schedule: 'every day' }));
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'SCHEDULER_ERROR'));
  }
  assert.equal(retries, []);
  assert.is(fake.calls.length, 1);
});

Retries('a create whose answer was lost counts as done when the retry finds the job', async ({ client, fake, retries }) => {
  fake.inject({ method: 'jobs.create', fault: 'lost-answer' });
  await client.createJob(job());
  assert.equal(fake.calls.filter((c) => c.method === 'jobs.create').map((c) => c.status), [0, 409]);
  assert.equal(retries.map((r) => r.error), ['DEADLINE_EXCEEDED: no response within 300 ms']);
  assert.is(fake.jobs().length, 1);
});

Retries('a pause whose answer was lost counts as done when the retry finds the job paused', async ({ client, fake }) => {
  await client.createJob(job());
  fake.inject({ method: 'jobs.pause', fault: 'lost-answer' });
  await client.pauseJob('proj-1', 'us-central1', 'mlbridge-reconcile');
  assert.is(fake.job('proj-1', 'us-central1', 'mlbridge-reconcile')!.state, 'PAUSED');
});

Retries('an endpoint nobody listens on fails at once, naming the job and the call', async () => {
  const client = await openScheduler({ env: { CLOUD_SCHEDULER_EMULATOR_HOST: '127.0.0.1:1' }, sleep: async () => {} });
  try {
    await client.getJob('proj-1', 'us-central1', 'mlbridge-reconcile');
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'SCHEDULER_ERROR'));
    assert.match((e as Error).message, /^cloud_scheduler_job\.mlbridge-reconcile: jobs\.get failed: ECONNREFUSED: /);
  } finally {
    await client.close();
  }
});

Retries.run();

// ---------------------------------------------------------------------------------------

const Open = suite('openScheduler configuration');

Open('reads CLOUD_SCHEDULER_EMULATOR_HOST with or without a scheme', () => {
  assert.equal(parseEmulatorHost('127.0.0.1:8123'), { host: '127.0.0.1', port: 8123, protocol: 'http' });
  assert.equal(parseEmulatorHost('http://localhost:9000'), { host: 'localhost', port: 9000, protocol: 'http' });
  assert.equal(parseEmulatorHost('https://scheduler.example:8443'), { host: 'scheduler.example', port: 8443, protocol: 'https' });
});

Open('without credentials it is one clear CREDENTIALS_MISSING error naming what was tried', async () => {
  try {
    await openScheduler({ env: { GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json', HOME: '/nonexistent-home' } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isMlbridgeError(e, 'CREDENTIALS_MISSING'), String(e));
    const m = (e as Error).message;
    assert.is(
      m,
      'Cloud Scheduler: No usable Google Cloud credentials: GOOGLE_APPLICATION_CREDENTIALS points to /nonexistent/key.json (not found). ' +
        'Run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS.',
    );
    assert.not.match(m, /\n\s+at /);
  }
});

Open('a metadata server that fails oddly adds no MetadataLookupWarning to the credentials error', async () => {
  // A metadata server that resets every connection: gcp-metadata would print "(node:PID) MetadataLookupWarning: …".
  await withNoCredentials({ metadataServer: 'resetting' }, async ({ home, warnings }) => {
    try {
      await openScheduler({ env: { HOME: home } });
      assert.unreachable();
    } catch (e) {
      assert.ok(isMlbridgeError(e, 'CREDENTIALS_MISSING'), String(e));
      await new Promise((r) => setImmediate(r)); // warnings are delivered on a later tick
      assert.equal(warnings, []);
    }
  });
});

Open('MLBRIDGE_SCHEDULER_TIMEOUT_MS sets the per-request deadline', async () => {
  const fake = await startSchedulerFake();
  const retries: RetryInfo[] = [];
  const client = await openScheduler({
    env: { CLOUD_SCHEDULER_EMULATOR_HOST: fake.host, MLBRIDGE_SCHEDULER_TIMEOUT_MS: '250' },
    onRetry: (i) => retries.push(i),
    sleep: async () => {},
  });
  try {
    fake.inject({ method: 'jobs.get', fault: 'hang' });
    assert.is(await client.getJob('proj-1', 'us-central1', 'nothing-here'), null);
    assert.equal(retries.map((r) => r.error), ['DEADLINE_EXCEEDED: no response within 250 ms']);
  } finally {
    await client.close();
    await fake.stop();
  }
});

Open('an MLBRIDGE_SCHEDULER_TIMEOUT_MS that is no positive whole number is refused, naming it', async () => {
  for (const value of ['soon', '0', '-5', '2.5', '']) {
    const e = await openScheduler({ env: { CLOUD_SCHEDULER_EMULATOR_HOST: '127.0.0.1:1', MLBRIDGE_SCHEDULER_TIMEOUT_MS: value } }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    assert.is(e?.message, `MLBRIDGE_SCHEDULER_TIMEOUT_MS: ${JSON.stringify(value)} is not a positive whole number of milliseconds`, value);
  }
});

Open.run();
