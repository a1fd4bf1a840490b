#!/usr/bin/env node
// The steps of the GitOps workflow (mlbridge.yml), runnable anywhere:
//
//   node gitops.mjs plan  -c SPEC --dir OUT [--max-comment-chars N]
//     Saves the plan (OUT/plan.bin), its Markdown (OUT/plan.md, the full plan, uploaded as an
//     artifact) and the PR comment (OUT/comment.md, at most N characters, default 65,536,
//     GitHub's limit: a longer plan is cut at a line with a note pointing at the artifact).
//     Writes OUT/changes ("true"/"false"). Exit 0, or 1 when planning failed.
//
//   node gitops.mjs apply -c SPEC --dir OUT
//     Applies the saved, reviewed OUT/plan.bin (no re-plan, no prompt). If the target changed
//     since the review, mlbridge refuses the stale plan: this prints a fresh plan to show what
//     changed and fails loudly (exit 1) so a person re-reviews. Exit 0 when applied.
//
// The mlbridge command: $MLBRIDGE_BIN (a path to bin/mlbridge.js, or a command), else `mlbridge`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const GITHUB_COMMENT_LIMIT = 65_536;
export const MARKER = '<!-- mlbridge-plan -->';

function args(argv) {
  const [command, ...rest] = argv;
  const o = { command, config: './mlbridge.yaml', dir: '.mlbridge-plan', maxCommentChars: GITHUB_COMMENT_LIMIT };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '-c' || a === '--config') o.config = rest[++i];
    else if (a === '--dir') o.dir = rest[++i];
    else if (a === '--max-comment-chars') o.maxCommentChars = Number(rest[++i]);
    else fail(`unknown argument ${a}`);
  }
  if (command !== 'plan' && command !== 'apply') fail('usage: gitops.mjs plan|apply -c SPEC --dir OUT [--max-comment-chars N]');
  return o;
}

function fail(message) {
  process.stderr.write(`gitops: ${message}\n`);
  process.exit(1);
}

function mlbridge(argv, options = {}) {
  const bin = process.env.MLBRIDGE_BIN ?? 'mlbridge';
  const [cmd, pre] = bin.endsWith('.js') ? [process.execPath, [bin]] : [bin, []];
  const r = spawnSync(cmd, [...pre, ...argv], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' }, ...options });
  if (r.error) fail(`cannot run ${bin}: ${r.error.message}`);
  return r;
}

/** The comment: the plan Markdown, cut at a line boundary to fit `limit` with the note. */
export function commentFor(markdown, limit, config) {
  const head = `${MARKER}\n#### \`mlbridge plan\` for \`${config}\`\n\n`;
  const whole = head + markdown;
  if (whole.length <= limit) return whole;
  const note = (shown) =>
    `\n\n> **Plan truncated**: ${shown.toLocaleString('en-US')} of ${markdown.length.toLocaleString('en-US')} characters shown (GitHub comments hold at most ${limit.toLocaleString('en-US')}). ` +
    'The full plan is attached to this workflow run as the `mlbridge-plan` artifact (plan.md).\n';
  let budget = limit - head.length - note(markdown.length).length - 8; // 8: a closing fence
  let cut = markdown.lastIndexOf('\n', budget);
  if (cut <= 0) cut = Math.max(0, budget);
  let body = markdown.slice(0, cut);
  if ((body.match(/^```/gm) ?? []).length % 2 === 1) body += '\n```';
  return head + body + note(cut);
}

function plan(o) {
  mkdirSync(o.dir, { recursive: true });
  const planFile = join(o.dir, 'plan.bin');
  const r = mlbridge(['plan', '-c', o.config, '--out', planFile, '--format', 'markdown', '--detailed-exitcode']);
  process.stderr.write(r.stderr);
  if (r.status !== 0 && r.status !== 2) fail(`mlbridge plan failed (exit ${r.status})`);
  writeFileSync(join(o.dir, 'plan.md'), r.stdout);
  const comment = commentFor(r.stdout, o.maxCommentChars, o.config);
  writeFileSync(join(o.dir, 'comment.md'), comment);
  writeFileSync(join(o.dir, 'changes'), r.status === 2 ? 'true' : 'false');
  process.stdout.write(r.stdout);
  const truncated = comment.includes('**Plan truncated**');
  process.stdout.write(`\ngitops: saved ${planFile}; comment ${comment.length} characters${truncated ? ' (truncated; the full plan is plan.md)' : ''}\n`);
}

function apply(o) {
  const planFile = join(o.dir, 'plan.bin');
  if (!existsSync(planFile)) fail(`no saved plan at ${planFile}: the plan job's artifact must be downloaded first`);
  const r = mlbridge(['apply', planFile, '-c', o.config, '--json']);
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  const last = lines.length ? JSON.parse(lines[lines.length - 1]) : undefined;
  if (r.status === 0) {
    process.stdout.write(`gitops: applied the reviewed plan ${resolve(planFile)}: ${JSON.stringify(last?.summary ?? {})}\n`);
    return;
  }
  process.stderr.write(r.stderr);
  const code = last?.error?.code;
  if (code === 'PLAN_STALE') {
    process.stderr.write(
      `\n::error::The reviewed plan is stale: ${last.error.message}\n` +
        'Nothing was applied. What the target needs now (re-review it in a new pull request):\n\n',
    );
    const fresh = mlbridge(['plan', '-c', o.config, '--format', 'markdown']);
    process.stderr.write(fresh.stdout + fresh.stderr);
    writeFileSync(join(o.dir, 'replan.md'), fresh.stdout);
    process.exit(1);
  }
  fail(`mlbridge apply failed${code ? ` (${code})` : ''} with exit ${r.status}${last?.error?.message ? `: ${last.error.message}` : ''}`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const o = args(process.argv.slice(2));
  if (o.command === 'plan') plan(o);
  else apply(o);
}
