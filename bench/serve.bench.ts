// `mlbridge serve` under load, on loopback only: a server child process (OIDC verification
// on, micro-batching on, an in-memory sink that only counts, so this measures the server,
// not a warehouse) and autocannon as the load generator in this process. autocannon keeps
// its own connections and latency histograms (HdrHistogram), and can hold a fixed request
// rate, which a hand-written loop would have to reimplement.
//
//   1. sustained events/s for ~1 KB Pub/Sub change events (100 connections);
//   2. p50/p99 acknowledgement latency at a steady 1,000 events/s.
// Goal: ≥ 3,000 events/s and p99 ≤ 100 ms at 1,000 events/s.
// Bounded: BENCH_SECONDS per phase (default 10), loopback only.
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from '../src/server/app.js';
import { createTokenVerifier } from '../src/server/auth.js';
import { AUDIENCE, PUSH_SA, TEST_CERTS, customer, pubsubEnvelope, signToken } from '../test/server/fakes.js';

const SECONDS = Math.max(2, Number(process.env.BENCH_SECONDS ?? 10));
const GOAL_RATE = 3000;
const GOAL_P99_MS = 100;

async function serverMain(): Promise<void> {
  let written = 0;
  const server = createServer({
    sink: { async write(c, r) { written += c.length + r.length; return { written: c.length, duplicates: 0, superseded: 0, quarantined: 0, rejected: r.length }; }, async close() {} },
    reconciler: { async reconcile({ id }) { return { id, kinds: {}, durationMs: 0, changed: false }; } },
    kinds: ['CustomerProfile'],
    auth: { mode: 'verify', verifier: createTokenVerifier({ audiences: [AUDIENCE], serviceAccounts: [PUSH_SA] }, { certs: TEST_CERTS }) },
  });
  const url = await server.listen(0, '127.0.0.1');
  // The key pair lives in this process: the token is signed here and handed to the load generator.
  process.send!({ url, token: signToken() });
  process.on('message', async (m: string) => {
    if (m === 'count') process.send!({ written });
    if (m === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
}

/** A 1 KB change event, and its push envelope. */
function event(): { size: number; envelope: Buffer } {
  const entity = customer('bench-1', { bio: { stringValue: '', excludeFromIndexes: true }, city: { stringValue: 'Lyon' } });
  const e = { operation: 'UPSERT', entity, version: '1700000000000000' };
  (entity.properties.bio as { stringValue: string }).stringValue = 'x'.repeat(1024 - JSON.stringify(e).length);
  return { size: JSON.stringify(e).length, envelope: pubsubEnvelope(e) };
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const ask = <T>(msg?: string) => new Promise<T>((resolve) => { child.once('message', (m) => resolve(m as T)); if (msg) child.send(msg); });
  const { url, token } = await ask<{ url: string; token: string }>();
  const { size, envelope: payload } = event();
  const common = {
    url: `${url}/pubsub`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: payload,
    duration: SECONDS,
  };
  try {
    await run({ ...common, connections: 20, duration: 2 }); // warm-up
    const sustained = await run({ ...common, connections: 100 });
    const steady = await run({ ...common, connections: 50, overallRate: 1000 });
    const { written } = await ask<{ written: number }>('count');
    const rate = sustained['2xx'] / SECONDS;
    const non2xx = sustained.non2xx + steady.non2xx + sustained.errors + steady.errors;
    const rows = [
      ['event size', `${size} bytes of JSON (${payload.length} bytes as a push envelope)`],
      ['sustained', `${Math.round(rate)} events/s over ${SECONDS}s, 100 connections (goal ≥ ${GOAL_RATE})`],
      ['at 1,000/s', `p50 ${steady.latency.p50} ms, p99 ${steady.latency.p99} ms, max ${steady.latency.max} ms (goal p99 ≤ ${GOAL_P99_MS})`],
      ['acknowledged', `${sustained['2xx'] + steady['2xx']} (non-2xx or errors: ${non2xx}); the sink received ${written} (incl. warm-up)`],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k!.padEnd(14)} ${v}\n`);
    if (non2xx > 0) process.exitCode = 1;
  } finally {
    child.send('stop');
  }
}

if (process.argv.includes('--server')) void serverMain();
else await main();
