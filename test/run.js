#!/usr/bin/env node
// Runs every compiled uvu suite (dist/test/**/*.test.js), each file in its own process
// so one suite's crash or leaked handle cannot take the others down, then prints the
// totals as "N passed, N failed". `--live` runs only dist/test/live (real Google Cloud).
// A failing file prints its whole output: uvu's assertion diffs, stderr, and (through
// runner/register.js) the error of a failed before/after hook, which uvu would drop.
// Usage: node test/run.js [--live] [--root=DIR [--sources=DIR]] [substring-filter...]
//   --root=DIR     run the *.test.js files under DIR instead of dist/test (the runner's own test)
//   --sources=DIR  where their .ts sources are (default: test/ for dist/test; none for --root)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const live = args.includes('--live');
const filters = args.filter((a) => !a.startsWith('--'));
const rootArg = args.find((a) => a.startsWith('--root='));
const reportHooks = new URL('./runner/register.js', import.meta.url).href;
const concurrency = Number(process.env.MLBRIDGE_TEST_CONCURRENCY ?? 2);
const perFileTimeoutMs = Number(process.env.MLBRIDGE_TEST_TIMEOUT_MS ?? 15 * 60 * 1000);

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const testRoot = rootArg ? resolvePath(rootArg.slice('--root='.length)) : join(root, 'dist', 'test');
// tsc never deletes what it compiled: a suite whose source was removed or renamed would run
// on from dist/. Only suites with a source run.
const sourcesArg = args.find((a) => a.startsWith('--sources='));
const sourceRoot = sourcesArg ? resolvePath(sourcesArg.slice('--sources='.length)) : rootArg ? undefined : join(root, 'test');
const source = (f) => join(sourceRoot, relative(testRoot, f)).replace(/\.js$/, '.ts');
const stale = sourceRoot ? walk(testRoot).filter((f) => !existsSync(source(f))) : [];
for (const f of stale) process.stdout.write(`skipped ${relative(root, f)}: its source ${relative(root, source(f))} is gone\n`);
const files = walk(testRoot)
  .filter((f) => !stale.includes(f))
  .filter((f) => (live ? f.includes(`${join(testRoot, 'live')}`) : !f.includes(`${join(testRoot, 'live')}`)))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];

function runOne(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', reportHooks, file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[test/run] killed after ${perFileTimeoutMs} ms`;
      child.kill('SIGKILL');
    }, perFileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label) => {
        const m = out.match(new RegExp(`${label}:\\s+(\\d+)`));
        return m ? Number(m[1]) : 0;
      };
      const p = num('Passed');
      const s = num('Skipped');
      const total = num('Total');
      const f = Math.max(0, total - p - s);
      passed += p;
      skipped += s;
      failed += f;
      const rel = relative(root, file).startsWith('..') ? file : relative(root, file);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (code !== 0 || f > 0 || (total === 0 && s === 0)) {
        if (f === 0) failed += 1; // a crash or an empty suite counts as one failure
        broken.push(rel);
        const how = signal ? `killed by ${signal}` : `exit ${code}`;
        const why = total === 0 && s === 0 && code === 0 ? '\n[test/run] the file ran no tests' : '';
        process.stdout.write(`✘ ${rel} (${how}, ${secs}s)\n${out.trimEnd()}${why}\n\n`);
      } else {
        process.stdout.write(`✔ ${rel}: ${p} passed${s ? `, ${s} skipped` : ''} (${secs}s)\n`);
      }
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.max(1, concurrency) }, async () => {
    while (queue.length) await runOne(queue.shift());
  }),
);

if (files.length === 0) {
  process.stdout.write(live ? 'no live suites found\n' : 'no test files found\n');
  process.exit(1);
}
if (broken.length) process.stdout.write(`\nfailing files:\n${broken.map((b) => `  ${b}`).join('\n')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);
