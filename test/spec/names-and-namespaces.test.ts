// Spec input that used to pass `validate` and fail later: kind names that are not UTF-8,
// dataset names the target keeps for itself; and the mapping's `namespaces` list.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDiagnostic } from '../../src/model/diagnostic.js';
import { loadSpec } from '../../src/spec/load.js';
import { TARGET, cleanup, load, problems, tempDir } from './helpers.js';

const mapping = (extra: string) => `${TARGET}mappings:\n  - kind: Order\n${extra}    fields: [{ name: id, type: STRING }]\n`;

const Kinds = suite('kind names must be UTF-8');
Kinds.after(cleanup);

Kinds('a kind saved in Latin-1 is refused at the byte, not loaded as U+FFFD', async () => {
  const dir = tempDir({});
  // "Bücher" with ü as the Latin-1 byte 0xFC.
  const bytes = Buffer.concat([Buffer.from(`${TARGET}mappings:\n  - kind: B`), Buffer.of(0xfc), Buffer.from('cher\n    fields: [{ name: id, type: STRING }]\n')]);
  writeFileSync(join(dir, 'spec.yaml'), bytes);
  const res = await loadSpec('spec.yaml', { cwd: dir, env: {} });
  assert.is(res.spec, undefined);
  assert.equal(res.diagnostics.map(formatDiagnostic), [
    'spec.yaml:4:12: invalid UTF-8: byte 0xfc at byte offset 80; spec files are read as UTF-8 (was this saved in another encoding?)',
  ]);
});

Kinds('a truncated multi-byte sequence and an overlong encoding are refused too; valid UTF-8 after a BOM loads', async () => {
  const dir = tempDir({});
  writeFileSync(join(dir, 'a.yaml'), Buffer.concat([Buffer.from(mapping('').replace('Order', 'Ord')), Buffer.of(0xe2, 0x82)]));
  writeFileSync(join(dir, 'b.yaml'), Buffer.concat([Buffer.from('# '), Buffer.of(0xc0, 0xaf), Buffer.from('\n')]));
  const res = await loadSpec('.', { cwd: dir, env: {} });
  assert.equal(res.diagnostics.map(formatDiagnostic).filter((d) => d.includes('UTF-8')), [
    'a.yaml:6:1: invalid UTF-8: byte 0xe2 at byte offset 124; spec files are read as UTF-8 (was this saved in another encoding?)',
    'b.yaml:1:3: invalid UTF-8: byte 0xc0 at byte offset 2; spec files are read as UTF-8 (was this saved in another encoding?)',
  ]);
  const ok = tempDir({});
  writeFileSync(join(ok, 'spec.yaml'), Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(mapping('').replace('Order', 'Bücher 📚'))]));
  const loaded = await loadSpec('spec.yaml', { cwd: ok, env: {} });
  assert.equal(loaded.diagnostics, []);
  assert.is(loaded.spec!.mappings[0]!.kind, 'Bücher 📚');
});

Kinds('a lone surrogate written as a YAML escape, and a kind over 1,500 bytes, are refused', async () => {
  assert.equal(await problems(mapping('').replace('kind: Order', 'kind: "Order\\udc80"')), [
    'spec.yaml:4:11: `mappings[0].kind`: kind `Order\\uDC80` holds a lone surrogate (\\uDC80), which is not valid UTF-8; Datastore kind names are UTF-8 text',
  ]);
  assert.equal(await problems(mapping('').replace('kind: Order', `kind: ${'ü'.repeat(751)}`)), [
    'spec.yaml:4:11: `mappings[0].kind`: kind is 1502 bytes long in UTF-8; Datastore allows at most 1500',
  ]);
});

const Datasets = suite('dataset names the target reserves');
Datasets.after(cleanup);

Datasets('information_schema, pg_catalog, temp, system and _mlbridge_memo fail validate for DuckDB, in any case', async () => {
  const duck = (name: string) => `target:\n  duckdb: { path: ./w.duckdb, dataset: ${name} }\n`;
  assert.equal(await problems(duck('information_schema')), [
    'spec.yaml:2:40: `target.duckdb.dataset`: dataset name `information_schema` is reserved: DuckDB keeps its metadata views under INFORMATION_SCHEMA',
  ]);
  assert.equal(await problems(duck('pg_catalog')), ['spec.yaml:2:40: `target.duckdb.dataset`: dataset name `pg_catalog` is reserved: DuckDB has a built-in schema of that name; choose another']);
  assert.equal(await problems(duck('Temp')), ['spec.yaml:2:40: `target.duckdb.dataset`: dataset name `Temp` is reserved: DuckDB has a built-in catalog of that name; choose another']);
  assert.equal(await problems(duck('system')), ['spec.yaml:2:40: `target.duckdb.dataset`: dataset name `system` is reserved: DuckDB has a built-in catalog of that name; choose another']);
  assert.equal(await problems('target:\n  duckdb: { path: ./data/wh.v2.duckdb, dataset: WH }\n'), [
    'spec.yaml:2:49: `target.duckdb.dataset`: dataset name `WH` is also the name DuckDB gives the database file `wh.v2.duckdb`, so every reference to it would be ambiguous; rename the file or choose another dataset',
  ]);
  assert.equal(await problems(duck('_MLBRIDGE_memo')), [
    'spec.yaml:2:40: `target.duckdb.dataset`: dataset name `_MLBRIDGE_memo` is reserved: mlbridge keeps its source memo in a schema of that name; choose another',
  ]);
  assert.equal(await problems(duck('main')), []);
});

Datasets('BigQuery refuses INFORMATION_SCHEMA as a dataset; temp is an ordinary name there', async () => {
  const bq = (name: string) => `target:\n  bigquery: { project: my-proj, dataset: ${name} }\n`;
  assert.equal(await problems(bq('INFORMATION_SCHEMA')), [
    'spec.yaml:2:42: `target.bigquery.dataset`: dataset name `INFORMATION_SCHEMA` is reserved: BigQuery keeps its metadata views under INFORMATION_SCHEMA',
  ]);
  assert.equal(await problems(bq('temp')), []);
});

const Namespaces = suite('a mapping\'s namespaces');
Namespaces.after(cleanup);

Namespaces('`namespaces` lists them, `namespace` is a one-element list, and neither means every namespace', async () => {
  const list = await load(mapping('    namespaces: ["", tenant-a, eu.west_1]\n'));
  assert.equal(list.diagnostics, []);
  assert.equal(list.spec!.mappings[0]!.namespaces, ['', 'tenant-a', 'eu.west_1']);
  const one = await load(mapping('    namespace: tenant-a\n'));
  assert.equal(one.spec!.mappings[0]!.namespaces, ['tenant-a']);
  const none = await load(mapping(''));
  assert.is(none.spec!.mappings[0]!.namespaces, undefined);
});

Namespaces('both keys, an empty list, a duplicate, a bad or reserved name are each reported where they are', async () => {
  assert.equal(await problems(mapping('    namespace: a\n    namespaces: [b]\n')), ['spec.yaml:5:5: `mappings[0]`: set `namespaces` or `namespace`, not both']);
  assert.equal(await problems(mapping('    namespaces: []\n')), [
    'spec.yaml:5:17: `mappings[0].namespaces`: list at least one namespace (`""` is the default namespace), or leave `namespaces` out to read every namespace',
  ]);
  assert.equal(await problems(mapping('    namespaces: [a, b, a, "x y", __kind__]\n')), [
    'spec.yaml:5:24: `mappings[0].namespaces[2]`: namespace "a" is listed twice',
    'spec.yaml:5:27: `mappings[0].namespaces[3]`: `x y` is not a Datastore namespace (at most 100 letters, digits, `.`, `_` or `-`; `""` is the default namespace)',
    'spec.yaml:5:34: `mappings[0].namespaces[4]`: namespace `__kind__` is reserved by Datastore',
  ]);
});

Kinds.run();
Datasets.run();
Namespaces.run();
