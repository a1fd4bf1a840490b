// `npm run fuzz`: thousands of seeded cases for the export reader and for saved plans (the
// test suite runs the first few hundred). Stops at the first failing case and prints its
// seed and the command that replays it alone.
// Usage: npm run fuzz -- [--only export|plan-file] [--cases N] [--seed FIRST]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportFuzzCase, exportFuzzFixture } from './export-fuzz.js';
import { planFuzzCase, planFuzzFixture } from './plan-file-fuzz.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, cases: { type: 'string' }, seed: { type: 'string' } },
});
const only = values.only;
if (only !== undefined && only !== 'export' && only !== 'plan-file') {
  process.stderr.write(`--only must be export or plan-file, not ${JSON.stringify(only)}\n`);
  process.exit(2);
}
const first = Number(values.seed ?? 1);
const cases = (fuzzer: 'export' | 'plan-file') => Number(values.cases ?? (fuzzer === 'export' ? 5000 : 2000));

async function runFuzzer(name: 'export' | 'plan-file', dir: string): Promise<boolean> {
  const n = cases(name);
  const started = performance.now();
  const outcomes = new Map<string, number>();
  const one =
    name === 'export'
      ? await (async () => {
          const fx = await exportFuzzFixture(dir);
          return async (seed: number) => (await exportFuzzCase(fx, seed)).replace(/^.*: plain (\w+), skip.*$/, 'plain read $1');
        })()
      : await (async () => {
          const fx = await planFuzzFixture(dir);
          return (seed: number) => planFuzzCase(fx, seed);
        })();
  for (let seed = first; seed < first + n; seed++) {
    try {
      const o = await one(seed);
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    } catch (e) {
      process.stdout.write(`\n${name}: FAILED at seed ${seed}\n${e instanceof Error ? e.message : String(e)}\n`);
      return false;
    }
    if ((seed - first + 1) % 250 === 0) process.stdout.write(`${name}: ${seed - first + 1}/${n}\n`);
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${name}: ${n} cases from seed ${first} passed in ${secs} s (${[...outcomes].map(([k, v]) => `${k}: ${v}`).join(', ')})\n`);
  return true;
}

let ok = true;
for (const name of ['export', 'plan-file'] as const) {
  if (only && only !== name) continue;
  const dir = await mkdtemp(join(tmpdir(), `mlbridge-fuzz-${name}-`));
  try {
    ok = (await runFuzzer(name, dir)) && ok;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
process.exit(ok ? 0 : 1);
