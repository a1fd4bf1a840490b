// Google Cloud configuration the Google way: project from the spec, else --project (the
// CLI puts it in GOOGLE_CLOUD_PROJECT), else GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT /
// CLOUDSDK_CORE_PROJECT; credentials from Application Default Credentials; endpoint
// overrides for fakes and emulators by environment variable (BIGQUERY_EMULATOR_HOST).
// google-auth-library is loaded lazily (it is heavy) and only on the path that needs it.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MlbridgeError } from '../model/errors.js';

/** `http://host:port` from BIGQUERY_EMULATOR_HOST (a bare host:port gets http://), or undefined. */
export function bigQueryEmulatorEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.BIGQUERY_EMULATOR_HOST?.trim();
  if (!raw) return undefined;
  const withScheme = /^https?:\/\//.test(raw) ? raw : `http://${raw}`;
  return withScheme.replace(/\/+$/, '');
}

export function resolveProject(specProject: string | undefined, env: NodeJS.ProcessEnv): string {
  const p = specProject || env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT || env.CLOUDSDK_CORE_PROJECT;
  if (!p) {
    throw new MlbridgeError(
      'INVALID_ARGUMENT',
      'No Google Cloud project: set target.bigquery.project in the spec, pass --project, or set GOOGLE_CLOUD_PROJECT.',
    );
  }
  return p;
}

/** Where google-auth-library looks for gcloud's application-default credentials file. */
export function gcloudAdcPath(env: NodeJS.ProcessEnv): string | undefined {
  let dir = env.CLOUDSDK_CONFIG;
  if (!dir) {
    if (process.platform === 'win32') dir = env.APPDATA ? join(env.APPDATA, 'gcloud') : undefined;
    else dir = env.HOME ? join(env.HOME, '.config', 'gcloud') : undefined;
  }
  return dir ? join(dir, 'application_default_credentials.json') : undefined;
}

/**
 * The sentence CREDENTIALS_MISSING carries: the three places ADC looks, in
 * google-auth-library's order (env var file, gcloud's well-known file, metadata server),
 * each with what was found there.
 */
export function missingCredentialsMessage(env: NodeJS.ProcessEnv, detail?: string): string {
  const gac = env.GOOGLE_APPLICATION_CREDENTIALS;
  const fix = 'Run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS.';
  if (gac) {
    // google-auth-library stops at a set-but-broken GOOGLE_APPLICATION_CREDENTIALS.
    const state = existsSync(gac) ? `could not be used${detail ? `: ${detail}` : ''}` : 'not found';
    return `No usable Google Cloud credentials: GOOGLE_APPLICATION_CREDENTIALS points to ${gac} (${state}). ${fix}`;
  }
  const adc = gcloudAdcPath(env);
  const home = env.HOME;
  const shown = adc && home && adc.startsWith(home) ? `~${adc.slice(home.length)}` : adc ?? '(no config folder)';
  if (adc && existsSync(adc)) {
    return `No usable Google Cloud credentials: gcloud application-default credentials at ${shown} could not be used${detail ? `: ${detail}` : ''}. ${fix}`;
  }
  return (
    'No Google Cloud credentials found: tried GOOGLE_APPLICATION_CREDENTIALS (unset), ' +
    `gcloud application-default credentials (${shown}: not found), the metadata server (not reachable). ${fix}`
  );
}

/**
 * The `authClient` to hand to a Google client: for an emulator/fake a GoogleAuth wrapping
 * PassThroughClient (no tokens, no ADC lookup); otherwise ADC, resolved now so a missing
 * credential is one clear CREDENTIALS_MISSING instead of an error on the first call.
 */
export async function googleAuthClient(
  env: NodeJS.ProcessEnv,
  opts: { emulator: boolean; scopes: string[]; /** Named in the error, e.g. "Cloud Scheduler". */ service?: string },
): Promise<unknown> {
  const gal = await import('google-auth-library');
  if (opts.emulator) return new gal.GoogleAuth({ authClient: new gal.PassThroughClient() });
  // The key file from the env we were given (not only process.env), so the lookup and the
  // message below speak of the same file.
  const keyFilename = env.GOOGLE_APPLICATION_CREDENTIALS;
  const auth = new gal.GoogleAuth({ scopes: opts.scopes, ...(keyFilename ? { keyFilename } : {}) });
  try {
    await withoutMetadataWarning(() => auth.getClient());
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const text = missingCredentialsMessage(env, msg);
    throw new MlbridgeError('CREDENTIALS_MISSING', opts.service ? `${opts.service}: ${text}` : text);
  }
  return auth;
}

/**
 * Runs `fn` (an ADC lookup) without gcp-metadata's MetadataLookupWarning. Off Google Cloud its
 * metadata-server probe can fail in ways it does not recognise (an aborted request, an
 * AggregateError) and then prints "(node:PID) MetadataLookupWarning: received unexpected
 * error …" on stderr, next to our own CREDENTIALS_MISSING message that already says the
 * metadata server was not reachable. Other warnings pass through.
 */
export async function withoutMetadataWarning<T>(fn: () => Promise<T>): Promise<T> {
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type;
    if (type === 'MetadataLookupWarning') return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await fn();
  } finally {
    process.emitWarning = emit;
  }
}
