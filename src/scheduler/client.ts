// SchedulerClientLike over the official @google-cloud/scheduler client in REST mode
// (`fallback: true`). The Google client is loaded lazily so importing this module costs
// nothing until a job is observed. Every call goes through withRetry (429, 5xx, UNAVAILABLE,
// deadline exceeded, dropped connections), with the client's own retries switched off so
// the two do not multiply; failures become MlbridgeErrors naming the job and the call.

import { createHash } from 'node:crypto';
import { schedulerJobAddress } from '../model/address.js';
import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import { withRetry, type RetryPolicy } from '../model/retry.js';
import { isOwnedDescription } from './desired.js';
import type { ObservedSchedulerJob, SchedulerClientLike, SchedulerJobSpec } from './types.js';

export type RetryInfo = { resource: string; call: string; attempt: number; delayMs: number; error: string };

export interface SchedulerClientOptions {
  /** Host name of the API (default cloudscheduler.googleapis.com). */
  apiEndpoint?: string;
  port?: number;
  /** 'http' only for local fakes and emulators. */
  protocol?: 'http' | 'https';
  /** A google-auth-library AuthClient or GoogleAuth; default: Application Default Credentials. */
  auth?: unknown;
  /** Path of a service-account key file (GOOGLE_APPLICATION_CREDENTIALS from a custom env). */
  keyFilename?: string;
  onRetry?: (info: RetryInfo) => void;
  retryPolicy?: Partial<RetryPolicy>;
  /** Per-attempt deadline in ms (default 60 s); a hung call fails with DEADLINE_EXCEEDED and is retried. */
  timeoutMs?: number;
  /** Injected for tests (skips the backoff waits). */
  sleep?: (ms: number) => Promise<void>;
}

/** gRPC status names by code, as the REST transport reports them on errors. */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

const RETRYABLE_STATUS = new Set(['RESOURCE_EXHAUSTED', 'INTERNAL', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'ABORTED']);
const RETRYABLE_NET = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** A failed API call, normalised: a status name and a one-line message without the stack. */
export class SchedulerCallError extends Error {
  constructor(
    readonly status: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SchedulerCallError';
  }
}

const STATUS_BY_HTTP: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * An HTTP error response as the REST transport surfaces it: in this gax/auth combination
 * a GaxiosError whose message is the response body, Google's `{error: {code, message, status}}`.
 */
function fromHttpError(httpStatus: number, raw: string, data: unknown): SchedulerCallError {
  let body: { error?: { status?: unknown; message?: unknown } } | undefined;
  if (data && typeof data === 'object' && 'error' in data) body = data as typeof body;
  else {
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      body = undefined;
    }
  }
  const status =
    typeof body?.error?.status === 'string' && body.error.status ? body.error.status : (STATUS_BY_HTTP[httpStatus] ?? (httpStatus >= 500 ? 'INTERNAL' : 'UNKNOWN'));
  const message = typeof body?.error?.message === 'string' ? body.error.message : raw.split('\n')[0]!.trim();
  const retryable = RETRYABLE_STATUS.has(status) || httpStatus >= 500;
  return new SchedulerCallError(status, `${status} (HTTP ${httpStatus}): ${message}`, retryable);
}

function toCallError(e: unknown): SchedulerCallError {
  if (e instanceof SchedulerCallError) return e;
  const err = e as
    | { code?: unknown; status?: unknown; message?: unknown; cause?: { code?: unknown }; response?: { status?: unknown; data?: unknown } }
    | undefined;
  const raw = typeof err?.message === 'string' ? err.message : String(e);
  const firstLine = raw.split('\n')[0]!.trim();
  const httpStatus = typeof err?.response?.status === 'number' ? err.response.status : undefined;
  if (httpStatus !== undefined && httpStatus >= 400) return fromHttpError(httpStatus, raw, err?.response?.data);
  if (typeof err?.code === 'number' && STATUS_NAMES[err.code]) {
    const status = STATUS_NAMES[err.code]!;
    // gax prefixes some messages with "<code> <STATUS>: "; keep one copy of the status.
    const text = firstLine.replace(/^\d+ [A-Z_]+: /, '');
    return new SchedulerCallError(status, `${status}: ${text}`, RETRYABLE_STATUS.has(status));
  }
  const netCode = typeof err?.code === 'string' ? err.code : typeof err?.cause?.code === 'string' ? err.cause.code : undefined;
  if (netCode) return new SchedulerCallError(netCode, `${netCode}: ${firstLine}`, RETRYABLE_NET.has(netCode));
  if (/timeout|timed out|aborted/i.test(firstLine)) return new SchedulerCallError('DEADLINE_EXCEEDED', `DEADLINE_EXCEEDED: ${firstLine}`, true);
  return new SchedulerCallError('UNKNOWN', firstLine, false);
}

export function jobResourceName(project: string, region: string, name: string): string {
  return `projects/${project}/locations/${region}/jobs/${name}`;
}

function seconds(d: { seconds?: unknown; nanos?: unknown } | null | undefined, fallback: number): number {
  if (!d) return fallback;
  return Number(d.seconds ?? 0) + Number(d.nanos ?? 0) / 1e9;
}

function duration(s: number): { seconds: number; nanos: number } {
  const whole = Math.floor(s);
  return { seconds: whole, nanos: Math.round((s - whole) * 1e9) };
}

/** The API's Job (as the client takes it) for a job spec. */
export function toApiJob(job: SchedulerJobSpec): Record<string, unknown> {
  const httpTarget: Record<string, unknown> = { uri: job.uri, httpMethod: job.httpMethod };
  if (job.body !== undefined) {
    httpTarget['body'] = Buffer.from(job.body, 'utf8');
    httpTarget['headers'] = { 'Content-Type': 'application/json' };
  }
  if (job.oidc) httpTarget['oidcToken'] = { serviceAccountEmail: job.oidc.serviceAccountEmail, audience: job.oidc.audience };
  return {
    name: jobResourceName(job.project, job.region, job.name),
    ...(job.description !== undefined ? { description: job.description } : {}),
    schedule: job.schedule,
    timeZone: job.timeZone,
    httpTarget,
    retryConfig: {
      retryCount: job.retry.count,
      minBackoffDuration: duration(job.retry.minBackoffSeconds),
      maxBackoffDuration: duration(job.retry.maxBackoffSeconds),
    },
    attemptDeadline: duration(job.attemptDeadlineSeconds),
  };
}

/** An observed job from the API's Job (decoded by the client: enums and longs as strings). */
export function fromApiJob(j: any): ObservedSchedulerJob {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/jobs\/(.+)$/.exec(String(j.name ?? ''));
  const ht = j.httpTarget ?? {};
  const uri = String(ht.uri ?? '');
  const body = ht.body && (ht.body as Uint8Array).length ? Buffer.from(ht.body as Uint8Array).toString('utf8') : undefined;
  const oidc = ht.oidcToken?.serviceAccountEmail
    ? // An empty audience means "the target URI" on the server side.
      { serviceAccountEmail: String(ht.oidcToken.serviceAccountEmail), audience: String(ht.oidcToken.audience || uri) }
    : undefined;
  const rc = j.retryConfig ?? {};
  const job: SchedulerJobSpec = {
    project: m?.[1] ?? '',
    region: m?.[2] ?? '',
    name: m?.[3] ?? String(j.name ?? ''),
    ...(j.description ? { description: String(j.description) } : {}),
    schedule: String(j.schedule ?? ''),
    timeZone: String(j.timeZone || 'Etc/UTC'),
    uri,
    httpMethod: String(ht.httpMethod ?? 'POST') as 'POST',
    ...(body !== undefined ? { body } : {}),
    ...(oidc ? { oidc } : {}),
    attemptDeadlineSeconds: seconds(j.attemptDeadline, 180),
    retry: {
      count: Number(rc.retryCount ?? 0),
      minBackoffSeconds: seconds(rc.minBackoffDuration, 5),
      maxBackoffSeconds: seconds(rc.maxBackoffDuration, 3600),
    },
    state: String(j.state ?? 'ENABLED') as SchedulerJobSpec['state'],
  };
  const etag = createHash('sha256').update(JSON.stringify(job)).digest('hex').slice(0, 16);
  const updateTime = j.userUpdateTime ? timestampToIso(j.userUpdateTime) : undefined;
  return { ...job, owned: isOwnedDescription(job.description), etag, ...(updateTime ? { updateTime } : {}) };
}

function timestampToIso(t: { seconds?: unknown; nanos?: unknown }): string | undefined {
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

/** Opens a SchedulerClientLike; loads @google-cloud/scheduler on first use of this function. */
export async function createSchedulerClient(options: SchedulerClientOptions = {}): Promise<SchedulerClientLike> {
  const { CloudSchedulerClient } = await import('@google-cloud/scheduler');
  const timeoutMs = options.timeoutMs ?? 60_000;
  const closing = new AbortController();
  let auth = options.auth as { fetch: (input: unknown, init?: RequestInit) => Promise<unknown> } | undefined;
  if (!auth) {
    const { GoogleAuth } = await import('google-auth-library');
    auth = new GoogleAuth({
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
    }) as unknown as typeof auth;
  }
  // The REST transport ignores gax deadlines, so each HTTP request gets its own: the auth
  // client's fetch (which the transport calls) is given a signal that aborts after
  // timeoutMs or on close(). A hung call then fails as DEADLINE_EXCEEDED and is retried.
  const baseFetch = auth!.fetch.bind(auth);
  auth!.fetch = (input: unknown, init: RequestInit = {}) => {
    const signals = [AbortSignal.timeout(timeoutMs), closing.signal];
    if (init.signal) signals.push(init.signal);
    return baseFetch(input, { ...init, signal: AbortSignal.any(signals) });
  };
  const clientOptions: Record<string, unknown> = { fallback: true, auth };
  if (options.apiEndpoint) clientOptions['apiEndpoint'] = options.apiEndpoint;
  if (options.port) clientOptions['port'] = options.port;
  if (options.protocol) clientOptions['protocol'] = options.protocol;
  const api = new CloudSchedulerClient(clientOptions as never);
  // One attempt per call from gax's point of view; withRetry owns retrying.
  const callOptions = { retry: null };

  function aborted(e: unknown): boolean {
    const err = e as { name?: unknown; message?: unknown } | undefined;
    return err?.name === 'AbortError' || err?.name === 'TimeoutError' || /operation was aborted/i.test(String(err?.message ?? ''));
  }
  function abortError(): SchedulerCallError {
    if (closing.signal.aborted) return new SchedulerCallError('CANCELLED', 'CANCELLED: the Cloud Scheduler client was closed', false);
    return new SchedulerCallError('DEADLINE_EXCEEDED', `DEADLINE_EXCEEDED: no response within ${timeoutMs} ms`, true);
  }

  async function call<T>(
    jobName: string,
    method: string,
    fn: () => Promise<T>,
    /** A status that means success when an earlier attempt may have landed (e.g. create → ALREADY_EXISTS). */
    landedStatus?: string,
  ): Promise<T | undefined> {
    const resource = schedulerJobAddress(jobName);
    let earlierAttemptFailed = false;
    try {
      return await withRetry(
        async () => {
          try {
            return await fn();
          } catch (e) {
            const ce = aborted(e) ? abortError() : toCallError(e);
            if (landedStatus && ce.status === landedStatus && earlierAttemptFailed) return undefined;
            if (ce.retryable) earlierAttemptFailed = true;
            throw ce;
          }
        },
        {
          resource,
          call: method,
          isRetryable: (e) => e instanceof SchedulerCallError && e.retryable,
          ...(options.onRetry ? { onRetry: options.onRetry } : {}),
          ...(options.retryPolicy ? { policy: options.retryPolicy } : {}),
          ...(options.sleep ? { sleep: options.sleep } : {}),
        },
      );
    } catch (e) {
      if (isMlbridgeError(e)) throw e;
      const ce = toCallError(e);
      // "rejected" when Google answered with an error; "failed" when no answer came.
      const verb = STATUS_NAMES.includes(ce.status) ? 'rejected' : 'failed';
      throw new MlbridgeError('SCHEDULER_ERROR', `${resource}: ${method} ${verb}: ${ce.message}`, { resource, cause: ce });
    }
  }

  async function getJob(project: string, region: string, name: string): Promise<ObservedSchedulerJob | null> {
    try {
      const res = await call(name, 'jobs.get', () => api.getJob({ name: jobResourceName(project, region, name) }, callOptions as never));
      return res ? fromApiJob(res[0]) : null;
    } catch (e) {
      if (isMlbridgeError(e, 'SCHEDULER_ERROR') && e.cause instanceof SchedulerCallError && e.cause.status === 'NOT_FOUND') return null;
      throw e;
    }
  }

  return {
    getJob,

    async listOwnedJobs(project, region) {
      const parent = `projects/${project}/locations/${region}`;
      const out: ObservedSchedulerJob[] = [];
      let pageToken = '';
      do {
        const res = await call(`*`, 'jobs.list', () =>
          api.listJobs({ parent, pageToken }, { ...callOptions, autoPaginate: false } as never),
        );
        const [jobs, next] = (res ?? [[], null]) as [unknown[], { pageToken?: string } | null];
        for (const j of jobs) {
          const o = fromApiJob(j);
          if (o.owned) out.push(o);
        }
        pageToken = next?.pageToken ?? '';
      } while (pageToken);
      return out;
    },

    async createJob(job) {
      await call(
        job.name,
        'jobs.create',
        () => api.createJob({ parent: `projects/${job.project}/locations/${job.region}`, job: toApiJob(job) as never }, callOptions as never),
        'ALREADY_EXISTS',
      );
    },

    async updateJob(job, updateMask) {
      await call(job.name, 'jobs.patch', () =>
        api.updateJob({ job: toApiJob(job) as never, updateMask: { paths: updateMask } }, callOptions as never),
      );
    },

    async pauseJob(project, region, name) {
      // After a lost answer, FAILED_PRECONDITION on the retry means the first attempt landed.
      await call(name, 'jobs.pause', () => api.pauseJob({ name: jobResourceName(project, region, name) }, callOptions as never), 'FAILED_PRECONDITION');
    },

    async resumeJob(project, region, name) {
      // After a lost answer, FAILED_PRECONDITION on the retry means the first attempt landed.
      await call(name, 'jobs.resume', () => api.resumeJob({ name: jobResourceName(project, region, name) }, callOptions as never), 'FAILED_PRECONDITION');
    },

    async deleteJob(project, region, name) {
      await call(name, 'jobs.delete', () => api.deleteJob({ name: jobResourceName(project, region, name) }, callOptions as never), 'NOT_FOUND');
    },

    async close() {
      closing.abort();
      await api.close();
    },
  };
}
