// Cloud Scheduler job vocabulary shared by the engine and the scheduler adapter.

import type { BaseChange } from '../model/change.js';

export interface SchedulerJobSpec {
  project: string;
  region: string;
  /** Short job id, e.g. "mlbridge-reconcile". */
  name: string;
  description?: string;
  schedule: string;
  timeZone: string;
  uri: string;
  httpMethod: 'POST';
  /** Request body sent to /reconcile (JSON text). */
  body?: string;
  oidc?: { serviceAccountEmail: string; audience: string };
  attemptDeadlineSeconds: number;
  retry: { count: number; minBackoffSeconds: number; maxBackoffSeconds: number };
  state: 'ENABLED' | 'PAUSED';
}

export interface ObservedSchedulerJob extends SchedulerJobSpec {
  /** True when mlbridge created it (marker in the description). */
  owned: boolean;
  /** Fingerprint for stale-plan detection (hash of the observed job). */
  etag: string;
  /** The API's userUpdateTime (RFC 3339), when reported. Not part of the etag. */
  updateTime?: string;
}

export interface SchedulerClientLike {
  getJob(project: string, region: string, name: string): Promise<ObservedSchedulerJob | null>;
  /** Jobs in the location that mlbridge owns. */
  listOwnedJobs(project: string, region: string): Promise<ObservedSchedulerJob[]>;
  createJob(job: SchedulerJobSpec): Promise<void>;
  updateJob(job: SchedulerJobSpec, updateMask: string[]): Promise<void>;
  pauseJob(project: string, region: string, name: string): Promise<void>;
  resumeJob(project: string, region: string, name: string): Promise<void>;
  deleteJob(project: string, region: string, name: string): Promise<void>;
  close(): Promise<void>;
}

/** A planned change to the reconcile job (one of the Plan's change types). */
export interface SchedulerJobChange extends BaseChange<'scheduler_job', SchedulerJobSpec> {
  /** For 'update': which fields change (PATCH update mask) and pause/resume transitions. */
  updateMask?: string[];
  stateChange?: 'pause' | 'resume';
}
