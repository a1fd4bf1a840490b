// The HTTP face of `mlbridge serve` (fastify):
//   POST /eventarc (and /)  Datastore-mode CloudEvents from Eventarc
//   POST /pubsub            Pub/Sub push envelopes carrying change events
//   POST /reconcile         run the Reconciler (Cloud Scheduler); 409 while one runs
//   GET  /healthz           liveness; needs no token
// Every POST is authenticated before its body is read. The answer to a push is the
// acknowledgement: 200 only once sink.write has resolved for the batch holding the message
// (a message that can never succeed is rejected, recorded and also acknowledged with 200),
// and its body says what the sink did with it: accepted, quarantined or rejected (with why),
// 401 without a valid token, 503 when the sink failed or the server is shutting down (the
// platform redelivers); a busy target (busy.ts) adds Retry-After and names its holder.
// Every answer that is not a 2xx says why in `{error, reason}`, never
// with a stack; a decoder that throws on a body would throw again on its redelivery, so such
// a message is rejected (recorded, 200) instead of being redelivered forever.

import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { errorMessage } from '../model/errors.js';
import type { TokenVerifier } from './auth.js';
import { RETRY_AFTER_SECONDS, busyTarget } from './busy.js';
import { BatcherClosedError, MicroBatcher, type BatcherOptions } from './batcher.js';
import { reject, type Decoded, type Origin } from './decoded.js';
import { decodeEventarc } from './eventarc.js';
import { decodePubsub } from './pubsub.js';
import type { ChangeSink, Reconciler, ReconcileSummary, Verdict } from './ports.js';
import { toJsonShape } from '../model/json-shape.js';
import { reconcileOutcome } from '../engine/reconcile.js';

export type ServerAuth =
  | { mode: 'verify'; verifier: TokenVerifier }
  /** No serve.auth in the spec: every push is refused (secure by default). */
  | { mode: 'unconfigured' }
  /** --no-auth: local use only. */
  | { mode: 'disabled' };

export interface LogEntry {
  severity: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
  message: string;
  [field: string]: unknown;
}

export interface ServerOptions {
  sink: ChangeSink;
  reconciler: Reconciler;
  /** The spec's mapped kinds: events for other kinds are rejected (acknowledged and recorded). */
  kinds: Iterable<string>;
  auth: ServerAuth;
  batch?: Omit<BatcherOptions, 'onBatch'>;
  /** One structured log entry per call (Cloud Logging reads JSON lines); default: none. */
  log?: (entry: LogEntry) => void;
  /** Largest accepted body; default 16 MiB (a 10 MB Pub/Sub message, base64-encoded). */
  bodyLimit?: number;
}

export interface MlbridgeServer {
  app: FastifyInstance;
  /** Listens on host:port (port 0 = any free one); returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  /** Messages waiting for the next write into the sink. */
  queued(): number;
  /** Stops accepting requests, writes what is queued, waits for in-flight requests, closes the sink. */
  close(): Promise<void>;
}

export const UNCONFIGURED_AUTH_HELP =
  'serve.auth is not set in the spec, so every push is refused with 401. Add\n' +
  '  serve:\n    auth:\n      audience: https://<your service URL>\n      service_accounts: [<push service account email>]\n' +
  'or run `mlbridge serve --no-auth` for local use only.';

/** 503 for a target that is busy for now: Retry-After, `{error, reason}` and the holder when known. */
function busyReply(reply: FastifyReply, body: { reason: string; id?: string; holder?: Record<string, unknown> }) {
  return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: 'unavailable', ...body });
}

export function createServer(options: ServerOptions): MlbridgeServer {
  const log = options.log ?? (() => {});
  const kinds = new Set(options.kinds);
  const batcher = new MicroBatcher(options.sink, {
    ...options.batch,
    onBatch: ({ size, outcome, error, durationMs }) => {
      // A busy target is expected now and then (an apply run by hand): a warning, not an error.
      if (error) log({ severity: busyTarget(error) ? 'WARNING' : 'ERROR', message: `sink.write failed for a batch of ${size}: ${errorMessage(error)}`, size, durationMs });
      else log({ severity: 'DEBUG', message: `wrote a batch of ${size}`, size, durationMs, ...outcome });
    },
  });
  // return503OnClosing off: requests arriving while serve drains get the hook's 503, which says why.
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024, return503OnClosing: false });
  let closing = false;
  app.addHook('onRequest', async (_req, reply) => {
    if (closing) await reply.code(503).header('connection', 'close').send({ error: 'unavailable', reason: 'the server is shutting down; retry the request' });
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: 'not found', reason: `no route ${req.method} ${req.url.split('?')[0]}; serve answers POST /eventarc, POST /, POST /pubsub, POST /reconcile and GET /healthz` }),
  );
  app.setErrorHandler(async (error: { statusCode?: number; message?: string }, req, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const reason = errorMessage(error);
    log({ severity: status >= 500 ? 'ERROR' : 'WARNING', message: `${req.method} ${req.url} answered ${status}: ${reason}`, path: req.url, status });
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : 'bad request', reason });
  });

  // Bodies stay raw: the decoders need the exact bytes (protobuf, and the sha256 that
  // identifies a rejected message across redeliveries).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const auth = options.auth;
    if (auth.mode === 'disabled') return;
    if (auth.mode === 'unconfigured') {
      log({ severity: 'WARNING', message: `refused ${req.method} ${req.url}: serve.auth is not configured`, path: req.url });
      await reply.code(401).send({ error: 'unauthorized', reason: 'serve.auth is not configured on this server' });
      return;
    }
    let result;
    try {
      result = await auth.verifier.verify(req.headers.authorization);
    } catch (e) {
      log({ severity: 'ERROR', message: `cannot verify tokens: ${errorMessage(e)}`, path: req.url });
      await reply.code(503).send({ error: 'unavailable', reason: `cannot verify tokens right now (${errorMessage(e)})` });
      return;
    }
    if (!result.ok) {
      log({ severity: 'WARNING', message: `refused ${req.method} ${req.url}: ${result.reason}`, path: req.url });
      await reply.code(401).send({ error: 'unauthorized', reason: result.reason });
    }
  };

  const ingest = (origin: Origin, decode: (body: Buffer, req: FastifyRequest, receivedAt: Date) => Decoded) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const receivedAt = new Date();
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let decoded: Decoded;
      try {
        decoded = decode(body, req, receivedAt);
      } catch (e) {
        // Decoding reads only the body and headers: the same delivery would fail the same way.
        decoded = reject({ origin, body, receivedAt }, `the message could not be decoded (${errorMessage(e)})`);
      }
      if ('rejected' in decoded) {
        log({ severity: 'WARNING', message: `rejected ${decoded.rejected.origin} message ${decoded.rejected.id.slice(0, 12)}: ${decoded.rejected.reason}`, ...(decoded.rejected.kind ? { kind: decoded.rejected.kind } : {}) });
      }
      let verdict: Verdict;
      try {
        verdict = await batcher.submit(decoded);
      } catch (e) {
        const busy = busyTarget(e);
        if (busy) return busyReply(reply, { reason: `the target is busy: ${busy.reason}; the change will be redelivered`, ...(busy.holder ? { holder: busy.holder } : {}) });
        const reason = e instanceof BatcherClosedError ? `${e.message}; retry the request` : `the change could not be written (${errorMessage(e)}); it will be redelivered`;
        return reply.code(503).send({ error: 'unavailable', reason });
      }
      // 200 for all three: what was quarantined or rejected would fail the same way again.
      if (verdict.status !== 'accepted' && !('rejected' in decoded)) {
        log({ severity: 'WARNING', message: `${verdict.status} ${origin} message ${verdict.id.slice(0, 12)}: ${verdict.reason}`, kind: decoded.change.record.kind });
      }
      return reply.code(200).send(verdict);
    };

  const eventarc = ingest('eventarc', (body, req, receivedAt) => decodeEventarc(req.headers, { body, receivedAt }, kinds));
  const pubsub = ingest('pubsub', (body, _req, receivedAt) => decodePubsub({ body, receivedAt }, kinds));

  let running: { id: string; startedAt: Date } | undefined;
  const reconcile = async (req: FastifyRequest, reply: FastifyReply) => {
    if (running) {
      return reply.code(409).send({ error: 'conflict', reason: `reconcile ${running.id} is running since ${running.startedAt.toISOString()}`, running: running.id });
    }
    const query = req.query as Record<string, string | string[] | undefined>;
    const kind = query.kind;
    const requested = kind === undefined ? undefined : (Array.isArray(kind) ? kind : [kind]).flatMap((k) => k.split(',')).filter(Boolean);
    // `?kind=` with nothing in it is a mistake, not a request for every kind.
    if (requested?.length === 0) return reply.code(400).send({ error: 'bad request', reason: '?kind= names no kind; name mapped kinds (kind=Order,Product), or leave kind out to reconcile every kind' });
    const unknown = (requested ?? []).filter((k) => !kinds.has(k));
    if (unknown.length) return reply.code(400).send({ error: 'bad request', reason: `kind ${unknown.map((k) => `\`${k}\``).join(', ')} is not mapped in the spec` });
    const id = randomUUID();
    running = { id, startedAt: new Date() };
    log({ severity: 'INFO', message: `reconcile ${id} started`, reconcileId: id, ...(requested ? { kinds: requested } : {}) });
    try {
      const summary: ReconcileSummary = await options.reconciler.reconcile({ id, ...(requested ? { kinds: requested } : {}) });
      log({ severity: 'INFO', message: `reconcile ${id} finished in ${summary.durationMs} ms (${reconcileOutcome(summary)})`, reconcileId: id });
      for (const w of summary.warnings ?? []) log({ severity: 'WARNING', message: `reconcile ${id}: ${w}`, reconcileId: id });
      return reply.code(200).send(toJsonShape(summary));
    } catch (e) {
      const busy = busyTarget(e);
      if (busy) {
        log({ severity: 'WARNING', message: `reconcile ${id} not run, the target is busy: ${busy.reason}`, reconcileId: id });
        return busyReply(reply, { id, reason: `the target is busy: ${busy.reason}; retry later`, ...(busy.holder ? { holder: busy.holder } : {}) });
      }
      log({ severity: 'ERROR', message: `reconcile ${id} failed: ${errorMessage(e)}`, reconcileId: id });
      return reply.code(500).send({ error: 'reconcile failed', id, reason: errorMessage(e) });
    } finally {
      running = undefined;
    }
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.post('/eventarc', { onRequest: authenticate }, eventarc);
  app.post('/', { onRequest: authenticate }, eventarc);
  app.post('/pubsub', { onRequest: authenticate }, pubsub);
  app.post('/reconcile', { onRequest: authenticate }, reconcile);

  let closed: Promise<void> | undefined;
  return {
    app,
    async listen(port, host = '0.0.0.0') {
      await app.listen({ port, host });
      const addr = app.server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${actual}`;
    },
    queued: () => batcher.queued,
    close() {
      closing = true;
      closed ??= (async () => {
        // Close the listener and flush the queue together: in-flight requests wait on the flush.
        await Promise.all([app.close(), batcher.close()]);
        await options.sink.close();
      })();
      return closed;
    },
  };
}
