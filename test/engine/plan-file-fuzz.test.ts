// Fuzz, bounded: seeded damage to a saved plan, handed to `apply` (test/fuzz/plan-file-fuzz.ts
// says what must hold). `npm run fuzz` runs thousands; a failure names its seed and the
// command that replays it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mutatePlan, planFuzzCase, planFuzzFixture, type PlanFuzzFixture } from '../fuzz/plan-file-fuzz.js';

const CASES = 60;
const ctx: { fx?: PlanFuzzFixture } = {};

const Fuzz = suite('plan file fuzzing (bounded)');
Fuzz.before(async () => {
  ctx.fx = await planFuzzFixture(await mkdtemp(join(tmpdir(), 'mlbridge-plan-fuzz-')));
});
Fuzz.after(async () => {
  if (ctx.fx) await rm(ctx.fx.dir, { recursive: true, force: true });
});

Fuzz('each seed gives the same damage', () => {
  assert.equal(mutatePlan(ctx.fx!.original, 7), mutatePlan(ctx.fx!.original, 7));
  assert.is.not(mutatePlan(ctx.fx!.original, 7).text, mutatePlan(ctx.fx!.original, 8).text);
});

Fuzz(`seeds 1..${CASES}: a damaged plan is refused with an Error: line, never a stack, never the secret`, async () => {
  const outcomes = { refused: 0, applied: 0 };
  for (let seed = 1; seed <= CASES; seed++) outcomes[await planFuzzCase(ctx.fx!, seed)]++;
  assert.ok(outcomes.refused > CASES / 2, JSON.stringify(outcomes));
});

Fuzz('the undamaged plan applies (the cases above are not refused for another reason)', async () => {
  const { writeFile } = await import('node:fs/promises');
  await rm(join(ctx.fx!.dir, 'wh.duckdb'), { force: true });
  await writeFile(ctx.fx!.file, ctx.fx!.original);
  const { main } = await import('../../src/cli/main.js');
  const { fakeIO } = await import('../cli/fake-io.js');
  const io = fakeIO({ cwd: ctx.fx!.dir, env: { PATH: process.env.PATH, TEAM: 'team-fz7secret' } });
  assert.is(await main(['apply', 'plan.json', '--no-color'], io), 0, io.err());
  assert.match(io.out(), 'Apply complete! Resources: 6 added');
});

Fuzz.run();
