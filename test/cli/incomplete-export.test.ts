// A folder of exports whose newest one cannot be read (part metadata missing, its overall
// file missing or damaged: copied in part, or still being written): plan, apply and export
// stats read the newest one that can be read and warn, naming the export passed over, what
// is wrong with it and the export used; --export-id naming it is an error; a saved plan made
// from the older export refuses to apply once the newer one is whole.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Entity } from '../../src/source/entity.js';
import { locateExport } from '../../src/source/export/index.js';
import { writeExport } from '../support/export-writer.js';
import { fakeIO } from './fake-io.js';
import { exportSpecYaml } from '../support/export-spec.js';

const OLD = '2026-11-01T00:00:00_100';
const NEW = '2026-11-02T00:00:00_200';
const PART = join('all_namespaces', 'all_kinds', 'all_namespaces_all_kinds.export_metadata');

const item = (id: number): Entity => ({ key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(id) }] }, properties: { n: { integerValue: String(id) } } });
const items = (n: number) => Array.from({ length: n }, (_, i) => item(i + 1));

const SPEC = exportSpecYaml(`  - kind: Item
    fields:
      - { name: n, type: INT64 }
`);

let dir = '';
const exportsDir = () => join(dir, 'exports');
const run = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};

/** The older export (3 items), applied; the newer one (5 items) written whole. */
async function setUp(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-incomplete-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(exportsDir(), items(3), { exportId: OLD, startTime: new Date('2026-11-01T00:00:00Z') });
  await writeNew();
  const r = await run('apply', '--auto-approve', '--export-id', OLD);
  assert.is(r.code, 0, r.err);
}
const writeNew = () => writeExport(exportsDir(), items(5), { exportId: NEW, startTime: new Date('2026-11-02T00:00:00Z') });
const tearDown = () => rmSync(dir, { recursive: true, force: true });

const missingPartWarning = () =>
  `warning: export ${NEW} is incomplete (all_namespaces/all_kinds/all_namespaces_all_kinds.export_metadata is missing): using ${OLD}\n` +
  `  ${join(exportsDir(), NEW, PART)}: missing, though ${join(exportsDir(), NEW, `${NEW}.overall_export_metadata`)} lists it (the export was copied in part, or is still being written)`;

// ---------------------------------------------------------------------------------------
const MissingPart = suite("a newest export whose part metadata is missing");
MissingPart.before(async () => {
  await setUp();
  await rm(join(exportsDir(), NEW, PART));
});
MissingPart.after(tearDown);

MissingPart('plan --detailed-exitcode reads the older export, says so in a warning, and exits 0', async () => {
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 0, r.err);
  assert.is(r.out, `No changes. Your target matches the spec.\n\n${missingPartWarning()}\n`);
});

MissingPart('plan --json carries the warning in its diagnostics', async () => {
  const r = await run('plan', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as { diagnostics: unknown[] }).diagnostics, [
    {
      severity: 'warning',
      summary: `export ${NEW} is incomplete (all_namespaces/all_kinds/all_namespaces_all_kinds.export_metadata is missing): using ${OLD}`,
      detail: missingPartWarning().split('\n')[1]!.slice(2),
    },
  ]);
});

MissingPart('apply warns the same way and changes nothing', async () => {
  const r = await run('apply', '--auto-approve');
  assert.is(r.code, 0, r.err);
  assert.ok(r.out.includes(`${missingPartWarning()}\n`), r.out);
  assert.match(r.out, /Apply complete! Resources: 0 added, 0 changed, 0 destroyed\./);
});

MissingPart('export stats prints the warning on stderr and the older export\'s numbers', async () => {
  const r = await run('export', 'stats', exportsDir());
  assert.is(r.code, 0, r.err);
  assert.is(r.err, `${missingPartWarning()}\n`);
  assert.match(r.out, /^default namespace, kind Item: 3 entities/);
});

MissingPart('export dump prints the warning on stderr and the older export\'s entities', async () => {
  const r = await run('export', 'dump', exportsDir());
  assert.is(r.code, 0, r.err);
  assert.is(r.err, `${missingPartWarning()}\n`);
  assert.is(r.out.trim().split('\n').length, 3);
});

MissingPart('--export-id naming the incomplete export is an error, not a fallback', async () => {
  const r = await run('plan', '--export-id', NEW);
  assert.is(r.code, 1);
  assert.is(r.err, `Error: ${missingPartWarning().split('\n')[1]!.slice(2)}\n`);
});

MissingPart('a saved plan made from the older export refuses to apply once the newer export is whole', async () => {
  const saved = await run('plan', '-out', 'saved.plan');
  assert.is(saved.code, 0, saved.err);
  await rm(join(exportsDir(), NEW), { recursive: true });
  await writeNew();
  const r = await run('apply', 'saved.plan');
  assert.is(r.code, 1);
  assert.is(
    r.err,
    `Error: Saved plan is stale: rows.Item changed since the plan was made: it was planned from export ${OLD}, and this apply reads export ${NEW}; ` +
      `run plan again, or apply this plan with --export-id ${OLD}\n`,
  );
});

// ---------------------------------------------------------------------------------------
const Overall = suite("a newest export whose overall metadata is damaged or missing");
Overall.before(setUp);
Overall.after(tearDown);

Overall('a damaged overall file is passed over with a warning naming the file and the damage, as a missing part is', async () => {
  const overall = join(exportsDir(), NEW, `${NEW}.overall_export_metadata`);
  await writeFile(overall, 'garbage\n');
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 0, r.err);
  assert.is(
    r.out,
    'No changes. Your target matches the spec.\n\n' +
      `warning: export ${NEW} cannot be read (${NEW}.overall_export_metadata): using ${OLD}\n` +
      `  ${overall}: byte offset 0: truncated record: header says 26465 bytes, 1 present\n`,
  );
  const named = await run('plan', '--export-id', NEW);
  assert.is(named.code, 1);
  assert.is(named.err, `Error: ${overall}: byte offset 0: truncated record: header says 26465 bytes, 1 present\n`);
});

Overall('a missing overall file (an export still being written) is passed over with a warning', async () => {
  await rm(join(exportsDir(), NEW, `${NEW}.overall_export_metadata`));
  const why = `${join(exportsDir(), NEW)}: no .overall_export_metadata file, though the folder holds an export's parts (the export was copied in part, or is still being written)`;
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 0, r.err);
  assert.is(r.out, `No changes. Your target matches the spec.\n\nwarning: export ${NEW} is incomplete (${NEW}.overall_export_metadata is missing): using ${OLD}\n  ${why}\n`);
  const named = await run('plan', '--export-id', NEW);
  assert.is(named.code, 1);
  assert.is(named.err, `Error: ${why}\n`);
});

// ---------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------
const MissingOutput = suite('a newest export whose output file is missing (its metadata copied before its data)');
MissingOutput.before(async () => {
  await setUp();
  await rm(join(exportsDir(), NEW, 'all_namespaces', 'all_kinds', 'output-0'));
});
MissingOutput.after(tearDown);

MissingOutput('plan reads the older export and names the missing output file in its warning', async () => {
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 0, r.err);
  assert.is(
    r.out,
    'No changes. Your target matches the spec.\n\n' +
      `warning: export ${NEW} is incomplete (${join('all_namespaces', 'all_kinds', 'output-0')} is missing): using ${OLD}\n` +
      `  ${join(exportsDir(), NEW, 'all_namespaces', 'all_kinds', 'output-0')}: missing, though ${join(exportsDir(), NEW, PART)} lists it (the export was copied in part, or is still being written)\n`,
  );
});

const Older = suite('an incomplete export older than the one read');
Older.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-incomplete-'));
});
Older.after(tearDown);

Older('is no news: the newest export is read without a warning', async () => {
  // Laid out as an export but without an overall file, dated by its part metadata.
  await writeExport(exportsDir(), items(2), { exportId: 'old-partial', startTime: new Date('2026-10-01T00:00:00Z'), noOverall: true });
  await writeExport(exportsDir(), items(3), { exportId: 'new', startTime: new Date('2026-11-01T00:00:00Z') });
  const located = await locateExport(exportsDir());
  assert.is(located.exportId, 'new');
  assert.is(located.skipped, undefined);
});

Older('when no export of the folder can be read, the newest one\'s error is given', async () => {
  await rm(join(exportsDir(), 'new', PART));
  const err = await locateExport(exportsDir()).then(() => '', (e: Error) => e.message);
  assert.is(err, `${join(exportsDir(), 'new', PART)}: missing, though ${join(exportsDir(), 'new', 'new.overall_export_metadata')} lists it (the export was copied in part, or is still being written)`);
});

MissingPart.run();
Overall.run();
MissingOutput.run();
Older.run();
