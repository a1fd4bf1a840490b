// The Cloud Scheduler job the spec's `reconcile:` block asks for. Pure: no I/O, no Google
// client; the engine compares the result with what the client observed (diff.ts).
//
// Project, first match wins: reconcile.project, the BigQuery target's project, the
// Datastore source's project, then GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT from the
// environment (options.env, default process.env). None of them: an INVALID_ARGUMENT error
// saying how to set one. (A DuckDB target with an export source has no project of its own,
// hence the environment fallback, the way gcloud and the client libraries resolve it.)
//
// Region, first match wins: reconcile.region, the BigQuery location mapped to a Cloud
// Scheduler region (multi-region US → us-central1, EU → europe-west1, a region name as
// itself), else us-central1.

import { MlbridgeError } from '../model/errors.js';
import type { Spec } from '../spec/types.js';
import type { SchedulerJobSpec } from './types.js';

/**
 * Cloud Scheduler jobs have no labels, so mlbridge marks the jobs it owns in the
 * description; only jobs with this marker are ever deleted.
 */
export const OWNER_MARKER = '[managed-by=mlbridge]';

export const DEFAULT_SCHEDULER_REGION = 'us-central1';

export function isOwnedDescription(description: string | undefined): boolean {
  return description !== undefined && description.includes(OWNER_MARKER);
}

/** Cloud Scheduler refuses a job description longer than this many characters. */
export const MAX_DESCRIPTION_CHARS = 500;

/**
 * The description with the ownership marker appended once, within Cloud Scheduler's
 * 500-character limit: a longer text is shortened (ending in `…`) so that the marker,
 * which decides what mlbridge may delete, is never the part cut off.
 */
export function withOwnerMarker(description: string): string {
  const text = description.trim();
  if (isOwnedDescription(text) && [...text].length <= MAX_DESCRIPTION_CHARS) return text;
  const own = text.split(OWNER_MARKER).join('').replace(/\s+/g, ' ').trim();
  const room = MAX_DESCRIPTION_CHARS - OWNER_MARKER.length - 1;
  const chars = [...own];
  const kept = chars.length <= room ? own : `${chars.slice(0, room - 1).join('').trimEnd()}…`;
  return kept ? `${kept} ${OWNER_MARKER}` : OWNER_MARKER;
}

/** A BigQuery dataset location as the Cloud Scheduler region that serves it. */
export function schedulerRegionForLocation(location: string | undefined): string {
  const loc = (location ?? '').trim().toLowerCase();
  if (!loc) return DEFAULT_SCHEDULER_REGION;
  if (loc === 'us') return 'us-central1';
  if (loc === 'eu') return 'europe-west1';
  return loc;
}

/** The project the job belongs to (see the file comment for the order). */
export function schedulerProject(spec: Spec, env: NodeJS.ProcessEnv = process.env): string {
  const fromSpec =
    spec.reconcile?.project ??
    (spec.target.kind === 'bigquery' ? spec.target.project : undefined) ??
    (spec.source?.kind === 'datastore' ? spec.source.project : undefined);
  const project = fromSpec || env['GOOGLE_CLOUD_PROJECT'] || env['GCLOUD_PROJECT'];
  if (!project) {
    throw new MlbridgeError(
      'INVALID_ARGUMENT',
      'reconcile: cannot tell which Google Cloud project the Cloud Scheduler job belongs to; set reconcile.project, ' +
        'use a bigquery target or a datastore source, or set GOOGLE_CLOUD_PROJECT',
    );
  }
  return project;
}

/**
 * Where to look for jobs mlbridge owns for this spec: the desired job's project and region,
 * or, with no reconcile block, where one would default to (so that removing the block can
 * find the job and delete it). null when no project can be determined.
 */
export function schedulerScope(spec: Spec, options: { env?: NodeJS.ProcessEnv } = {}): { project: string; region: string } | null {
  let project: string;
  try {
    project = schedulerProject(spec, options.env);
  } catch {
    return null;
  }
  const region =
    spec.reconcile?.region ?? (spec.target.kind === 'bigquery' ? schedulerRegionForLocation(spec.target.location) : DEFAULT_SCHEDULER_REGION);
  return { project, region };
}

/**
 * Which target a reconcile job serves. It travels in the job's request body, so
 * `/reconcile` knows what to reconcile and the planner only ever deletes stray jobs of
 * its own target: two deployments sharing a project and region leave each other alone.
 */
export function reconcileTargetKey(spec: Spec): string {
  const t = spec.target;
  return t.kind === 'bigquery' ? `bigquery:${t.project}.${t.dataset}` : `duckdb:${t.dataset}`;
}

/** The target key carried in a job's body, if it is one of ours. */
export function jobTargetKey(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { target?: unknown };
    return typeof parsed.target === 'string' ? parsed.target : undefined;
  } catch {
    return undefined;
  }
}

/** The job for `spec.reconcile`, or null when the spec has no reconcile block. */
export function desiredSchedulerJob(spec: Spec, options: { env?: NodeJS.ProcessEnv } = {}): SchedulerJobSpec | null {
  const r = spec.reconcile;
  if (!r) return null;
  const region = r.region ?? (spec.target.kind === 'bigquery' ? schedulerRegionForLocation(spec.target.location) : DEFAULT_SCHEDULER_REGION);
  const description = r.description ?? `mlbridge drift reconciliation of dataset ${spec.target.dataset}`;
  return {
    project: schedulerProject(spec, options.env),
    region,
    name: r.jobName,
    description: withOwnerMarker(description),
    schedule: r.schedule,
    timeZone: r.timeZone,
    uri: r.url,
    httpMethod: 'POST',
    body: JSON.stringify({ target: reconcileTargetKey(spec) }),
    ...(r.serviceAccount ? { oidc: { serviceAccountEmail: r.serviceAccount, audience: r.audience ?? r.url } } : {}),
    attemptDeadlineSeconds: r.attemptDeadlineSeconds,
    retry: { count: r.retry.count, minBackoffSeconds: r.retry.minBackoffSeconds, maxBackoffSeconds: r.retry.maxBackoffSeconds },
    state: r.paused ? 'PAUSED' : 'ENABLED',
  };
}
