// `mlbridge serve [-c SPEC] [--port N] [--no-auth]`: the event-driven side of mlbridge, for
// Cloud Run. Port: --port, else $PORT (Cloud Run sets it), else 8080. Logs are JSON lines on
// stdout (Cloud Logging reads `severity` and `message`). SIGTERM/SIGINT: stop accepting,
// write what is queued, answer the waiting requests, exit 0.
// DuckDB target: the file is closed once serve has been idle for --release-after (env
// MLBRIDGE_SERVE_RELEASE_AFTER, default 2s; 0 keeps it open), so an apply or plan run by hand
// can open it; the next request reopens it.

import { once } from 'node:events';
import { createServer, UNCONFIGURED_AUTH_HELP, type LogEntry, type ServerAuth } from '../../server/app.js';
import { createTokenVerifier, type VerifierOptions } from '../../server/auth.js';
import { MlbridgeError } from '../../model/errors.js';
import { loadConfig, printDiagnostics } from '../context.js';
import { EXIT, println, type CliIO } from '../io.js';
import { parseDurationMs } from '../duration.js';
import { openEnginePorts, type OpenPorts } from './serve-ports.js';

export interface ServeOptions {
  config: string;
  port?: number;
  host?: string;
  /** --no-auth: accept pushes without a token (local use). */
  auth: boolean;
  maxBatch?: number;
  maxDelayMs?: number;
  /** A duration such as "2s": how long serve stays idle before it releases the DuckDB file; "0" keeps it open. */
  releaseAfter?: string;
}

/** serve's default --release-after: long enough to keep a burst of pushes on one open file. */
export const DEFAULT_RELEASE_AFTER = '2s';

/** --release-after, else $MLBRIDGE_SERVE_RELEASE_AFTER, else 2 s; in milliseconds. */
export function resolveReleaseAfterMs(option: string | undefined, env: NodeJS.ProcessEnv): number {
  if (option !== undefined) return parseDurationMs(option, '--release-after');
  const fromEnv = env.MLBRIDGE_SERVE_RELEASE_AFTER;
  if (fromEnv !== undefined && fromEnv !== '') return parseDurationMs(fromEnv, 'MLBRIDGE_SERVE_RELEASE_AFTER');
  return parseDurationMs(DEFAULT_RELEASE_AFTER);
}

export interface ServeDeps {
  openPorts?: OpenPorts;
  /** Token verification settings (tests inject their signing key's certificates). */
  verifier?: VerifierOptions;
  /** Stops the server (tests); default: SIGTERM or SIGINT. */
  signal?: AbortSignal;
  /** Called with the base URL once listening (tests). */
  onListening?: (url: string) => void;
}

export function resolvePort(option: number | undefined, env: NodeJS.ProcessEnv): number {
  if (option !== undefined) return option;
  const fromEnv = env.PORT;
  if (fromEnv === undefined || fromEnv === '') return 8080;
  const n = Number(fromEnv);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new MlbridgeError('INVALID_ARGUMENT', `PORT: expected a port number (0-65535), got '${fromEnv}'`);
  }
  return n;
}

function processSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return controller.signal;
}

export async function run(options: ServeOptions, io: CliIO, deps: ServeDeps = {}): Promise<number> {
  const port = resolvePort(options.port, io.env);
  const releaseAfterMs = resolveReleaseAfterMs(options.releaseAfter, io.env);
  const { spec, diagnostics } = await loadConfig(options.config, io);
  printDiagnostics(io, diagnostics);
  if (!spec) return EXIT.ERROR;

  const log = (entry: LogEntry) => println(io.stdout, JSON.stringify({ ...entry, time: new Date().toISOString() }));
  let auth: ServerAuth;
  if (!options.auth) {
    auth = { mode: 'disabled' };
    println(io.stderr, 'warning: --no-auth: every request is accepted without a token. Use this for local testing only, never on a reachable address.');
  } else if (!spec.serve?.auth) {
    auth = { mode: 'unconfigured' };
    log({ severity: 'WARNING', message: UNCONFIGURED_AUTH_HELP });
  } else {
    auth = {
      mode: 'verify',
      verifier: createTokenVerifier({ audiences: spec.serve.auth.audiences, serviceAccounts: spec.serve.auth.serviceAccounts }, deps.verifier),
    };
  }

  const ports = await (deps.openPorts ?? openEnginePorts)(spec, io, { releaseAfterMs });
  const server = createServer({
    sink: ports.sink,
    reconciler: ports.reconciler,
    kinds: spec.mappings.map((m) => m.kind),
    auth,
    log,
    batch: {
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
    },
  });
  try {
    const url = await server.listen(port, options.host ?? '0.0.0.0');
    log({ severity: 'INFO', message: `mlbridge serve listening on ${url} (${spec.mappings.length} mapped kind${spec.mappings.length === 1 ? '' : 's'})`, url });
    deps.onListening?.(url);
    const signal = deps.signal ?? processSignal();
    if (!signal.aborted) await once(signal, 'abort');
    log({ severity: 'INFO', message: 'stopping: writing queued changes' });
  } finally {
    await server.close().finally(() => ports.close());
  }
  return EXIT.OK;
}
