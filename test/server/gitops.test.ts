// examples/gitops/gitops.mjs, the script the GitOps workflow's steps call, end to end on
// DuckDB with the quickstart spec: plan → comment → apply the reviewed plan; a stale plan
// is refused loudly with a fresh plan; a long plan's comment is cut under the limit.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCRIPT = join(ROOT, 'examples', 'gitops', 'gitops.mjs');
const BIN = join(ROOT, 'bin', 'mlbridge.js');

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-gitops-'));
  cpSync(join(ROOT, 'examples', 'quickstart', 'mlbridge.yaml'), join(dir, 'mlbridge.yaml'));
  cpSync(join(ROOT, 'examples', 'quickstart', 'export'), join(dir, 'export'), { recursive: true });
  return dir;
}

function gitops(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd, encoding: 'utf8', env: { ...process.env, MLBRIDGE_BIN: BIN } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function mlbridge(cwd: string, ...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}

const read = (dir: string, f: string) => readFileSync(join(dir, 'out', f), 'utf8');

const GitOps = suite('GitOps workflow script');

GitOps('plan saves the plan and a comment; apply applies the reviewed plan; the next plan has no changes', async () => {
  const dir = workspace();
  const p = gitops(dir, 'plan', '-c', 'mlbridge.yaml', '--dir', 'out');
  assert.is(p.status, 0, p.err);
  assert.is(read(dir, 'changes'), 'true');
  assert.ok(existsSync(join(dir, 'out', 'plan.bin')));
  const comment = read(dir, 'comment.md');
  assert.ok(comment.startsWith('<!-- mlbridge-plan -->\n#### `mlbridge plan` for `mlbridge.yaml`\n\n'));
  assert.ok(comment.endsWith(read(dir, 'plan.md')), 'a short plan is posted whole');
  assert.match(comment, /\*\*Plan: 12 to add, 0 to change, 0 to destroy\.\*\*/);

  const a = gitops(dir, 'apply', '-c', 'mlbridge.yaml', '--dir', 'out');
  assert.is(a.status, 0, a.err);
  assert.match(a.out, /gitops: applied the reviewed plan .*plan\.bin: \{"add":12,"change":0,"destroy":0,"rows":\{"insert":40,"update":0,"delete":0,"quarantine":0\}\}/);
  const again = gitops(dir, 'plan', '-c', 'mlbridge.yaml', '--dir', 'out2');
  assert.is(again.status, 0);
  assert.is(readFileSync(join(dir, 'out2', 'changes'), 'utf8'), 'false');
});

GitOps('a plan made stale by a change after the review is refused, nothing applied, with a fresh plan', async () => {
  const dir = workspace();
  assert.is(gitops(dir, 'plan', '-c', 'mlbridge.yaml', '--dir', 'out').status, 0);
  // Someone applies out of band between review and merge.
  assert.is(mlbridge(dir, 'apply', '-c', 'mlbridge.yaml', '--auto-approve', '--target', 'duckdb_dataset.analytics').status, 0);
  const a = gitops(dir, 'apply', '-c', 'mlbridge.yaml', '--dir', 'out');
  assert.is(a.status, 1);
  assert.match(a.err, /::error::The reviewed plan is stale: Saved plan is stale/);
  assert.match(a.err, /Nothing was applied/);
  assert.match(read(dir, 'replan.md'), /\*\*Plan: 11 to add, 0 to change, 0 to destroy\.\*\*/);
});

GitOps('a plan longer than the comment limit is cut at a line, fences closed, with a note; plan.md stays whole', async () => {
  const dir = workspace();
  const p = gitops(dir, 'plan', '-c', 'mlbridge.yaml', '--dir', 'out', '--max-comment-chars', '2000');
  assert.is(p.status, 0, p.err);
  const comment = read(dir, 'comment.md');
  const full = read(dir, 'plan.md');
  assert.ok(full.length > 2000);
  assert.ok(comment.length <= 2000, `comment is ${comment.length} characters`);
  assert.match(comment, new RegExp(`\\*\\*Plan truncated\\*\\*: [\\d,]+ of ${full.length.toLocaleString('en-US')} characters shown`));
  assert.match(comment, /the `mlbridge-plan` artifact \(plan\.md\)/);
  assert.is((comment.match(/^```/gm) ?? []).length % 2, 0, 'code fences balanced');
});

GitOps('apply without a downloaded plan fails naming the missing file', async () => {
  const dir = workspace();
  const a = gitops(dir, 'apply', '-c', 'mlbridge.yaml', '--dir', 'out');
  assert.equal([a.status, a.err.trim()], [1, "gitops: no saved plan at out/plan.bin: the plan job's artifact must be downloaded first"]);
});

GitOps.run();
