// A Cloud Scheduler v1 REST fake for tests: the official @google-cloud/scheduler client
// (`fallback: true`, i.e. REST over HTTP/1.1) talks to it exactly as it talks to
// cloudscheduler.googleapis.com, pointed here with `apiEndpoint`, `port` and `protocol: 'http'`
// and a credential-less auth client (google-auth-library's PassThroughClient).
//
// What it verifies (the parts mlbridge relies on):
//   - the REST surface: projects.locations.jobs get / list (pageSize, pageToken) / create /
//     patch with `updateMask` / delete / pause / resume, URL shapes and JSON bodies as the
//     client sends them (proto3 JSON, `$alt=json;enum-encoding=int` → numeric enums back);
//   - Google's error shapes `{error: {code, message, status}}`: 404 NOT_FOUND, 409
//     ALREADY_EXISTS, 400 INVALID_ARGUMENT (bad name, cron schedule, time zone, attempt
//     deadline outside 15 s–30 min, retry count outside 0–5, backoff bounds, more than one
//     target, an unknown or output-only updateMask path), 400 FAILED_PRECONDITION (pause a job
//     that is not ENABLED, resume one that is not PAUSED);
//   - server-side defaults the real API fills in (attemptDeadline 180s, retryConfig
//     backoffs 5s/3600s, maxDoublings 5, httpMethod POST, OIDC audience left empty), the output-only
//     `state` (ENABLED on create, PAUSED/ENABLED by pause/resume, kept by patch) and
//     `userUpdateTime` (bumped by every write);
//   - fault injection on chosen calls: 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503
//     UNAVAILABLE, a hang (the request never gets an answer until the fake stops), or a
//     lost answer (the request is carried out, then never answered).
//     From outside the process: POST /__fake/fail {"call":"jobs.patch","status":429,"times":3}
//     (see control(); serve-fakes.ts runs the fakes standalone).
//
// What only a live run can verify: IAM (cloudscheduler.jobs.* permissions, the caller's
// right to act as the OIDC service account), that the project and region exist and the API
// is enabled, that Google accepts the nested update-mask paths mlbridge sends
// (httpTarget.uri, httpTarget.oidcToken; the fake does), the exact wording of Google's error messages, quota behaviour, the job
// actually firing (scheduleTime, lastAttemptTime, status are not simulated), App Engine /
// Pub/Sub targets (rejected here only when combined with an HTTP target), and the subtleties
// of Google's cron dialect beyond what src/spec/cron.ts checks (its documented unix-cron).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { cloudSchedulerCronProblem } from '../../src/spec/cron.js';

/** REST method names as Google documents them (projects.locations.jobs.*). */
export type SchedulerMethod =
  | 'jobs.get'
  | 'jobs.list'
  | 'jobs.create'
  | 'jobs.patch'
  | 'jobs.delete'
  | 'jobs.pause'
  | 'jobs.resume';

/**
 * 'hang': the request is never answered (and not carried out); 'lost-answer': it is
 * carried out, then never answered (a write that landed while the client timed out).
 */
export type SchedulerFault = 'RESOURCE_EXHAUSTED' | 'INTERNAL' | 'UNAVAILABLE' | 'hang' | 'lost-answer';

export interface FaultRule {
  method: SchedulerMethod;
  fault: SchedulerFault;
  /** How many matching calls get the fault (default 1). */
  times?: number;
  /** Only calls about this job id (the short name). */
  job?: string;
}

/** A stored job in REST (proto3 JSON) form, enums as names. */
export interface FakeJob {
  name: string;
  description?: string;
  schedule: string;
  timeZone: string;
  httpTarget?: {
    uri: string;
    httpMethod: string;
    headers?: Record<string, string>;
    /** base64 */
    body?: string;
    oidcToken?: { serviceAccountEmail: string; audience?: string };
    oauthToken?: { serviceAccountEmail: string; scope?: string };
  };
  pubsubTarget?: unknown;
  appEngineHttpTarget?: unknown;
  retryConfig: {
    retryCount?: number;
    maxRetryDuration: string;
    minBackoffDuration: string;
    maxBackoffDuration: string;
    maxDoublings: number;
  };
  attemptDeadline: string;
  state: 'ENABLED' | 'PAUSED' | 'DISABLED' | 'UPDATE_FAILED';
  userUpdateTime: string;
}

export interface RecordedCall {
  method: SchedulerMethod;
  httpMethod: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  status: number;
}

export interface SchedulerFake {
  /** "127.0.0.1:PORT", the form CLOUD_SCHEDULER_EMULATOR_HOST takes. */
  host: string;
  port: number;
  /** Every stored job (copies). */
  jobs(): FakeJob[];
  /** One stored job by project, location and id, or undefined. */
  job(project: string, location: string, id: string): FakeJob | undefined;
  /** Stores a job directly (e.g. one mlbridge does not own), defaults filled in. */
  put(job: Partial<FakeJob> & { name: string; schedule: string }): void;
  /** Every request answered or hung, in order. */
  calls: RecordedCall[];
  inject(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

const ENUM_STATE = ['STATE_UNSPECIFIED', 'ENABLED', 'PAUSED', 'DISABLED', 'UPDATE_FAILED'];
const ENUM_HTTP_METHOD = ['HTTP_METHOD_UNSPECIFIED', 'POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

const HTTP_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

const FAULT_MESSAGES: Record<Exclude<SchedulerFault, 'hang' | 'lost-answer'>, string> = {
  RESOURCE_EXHAUSTED: "Quota exceeded for quota metric 'Requests' of service 'cloudscheduler.googleapis.com'.",
  INTERNAL: 'Internal error encountered.',
  UNAVAILABLE: 'The service is currently unavailable.',
};

/** Paths an update mask may name (REST field names), and the top-level field each sits in. */
const MUTABLE_PATHS = new Set([
  'description',
  'schedule',
  'timeZone',
  'attemptDeadline',
  'retryConfig',
  'retryConfig.retryCount',
  'retryConfig.maxRetryDuration',
  'retryConfig.minBackoffDuration',
  'retryConfig.maxBackoffDuration',
  'retryConfig.maxDoublings',
  'httpTarget',
  'httpTarget.uri',
  'httpTarget.httpMethod',
  'httpTarget.headers',
  'httpTarget.body',
  'httpTarget.oidcToken',
  'httpTarget.oauthToken',
  'pubsubTarget',
  'appEngineHttpTarget',
]);

const JOB_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/jobs\/([A-Za-z0-9_-]{1,500})$/;
const PARENT = /^projects\/([^/]+)\/locations\/([^/]+)$/;

class ApiError extends Error {
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

function parseDuration(v: unknown, field: string): number {
  const m = typeof v === 'string' ? /^(-?\d+(?:\.\d{1,9})?)s$/.exec(v) : null;
  if (!m) throw new ApiError('INVALID_ARGUMENT', `Invalid value at 'job.${field}' (type.googleapis.com/google.protobuf.Duration), "${String(v)}"`);
  return Number(m[1]);
}

function fmtDuration(seconds: number): string {
  return `${seconds}s`;
}

function enumName(v: unknown, names: string[], field: string): string {
  if (typeof v === 'number' && names[v]) return names[v]!;
  if (typeof v === 'string' && names.includes(v)) return v;
  throw new ApiError('INVALID_ARGUMENT', `Invalid value at '${field}', ${JSON.stringify(v)}`);
}

function validSchedule(s: string): boolean {
  return cloudSchedulerCronProblem(s) === undefined;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function now(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Normalises a job from a request body: enums to names, defaults filled in, rules checked. */
function normalise(input: Record<string, any>, name: string, previous?: FakeJob): FakeJob {
  const targets = ['httpTarget', 'pubsubTarget', 'appEngineHttpTarget'].filter((k) => input[k] != null);
  if (targets.length > 1) throw new ApiError('INVALID_ARGUMENT', 'A job must have exactly one target.');
  if (targets.length === 0) throw new ApiError('INVALID_ARGUMENT', 'A job must have a target.');
  const schedule = String(input['schedule'] ?? '');
  if (!schedule) throw new ApiError('INVALID_ARGUMENT', 'Schedule is required.');
  if (!validSchedule(schedule)) throw new ApiError('INVALID_ARGUMENT', `Schedule or time zone is invalid. Schedule: "${schedule}"`);
  const timeZone = String(input['timeZone'] || 'Etc/UTC');
  if (!validTimeZone(timeZone)) throw new ApiError('INVALID_ARGUMENT', `Schedule or time zone is invalid. Time zone: "${timeZone}"`);

  const job: FakeJob = {
    name,
    schedule,
    timeZone,
    retryConfig: { maxRetryDuration: '0s', minBackoffDuration: '5s', maxBackoffDuration: '3600s', maxDoublings: 5 },
    attemptDeadline: '180s',
    state: previous?.state ?? 'ENABLED',
    userUpdateTime: now(),
  };
  if (input['description']) job.description = String(input['description']);
  if (job.description !== undefined && [...job.description].length > 500) {
    throw new ApiError('INVALID_ARGUMENT', `Description must be at most 500 characters, got ${[...job.description].length}.`);
  }

  const ht = input['httpTarget'];
  if (ht) {
    const uri = String(ht.uri ?? '');
    if (!/^https?:\/\/[^/\s]+/.test(uri)) throw new ApiError('INVALID_ARGUMENT', `HttpTarget.uri must be an absolute http or https URL: "${uri}"`);
    job.httpTarget = { uri, httpMethod: ht.httpMethod == null ? 'POST' : enumName(ht.httpMethod, ENUM_HTTP_METHOD, 'job.http_target.http_method') };
    if (job.httpTarget.httpMethod === 'HTTP_METHOD_UNSPECIFIED') job.httpTarget.httpMethod = 'POST';
    if (ht.headers && Object.keys(ht.headers).length) job.httpTarget.headers = { ...ht.headers };
    if (ht.body) job.httpTarget.body = String(ht.body);
    if (ht.oidcToken && ht.oauthToken) throw new ApiError('INVALID_ARGUMENT', 'Only one of oidcToken and oauthToken may be set.');
    if (ht.oidcToken) {
      const email = String(ht.oidcToken.serviceAccountEmail ?? '');
      if (!email) throw new ApiError('INVALID_ARGUMENT', 'OidcToken.service_account_email is required.');
      job.httpTarget.oidcToken = { serviceAccountEmail: email };
      if (ht.oidcToken.audience) job.httpTarget.oidcToken.audience = String(ht.oidcToken.audience);
    }
    if (ht.oauthToken) job.httpTarget.oauthToken = clone(ht.oauthToken);
  }
  if (input['pubsubTarget']) job.pubsubTarget = clone(input['pubsubTarget']);
  if (input['appEngineHttpTarget']) job.appEngineHttpTarget = clone(input['appEngineHttpTarget']);

  if (input['attemptDeadline'] != null) {
    const secs = parseDuration(input['attemptDeadline'], 'attempt_deadline');
    if (job.httpTarget && (secs < 15 || secs > 1800)) {
      throw new ApiError('INVALID_ARGUMENT', `The attempt deadline for an HTTP target must be between 15s and 30m, got ${input['attemptDeadline']}.`);
    }
    job.attemptDeadline = fmtDuration(secs);
  }
  const rc = input['retryConfig'];
  if (rc) {
    if (rc.retryCount != null) {
      const n = Number(rc.retryCount);
      if (!Number.isInteger(n) || n < 0 || n > 5) throw new ApiError('INVALID_ARGUMENT', `RetryConfig.retry_count must be between 0 and 5, got ${rc.retryCount}.`);
      if (n > 0) job.retryConfig.retryCount = n;
    }
    for (const k of ['maxRetryDuration', 'minBackoffDuration', 'maxBackoffDuration'] as const) {
      if (rc[k] != null) job.retryConfig[k] = fmtDuration(parseDuration(rc[k], `retry_config.${k}`));
    }
    if (rc.maxDoublings != null) job.retryConfig.maxDoublings = Number(rc.maxDoublings);
    const min = parseDuration(job.retryConfig.minBackoffDuration, 'retry_config.min_backoff_duration');
    const max = parseDuration(job.retryConfig.maxBackoffDuration, 'retry_config.max_backoff_duration');
    if (min < 0 || max < 0) throw new ApiError('INVALID_ARGUMENT', 'RetryConfig backoff durations must not be negative.');
    if (min > max) throw new ApiError('INVALID_ARGUMENT', `RetryConfig.min_backoff_duration (${min}s) must not exceed max_backoff_duration (${max}s).`);
  }
  return job;
}

/** Applies an update mask: copies the named paths from `patch` over `stored`. */
function applyMask(stored: FakeJob, patch: Record<string, any>, paths: string[]): Record<string, any> {
  const out: Record<string, any> = clone(stored);
  for (const path of paths) {
    if (!MUTABLE_PATHS.has(path)) {
      throw new ApiError('INVALID_ARGUMENT', `Invalid update_mask provided: "${path}" is not a mutable field of Job.`);
    }
    const [head, sub] = path.split('.') as [string, string | undefined];
    if (sub === undefined) {
      if (patch[head] == null) delete out[head];
      else out[head] = clone(patch[head]);
      if (head === 'httpTarget' || head === 'pubsubTarget' || head === 'appEngineHttpTarget') {
        // Setting one target clears the others (a oneof).
        for (const t of ['httpTarget', 'pubsubTarget', 'appEngineHttpTarget']) if (t !== head && patch[head] != null) delete out[t];
      }
    } else {
      out[head] = out[head] ? { ...out[head] } : {};
      const v = patch[head]?.[sub];
      if (v == null) delete out[head][sub];
      else out[head][sub] = clone(v);
      if (head === 'httpTarget' && v != null && (sub === 'oidcToken' || sub === 'oauthToken')) {
        delete out[head][sub === 'oidcToken' ? 'oauthToken' : 'oidcToken'];
      }
    }
  }
  return out;
}

function toWire(job: FakeJob, numericEnums: boolean): Record<string, unknown> {
  const out: Record<string, any> = clone(job);
  if (numericEnums) {
    out['state'] = ENUM_STATE.indexOf(job.state);
    if (out['httpTarget']) out['httpTarget'].httpMethod = ENUM_HTTP_METHOD.indexOf(job.httpTarget!.httpMethod);
  }
  return out;
}

function withDefaults(job: Partial<FakeJob> & { name: string; schedule: string }): FakeJob {
  return {
    timeZone: 'Etc/UTC',
    retryConfig: { maxRetryDuration: '0s', minBackoffDuration: '5s', maxBackoffDuration: '3600s', maxDoublings: 5 },
    attemptDeadline: '180s',
    state: 'ENABLED',
    userUpdateTime: now(),
    ...clone(job),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface SchedulerFakeOptions {
  /** Largest page jobs.list returns (the API's is 500); small values exercise paging. */
  maxPageSize?: number;
}

export async function startSchedulerFake(options: SchedulerFakeOptions = {}): Promise<SchedulerFake> {
  const maxPageSize = options.maxPageSize ?? 500;
  const jobs = new Map<string, FakeJob>();
  const faults: Array<FaultRule & { left: number }> = [];
  const calls: RecordedCall[] = [];
  const sockets = new Set<Socket>();
  const hung: ServerResponse[] = [];

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function takeFault(method: SchedulerMethod, jobId: string | undefined): SchedulerFault | undefined {
    const rule = faults.find((f) => f.left > 0 && f.method === method && (f.job === undefined || f.job === jobId));
    if (!rule) return undefined;
    rule.left--;
    return rule.fault;
  }

  function route(httpMethod: string, path: string): { method: SchedulerMethod; name: string } | undefined {
    const verb = /^(.*):(pause|resume|run)$/.exec(path);
    const base = verb ? verb[1]! : path;
    if (verb && httpMethod === 'POST') return verb[2] === 'run' ? undefined : { method: `jobs.${verb[2]}` as SchedulerMethod, name: base };
    if (base.endsWith('/jobs')) {
      const parent = base.slice(0, -'/jobs'.length);
      if (httpMethod === 'GET') return { method: 'jobs.list', name: parent };
      if (httpMethod === 'POST') return { method: 'jobs.create', name: parent };
      return undefined;
    }
    if (httpMethod === 'GET') return { method: 'jobs.get', name: base };
    if (httpMethod === 'PATCH') return { method: 'jobs.patch', name: base };
    if (httpMethod === 'DELETE') return { method: 'jobs.delete', name: base };
    return undefined;
  }

  function handle(method: SchedulerMethod, name: string, query: URLSearchParams, body: Record<string, any>): { status: number; body: unknown } {
    const numeric = (query.get('$alt') ?? '').includes('enum-encoding=int');
    if (method === 'jobs.list' || method === 'jobs.create') {
      const pm = PARENT.exec(name);
      if (!pm) throw new ApiError('INVALID_ARGUMENT', `Invalid resource field value in the request: parent "${name}".`);
      if (method === 'jobs.list') {
        const all = [...jobs.values()].filter((j) => j.name.startsWith(`${name}/jobs/`)).sort((a, b) => (a.name < b.name ? -1 : 1));
        const size = Math.min(maxPageSize, Number(query.get('pageSize') || maxPageSize) || maxPageSize);
        const start = Number(query.get('pageToken') || 0);
        const page = all.slice(start, start + size);
        const out: Record<string, unknown> = { jobs: page.map((j) => toWire(j, numeric)) };
        if (start + size < all.length) out['nextPageToken'] = String(start + size);
        return { status: 200, body: out };
      }
      const jobName = body['name'] ? String(body['name']) : `${name}/jobs/${Math.random().toString(36).slice(2, 12)}`;
      const jm = JOB_NAME.exec(jobName);
      if (!jm || `projects/${jm[1]}/locations/${jm[2]}` !== name) {
        throw new ApiError('INVALID_ARGUMENT', `Job name "${jobName}" must be of the form ${name}/jobs/JOB_ID (letters, numbers, hyphens, underscores).`);
      }
      if (jobs.has(jobName)) throw new ApiError('ALREADY_EXISTS', `Job ${jobName} already exists.`);
      const job = normalise(body, jobName);
      jobs.set(jobName, job);
      return { status: 200, body: toWire(job, numeric) };
    }

    if (!JOB_NAME.test(name)) throw new ApiError('INVALID_ARGUMENT', `Invalid resource field value in the request: name "${name}".`);
    const stored = jobs.get(name);
    if (!stored) throw new ApiError('NOT_FOUND', `Job not found: ${name}.`);
    switch (method) {
      case 'jobs.get':
        return { status: 200, body: toWire(stored, numeric) };
      case 'jobs.delete':
        jobs.delete(name);
        return { status: 200, body: {} };
      case 'jobs.pause':
        if (stored.state !== 'ENABLED') throw new ApiError('FAILED_PRECONDITION', `Job ${name} is ${stored.state}; only an ENABLED job can be paused.`);
        stored.state = 'PAUSED';
        stored.userUpdateTime = now();
        return { status: 200, body: toWire(stored, numeric) };
      case 'jobs.resume':
        if (stored.state !== 'PAUSED') throw new ApiError('FAILED_PRECONDITION', `Job ${name} is ${stored.state}; only a PAUSED job can be resumed.`);
        stored.state = 'ENABLED';
        stored.userUpdateTime = now();
        return { status: 200, body: toWire(stored, numeric) };
      case 'jobs.patch': {
        const maskParam = query.get('updateMask');
        const paths = maskParam ? maskParam.split(',').map((p) => p.trim()).filter(Boolean) : [];
        if (body['name'] && body['name'] !== name) throw new ApiError('INVALID_ARGUMENT', 'The job name in the body does not match the URL.');
        // Without a mask every mutable field is replaced (the API's documented behaviour).
        const merged = paths.length ? applyMask(stored, body, paths) : { ...body };
        const job = normalise(merged, name, stored);
        jobs.set(name, job);
        return { status: 200, body: toWire(job, numeric) };
      }
      default:
        throw new ApiError('INVALID_ARGUMENT', `Unsupported method ${method}.`);
    }
  }

  /**
   * The control API, for people and tests outside this process (see serve-fakes.ts):
   * POST /__fake/fail {"call":"jobs.patch","status":429,"times":3} (or "fault":
   * "RESOURCE_EXHAUSTED" | "INTERNAL" | "UNAVAILABLE" | "hang" | "lost-answer", and "job"),
   * DELETE /__fake/fail clears pending faults, GET /__fake/calls lists calls.
   */
  function control(httpMethod: string, path: string, text: string, res: ServerResponse): void {
    try {
      if (path === '/__fake/fail' && httpMethod === 'POST') {
        const b = JSON.parse(text || '{}') as Record<string, unknown>;
        const methods: SchedulerMethod[] = ['jobs.get', 'jobs.list', 'jobs.create', 'jobs.patch', 'jobs.delete', 'jobs.pause', 'jobs.resume'];
        const method = methods.find((m) => m === b['call']);
        if (!method) return send(res, 400, { error: `"call" must be one of ${methods.join(', ')}` });
        const byStatus: Record<number, SchedulerFault> = { 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };
        const faultNames: SchedulerFault[] = ['RESOURCE_EXHAUSTED', 'INTERNAL', 'UNAVAILABLE', 'hang', 'lost-answer'];
        const fault = b['fault'] !== undefined ? faultNames.find((f) => f === b['fault']) : b['hang'] === true ? 'hang' : byStatus[Number(b['status'] ?? 500)];
        if (!fault) return send(res, 400, { error: `give "status" (429, 500, 503) or "fault" (${faultNames.join(', ')})` });
        const times = b['times'] === undefined ? 1 : Number(b['times']);
        if (!Number.isInteger(times) || times < 1) return send(res, 400, { error: '"times" must be a positive integer' });
        const rule: FaultRule = { method, fault, times, ...(typeof b['job'] === 'string' ? { job: b['job'] } : {}) };
        faults.push({ ...rule, left: times });
        return send(res, 200, rule);
      }
      if (path === '/__fake/fail' && httpMethod === 'DELETE') {
        faults.length = 0;
        return send(res, 200, {});
      }
      if (path === '/__fake/calls' && httpMethod === 'GET') return send(res, 200, { calls });
      if (path === '/__fake/jobs' && httpMethod === 'GET') return send(res, 200, { jobs: [...jobs.values()] });
      send(res, 404, { error: `no control route ${httpMethod} ${path}` });
    } catch (e) {
      send(res, 400, { error: (e as Error).message });
    }
  }

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = await readBody(req);
    const httpMethod = req.method ?? 'GET';
    if (url.pathname.startsWith('/__fake/')) {
      control(httpMethod, url.pathname, text, res);
      return;
    }
    const m = /^\/v1\/(.+)$/.exec(decodeURIComponent(url.pathname));
    const r = m ? route(httpMethod, m[1]!) : undefined;
    if (!r) {
      send(res, 404, { error: { code: 404, message: `No route for ${httpMethod} ${url.pathname}`, status: 'NOT_FOUND' } });
      return;
    }
    let body: Record<string, any> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, any>) : {};
    } catch {
      send(res, 400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } });
      return;
    }
    const call: RecordedCall = {
      method: r.method,
      httpMethod,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(text ? { body } : {}),
      status: 0,
    };
    calls.push(call);
    const jobId = JOB_NAME.exec(r.method === 'jobs.create' ? String(body['name'] ?? '') : r.name)?.[3];
    const fault = takeFault(r.method, jobId);
    if (fault === 'hang') {
      hung.push(res);
      return;
    }
    if (fault === 'lost-answer') {
      try {
        handle(r.method, r.name, url.searchParams, body);
      } catch {
        // The client never hears about it either way.
      }
      hung.push(res);
      return;
    }
    if (fault) {
      call.status = HTTP_STATUS[fault]!;
      send(res, call.status, { error: { code: call.status, message: FAULT_MESSAGES[fault], status: fault } });
      return;
    }
    try {
      const out = handle(r.method, r.name, url.searchParams, body);
      call.status = out.status;
      send(res, out.status, out.body);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError('INTERNAL', String(e));
      call.status = HTTP_STATUS[err.status] ?? 500;
      send(res, call.status, { error: { code: call.status, message: err.message, status: err.status } });
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    port,
    calls,
    jobs: () => [...jobs.values()].map(clone),
    job: (project, location, id) => {
      const j = jobs.get(`projects/${project}/locations/${location}/jobs/${id}`);
      return j ? clone(j) : undefined;
    },
    put: (job) => {
      jobs.set(job.name, withDefaults(job));
    },
    inject: (rule) => {
      faults.push({ ...rule, left: rule.times ?? 1 });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    stop: async () => {
      for (const res of hung) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
