// Data reconciliation on DuckDB, end to end through the CLI (child processes, as a user
// runs it). Generates (once, reused) two managed exports of N entities of ten properties:
// A, and B = A with 1% drift (0.4% updated, 0.3% deleted, 0.3% new). Measures in one run:
//   - backfill: `apply` of A into an empty warehouse (rows/s end to end), and its floor
//     (backfill-floor.ts: decoding, coercing, scoring, serializing and hashing every row
//     spread over every core, plus DuckDB taking the rows in by its cheapest way and writing
//     current's and raw's rows without parsing)
//   - drift plan: `plan --json` of B against the warehouse holding A (and its source memo)
//   - the same plan without the memo (as after a mapping change: every record decoded)
//   - floor: `export stats --jobs 1` on B (reading and decoding every entity once)
//   - naive: the pipeline a user would script instead — `export dump` of B to NDJSON,
//     DuckDB `read_json` into a table, and anti-joins / a content comparison in SQL
//   - drift apply: `apply` of B (on a copy of the backfilled warehouse each run)
//   - peak RSS (GNU time's %M) of the drift plan at N and at 5N entities (medians), also in
//     the steady state: planned again after the drift apply (at 5N: one drift apply first)
// Ratios are computed from medians taken in this same run. BENCH_QUICK=1: N = 100k (else
// 1M); BENCH_RUNS = timed runs per measure (default 3); BENCH_LARGE=0 skips the 5N export.
// Usage: node dist/bench/reconcile.bench.js
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Entity } from '../src/source/entity.js';
import { writeExport } from '../test/support/export-writer.js';
import { MEMO_FORMAT } from '../src/record/source-memo.js';

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = quick ? 100_000 : 1_000_000;
const LARGE = process.env.BENCH_LARGE === '0' ? 0 : N * 5;
const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'mlbridge.js');
const hasGnuTime = existsSync('/usr/bin/time');
const cores = availableParallelism();

/** 1% drift for B: every 250th updated, every 333rd deleted, and N/333 new ones at the end. */
function* entities(n: number, drift: boolean): Generator<Entity> {
  const base = Date.UTC(2024, 0, 1);
  const total = drift ? n + Math.floor(n / 333) : n;
  for (let i = 1; i <= total; i++) {
    if (drift && i <= n && i % 333 === 0) continue;
    const changed = drift && i % 250 === 0;
    yield {
      key: { partitionId: { projectId: 'bench' }, path: [{ kind: 'Item', id: String(i) }] },
      properties: {
        email: { stringValue: `user${i}@example.com` },
        name: { stringValue: `Item number ${i}${changed ? ' (renamed)' : ''}` },
        qty: { integerValue: String(i % 70) },
        price: { doubleValue: (i % 10000) / 7 },
        active: { booleanValue: i % 2 === 0 },
        created: { timestampValue: new Date(base + i * 1000).toISOString() },
        city: { stringValue: ['Berlin', 'Paris', 'Tokyo', 'Lagos', 'Lima'][i % 5]! },
        notes: { stringValue: `free text note ${i} `.repeat(3), excludeFromIndexes: true },
        tags: { arrayValue: { values: [{ stringValue: 'alpha' }, { stringValue: `t${i % 13}` }] } },
        score: { doubleValue: (i % 97) / 3 },
      },
    };
  }
}

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: bench }
source:
  export: { path: "./\${BENCH_EXPORT}" }
scoring:
  freshness: { half_life: 15m, max_lag: 3650d }
mappings:
  - kind: Item
    fields:
      - { name: email, type: STRING }
      - { name: name, type: STRING }
      - { name: qty, type: INT64 }
      - { name: price, type: FLOAT64 }
      - { name: active, type: BOOL }
      - { name: created, type: TIMESTAMP }
      - { name: city, type: STRING }
      - { name: notes, type: STRING }
      - { name: tags, type: STRING, mode: REPEATED }
      - { name: score, type: FLOAT64 }
`;

async function ensure(n: number): Promise<string> {
  const dir = join(tmpdir(), `mlbridge-bench-reconcile-${n}`);
  if (!existsSync(join(dir, 'COMPLETE'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const t = performance.now();
    await writeExport(join(dir, 'a'), entities(n, false), { exportId: '2026-11-01T00:00:00_000', maxFileBytes: 32 * 1024 * 1024 });
    await writeExport(join(dir, 'b'), entities(n, true), { exportId: '2026-11-02T00:00:00_000', maxFileBytes: 32 * 1024 * 1024 });
    writeFileSync(join(dir, 'COMPLETE'), '');
    process.stderr.write(`generated 2 × ${n} entities in ${((performance.now() - t) / 1000).toFixed(1)} s at ${dir}\n`);
  }
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  return dir;
}

interface Run {
  seconds: number;
  rssMb: number | null;
  stdout: string;
}

/** Runs a command in `dir`, with GNU time for peak RSS when it is there. */
function run(dir: string, args: string[], env: Record<string, string> = {}, stdoutFile?: string): Run {
  const rssFile = join(dir, '.rss');
  const cmd = hasGnuTime ? '/usr/bin/time' : process.execPath;
  const argv = hasGnuTime ? ['-f', '%M', '-o', rssFile, process.execPath, ...args] : args;
  // Output to a file goes straight to its descriptor: a 1M-entity dump is larger than a string.
  const fd = stdoutFile ? openSync(stdoutFile, 'w') : undefined;
  const t = performance.now();
  const r = spawnSync(cmd, argv, {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1', ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 29,
    ...(fd !== undefined ? { stdio: ['ignore', fd, 'pipe'] } : {}),
  });
  const seconds = (performance.now() - t) / 1000;
  if (fd !== undefined) closeSync(fd);
  if (r.status !== 0 && r.status !== 2) throw new Error(`${args.join(' ')} exited ${r.status}: ${(r.stderr ?? '').slice(-2000)}`);
  let rssMb: number | null = null;
  if (hasGnuTime) {
    const text = spawnSync('cat', [rssFile], { encoding: 'utf8' }).stdout.trim().split('\n').pop() ?? '';
    rssMb = Number(text) / 1024;
  }
  return { seconds, rssMb, stdout: stdoutFile ? '' : (r.stdout ?? '') };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = (k: number, f: () => Run) => Array.from({ length: k }, f);

const dir = await ensure(N);
const wh = join(dir, 'wh.duckdb');
const backfilled = join(dir, 'backfilled.duckdb');
const reset = () => {
  for (const f of [wh, `${wh}.wal`, `${wh}.mlbridge.lock`]) rmSync(f, { force: true });
};

// Backfill: A into an empty warehouse.
const backfill = times(RUNS, () => {
  reset();
  return run(dir, [bin, 'apply', '--auto-approve', '--no-color'], { BENCH_EXPORT: 'a' });
});
copyFileSync(wh, backfilled);
// The backfill's floor (backfill-floor.ts): decoding A once; coercing, scoring, serializing
// and hashing every row once, as if all of it were spread perfectly over every core; DuckDB
// taking the rows in (the cheaper of read_json and the appender) and writing current's and
// raw's rows with no parsing.
const decodeA = times(RUNS, () => run(dir, [bin, 'export', 'stats', join(dir, 'a'), '--jobs', '1', '--json']));
const floorParts = times(RUNS, () =>
  run(dir, [join(root, 'dist', 'bench', 'backfill-floor.js'), backfilled, 'bench', 'item', join(dir, 'a'), join(dir, 'mlbridge.yaml')], { BENCH_EXPORT: 'a' }),
);
interface FloorParts {
  serializeAndHashCpuSeconds: number;
  coerceAndScoreCpuSeconds: number;
  transfer: Record<'readJson' | 'appender', { seconds: number }>;
  write: Record<string, { seconds: number }>;
}
const parts = floorParts.map((r) => JSON.parse(r.stdout) as FloorParts);
const backfillFloor = {
  decode: median(decodeA.map((r) => r.seconds)),
  coerceAndScore: median(parts.map((p) => p.coerceAndScoreCpuSeconds)),
  serializeAndHash: median(parts.map((p) => p.serializeAndHashCpuSeconds)),
  transferReadJson: median(parts.map((p) => p.transfer.readJson.seconds)),
  transferAppender: median(parts.map((p) => p.transfer.appender.seconds)),
  writeCurrentAndRaw: median(parts.map((p) => p.write.current!.seconds + p.write.raw!.seconds + p.write.commit!.seconds)),
  writeMemo: median(parts.map((p) => p.write.memo!.seconds)),
};
const floorSeconds =
  (backfillFloor.decode + backfillFloor.coerceAndScore + backfillFloor.serializeAndHash) / cores +
  Math.min(backfillFloor.transferReadJson, backfillFloor.transferAppender) +
  backfillFloor.writeCurrentAndRaw;

// The drift plan, and its floor and the naive pipeline on the same export.
const plan = times(RUNS, () => run(dir, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' }));
// The same plan on a copy without the memo.
const unmemoized = join(dir, 'unmemoized.duckdb');
copyFileSync(backfilled, unmemoized);
writeFileSync(
  join(dir, 'drop-memo.mjs'),
  `import { DuckDBInstance } from '${join(root, 'node_modules', '@duckdb', 'node-api', 'lib', 'index.js')}';
const db = await DuckDBInstance.create('${unmemoized}');
const c = await db.connect();
await c.run('DROP SCHEMA IF EXISTS _mlbridge_memo CASCADE');
c.closeSync();
db.closeSync();
`,
);
run(dir, [join(dir, 'drop-memo.mjs')]);
const planWithoutMemo = times(RUNS, () => {
  reset();
  copyFileSync(unmemoized, wh);
  return run(dir, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' });
});
rmSync(unmemoized, { force: true });
reset();
copyFileSync(backfilled, wh);
const planJson = JSON.parse(run(dir, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' }).stdout);
const floor = times(RUNS, () => run(dir, [bin, 'export', 'stats', join(dir, 'b'), '--jobs', '1', '--json']));
const naiveSql = (ndjson: string) => `
import { DuckDBInstance } from '${join(root, 'node_modules', '@duckdb', 'node-api', 'lib', 'index.js')}';
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
await c.run("ATTACH '${backfilled}' AS wh (READ_ONLY)");
await c.run("CREATE TABLE src AS SELECT key.path[1].id AS id, properties FROM read_json('${ndjson}', format = 'newline_delimited', maximum_object_size = 16777216)");
const q = async (s) => Number((await c.runAndReadAll(s)).getRows()[0][0]);
const ins = await q("SELECT count(*) FROM src s WHERE NOT EXISTS (SELECT 1 FROM wh.bench.item t WHERE t._key = 'Item#' || s.id)");
const del = await q("SELECT count(*) FROM wh.bench.item t WHERE NOT EXISTS (SELECT 1 FROM src s WHERE t._key = 'Item#' || s.id)");
const upd = await q("SELECT count(*) FROM src s JOIN wh.bench.item t ON t._key = 'Item#' || s.id WHERE t.name IS DISTINCT FROM s.properties.name.stringValue OR t.email IS DISTINCT FROM s.properties.email.stringValue OR t.city IS DISTINCT FROM s.properties.city.stringValue OR t.notes IS DISTINCT FROM s.properties.notes.stringValue");
console.log(JSON.stringify({ ins, del, upd }));
`;
const naive = times(RUNS, () => {
  const ndjson = join(dir, 'b.ndjson');
  const dump = run(dir, [bin, 'export', 'dump', join(dir, 'b')], {}, ndjson);
  writeFileSync(join(dir, 'naive.mjs'), naiveSql(ndjson));
  const sql = run(dir, [join(dir, 'naive.mjs')]);
  rmSync(ndjson, { force: true });
  return { seconds: dump.seconds + sql.seconds, rssMb: Math.max(dump.rssMb ?? 0, sql.rssMb ?? 0), stdout: sql.stdout };
});

// The drift apply, each run on a fresh copy of the backfilled warehouse.
const driftApply = times(RUNS, () => {
  reset();
  copyFileSync(backfilled, wh);
  return run(dir, [bin, 'apply', '--auto-approve', '--no-color'], { BENCH_EXPORT: 'b' });
});

// The steady state: a plan of B against the warehouse the last drift apply left (current and
// memo with rows deleted here and there, whose deletion info DuckDB holds once it scans them).
const planAfterApply = times(RUNS, () => run(dir, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' }));

// Peak RSS of the drift plan at 5N (its own exports and backfill), and after a drift apply there.
let large: { plan: Run; driftApply: Run; afterApply: Run; n: number } | null = null;
if (LARGE > 0) {
  const big = await ensure(LARGE);
  const bwh = join(big, 'wh.duckdb');
  // A backfill kept from an earlier run is reused only when this version wrote it the same way.
  const made = join(big, 'backfilled.format');
  const format = `memo ${MEMO_FORMAT}`;
  if (!existsSync(join(big, 'backfilled.duckdb')) || !existsSync(made) || readFileSync(made, 'utf8') !== format) {
    for (const f of [bwh, `${bwh}.wal`]) rmSync(f, { force: true });
    run(big, [bin, 'apply', '--auto-approve', '--no-color'], { BENCH_EXPORT: 'a' });
    copyFileSync(bwh, join(big, 'backfilled.duckdb'));
    writeFileSync(made, format);
  } else copyFileSync(join(big, 'backfilled.duckdb'), bwh);
  const plans = times(RUNS, () => run(big, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' }));
  const applied = run(big, [bin, 'apply', '--auto-approve', '--no-color'], { BENCH_EXPORT: 'b' });
  const after = times(RUNS, () => run(big, [bin, 'plan', '--json'], { BENCH_EXPORT: 'b' }));
  large = {
    plan: { seconds: median(plans.map((r) => r.seconds)), rssMb: median(plans.map((r) => r.rssMb ?? 0)), stdout: '' },
    driftApply: applied,
    afterApply: { seconds: median(after.map((r) => r.seconds)), rssMb: median(after.map((r) => r.rssMb ?? 0)), stdout: '' },
    n: LARGE,
  };
}

const m = {
  backfill: median(backfill.map((r) => r.seconds)),
  plan: median(plan.map((r) => r.seconds)),
  planWithoutMemo: median(planWithoutMemo.map((r) => r.seconds)),
  floor: median(floor.map((r) => r.seconds)),
  naive: median(naive.map((r) => r.seconds)),
  driftApply: median(driftApply.map((r) => r.seconds)),
};
const rows = planJson.summary.rows;
const result = {
  entities: N,
  drift: rows,
  naiveCounts: JSON.parse(naive[0]!.stdout),
  seconds: m,
  backfillRowsPerSecond: Math.round(N / m.backfill),
  backfillFloor: {
    cores,
    seconds: +floorSeconds.toFixed(2),
    rowsPerSecond: Math.round(N / floorSeconds),
    parts: Object.fromEntries(Object.entries(backfillFloor).map(([k, v]) => [k, +v.toFixed(2)])),
  },
  backfillOverFloor: +(m.backfill / floorSeconds).toFixed(2),
  planOverFloor: +(m.plan / m.floor).toFixed(2),
  naiveOverPlan: +(m.naive / m.plan).toFixed(2),
  planWithoutMemoOverFloor: +(m.planWithoutMemo / m.floor).toFixed(2),
  driftApplyOverPlan: +(m.driftApply / m.plan).toFixed(2),
  peakRssMb: {
    backfill: median(backfill.map((r) => r.rssMb ?? 0)),
    plan: median(plan.map((r) => r.rssMb ?? 0)),
    planWithoutMemo: median(planWithoutMemo.map((r) => r.rssMb ?? 0)),
    driftApply: median(driftApply.map((r) => r.rssMb ?? 0)),
    planAfterDriftApply: median(planAfterApply.map((r) => r.rssMb ?? 0)),
    ...(large
      ? {
          [`plan at ${large.n}`]: large.plan.rssMb,
          [`plan at ${large.n} seconds`]: +large.plan.seconds.toFixed(1),
          [`drift apply at ${large.n}`]: large.driftApply.rssMb,
          [`drift apply at ${large.n} seconds`]: +large.driftApply.seconds.toFixed(1),
          [`plan at ${large.n} after the drift apply`]: large.afterApply.rssMb,
          [`plan at ${large.n} after the drift apply seconds`]: +large.afterApply.seconds.toFixed(1),
        }
      : {}),
  },
  goals: {
    'plan ≤ 2× floor': m.plan <= 2 * m.floor,
    'plan ≥ 4× faster than naive': m.naive >= 4 * m.plan,
    'backfill ≥ 150,000 rows/s': N / m.backfill >= 150_000,
    'drift apply ≤ 1.5× drift plan': m.driftApply <= 1.5 * m.plan,
    'peak RSS ≤ 400 MB': Math.max(median(plan.map((r) => r.rssMb ?? 0)), median(planWithoutMemo.map((r) => r.rssMb ?? 0)), median(planAfterApply.map((r) => r.rssMb ?? 0)), large?.plan.rssMb ?? 0, large?.afterApply.rssMb ?? 0) <= 400,
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
