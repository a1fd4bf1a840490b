// Issue #10's acceptance test for Pub/Sub, against real tables: the real Pub/Sub emulator
// pushes change events to `mlbridge serve` (the CLI, a child process) on a DuckDB spec.
// 2,000 deliveries (1,400 distinct events for 200 keys, 600 of them published again) in a
// seeded shuffled order must leave current = the latest version of every key, value by
// value, and raw = one row per distinct event; then a second wave, with serve killed by
// SIGKILL while it is being published and restarted on the same port, must lose and
// duplicate nothing.
//
// Knowing when delivery has settled, and reading the tables. DuckDB lets one process hold a
// database file: while serve runs, a read-only open from this process is refused, so the
// tables cannot be polled during delivery. Instead, the push subscription points at a small
// forwarding proxy in this process, which relays every push to serve unchanged and notes the
// status serve answered per Pub/Sub messageId (when serve is down it answers 502, as Cloud
// Run's front end does, and the emulator redelivers). serve's contract is "200 only after the
// change is written", so once every published messageId has been answered 200 the tables
// hold everything; serve is then stopped with SIGTERM (which writes what is queued and
// exits 0), and the tables are read with DuckDB read-only. The wait is bounded by a generous
// deadline and never a fixed sleep. Reading through serve's own process would need a query
// endpoint serve does not have (and should not, for a test).
import { PubSub, type Topic } from '@google-cloud/pubsub';
import { createServer, request, Agent, type Server } from 'node:http';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mulberry32 } from '../../src/model/prng.js';
import { freeLoopbackPort } from '../support/emulator-process.js';
import { startPubsubEmulator, type PubsubEmulator } from '../support/pubsub-emulator.js';
import { customerSpec, eventually, mlbridge, shuffle, specFolder, startServe, tableRows, type ServeChild } from './serve-child.js';

// ---- fakes: the spec, the events, the forwarding proxy ----

const KEYS = 200;
const VERSIONS_PER_WAVE = 7;
const T0 = Date.now() - 3_600_000; // event times within the last hour: nothing is stale

interface ChangeEvent {
  operation: 'UPSERT' | 'DELETE';
  entity: { key: object; properties?: Record<string, object> };
  version: string;
  eventTime: string;
}

const keyOf = (k: number) => ({ partitionId: { projectId: 'mlbridge-test' }, path: [{ kind: 'CustomerProfile', name: `cust-${k}` }] });
const valuesOf = (k: number, v: number) => ({ email: `cust-${k}-v${v}@example.com`, visits: String(k * 100 + v), tier: (k + v) % 3 === 0 ? 'gold' : 'silver' });

/** Key k at version v: an UPSERT, or a DELETE of the key. */
function event(k: number, v: number, deletes: boolean): ChangeEvent {
  const eventTime = new Date(T0 + v * 1000 + k).toISOString();
  if (deletes) return { operation: 'DELETE', entity: { key: keyOf(k) }, version: String(v), eventTime };
  const x = valuesOf(k, v);
  return {
    operation: 'UPSERT',
    entity: { key: keyOf(k), properties: { email: { stringValue: x.email }, visits: { integerValue: x.visits }, tier: { stringValue: x.tier } } },
    version: String(v),
    eventTime,
  };
}

/** One wave: its distinct events, the 2,000 deliveries (30% published again) in shuffled order, and the latest state per key. */
function wave(firstVersion: number, deleteOffset: number, seed: number) {
  const distinct: ChangeEvent[] = [];
  const last = firstVersion + VERSIONS_PER_WAVE - 1;
  for (let k = 0; k < KEYS; k++) {
    for (let v = firstVersion; v <= last; v++) distinct.push(event(k, v, v === last && k % 10 === deleteOffset));
  }
  const rand = mulberry32(seed);
  const again = shuffle(distinct, rand).slice(0, 600);
  const deliveries = shuffle([...distinct, ...again], rand);
  return { distinct, deliveries, last };
}

/** The current table a user expects after `waves`: per key, the latest event's values, or no row after a DELETE. */
function expectedCurrent(waves: Array<ReturnType<typeof wave>>): Array<Record<string, string>> {
  const latest = new Map<number, ChangeEvent>();
  for (const w of waves) for (const e of w.distinct) latest.set(Number(/cust-(\d+)/.exec(JSON.stringify(e.entity.key))![1]), e);
  const out: Array<Record<string, string>> = [];
  for (const [k, e] of latest) {
    if (e.operation === 'DELETE') continue;
    out.push({ _key: `CustomerProfile:cust-${k}`, _version: e.version, ...valuesOf(k, Number(e.version)) });
  }
  return out.sort((a, b) => a._key!.localeCompare(b._key!));
}

interface Proxy {
  url: string;
  /** 200 answers per Pub/Sub messageId. */
  acked: Map<string, number>;
  /** Pushes that could not reach serve (answered 502). */
  unreachable: number;
  close(): Promise<void>;
}

/** Relays pushes to `target()` unchanged and notes serve's answer per messageId. */
async function startProxy(target: () => string): Promise<Proxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const proxy: Proxy = { url: '', acked: new Map(), unreachable: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const messageId = String((JSON.parse(body.toString('utf8')) as { message?: { messageId?: string } }).message?.messageId);
      const fail = () => {
        proxy.unreachable++;
        if (!res.headersSent) res.writeHead(502).end('serve is unreachable');
      };
      const out = request(`${target()}${req.url}`, { method: 'POST', agent, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' } }, (answer) => {
        const back: Buffer[] = [];
        answer.on('data', (c: Buffer) => back.push(c));
        answer.on('error', fail);
        answer.on('end', () => {
          if (answer.statusCode === 200) proxy.acked.set(messageId, (proxy.acked.get(messageId) ?? 0) + 1);
          res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/json' }).end(Buffer.concat(back));
        });
      });
      out.on('error', fail);
      out.end(body);
    });
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.close = () => new Promise<void>((r) => { agent.destroy(); server.close(() => r()); server.closeAllConnections(); });
  return proxy;
}

// ---- the suite ----

const E2E = suite('Pub/Sub emulator → mlbridge serve → DuckDB');

let emulator: PubsubEmulator;
let pubsub: PubSub;
let proxy: Proxy;
let serve: ServeChild;
let port = 0;
let folder: ReturnType<typeof specFolder>;
let topic: Topic;
const dbPath = () => join(folder.dir, 'wh.duckdb');

E2E.before(async () => {
  folder = specFolder(customerSpec(), 'mlbridge-pubsub-e2e-');
  const applied = await mlbridge(['apply', '--auto-approve', '--skip-data', '-c', '.'], folder.dir);
  assert.is(applied.code, 0, applied.stderr);
  emulator = await startPubsubEmulator();
  port = await freeLoopbackPort();
  serve = await startServe(folder.dir, port);
  proxy = await startProxy(() => `http://127.0.0.1:${port}`);
  process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no credentials
  pubsub = new PubSub({ projectId: emulator.project, apiEndpoint: emulator.host, emulatorMode: true });
  [topic] = await pubsub.createTopic('changes');
  await topic.createSubscription('serve', { pushConfig: { pushEndpoint: `${proxy.url}/pubsub` }, ackDeadlineSeconds: 20 });
});

E2E.after(async () => {
  await serve?.stop('SIGKILL');
  await pubsub?.close().catch(() => {});
  await proxy?.close();
  await emulator?.stop();
  folder?.cleanup();
});

async function publish(events: ChangeEvent[]): Promise<string[]> {
  return Promise.all(events.map((e) => topic.publishMessage({ json: e })));
}

async function settled(ids: string[]): Promise<void> {
  await eventually(
    () => ids.every((id) => proxy.acked.has(id)),
    () => `${ids.filter((id) => !proxy.acked.has(id)).length} of ${ids.length} messages to be acknowledged by serve; serve's log tail:\n${serve.output().slice(-2000)}`,
    300_000,
  );
}

/** Stops serve with SIGTERM (it writes what is queued and exits 0), then reads current and raw. */
async function stopAndRead(): Promise<{ current: Array<Record<string, unknown>>; raw: Array<Record<string, unknown>> }> {
  assert.is(await serve.stop('SIGTERM'), 0, serve.output().slice(-2000));
  const current = await tableRows(dbPath(), 'SELECT _key, _version, email, CAST(visits AS VARCHAR) AS visits, tier FROM live.customer_profile ORDER BY _key');
  const raw = await tableRows(dbPath(), 'SELECT event_id, _key, CAST(epoch_ms(event_time) AS VARCHAR) AS event_ms, operation FROM live.customer_profile_raw');
  return { current, raw };
}

function assertOneRawRowPerEvent(raw: Array<Record<string, unknown>>, distinct: ChangeEvent[]): void {
  assert.is(raw.length, distinct.length, 'raw rows');
  assert.is(new Set(raw.map((r) => r.event_id)).size, distinct.length, 'distinct event_ids in raw');
  // Raw has no version column; each event's time is unique per key and version.
  const want = distinct.map((e) => `${JSON.stringify(e.entity.key).match(/cust-\d+/)![0]}@${Date.parse(e.eventTime)}:${e.operation}`).sort();
  const got = raw.map((r) => `${String(r._key).replace('CustomerProfile:', '')}@${String(r.event_ms)}:${String(r.operation)}`).sort();
  assert.equal(got, want, 'raw holds each event (key, time, operation) exactly once');
}

const first = wave(1, 0, 2026);
const second = wave(1 + VERSIONS_PER_WAVE, 5, 2027);

E2E('2,000 shuffled deliveries with 30% re-published events leave the latest version of each key and one raw row per event', async () => {
  assert.is(first.deliveries.length, 2000);
  const ids = await publish(first.deliveries);
  await settled(ids);
  const { current, raw } = await stopAndRead();
  const want = expectedCurrent([first]);
  assert.is(want.length, 180, 'every 10th key ends deleted');
  assert.equal(current, want);
  assertOneRawRowPerEvent(raw, first.distinct);
});

E2E('a second wave with serve killed by SIGKILL mid-publish and restarted on the same port loses and duplicates nothing', async () => {
  serve = await startServe(folder.dir, port);
  const chunks: ChangeEvent[][] = [];
  for (let i = 0; i < second.deliveries.length; i += 100) chunks.push(second.deliveries.slice(i, i + 100));
  const ids: string[] = [];
  let killedAfter = -1;
  for (let i = 0; i < chunks.length; i++) {
    ids.push(...(await publish(chunks[i]!)));
    if (i === 5) {
      // Deliveries are flowing: kill serve with no chance to answer what it holds.
      await eventually(() => ids.filter((id) => proxy.acked.has(id)).length >= 200, () => '200 acknowledged messages of the second wave');
      assert.is(await serve.stop('SIGKILL'), null);
      killedAfter = ids.filter((id) => proxy.acked.has(id)).length;
    }
    if (i === 9) serve = await startServe(folder.dir, port); // the same port: the subscription pushes there
  }
  assert.ok(killedAfter >= 200 && killedAfter < ids.length, `killed with ${killedAfter} of ${ids.length} acknowledged`);
  await settled(ids);
  const { current, raw } = await stopAndRead();
  assert.equal(current, expectedCurrent([first, second]));
  assertOneRawRowPerEvent(raw, [...first.distinct, ...second.distinct]);
});

E2E.run();
