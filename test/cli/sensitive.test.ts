// `${secret:VAR}` values never reach a user's screen, a CI log or a saved plan: every output
// of validate, plan (text, JSON, Markdown, --out), show, apply (text, JSON) and errors is
// captured and searched for each secret, in clear and in the escaped forms views use.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadSpec } from '../../src/spec/load.js';
import { interpolate } from '../../src/spec/interpolate.js';
import { redactPlan, sensitiveMarker } from '../../src/engine/plan-file.js';
import { fakeIO } from './fake-io.js';

const SECRETS = {
  DS: 'ds_hunter2xyz',
  TOKEN: 's3cr3t-T0ken"with`quote\\and\u00e9',
  TEAM: 'team-zq9secret',
};

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: "\${secret:DS}" }
mappings:
  - kind: Customer
    description: "owner \${secret:TOKEN}"
    labels: { team: "\${secret:TEAM}" }
    fields:
      - { name: email, type: STRING, description: "key \${secret:TOKEN}" }
`;

let dir = '';
const run = async (args: string[], env: NodeJS.ProcessEnv = SECRETS) => {
  const io = fakeIO({ cwd: dir, env: { PATH: process.env.PATH, ...env } });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};

/** Every secret, and every fragment of one at least 6 characters long: a partial print is a leak too. */
function leaks(text: string): string[] {
  const found: string[] = [];
  for (const v of Object.values(SECRETS)) {
    const forms = [v, JSON.stringify(v).slice(1, -1), v.replace(/`/g, "'"), v.slice(0, 12)];
    for (const f of forms) if (text.includes(f)) found.push(f);
  }
  return found;
}

function assertClean(what: string, text: string): void {
  assert.equal(leaks(text), [], `${what} shows a secret:\n${text}`);
}

const Secrets = suite('sensitive values in every output');
Secrets.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-secrets-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
});
Secrets.after.each(() => rmSync(dir, { recursive: true, force: true }));

Secrets('the loader records the values ${secret:…} put in, and only those', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC.replace('owner ${secret:TOKEN}', 'owner ${TOKEN}'));
  const r = await loadSpec(join(dir, 'mlbridge.yaml'), { env: { ...SECRETS, EMPTY: '' }, cwd: dir });
  assert.equal(r.spec?.sensitive?.sort(), [SECRETS.DS, SECRETS.TEAM, SECRETS.TOKEN].sort());
  assert.equal(r.sensitive.sort(), [SECRETS.DS, SECRETS.TEAM, SECRETS.TOKEN].sort());
  assert.is(r.spec!.mappings[0]!.description, `owner ${SECRETS.TOKEN}`, 'interpolated like any value');
});

Secrets('${secret:VAR:-default} falls back like ${VAR:-default}; an unset secret names its variable', () => {
  assert.equal(interpolate('a-${secret:X:-dflt}-${Y}', { Y: 'y' }), { value: 'a-dflt-y', problems: [], replaced: true, sensitive: ['dflt'] });
  assert.equal(interpolate('${secret:X}', { X: '' }), { value: '', problems: [], replaced: true, sensitive: [] });
  assert.equal(interpolate('${secret:X}', {}).problems.map((p) => p.message), ['environment variable `X` is not set (use `${secret:X:-default}` to give a default)']);
});

Secrets('validate, plan in three formats, the saved plan, show, apply and its JSON never show a secret', async () => {
  const outputs: [string, string][] = [];
  const keep = (what: string, r: { out: string; err: string }) => outputs.push([`${what} stdout`, r.out], [`${what} stderr`, r.err]);

  const v = await run(['validate']);
  assert.is(v.code, 0, v.err);
  assert.is(v.out, 'Success! The spec is valid: 1 mapping, target duckdb (sensitive).\n');
  keep('validate', v);

  const text = await run(['plan', '--no-color']);
  assert.is(text.code, 0, text.err);
  assert.match(text.out, '# duckdb_table.(sensitive).customer will be created');
  assert.match(text.out, '+ description                    = "owner (sensitive)"');
  keep('plan', text);
  const json = await run(['plan', '--json']);
  assert.is(JSON.parse(json.out).changes[0].address, 'duckdb_dataset.(sensitive)');
  keep('plan --json', json);
  const md = await run(['plan', '--format', 'markdown']);
  assert.match(md.out, '`duckdb_dataset.(sensitive)`');
  keep('plan --format markdown', md);

  const saved = await run(['plan', '--out', 'plan.json', '--no-color']);
  assert.is(saved.code, 0, saved.err);
  keep('plan --out', saved);
  const file = readFileSync(join(dir, 'plan.json'), 'utf8');
  outputs.push(['plan file', file]);
  assert.match(file, `duckdb_dataset.${sensitiveMarker(SECRETS.DS)}`);
  outputs.push(['show', (await run(['show', 'plan.json'])).out]);

  const applied = await run(['apply', 'plan.json', '--no-color']);
  assert.is(applied.code, 0, applied.err);
  assert.match(applied.out, 'duckdb_dataset.(sensitive): Creation complete');
  keep('apply PLANFILE', applied);
  // The saved plan's markers were put back from this run's environment: the real names exist.
  const again = await run(['plan', '--json']);
  assert.is(JSON.parse(again.out).changes.filter((c: { action: string }) => c.action !== 'no-op').length, 0, again.out);
  const applyJson = await run(['apply', '--auto-approve', '--json']);
  assert.is(applyJson.code, 0, applyJson.err);
  keep('apply --json', applyJson);

  for (const [what, text] of outputs) assertClean(what, text);
});

Secrets('errors and diagnostics that quote a secret print it as (sensitive)', async () => {
  const typo = await run(['plan', '--target', `duckdb_table.${SECRETS.DS}.custmer`]);
  assert.is(typo.code, 1);
  assert.match(typo.err, 'Error: --target duckdb_table.(sensitive).custmer matches no resource');
  assert.match(typo.err, '  duckdb_dataset.(sensitive)\n');
  assertClean('--target error', typo.err);

  const bad = await run(['validate'], { ...SECRETS, DS: 'bad name-zq7secret' });
  assert.is(bad.code, 1);
  assert.match(bad.err, 'dataset name `(sensitive)` contains a space');
  assert.not.match(bad.err, 'zq7secret');
});

Secrets('a saved plan made with another secret value is refused as stale, naming no value', async () => {
  assert.is((await run(['plan', '--out', 'plan.json'])).code, 0);
  const r = await run(['apply', 'plan.json'], { ...SECRETS, TEAM: 'team-other' });
  assert.is(r.code, 1);
  assert.match(r.err, /^Error: Saved plan is stale: .*plan\.json holds a sensitive value that none of this run's `\$\{secret:…\}` values match/);
  assert.not.match(r.err, 'team-');
});

Secrets('redactPlan is deterministic and idempotent, so a saved plan compares with a fresh one', () => {
  const plan = { address: `t.${SECRETS.DS}.x`, fingerprints: { [`t.${SECRETS.DS}`]: 'etag' }, list: [SECRETS.TOKEN] };
  const once = redactPlan(plan, Object.values(SECRETS));
  assert.equal(once, {
    address: `t.${sensitiveMarker(SECRETS.DS)}.x`,
    fingerprints: { [`t.${sensitiveMarker(SECRETS.DS)}`]: 'etag' },
    list: [sensitiveMarker(SECRETS.TOKEN)],
  });
  assert.equal(redactPlan(once, Object.values(SECRETS)), once);
  assert.equal(redactPlan(structuredClone(plan), Object.values(SECRETS)), once);
  assert.match(sensitiveMarker('x'), /^\(sensitive:[0-9a-f]{12}\)$/);
  assert.is.not(sensitiveMarker('x'), sensitiveMarker('y'));
});

Secrets.run();
