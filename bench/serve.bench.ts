// `mlbridge serve` under load, on loopback only: a server child process (OIDC verification
// on, micro-batching on) and autocannon as the load generator in this process. autocannon
// keeps its own connections and latency histograms (HdrHistogram), and can hold a fixed
// request rate, which a hand-written loop would have to reimplement. Two sinks:
//   - memory: a sink that only counts, so this measures the server itself;
//   - duckdb: the real ingest path (engine/ingest.ts) into a DuckDB file in a temp folder,
//     tables created by `mlbridge apply --skip-data` as a deployment does.
// Each event is a distinct change (its own version, 10,000 keys in turn), so the DuckDB
// sink writes every one instead of deduplicating a repeated event.
//
//   1. sustained events/s for ~1 KB Pub/Sub change events at each of BENCH_CONNECTIONS
//      concurrent requests (default "100,300"): Pub/Sub raises its push concurrency while
//      acks come back fast, and serve's batches grow with it, so throughput depends on it;
//   2. p50/p99 acknowledgement latency at a steady 1,000 events/s.
// Goal: ≥ 3,000 events/s and p99 ≤ 100 ms at 1,000 events/s.
// Bounded: BENCH_SECONDS per phase (default 10), loopback only. BENCH_SINKS=memory,duckdb;
// BENCH_PROF_DIR=DIR writes a CPU profile of the server child there.
import autocannon from 'autocannon';
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from '../src/server/app.js';
import { createTokenVerifier } from '../src/server/auth.js';
import type { ChangeSink, Reconciler } from '../src/server/ports.js';
import { AUDIENCE, PUSH_SA, TEST_CERTS, customer, pubsubEnvelope, signToken } from '../test/server/fakes.js';
import { BIN, customerSpec } from '../test/server/serve-child.js';

const SECONDS = Math.max(2, Number(process.env.BENCH_SECONDS ?? 10));
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '100,300').split(',').map((c) => Math.max(1, Number(c)));
const SINKS = (process.env.BENCH_SINKS ?? 'memory,duckdb').split(',').filter((s) => s === 'memory' || s === 'duckdb');
const GOAL_RATE = 3000;
const GOAL_P99_MS = 100;

const idleReconciler: Reconciler = { async reconcile({ id }) { return { id, kinds: {}, resources: [], durationMs: 0, changed: false }; } };

/** The sink of the server child, and how to close what it opened. */
async function openSink(kind: string, dir: string | undefined): Promise<{ sink: ChangeSink; reconciler: Reconciler; close(): Promise<void> }> {
  if (kind === 'memory') {
    const sink: ChangeSink = { async write(c, r) { return { written: c.length, duplicates: 0, superseded: 0, quarantined: 0, rejected: r.length }; }, async close() {} };
    return { sink, reconciler: idleReconciler, close: async () => {} };
  }
  const { loadSpec } = await import('../src/spec/load.js');
  const { openEnginePorts } = await import('../src/cli/commands/serve-ports.js');
  const { spec } = await loadSpec(join(dir!, 'mlbridge.yaml'), { env: process.env, cwd: dir! });
  const io = { env: process.env, cwd: dir! } as Parameters<typeof openEnginePorts>[1];
  return openEnginePorts(spec!, io);
}

async function serverMain(kind: string, dir: string | undefined): Promise<void> {
  const counts = { written: 0, duplicates: 0, superseded: 0, other: 0, batches: 0, writeMs: 0 };
  const opened = await openSink(kind, dir);
  const counting: ChangeSink = {
    async write(c, r) {
      const started = performance.now();
      const o = await opened.sink.write(c, r);
      counts.batches++;
      counts.writeMs += performance.now() - started;
      counts.written += o.written;
      counts.duplicates += o.duplicates;
      counts.superseded += o.superseded;
      counts.other += o.quarantined + o.rejected;
      return o;
    },
    close: () => opened.sink.close(),
  };
  const server = createServer({
    sink: counting,
    reconciler: opened.reconciler,
    kinds: ['CustomerProfile'],
    auth: { mode: 'verify', verifier: createTokenVerifier({ audiences: [AUDIENCE], serviceAccounts: [PUSH_SA] }, { certs: TEST_CERTS }) },
  });
  const url = await server.listen(0, '127.0.0.1');
  // The key pair lives in this process: the token is signed here and handed to the load generator.
  process.send!({ url, token: signToken() });
  process.on('message', async (m: string) => {
    if (m === 'count') process.send!(counts);
    if (m === 'stop') {
      await server.close();
      await opened.close();
      process.exit(0);
    }
  });
}

/** ~1 KB change events, each a new version of one of 10,000 keys, as push envelopes. */
function events(): { size: number; next(): Buffer } {
  const make = (i: number) => {
    const entity = customer(`bench-${i % 10_000}`, { bio: { stringValue: '', excludeFromIndexes: true }, city: { stringValue: 'Lyon' } });
    const e = { operation: 'UPSERT', entity, version: String(1_700_000_000_000_000 + i), eventTime: new Date().toISOString() };
    (entity.properties.bio as { stringValue: string }).stringValue = 'x'.repeat(Math.max(0, 1024 - JSON.stringify(e).length));
    return e;
  };
  let i = 0;
  return { size: JSON.stringify(make(0)).length, next: () => pubsubEnvelope(make(++i), { messageId: String(i) }) };
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

async function measure(kind: string): Promise<boolean> {
  let dir: string | undefined;
  if (kind === 'duckdb') {
    dir = mkdtempSync(join(tmpdir(), 'mlbridge-bench-serve-'));
    writeFileSync(join(dir, 'mlbridge.yaml'), customerSpec(['city', 'bio']));
    execFileSync(process.execPath, [BIN, 'apply', '--auto-approve', '--skip-data', '-c', '.'], { cwd: dir, stdio: 'pipe' });
  }
  const child = fork(fileURLToPath(import.meta.url), ['--server', kind, ...(dir ? [dir] : [])], { stdio: 'inherit', execArgv: process.env.BENCH_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF_DIR}`] : [] });
  const ask = <T>(msg?: string) => new Promise<T>((resolve) => { child.once('message', (m) => resolve(m as T)); if (msg) child.send(msg); });
  const stopped = new Promise((r) => child.once('exit', r));
  try {
    const { url, token } = await ask<{ url: string; token: string }>();
    const gen = events();
    const common = {
      url: `${url}/pubsub`,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: gen.next() }) }],
      duration: SECONDS,
    };
    await run({ ...common, connections: 20, duration: 2 }); // warm-up
    const sustained = [];
    for (const connections of CONNECTIONS) sustained.push({ connections, result: await run({ ...common, connections }) });
    const steady = await run({ ...common, connections: 50, overallRate: 1000 });
    const counts = await ask<{ written: number; duplicates: number; superseded: number; other: number; batches: number; writeMs: number }>('count');
    const acked = sustained.reduce((n, s) => n + s.result['2xx'], steady['2xx']);
    const non2xx = sustained.reduce((n, s) => n + s.result.non2xx + s.result.errors, steady.non2xx + steady.errors);
    const rows = [
      ['sink', kind === 'memory' ? 'in memory (counts only: the server\'s own cost)' : `DuckDB (engine ingest into ${dir}/wh.duckdb)`],
      ['event size', `${gen.size} bytes of JSON`],
      ...sustained.map((s) => ['sustained', `${Math.round(s.result['2xx'] / SECONDS)} events/s over ${SECONDS}s, ${s.connections} connections (goal ≥ ${GOAL_RATE})`]),
      ['at 1,000/s', `p50 ${steady.latency.p50} ms, p99 ${steady.latency.p99} ms, max ${steady.latency.max} ms (goal p99 ≤ ${GOAL_P99_MS})`],
      ['acknowledged', `${acked} (non-2xx or errors: ${non2xx}); the sink: ${counts.written} written, ${counts.superseded} superseded, ${counts.duplicates} duplicates, ${counts.other} quarantined or rejected (incl. warm-up)`],
      ['sink writes', `${counts.batches} batches, ${Math.round((counts.written + counts.superseded + counts.duplicates + counts.other) / Math.max(1, counts.batches))} events and ${(counts.writeMs / Math.max(1, counts.batches)).toFixed(1)} ms per write on average`],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k!.padEnd(14)} ${v}\n`);
    return non2xx === 0 && counts.other === 0;
  } finally {
    child.send('stop');
    await stopped;
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let ok = true;
  for (const [i, kind] of SINKS.entries()) {
    if (i > 0) process.stdout.write('\n');
    ok = (await measure(kind)) && ok;
  }
  if (!ok) process.exitCode = 1;
}

const at = process.argv.indexOf('--server');
if (at >= 0) void serverMain(process.argv[at + 1]!, process.argv[at + 2]);
else await main();
