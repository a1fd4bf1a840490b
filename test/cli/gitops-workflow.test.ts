// examples/gitops/.github/workflows/mlbridge.yml as a user's repository runs it: mlbridge is
// not on the npm registry, so the workflow must install the repository's own mlbridge
// (`npm ci`, a devDependency) and run that one, never `npm install -g mlbridge…`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const WORKFLOW = join(ROOT, 'examples', 'gitops', '.github', 'workflows', 'mlbridge.yml');

interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { steps: { run?: string; uses?: string }[] }>;
}
const workflow = () => load(readFileSync(WORKFLOW, 'utf8')) as Workflow;

const Workflow = suite('GitOps workflow installs mlbridge');

Workflow('no job installs a package named mlbridge from the npm registry; each runs npm ci before mlbridge', () => {
  const w = workflow();
  for (const [name, job] of Object.entries(w.jobs)) {
    const runs = job.steps.map((s) => s.run ?? '');
    assert.ok(!runs.some((r) => /npm (install|i) .*-g|npx -y mlbridge|mlbridge@/.test(r)), `${name}: ${runs.join(' | ')}`);
    const ci = runs.findIndex((r) => /^npm ci\b/.test(r));
    const gitops = runs.findIndex((r) => r.includes('gitops.mjs'));
    assert.ok(ci >= 0 && ci < gitops, `${name} runs npm ci before gitops.mjs`);
  }
});

Workflow("the plan step runs the mlbridge npm ci installed (MLBRIDGE_BIN in node_modules)", () => {
  const w = workflow();
  const bin = w.env.MLBRIDGE_BIN;
  assert.ok(bin?.startsWith('node_modules/mlbridge/'), `MLBRIDGE_BIN: ${bin}`);
  // The user's repository after `npm ci`: the spec, the script, and mlbridge in node_modules.
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-gitops-workflow-'));
  try {
    cpSync(join(ROOT, 'examples', 'quickstart', 'mlbridge.yaml'), join(dir, 'mlbridge.yaml'));
    cpSync(join(ROOT, 'examples', 'quickstart', 'export'), join(dir, 'export'), { recursive: true });
    cpSync(join(ROOT, 'examples', 'gitops', 'gitops.mjs'), join(dir, '.github', 'mlbridge', 'gitops.mjs'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'mlbridge'), 'dir');
    const step = w.jobs.plan!.steps.find((s) => s.run?.includes('gitops.mjs plan'))!.run!;
    const r = spawnSync('sh', ['-c', step], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, ...w.env, PATH: `${join(process.execPath, '..')}:/usr/bin:/bin` },
    });
    assert.is(r.status, 0, r.stderr);
    assert.match(readFileSync(join(dir, w.env.PLAN_DIR!, 'comment.md'), 'utf8'), /\*\*Plan: 12 to add, 0 to change, 0 to destroy\.\*\*/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Workflow.run();
