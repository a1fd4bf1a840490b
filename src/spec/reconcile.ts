// `reconcile:` — the Cloud Scheduler job that calls serve's /reconcile: its schedule (Cloud
// Scheduler's cron dialect), time zone, target URL and OIDC identity, and retry settings.

import {
  DEFAULT_ATTEMPT_DEADLINE_SECONDS, DEFAULT_JOB_NAME, DEFAULT_RETRY, DEFAULT_TIME_ZONE,
} from './defaults.js';
import { suggest } from './names.js';
import type { Reader, Entry } from './reader.js';
import { cloudSchedulerCronProblem } from './cron.js';
import type { ReconcileSpec } from './types.js';
import { readProject } from './target-source.js';

const JOB_NAME = /^[A-Za-z0-9_-]{1,500}$/;
const REGION = /^[a-z]+(?:-[a-z]+)+\d+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

const RECONCILE_KEYS = [
  'schedule', 'time_zone', 'url', 'service_account', 'audience', 'job_name', 'project', 'region', 'paused',
  'description', 'attempt_deadline', 'retry',
] as const;

export function readReconcile(r: Reader, e: Entry): ReconcileSpec | undefined {
  const path = 'reconcile';
  const f = r.object(e.value, path, RECONCILE_KEYS, ['schedule', 'url']);
  if (!f) return undefined;
  let ok = true;
  const schedule = readSchedule(r, f.schedule);
  if (schedule === undefined) ok = false;

  let timeZone = DEFAULT_TIME_ZONE;
  if (f.time_zone) {
    const tz = r.string(f.time_zone, 'reconcile.time_zone', { nonEmpty: true });
    if (tz === undefined) ok = false;
    else if (!isTimeZone(tz)) {
      const hint = suggest(tz, timeZones());
      r.error(`\`reconcile.time_zone\`: unknown time zone \`${tz}\`${hint ? `; did you mean \`${hint}\`?` : ' (use an IANA name such as Europe/Paris)'}`, f.time_zone.value.pos);
      ok = false;
    } else timeZone = tz;
  }

  const url = readUrl(r, f.url, 'reconcile.url');
  const audience = f.audience ? r.string(f.audience, 'reconcile.audience', { nonEmpty: true }) : undefined;
  let serviceAccount: string | undefined;
  if (f.service_account) {
    serviceAccount = r.string(f.service_account, 'reconcile.service_account', { nonEmpty: true });
    if (serviceAccount !== undefined && !EMAIL.test(serviceAccount)) {
      r.error(`\`reconcile.service_account\`: \`${serviceAccount}\` is not a service account email`, f.service_account.value.pos);
      ok = false;
    }
  }
  let jobName = DEFAULT_JOB_NAME;
  if (f.job_name) {
    const j = r.string(f.job_name, 'reconcile.job_name', { nonEmpty: true });
    if (j !== undefined && !JOB_NAME.test(j)) {
      r.error(`\`reconcile.job_name\`: \`${j}\` may hold only letters, digits, \`_\` and \`-\` (at most 500)`, f.job_name.value.pos);
      ok = false;
    } else if (j === undefined) ok = false;
    else jobName = j;
  }
  const project = f.project ? readProject(r, f.project, 'reconcile.project') : undefined;
  if (f.project && project === undefined) ok = false;
  let region: string | undefined;
  if (f.region) {
    region = r.string(f.region, 'reconcile.region', { nonEmpty: true });
    if (region !== undefined && !REGION.test(region)) {
      r.error(`\`reconcile.region\`: \`${region}\` is not a Google Cloud region such as us-central1`, f.region.value.pos);
      ok = false;
    }
  }
  const paused = f.paused ? r.boolean(f.paused, 'reconcile.paused') : false;
  const description = r.string(f.description, 'reconcile.description');
  const attemptDeadlineSeconds = f.attempt_deadline
    ? r.duration(f.attempt_deadline, 'reconcile.attempt_deadline', { min: 15, max: 1800 })
    : DEFAULT_ATTEMPT_DEADLINE_SECONDS;

  const retry = { ...DEFAULT_RETRY };
  if (f.retry) {
    const rt = r.object(f.retry.value, 'reconcile.retry', ['count', 'min_backoff', 'max_backoff']);
    if (rt) {
      const count = r.number(rt.count, 'reconcile.retry.count', { integer: true, min: 0, max: 5 });
      const min = r.duration(rt.min_backoff, 'reconcile.retry.min_backoff');
      const max = r.duration(rt.max_backoff, 'reconcile.retry.max_backoff');
      if (count !== undefined) retry.count = count;
      if (min !== undefined) retry.minBackoffSeconds = min;
      if (max !== undefined) retry.maxBackoffSeconds = max;
      if (retry.minBackoffSeconds > retry.maxBackoffSeconds) {
        r.error('`reconcile.retry`: `min_backoff` must not be longer than `max_backoff`', (rt.min_backoff ?? rt.max_backoff ?? f.retry).value.pos);
        ok = false;
      }
    } else ok = false;
  }

  if (!ok || schedule === undefined || url === undefined || paused === undefined || attemptDeadlineSeconds === undefined) return undefined;
  const out: ReconcileSpec = { schedule, timeZone, url, jobName, paused, attemptDeadlineSeconds, retry, source: e.key.pos };
  if (serviceAccount !== undefined) out.serviceAccount = serviceAccount;
  if (audience !== undefined) out.audience = audience;
  if (region !== undefined) out.region = region;
  if (project !== undefined) out.project = project;
  if (description !== undefined) out.description = description;
  return out;
}

/**
 * `reconcile.schedule` in Cloud Scheduler's cron dialect (cron.ts), trimmed. A problem is
 * reported at the offending field inside the scalar when the text shows it verbatim.
 */
function readSchedule(r: Reader, e: Entry | undefined): string | undefined {
  const schedule = r.string(e, 'reconcile.schedule', { nonEmpty: true });
  if (schedule === undefined || !e) return undefined;
  const problem = cloudSchedulerCronProblem(schedule);
  if (!problem) return schedule.trim();
  const node = e.value;
  let pos = node.pos;
  if (node.kind === 'scalar' && problem.offset > 0 && !schedule.includes('\n')) {
    // The scalar's raw text (inside any quotes) equals its value: no escapes to count.
    const verbatim = node.end - node.start === schedule.length;
    if (verbatim) pos = { ...pos, col: pos.col + (node.plain ? 0 : 1) + problem.offset };
  }
  r.error(`\`reconcile.schedule\`: \`${schedule}\` is not a valid Cloud Scheduler schedule: ${problem.message}`, pos);
  return undefined;
}

function readUrl(r: Reader, e: Entry | undefined, path: string): string | undefined {
  const s = r.string(e, path, { nonEmpty: true });
  if (s === undefined || !e) return undefined;
  let u: URL | undefined;
  try { u = new URL(s); } catch { u = undefined; }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
    r.error(`\`${path}\`: \`${s}\` is not an http(s) URL`, e.value.pos);
    return undefined;
  }
  return s;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
}
