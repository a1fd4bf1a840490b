// At-least-once delivery made safe: 2xx only after the sink wrote the batch, 503 when it
// failed (then the redelivery succeeds), micro-batches by size, and /reconcile one at a time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from '../../src/server/app.js';
import type { ChangeSink } from '../../src/server/ports.js';
import { run as serve } from '../../src/cli/commands/serve.js';
import { fakeIO } from '../cli/fake-io.js';
import { bearer, customer, manualReconciler, pubsubEnvelope, recordingSink, testServer } from './fakes.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as netServer } from 'node:net';

const push = (n: number, name = `c${n}`) => ({
  method: 'POST' as const,
  url: '/pubsub',
  headers: { authorization: bearer(), 'content-type': 'application/json' },
  payload: pubsubEnvelope({ operation: 'UPSERT', entity: customer(name), version: String(n) }, { messageId: String(n) }),
});

const Ack = suite('acknowledgement after the sink wrote');

Ack('a sink failure answers 503; the redelivered message is then written once', async () => {
  const { server, sink } = testServer();
  sink.failNext(1);
  const first = await server.app.inject(push(1));
  assert.equal([first.statusCode, first.json()], [503, { error: 'unavailable', reason: 'the change could not be written (warehouse unavailable (injected)); it will be redelivered' }]);
  assert.is(sink.writes.length, 0);
  const again = await server.app.inject(push(1));
  assert.is(again.statusCode, 200);
  assert.equal(sink.changes().map((c) => c.record.entityKey), ['CustomerProfile:c1']);
  await server.close();
});

Ack('no answer goes out before the write of its batch resolved', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const written: number[] = [];
  let entered = false;
  const sink: ChangeSink = {
    async write(changes) {
      entered = true;
      await gate;
      written.push(changes.length);
      return { written: changes.length, duplicates: 0, superseded: 0, quarantined: 0, rejected: 0 };
    },
    async close() {},
  };
  const server = createServer({ sink, reconciler: manualReconciler(), kinds: ['CustomerProfile'], auth: { mode: 'disabled' }, batch: { maxDelayMs: 0 } });
  let answered = false;
  const pending = server.app.inject(push(1)).then((r) => {
    answered = true;
    return r;
  });
  while (!entered) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal([answered, written], [false, []], 'the write is under way: no answer yet');
  release();
  const res = await pending;
  assert.equal([res.statusCode, written], [200, [1]]);
  await server.close();
});

Ack('concurrent messages are written in batches of at most max-batch, one batch at a time', async () => {
  const sink = recordingSink();
  let inFlight = 0;
  let maxInFlight = 0;
  const write = sink.write.bind(sink);
  sink.write = async (c, r) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((res) => setImmediate(res));
    inFlight--;
    return write(c, r);
  };
  const server = createServer({ sink, reconciler: manualReconciler(), kinds: ['CustomerProfile'], auth: { mode: 'disabled' }, batch: { maxBatch: 10, maxDelayMs: 60_000 } });
  const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => server.app.inject(push(i))));
  assert.ok(responses.every((r) => r.statusCode === 200));
  assert.equal(sink.writes.map((w) => w.changes.length), [10, 10, 10]);
  assert.is(maxInFlight, 1);
  assert.is(new Set(sink.changes().map((c) => c.record.entityKey)).size, 30);
  await server.close();
});

Ack('closing writes what is queued and answers the waiting requests', async () => {
  const sink = recordingSink();
  const server = createServer({ sink, reconciler: manualReconciler(), kinds: ['CustomerProfile'], auth: { mode: 'disabled' }, batch: { maxBatch: 100, maxDelayMs: 60_000 } });
  const pending = Promise.all([server.app.inject(push(1)), server.app.inject(push(2))]);
  while (server.queued() < 2) await new Promise((r) => setImmediate(r));
  await server.close();
  const res = await pending;
  assert.equal(res.map((r) => r.statusCode), [200, 200]);
  assert.equal([sink.writes.length, sink.closed], [1, true]);
});

Ack('a push arriving while serve drains gets 503 saying it is shutting down; the queued one is written', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered = false;
  const sink = recordingSink();
  const write = sink.write.bind(sink);
  sink.write = async (c, r) => {
    entered = true;
    await gate;
    return write(c, r);
  };
  const server = createServer({ sink, reconciler: manualReconciler(), kinds: ['CustomerProfile'], auth: { mode: 'disabled' }, batch: { maxDelayMs: 0 } });
  const first = server.app.inject(push(1));
  while (!entered) await new Promise((r) => setImmediate(r));
  const closing = server.close();
  const late = await server.app.inject(push(2));
  assert.equal([late.statusCode, late.json()], [503, { error: 'unavailable', reason: 'the server is shutting down; retry the request' }]);
  release();
  assert.is((await first).statusCode, 200);
  await closing;
  assert.equal(sink.changes().map((c) => c.record.entityKey), ['CustomerProfile:c1']);
});

Ack('an unknown route answers 404 naming the routes serve has', async () => {
  const { server } = testServer();
  const res = await server.app.inject({ method: 'GET', url: '/pubsub?x=1' });
  assert.equal([res.statusCode, res.json()], [404, { error: 'not found', reason: 'no route GET /pubsub; serve answers POST /eventarc, POST /, POST /pubsub, POST /reconcile and GET /healthz' }]);
  await server.close();
});

const Reconcile = suite('POST /reconcile');

Reconcile('a second call while one runs gets 409 with the running id; the first returns its summary', async () => {
  const reconciler = manualReconciler();
  const { server } = testServer({ reconciler });
  const headers = { authorization: bearer() };
  const first = server.app.inject({ method: 'POST', url: '/reconcile', headers });
  await reconciler.started();
  const second = await server.app.inject({ method: 'POST', url: '/reconcile', headers });
  assert.is(second.statusCode, 409);
  assert.is(second.json().running, reconciler.calls[0]!.id);
  reconciler.finish(true);
  const done = await first;
  assert.is(done.statusCode, 200);
  assert.equal(done.json(), { id: reconciler.calls[0]!.id, kinds: { CustomerProfile: { insert: 1, update: 0, delete: 0, quarantine: 0, unchanged: 5 } }, resources: [], duration_ms: 12, changed: true });
  const third = server.app.inject({ method: 'POST', url: '/reconcile?kind=Order', headers });
  await reconciler.started();
  reconciler.finish(false);
  assert.is((await third).statusCode, 200);
  assert.equal(reconciler.calls[1]!.kinds, ['Order']);
  await server.close();
});

Reconcile('an unmapped ?kind= is 400 and nothing runs', async () => {
  const reconciler = manualReconciler();
  const { server } = testServer({ reconciler });
  const res = await server.app.inject({ method: 'POST', url: '/reconcile?kind=Nope', headers: { authorization: bearer() } });
  assert.equal([res.statusCode, res.json().reason, reconciler.calls.length], [400, 'kind `Nope` is not mapped in the spec', 0]);
  await server.close();
});

Reconcile('an empty ?kind= is 400, not a reconcile of every kind', async () => {
  const reconciler = manualReconciler();
  const { server } = testServer({ reconciler });
  for (const url of ['/reconcile?kind=', '/reconcile?kind=,']) {
    const res = await server.app.inject({ method: 'POST', url, headers: { authorization: bearer() } });
    assert.equal([res.statusCode, res.json().reason], [400, '?kind= names no kind; name mapped kinds (kind=Order,Product), or leave kind out to reconcile every kind'], url);
  }
  assert.is(reconciler.calls.length, 0);
  await server.close();
});

const Port = suite('mlbridge serve listens where Cloud Run says');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

Port('the PORT environment variable chooses the port', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-serve-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), 'target:\n  duckdb: { path: wh.duckdb, dataset: main }\nmappings:\n  - kind: CustomerProfile\n    fields: [{ name: email, type: STRING }]\n');
  const port = await freePort();
  const io = fakeIO({ cwd: dir, env: { PORT: String(port) } });
  const stop = new AbortController();
  const sink = recordingSink();
  let url = '';
  const exit = serve({ config: 'mlbridge.yaml', auth: true, host: '127.0.0.1' }, io, {
    openPorts: async () => ({ sink, reconciler: manualReconciler(), close: async () => {} }),
    signal: stop.signal,
    onListening: (u) => (url = u),
  });
  while (!url) await new Promise((r) => setTimeout(r, 10));
  assert.is(url, `http://127.0.0.1:${port}`);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal([health.status, await health.json()], [200, { status: 'ok' }]);
  const refused = await fetch(`http://127.0.0.1:${port}/pubsub`, { method: 'POST', body: '{}' });
  assert.is(refused.status, 401, 'no serve.auth block: pushes are refused');
  stop.abort();
  assert.is(await exit, 0);
  assert.match(io.out(), /serve\.auth is not set in the spec/);
  assert.is(sink.closed, true);
});

Ack.run();
Reconcile.run();
Port.run();
