// Startup wall time: `node -e 0`, `mlbridge --version`, `mlbridge validate -c
// examples/quickstart`, each spawned sequentially, median of N runs (BENCH_RUNS, default 15)
// after one warm-up, printed as a table with the delta over bare node.
// Goal: validate within +250 ms of a bare node start.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'mlbridge.js');
const runs = Math.max(3, Number(process.env.BENCH_RUNS ?? 15));
const GOAL_MS = 250;

interface Case {
  label: string;
  args: string[];
}

const cases: Case[] = [
  { label: 'node -e 0', args: ['-e', '0'] },
  { label: 'mlbridge --version', args: [bin, '--version'] },
  { label: 'mlbridge validate -c examples/quickstart', args: [bin, 'validate', '-c', 'examples/quickstart'] },
];

function once(c: Case): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, c.args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}: ${r.stderr?.toString()}`);
  return ms;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const results = cases.map((c) => {
  once(c); // warm the file cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(once(c));
  times.sort((a, b) => a - b);
  return { label: c.label, median: quantile(times, 0.5), min: times[0]!, p90: quantile(times, 0.9) };
});

const base = results[0]!.median;
const width = Math.max(...results.map((r) => r.label.length));
const f = (n: number) => n.toFixed(1).padStart(8);
process.stdout.write(`startup (${runs} runs each, node ${process.version}, ${process.platform}/${process.arch})\n`);
process.stdout.write(`${'command'.padEnd(width)}   median      min      p90   Δ node\n`);
for (const r of results) {
  const delta = r.label === 'node -e 0' ? '       —' : `${r.median - base >= 0 ? '+' : ''}${(r.median - base).toFixed(1)}`.padStart(8);
  process.stdout.write(`${r.label.padEnd(width)} ${f(r.median)} ${f(r.min)} ${f(r.p90)} ${delta}   (ms)\n`);
}
const validate = results[2]!.median - base;
process.stdout.write(`goal: validate within +${GOAL_MS} ms of bare node: ${validate <= GOAL_MS ? 'met' : 'MISSED'} (+${validate.toFixed(1)} ms)\n`);
