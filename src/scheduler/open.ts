// Opens the Cloud Scheduler client the Google Cloud way:
//   CLOUD_SCHEDULER_EMULATOR_HOST=127.0.0.1:PORT (or http://host:port): plain HTTP to a
//     local fake/emulator, no credentials (google-auth-library's PassThroughClient);
//   otherwise Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud
//     ADC file, the metadata server), checked up front so a missing credential is one clear
//     CREDENTIALS_MISSING error naming what was tried, not a stack from the first call.

import { MlbridgeError } from '../model/errors.js';
import { positiveIntegerEnv } from '../model/env-number.js';
import type { RetryPolicy } from '../model/retry.js';
import type { RetryInfo } from './client.js';
import type { SchedulerClientLike } from './types.js';

export interface OpenSchedulerOptions {
  env?: NodeJS.ProcessEnv;
  onRetry?: (info: RetryInfo) => void;
  /** For tests: retry policy, backoff sleep and per-call timeout overrides. */
  retryPolicy?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  timeoutMs?: number;
}

/** Parses CLOUD_SCHEDULER_EMULATOR_HOST: "host:port" or "http(s)://host:port". */
export function parseEmulatorHost(value: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new MlbridgeError('INVALID_ARGUMENT', `CLOUD_SCHEDULER_EMULATOR_HOST must look like 127.0.0.1:8123, got "${value}"`);
  }
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port ? Number(url.port) : protocol === 'https' ? 443 : 80;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port, protocol };
}

export async function openScheduler(options: OpenSchedulerOptions = {}): Promise<SchedulerClientLike> {
  const env = options.env ?? process.env;
  const { createSchedulerClient } = await import('./client.js');
  // Per-request deadline: the option (tests), else MLBRIDGE_SCHEDULER_TIMEOUT_MS, else the client's 60 s.
  const timeoutMs = options.timeoutMs ?? positiveIntegerEnv(env, 'MLBRIDGE_SCHEDULER_TIMEOUT_MS', 'milliseconds');
  const common = {
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.retryPolicy ? { retryPolicy: options.retryPolicy } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(timeoutMs ? { timeoutMs } : {}),
  };

  const emulator = env['CLOUD_SCHEDULER_EMULATOR_HOST'];
  if (emulator) {
    const { host, port, protocol } = parseEmulatorHost(emulator);
    const { PassThroughClient } = await import('google-auth-library');
    return createSchedulerClient({ ...common, apiEndpoint: host, port, protocol, auth: new PassThroughClient() });
  }

  // Application Default Credentials, resolved now: one CREDENTIALS_MISSING naming what was
  // tried, the same sentence BigQuery and Datastore give.
  const { googleAuthClient } = await import('../google/config.js');
  const auth = (await googleAuthClient(env, {
    emulator: false,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    service: 'Cloud Scheduler',
  })) as import('google-auth-library').GoogleAuth;
  return createSchedulerClient({ ...common, auth });
}
