// test/run.js as a developer sees it when a suite fails: each failure says why (the
// assertion, a before hook's error, a crash's stack), never only "(0 / N)".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Runs test/run.js over a folder holding the given suite files; returns its exit status and
 * output. With `sources`, the names of the suites whose .ts source exists (in another folder).
 */
function runSuites(files: Record<string, string>, sources?: string[]): { status: number | null; out: string } {
  // Under the repo, so the suites resolve uvu from its node_modules.
  const dir = mkdtempSync(join(root, 'dist', '.runner-fixture-'));
  const src = mkdtempSync(join(root, 'dist', '.runner-sources-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    for (const name of sources ?? []) writeFileSync(join(src, name.replace(/\.js$/, '.ts')), '');
    const args = [join(root, 'test', 'run.js'), `--root=${dir}`, ...(sources ? [`--sources=${src}`] : [])];
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, MLBRIDGE_TEST_CONCURRENCY: '1' } });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(src, { recursive: true, force: true });
  }
}

const Runner = suite('test runner reports why a suite failed');

Runner('a before hook that throws prints its error and counts every test as failed', () => {
  const r = runSuites({
    'hook.test.js': `import { suite } from 'uvu';
const S = suite('needs an emulator');
S.before(async () => { throw new Error('Datastore emulator did not become healthy on 127.0.0.1:1234'); });
S('one', () => {}); S('two', () => {}); S('three', () => {});
S.run();
`,
  });
  assert.is(r.status, 1);
  assert.match(r.out, /✘ \S*\/hook\.test\.js \(exit 1, [\d.]+s\)/);
  assert.match(r.out, /suite "needs an emulator": its `before` hook failed \(it ran before its tests, so none of them ran\):\nError: Datastore emulator did not become healthy on 127\.0\.0\.1:1234\n {4}at /);
  assert.match(r.out, /\n0 passed, 3 failed\n$/);
});

Runner('a failed assertion prints the test name and the difference', () => {
  const r = runSuites({
    'assert.test.js': `import { suite } from 'uvu';
import * as assert from 'uvu/assert';
const S = suite('rows');
S('counts the rows', () => assert.is(2 + 2, 5, 'rows in the table'));
S('passes', () => {});
S.run();
`,
  });
  assert.is(r.status, 1);
  assert.match(r.out, /FAIL\s+rows\s+"counts the rows"\n\s+rows in the table/);
  assert.match(r.out, /\n1 passed, 1 failed\n$/);
});

Runner('an error with structured details fails its test with its message and details, not only a count', () => {
  // uvu prints an assertion's \`details\` (its diff) as text; an MlbridgeError's are an object.
  const r = runSuites({
    'details.test.js': `import { suite } from 'uvu';
const S = suite('apply');
S('writes the rows', () => {
  const e = new Error('duckdb_table.bench.item: DuckDB ran out of memory');
  e.code = 'TARGET_ERROR';
  e.details = { memoryLimitBytes: 16000000 };
  throw e;
});
S('passes', () => {});
S.run();
`,
  });
  assert.is(r.status, 1);
  assert.match(r.out, /FAIL\s+apply\s+"writes the rows"\n\s+duckdb_table\.bench\.item: DuckDB ran out of memory/);
  assert.match(r.out, /details: \{ memoryLimitBytes: 16000000 \}/);
  assert.match(r.out, /\n1 passed, 1 failed\n$/);
});

Runner('a crash between tests prints the stack and counts as a failure', () => {
  const r = runSuites({
    'crash.test.js': `import { suite } from 'uvu';
const S = suite('crashes');
S('throws later', async () => { setTimeout(() => { throw new TypeError('cannot read the export'); }, 0); await new Promise(() => {}); });
S.run();
`,
    'fine.test.js': `import { suite } from 'uvu';
const S = suite('fine');
S('ok', () => {});
S.run();
`,
  });
  assert.is(r.status, 1);
  assert.match(r.out, /✘ \S*\/crash\.test\.js \(exit 1, [\d.]+s\)\n[^]*TypeError: cannot read the export/);
  assert.match(r.out, /✔ \S*\/fine\.test\.js: 1 passed/);
  assert.match(r.out, /failing files:\n {2}\S*\/crash\.test\.js\n/);
});

Runner('an after hook that throws is reported even though every test passed', () => {
  const r = runSuites({
    'after.test.js': `import { suite } from 'uvu';
const S = suite('cleanup');
S.after(() => { throw new Error('could not stop the emulator'); });
S('ok', () => {});
S.run();
`,
  });
  assert.is(r.status, 1);
  assert.match(r.out, /suite "cleanup": its `after` hook failed \(it ran after its tests\):\nError: could not stop the emulator/);
});

Runner('a compiled suite whose source is gone is skipped, with a note, and the others run', () => {
  const passing = `import { suite } from 'uvu';
const S = suite('kept');
S('passes', () => {});
S.run();
`;
  const r = runSuites({ 'kept.test.js': passing, 'removed.test.js': passing.replace("'kept'", "'removed'") }, ['kept.test.js']);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /^skipped \S*\/removed\.test\.js: its source \S*\/removed\.test\.ts is gone\n/);
  assert.not.match(r.out, /removed\.test\.js: 1 passed/);
  assert.match(r.out, /\n1 passed, 0 failed\n$/);
});

Runner.run();
