// Opens the Cloud Scheduler client the Google Cloud way:
//   CLOUD_SCHEDULER_EMULATOR_HOST=127.0.0.1:PORT (or http://host:port): plain HTTP to a
//     local fake/emulator, no credentials (google-auth-library's PassThroughClient);
//   otherwise Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud
//     ADC file, the metadata server), checked up front so a missing credential is one clear
//     CREDENTIALS_MISSING error naming what was tried, not a stack from the first call.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MlbridgeError, errorMessage } from '../model/errors.js';
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

function adcFilePath(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32' && env['APPDATA']) return join(env['APPDATA'], 'gcloud', 'application_default_credentials.json');
  const configDir = env['CLOUDSDK_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.config', 'gcloud');
  return join(configDir, 'application_default_credentials.json');
}

/** What ADC looked at, for the error message. */
function triedCredentials(env: NodeJS.ProcessEnv): string[] {
  const keyFile = env['GOOGLE_APPLICATION_CREDENTIALS'];
  const adc = adcFilePath(env);
  return [
    keyFile
      ? `GOOGLE_APPLICATION_CREDENTIALS=${keyFile} (${existsSync(keyFile) ? 'not usable' : 'file not found'})`
      : 'GOOGLE_APPLICATION_CREDENTIALS (not set)',
    `the gcloud application-default credentials file ${adc} (${existsSync(adc) ? 'not usable' : 'not found'})`,
    'the Compute Engine / Cloud Run metadata server (not reachable)',
  ];
}

export async function openScheduler(options: OpenSchedulerOptions = {}): Promise<SchedulerClientLike> {
  const env = options.env ?? process.env;
  const { createSchedulerClient } = await import('./client.js');
  const common = {
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.retryPolicy ? { retryPolicy: options.retryPolicy } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  };

  const emulator = env['CLOUD_SCHEDULER_EMULATOR_HOST'];
  if (emulator) {
    const { host, port, protocol } = parseEmulatorHost(emulator);
    const { PassThroughClient } = await import('google-auth-library');
    return createSchedulerClient({ ...common, apiEndpoint: host, port, protocol, auth: new PassThroughClient() });
  }

  const keyFile = env['GOOGLE_APPLICATION_CREDENTIALS'];
  const { GoogleAuth } = await import('google-auth-library');
  const auth = new GoogleAuth({
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    ...(keyFile ? { keyFilename: keyFile } : {}),
  });
  try {
    const { withoutMetadataWarning } = await import('../warehouse/google-config.js');
    await withoutMetadataWarning(() => auth.getClient());
  } catch (e) {
    throw new MlbridgeError(
      'CREDENTIALS_MISSING',
      `No Google Cloud credentials for Cloud Scheduler (${errorMessage(e).split('\n')[0]}). Tried: ${triedCredentials(env).join('; ')}. ` +
        'Run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a key file, ' +
        'or set CLOUD_SCHEDULER_EMULATOR_HOST for a local fake.',
    );
  }
  return createSchedulerClient({ ...common, auth });
}
