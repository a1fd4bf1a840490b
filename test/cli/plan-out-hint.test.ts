// The hint `plan --out` prints ("To perform exactly these actions, run: …") is a command that
// works when pasted into the same shell: it names the spec when it is not ./mlbridge.yaml, the
// export the plan was made from when --export-id picked it, and quotes words with spaces.
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './fake-io.js';
import { runProcess, type ProcessResult } from '../support/run-process.js';

// ---- fakes -------------------------------------------------------------------------
const root = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(root, 'bin', 'mlbridge.js');
const quickstart = join(root, 'examples', 'quickstart');
const FIRST = readdirSync(join(quickstart, 'export'))[0]!;

/** A working folder holding a copy of the quickstart spec at `at` (no warehouse yet). */
function workspace(at: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-plan-hint-'));
  cpSync(quickstart, join(dir, at), { recursive: true, filter: (src) => !src.includes('.data') });
  return dir;
}

/** The command after "run:", as printed. */
function hint(out: string): string {
  const m = /To perform exactly these actions, run:\n {4}(.*)\n$/.exec(out);
  assert.ok(m, out);
  return m[1]!;
}

/** Runs `line` in a shell in `cwd`, with `mlbridge` being this checkout's bin/mlbridge.js. */
function shell(line: string, cwd: string): Promise<ProcessResult> {
  const script = `mlbridge() { "${process.execPath}" "${BIN}" "$@"; }\n${line}`;
  return runProcess('sh', ['-c', script], { cwd, env: { PATH: process.env.PATH ?? '' } });
}

const Hint = suite('plan --out: the apply hint');

Hint('names the spec folder given with -c, and the printed command applies the plan from the same folder', async () => {
  const dir = workspace('examples/quickstart');
  try {
    const plan = await runCli(dir, ['plan', '-c', 'examples/quickstart', '--out', 'x.plan']);
    assert.is(plan.code, 0, plan.err);
    assert.match(plan.out, '\nSaved the plan to: x.plan\n\nTo perform exactly these actions, run:\n    mlbridge apply -c examples/quickstart x.plan\n');
    const applied = await shell(hint(plan.out), dir);
    assert.is(applied.code, 0, applied.err);
    assert.match(applied.out, 'Apply complete!');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Hint('quotes a spec path and a plan file with spaces, also for the -out= and -target spellings', async () => {
  const dir = workspace('my specs');
  try {
    const plan = await runCli(dir, ['plan', '-c', 'my specs', '-out=next plan.plan', '-target', 'rows.Product']);
    assert.is(plan.code, 0, plan.err);
    assert.is(hint(plan.out), "mlbridge apply -c 'my specs' 'next plan.plan'");
    const applied = await shell(hint(plan.out), dir);
    assert.is(applied.code, 0, applied.err);
    assert.match(applied.out, 'Apply complete!');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Hint('leaves out -c for ./mlbridge.yaml and keeps the export --export-id picked', async () => {
  const dir = workspace('.');
  try {
    const plan = await runCli(dir, ['plan', '--export-id', FIRST, '-out=first.plan']);
    assert.is(plan.code, 0, plan.err);
    assert.is(hint(plan.out), `mlbridge apply --export-id ${FIRST} first.plan`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Hint.run();
