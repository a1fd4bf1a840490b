// A mapping's `namespaces` naming one that holds none of its kind (a typo, a tenant never
// created): plan and apply warn, naming the mapping, the namespace and those the kind is in,
// at the namespace's place in the spec, in the text and --json output, and still succeed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Entity } from '../../src/source/entity.js';
import { unmatchedNamespaceWarnings, NamespacesMet } from '../../src/engine/changes/namespace-check.js';
import type { MappingSpec } from '../../src/spec/types.js';
import { writeExport } from '../support/export-writer.js';
import { exportSpecYaml } from '../support/export-spec.js';
import { fakeIO } from './fake-io.js';

const EXPORT_ID = '2026-11-01T00:00:00_000';

/** Items in the default namespace, eu and us; Notes in the default namespace only. */
function* entities(): Generator<Entity> {
  const namespaces = ['', 'eu', 'us'];
  for (let i = 1; i <= 12; i++) {
    const ns = namespaces[i % 3]!;
    yield {
      key: { partitionId: { projectId: 'p', ...(ns ? { namespaceId: ns } : {}) }, path: [{ kind: 'Item', id: String(i) }] },
      properties: { n: { integerValue: String(i) } },
    };
  }
  for (let i = 1; i <= 4; i++) yield { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Note', id: String(i) }] }, properties: { n: { integerValue: String(i) } } };
}

const spec = (itemNamespaces: string, noteNamespaces: string) =>
  exportSpecYaml(`  - kind: Item
    namespaces: ${itemNamespaces}
    fields:
      - { name: n, type: INT64 }
  - kind: Note
    namespaces: ${noteNamespaces}
    fields:
      - { name: n, type: INT64 }
`);

const ITEM_WARNING =
  'mlbridge.yaml:10:26: warning: rows.Item: namespace "ue" holds no Item entity in the source\n' +
  `  Export ${EXPORT_ID} holds Item entities in namespaces "" (the default namespace), "eu" and "us". A misspelled namespace reads nothing: correct or remove it in the mapping's \`namespaces\`.`;
const NOTE_WARNING =
  'mlbridge.yaml:14:18: warning: rows.Note: namespaces "eu" and "us" hold no Note entity in the source\n' +
  `  Export ${EXPORT_ID} holds Note entities in namespace "" (the default namespace). A misspelled namespace reads nothing: correct or remove it in the mapping's \`namespaces\`.`;

let dir = '';
const run = async (...args: string[]) => {
  const io = fakeIO({ cwd: dir });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};

const Warning = suite("a mapping's namespaces that hold none of its kind");
Warning.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-ns-warning-'));
  await writeExport(join(dir, 'exports'), entities(), { exportId: EXPORT_ID });
});
Warning.after(() => rmSync(dir, { recursive: true, force: true }));

Warning('plan warns at the namespace in the spec, lists the namespaces the kind is in, and still exits 2 with --detailed-exitcode', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), spec('["", eu, ue]', '[eu, us]'));
  const r = await run('plan', '--detailed-exitcode');
  assert.is(r.code, 2, r.err);
  assert.ok(r.out.endsWith(`\n\n${ITEM_WARNING}\n${NOTE_WARNING}\n`), r.out);
  // The rows of the namespaces that exist are planned as before.
  assert.match(r.out, /rows\.Item[^\n]*\n[^\n]*8 to insert/);
});

Warning('plan --json carries the warnings as diagnostics with their place in the spec', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), spec('["", eu, ue]', '[eu, us]'));
  const r = await run('plan', '--json');
  assert.is(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { diagnostics: { severity: string; summary: string; detail: string; source: { file: string; line: number; col: number } }[] };
  assert.equal(
    doc.diagnostics.map((d) => [d.severity, d.summary, d.source.line, d.source.col]),
    [
      ['warning', 'rows.Item: namespace "ue" holds no Item entity in the source', 10, 26],
      ['warning', 'rows.Note: namespaces "eu" and "us" hold no Note entity in the source', 14, 18],
    ],
  );
  assert.ok(doc.diagnostics[0]!.source.file.endsWith('mlbridge.yaml'), doc.diagnostics[0]!.source.file);
  assert.match(doc.diagnostics[0]!.detail, `holds Item entities in namespaces "" (the default namespace), "eu" and "us"`);
});

Warning('apply shows the warning and writes the rows of the namespaces that exist', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), spec('["", eu, ue]', '[""]'));
  const r = await run('apply', '--auto-approve');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, `${ITEM_WARNING}\n`);
  assert.not.match(r.out, 'warning: rows.Note');
  assert.match(r.out, 'Apply complete!');
  const again = await run('plan', '--detailed-exitcode');
  assert.is(again.code, 0, again.out);
  assert.match(again.out, ITEM_WARNING);
});

Warning('a mapping whose every namespace holds its kind plans without a warning', async () => {
  writeFileSync(join(dir, 'mlbridge.yaml'), spec('["", eu, us]', '[""]'));
  const r = await run('plan', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as { diagnostics: unknown[] }).diagnostics, []);
});

Warning('from the live API, where other namespaces are not read, the warning says how to list them', () => {
  const mapping = { kind: 'Item', namespaces: ['eu', 'ue'] } as MappingSpec;
  const met = new NamespacesMet();
  met.add('Item', 'eu');
  const [d, ...rest] = unmatchedNamespaceWarnings([mapping], met, { kind: 'datastore', project: 'shop', database: 'orders', readTime: '2026-11-01T00:00:00.000Z' });
  assert.equal(rest, []);
  assert.equal(d, {
    severity: 'warning',
    summary: 'rows.Item: namespace "ue" holds no Item entity in the source',
    detail:
      "Only the listed namespaces are read from the live Datastore API; `mlbridge init --from-datastore shop --database orders --kind Item` lists the namespaces Item is in. A misspelled namespace reads nothing: correct or remove it in the mapping's `namespaces`.",
  });
});

Warning.run();
