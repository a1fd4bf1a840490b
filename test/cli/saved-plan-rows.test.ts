// `apply PLANFILE` with data, on a copy of examples/quickstart whose export folder holds both
// shipped exports (`export/` and `export-next/`): what a user sees when the saved plan's rows
// no longer are what the target needs — the plan was applied already, or it was made from
// another export than the one apply reads.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { planChecksum } from '../../src/engine/plan-file.js';
import { fakeIO } from './fake-io.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const quickstart = join(root, 'examples', 'quickstart');
const FIRST = readdirSync(join(quickstart, 'export'))[0]!;
const NEXT = readdirSync(join(quickstart, 'export-next'))[0]!;

let dir = '';
const run = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir, env: { PATH: process.env.PATH, QUICKSTART_EXPORT: 'both' } });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};

const SavedRows = suite('apply PLANFILE: saved rows that went stale');

SavedRows.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-saved-rows-'));
  cpSync(quickstart, dir, { recursive: true, filter: (src) => !src.includes('.data') });
  mkdirSync(join(dir, 'both'));
  cpSync(join(quickstart, 'export', FIRST), join(dir, 'both', FIRST), { recursive: true });
  cpSync(join(quickstart, 'export-next', NEXT), join(dir, 'both', NEXT), { recursive: true });
});
SavedRows.after.each(() => rmSync(dir, { recursive: true, force: true }));

SavedRows('a data plan applied a second time is refused as stale, naming the rows that moved', async () => {
  assert.is((await run('apply', '--auto-approve', '--export-id', FIRST)).code, 0);
  const saved = await run('plan', '--out', 'next.plan');
  assert.is(saved.code, 0, saved.err);
  const first = await run('apply', 'next.plan');
  assert.is(first.code, 0, first.err);
  assert.match(first.out, 'Rows: 2 inserted, 2 updated, 2 deleted, 1 quarantined.');
  const second = await run('apply', 'next.plan');
  assert.is(second.code, 1);
  assert.is(
    second.err,
    'Error: Saved plan is stale: rows.CustomerProfile changed since the plan was made: the plan file has 2 to update, and the target ' +
      'now needs no change (this plan, another apply or serve wrote rows since); run plan again\n',
  );
  const again = await run('plan', '--detailed-exitcode');
  assert.is(again.code, 0, again.out);
});

SavedRows('a plan made from an older export names both exports and how to apply the one reviewed', async () => {
  const saved = await run('plan', '--export-id', FIRST, '--out', 'first.plan');
  assert.is(saved.code, 0, saved.err);
  const refused = await run('apply', 'first.plan');
  assert.is(refused.code, 1);
  assert.is(
    refused.err,
    `Error: Saved plan is stale: rows.CustomerProfile changed since the plan was made: it was planned from export ${FIRST}, ` +
      `and this apply reads export ${NEXT}; run plan again, or apply this plan with --export-id ${FIRST}\n`,
  );
  const pinned = await run('apply', 'first.plan', '--export-id', FIRST);
  assert.is(pinned.code, 0, pinned.err);
  assert.match(pinned.out, 'Rows: 40 inserted, 0 updated, 0 deleted, 0 quarantined.');
});

SavedRows('edited row counts and sample keys are display-only: apply recounts and warns in one line that the target or the file changed, not the export', async () => {
  assert.is((await run('apply', '--auto-approve', '--export-id', FIRST)).code, 0);
  assert.is((await run('plan', '--out', 'next.plan')).code, 0);
  // Edited as a user with an editor would, the checksum recomputed (it catches damage, not intent).
  const { checksum: _old, ...json } = JSON.parse(readFileSync(join(dir, 'next.plan'), 'utf8')) as { changes: Record<string, any>[]; checksum?: string };
  const order = json.changes.find((c) => c.address === 'rows.Order')!;
  const deletes = order.after.delete as number;
  order.after.delete = deletes + 5;
  order.sampleKeys.delete = ['Order:edited'];
  writeFileSync(join(dir, 'next.plan'), JSON.stringify({ ...json, checksum: planChecksum(json) }, null, 2));
  const r = await run('apply', 'next.plan');
  assert.is(r.code, 0, r.err);
  const warning =
    "warning: the rows to change differ from the plan file's counts (the export is the same, so the target changed since the plan was made, or the file was edited); applying them as counted now\n" +
    `  rows.Order: insert 2 → 2, update 0 → 0, delete ${deletes + 5} → ${deletes}, quarantine 0 → 0\n`;
  assert.ok(r.out.includes(warning), r.out);
  assert.match(r.out, 'Rows: 2 inserted, 2 updated, 2 deleted, 1 quarantined.');
});

SavedRows.run();
