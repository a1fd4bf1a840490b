// The export commands as a user runs them: `export stats`, `export dump` on damaged
// input, and `init --from-export` producing a spec that loads without diagnostics.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import type { FieldSpec } from '../../src/spec/types.js';
import { run as stats } from '../../src/cli/commands/export-stats.js';
import { run as dump } from '../../src/cli/commands/export-dump.js';
import { run as init } from '../../src/cli/commands/init.js';
import { loadSpec } from '../../src/spec/load.js';
import { writeExport } from '../support/export-writer.js';
import { seededEmulator, type EmulatorExport } from './emulator-fixture.js';
import { fakeIO as capturingIO } from '../cli/fake-io.js';

/** The CLI suites' capturing io, as { io, out, err }. */
function fakeIO(cwd = process.cwd(), env: NodeJS.ProcessEnv = {}) {
  const io = capturingIO({ cwd, env });
  return { io, out: io.out, err: io.err };
}

const ent = (kind: string, id: number, props: Entity['properties'], namespaceId?: string): Entity => ({
  key: { partitionId: { projectId: 'p', ...(namespaceId ? { namespaceId } : {}) }, path: [{ kind, id: String(id) }] },
  properties: props,
});

const ctx: { dir: string; small: string; output: string } = { dir: '', small: '', output: '' };
const Stats = suite('export stats and dump on damaged input');

Stats.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'mlbridge-cli-'));
  ctx.small = join(ctx.dir, 'small');
  const { path } = await writeExport(
    ctx.small,
    [
      ent('Order', 1, { total: { integerValue: '5' }, tags: { arrayValue: { values: [{ stringValue: 'a' }] } } }),
      ent('Order', 2, { total: { doubleValue: 2.5 }, addr: { entityValue: { properties: { city: { stringValue: 'X' } } } } }),
      ent('Order', 3, { total: { nullValue: null } }, 'eu'),
    ],
    { exportId: 'S1' },
  );
  ctx.output = join(path, 'all_namespaces', 'all_kinds', 'output-0');
});
Stats.after(async () => {
  await rm(ctx.dir, { recursive: true, force: true });
});

Stats('stats prints entities, bytes and property types per namespace and kind', async () => {
  const t = fakeIO();
  assert.is(await stats({ location: ctx.small, json: false, skipCorrupt: false }, t.io), 0);
  const lines = t.out().split('\n');
  assert.match(lines[0]!, /^default namespace, kind Order: 2 entities, \d+ bytes$/);
  assert.equal(lines.slice(1, 5), ['  addr       entity 1', '  addr.city  string 1', '  tags       array 1 (elements: string 1)', '  total      double 1, integer 1']);
  assert.match(lines[5]!, /^namespace "eu", kind Order: 1 entity, \d+ bytes$/);
  assert.is(lines[6], '  total  null 1');
  assert.match(lines[7]!, /^total: 3 entities, \d+ bytes in 2 namespace\/kind groups$/);
});

Stats('stats --json gives the same numbers as data', async () => {
  const t = fakeIO();
  assert.is(await stats({ location: ctx.small, json: true, skipCorrupt: false }, t.io), 0);
  const j = JSON.parse(t.out());
  assert.is(j.entities, 3);
  assert.equal(j.kinds.map((k: { namespace: string; kind: string; entities: number }) => [k.namespace, k.kind, k.entities]), [['', 'Order', 2], ['eu', 'Order', 1]]);
  assert.equal(j.kinds[0].properties.find((p: { name: string }) => p.name === 'total').types, { integer: 1, double: 1 });
  // snake_case keys, as in every JSON mlbridge prints; value type names stay as named.
  assert.equal(j.kinds[0].properties.find((p: { name: string }) => p.name === 'tags').element_types, { string: 1 });
});

Stats('a damaged file exits 1 with file and byte offset and no stack trace', async () => {
  const good = await readFile(ctx.output);
  const bad = Buffer.from(good);
  bad[20] ^= 0x10; // inside the first record
  await writeFile(ctx.output, bad);
  try {
    const t = fakeIO();
    assert.is(await dump({ location: ctx.small, kind: [], namespace: [], skipCorrupt: false }, t.io), 1);
    assert.match(t.err(), new RegExp(`^Error: ${ctx.output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: byte offset 0: checksum mismatch \\(expected crc32c 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\)\\n$`));
    assert.not.match(t.err(), /\n\s+at /);

    const s = fakeIO();
    assert.is(await dump({ location: ctx.small, kind: [], namespace: [], skipCorrupt: true }, s.io), 0);
    assert.is(s.out().trimEnd().split('\n').length, 2);
    const meta = join(ctx.output, '..', 'all_namespaces_all_kinds.export_metadata');
    assert.is(
      s.err(),
      `warning: skipped 1 damaged record:\n  ${ctx.output}: byte offset 0: ${/checksum mismatch[^\n]*/.exec(t.err())![0]}\n` +
        `warning: ${meta}: the export lists 3 entities here but only 2 were read; damaged records were skipped\n`,
    );

    const st = fakeIO();
    assert.is(await stats({ location: ctx.small, json: false, skipCorrupt: false }, st.io), 1);
    assert.match(st.err(), /: byte offset 0: checksum mismatch/);
  } finally {
    await writeFile(ctx.output, good);
  }
});

Stats('dump of an export damaged near its end prints nothing and exits 1 naming the damage', async () => {
  const good = await readFile(ctx.output);
  await writeFile(ctx.output, good.subarray(0, good.length - 3)); // the last record loses its tail
  try {
    for (const limit of [undefined, 10]) {
      const t = fakeIO();
      assert.is(await dump({ location: ctx.small, kind: [], namespace: [], skipCorrupt: false, ...(limit ? { limit } : {}) }, t.io), 1);
      assert.is(t.out(), '', 'no entity before the error');
      assert.match(t.err(), /^Error: .*output-0: byte offset \d+: truncated record: header says \d+ bytes, \d+ present\n$/);
    }
  } finally {
    await writeFile(ctx.output, good);
  }
});

Stats('an emptied output file is not silent: the count from the metadata is compared', async () => {
  const good = await readFile(ctx.output);
  await writeFile(ctx.output, Buffer.alloc(0));
  try {
    const meta = join(ctx.output, '..', 'all_namespaces_all_kinds.export_metadata');
    for (const run of [stats, dump] as const) {
      const t = fakeIO();
      assert.is(await run({ location: ctx.small, json: false, kind: [], namespace: [], skipCorrupt: false }, t.io), 1);
      assert.is(t.out(), '');
      assert.is(t.err(), `Error: ${meta}: the export lists 3 entities here but its output files hold only 0: they are missing or incomplete\n`);
    }
    const t = fakeIO();
    assert.is(await stats({ location: ctx.small, json: false, skipCorrupt: true }, t.io), 0);
    assert.is(t.out(), 'total: 0 entities, 0 bytes in 0 namespace/kind groups\n');
    assert.is(
      t.err(),
      `warning: ${meta}: the export lists 3 entities here but only 0 were read; its output files are missing or incomplete\n`,
    );
  } finally {
    await writeFile(ctx.output, good);
  }
  const ok = fakeIO();
  assert.is(await dump({ location: ctx.small, kind: ['Order'], namespace: ['eu'], skipCorrupt: false }, ok.io), 0);
  assert.is(ok.err(), '', 'a filter reads fewer entities without a warning');
  const none = fakeIO();
  assert.is(await dump({ location: ctx.small, kind: ['Ordr'], namespace: [], skipCorrupt: false }, none.io), 0);
  assert.is(none.out(), '');
  assert.is(none.err(), 'warning: no entity matched --kind "Ordr" (see `mlbridge export stats` for the kinds and namespaces present)\n');
});

Stats('dump stops quietly when the reader goes away (EPIPE)', async () => {
  const { Writable } = await import('node:stream');
  let lines = 0;
  const stdout = new Writable({
    highWaterMark: 1,
    write(chunk, _enc, cb) {
      lines += String(chunk).split('\n').length - 1;
      cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const t = fakeIO();
  const code = await dump({ location: ctx.small, kind: [], namespace: [], skipCorrupt: false }, { ...t.io, stdout });
  assert.is(code, 0);
  assert.ok(lines >= 1);
  assert.is(t.err(), '');
});

Stats('a location without an export exits 1 saying so', async () => {
  const t = fakeIO();
  assert.is(await dump({ location: join(ctx.dir, 'missing'), kind: [], namespace: [], skipCorrupt: false }, t.io), 1);
  assert.is(t.err(), `Error: ${join(ctx.dir, 'missing')}: no export found: no such file or folder\n`);
  const f = fakeIO();
  assert.is(await stats({ location: ctx.output, json: false, skipCorrupt: false }, f.io), 1);
  assert.is(f.err(), `Error: ${ctx.output}: no export found: a file, not an export folder (expected a folder, an .overall_export_metadata or an .export_metadata file)\n`);
});

Stats('init on a kind whose entities have no properties writes a spec its own validate accepts', async () => {
  const dir = join(ctx.dir, 'bare');
  await writeExport(dir, [ent('Marker', 1, {}), ent('Marker', 2, {}, 'eu')], { exportId: 'B1' });
  const t = fakeIO(ctx.dir);
  assert.is(await init({ fromExport: 'bare', output: 'bare.yaml' }, t.io), 0, t.err());
  const text = await readFile(join(ctx.dir, 'bare.yaml'), 'utf8');
  assert.match(text, /  - kind: Marker\n    # 2 entities, \d+ bytes\n    namespaces: \["", "eu"\]\n    # no properties seen[^\n]*\n    fields: \[\{ name: key_path, type: STRING, from: __key__\.path \}\]\n/);
  const res = await loadSpec(join(ctx.dir, 'bare.yaml'), { env: {} });
  assert.equal(res.diagnostics, []);
  assert.equal(res.spec!.mappings[0]!.fields.map((f) => [f.name, f.from]), [['key_path', ['__key__', 'path']]]);
});

const Init = suite('init --from-export on an emulator export');
const ictx: { emu?: EmulatorExport; exp?: string } = {};
Init.before(async () => {
  ictx.emu = await seededEmulator();
  ictx.exp = await ictx.emu.exportTo('full');
});
Init.after(async () => {
  await ictx.emu?.close();
});

const field = (fields: FieldSpec[] | undefined, name: string) => fields?.find((f) => f.name === name);

Init('the written spec loads with zero diagnostics and has the expected types', async () => {
  const out = join(ictx.emu!.dir, 'spec', 'mlbridge.yaml');
  await (await import('node:fs/promises')).mkdir(join(ictx.emu!.dir, 'spec'));
  const t = fakeIO(ictx.emu!.dir);
  assert.is(await init({ fromExport: 'full', output: out }, t.io), 0); // relative to cwd
  assert.match(t.err(), /wrote .*mlbridge\.yaml: 6 mappings/);
  const res = await loadSpec(out, { env: {} });
  assert.equal(res.diagnostics, []);
  const spec = res.spec!;
  assert.is(spec.target.kind, 'duckdb');
  assert.equal(spec.mappings.map((m) => m.kind).sort(), ['Big', 'Bulk', 'Child', 'Everything', 'Grand', 'Ünïcødé']);
  const every = spec.mappings.find((m) => m.kind === 'Everything')!.fields;
  const types = Object.fromEntries(every.map((f) => [f.name, `${f.type} ${f.mode}`]));
  assert.equal(
    {
      imin: types.imin, d: types.d, t: types.t, s: types.s, blob: types.blob, ts: types.ts, geo: types.geo, kref: types.kref,
      emb: types.emb, arr: types.arr, arrts: types.arrts, arrents: types.arrents, nul: types.nul,
    },
    {
      imin: 'INT64 NULLABLE', d: 'FLOAT64 NULLABLE', t: 'BOOL NULLABLE', s: 'STRING NULLABLE', blob: 'BYTES NULLABLE', ts: 'TIMESTAMP NULLABLE',
      geo: 'GEOGRAPHY NULLABLE', kref: 'STRING NULLABLE', emb: 'RECORD NULLABLE', arr: 'JSON REPEATED', arrts: 'TIMESTAMP REPEATED',
      arrents: 'RECORD REPEATED', nul: 'STRING NULLABLE',
    },
  );
  const emb = field(every, 'emb')!;
  assert.equal(emb.fields!.map((f) => `${f.name} ${f.type} ${f.mode}`), ['deeper RECORD NULLABLE', 'n INT64 NULLABLE', 'street STRING NULLABLE']);
  assert.equal(field(field(emb.fields, 'deeper')!.fields, 'deepest')!.fields!.map((f) => `${f.name} ${f.type}`), ['un STRING', 'x FLOAT64']);
  const price = field(every, 'price_amount')!;
  assert.equal(price.from, ['price.amount']);
  // A property every one of the 400 entities holds is still NULLABLE: the 401st may lack it.
  const bulk = spec.mappings.find((m) => m.kind === 'Bulk')!.fields;
  assert.equal(
    bulk.map((f) => `${f.name} ${f.type} ${f.mode}`),
    ['i INT64 NULLABLE', 'name STRING NULLABLE', 'note STRING NULLABLE', 'price FLOAT64 NULLABLE', 'tags STRING REPEATED', 'when TIMESTAMP NULLABLE'],
  );
  // Each mapping lists the namespaces its kind was seen in.
  assert.equal(
    Object.fromEntries(spec.mappings.map((m) => [m.kind, m.namespaces])),
    { Big: [''], Bulk: ['', 'bulk'], Child: ['ns.x-1'], Everything: [''], Grand: ['ns.x-1'], 'Ünïcødé': ['other'] },
  );
  const again = fakeIO(ictx.emu!.dir);
  assert.is(await init({ fromExport: 'full', output: out }, again.io), 1);
  assert.is(again.err(), `Error: ${out} already exists; init does not overwrite a spec (remove it, or pick another -o FILE)\n`);
  const text = await readFile(out, 'utf8');
  // The header says what a REQUIRED column costs: its record is quarantined, the apply goes on.
  assert.ok(
    text.includes(
      '# Every field is NULLABLE: an entity written later may lack a property all of these had (init --infer-required\n' +
        '# makes those REQUIRED; a record without a value for a REQUIRED column is quarantined, not loaded).\n',
    ),
    text.slice(0, 600),
  );
  assert.match(text, /# price: types vary \(INT64 in 133, FLOAT64 in 267\); widened to FLOAT64; 133 of 400 entities disagreed\n\s+- name: price\n/);
  assert.match(text, /# arr: types vary \(mixed-type arrays in 1; array elements: [^)]*\); JSON chosen; 1 of 1 entities disagreed/);
  assert.match(text, /source:\n {2}export: \{ path: \.\.\/full \}/);
});

Init('--infer-required makes REQUIRED the properties every sampled entity held', async () => {
  const t = fakeIO(ictx.emu!.dir);
  assert.is(await init({ fromExport: 'full', inferRequired: true }, t.io), 0, t.err());
  assert.ok(!t.out().includes('Every field is NULLABLE'));
  const file = join(ictx.emu!.dir, 'required.yaml');
  await writeFile(file, t.out());
  const res = await loadSpec(file, { env: {} });
  assert.equal(res.diagnostics, []);
  const bulk = res.spec!.mappings.find((m) => m.kind === 'Bulk')!.fields;
  assert.equal(bulk.map((f) => `${f.name} ${f.mode}`), ['i REQUIRED', 'name REQUIRED', 'note NULLABLE', 'price REQUIRED', 'tags REPEATED', 'when REQUIRED']);
});

Init('--target bigquery takes the project from the environment, else the export\'s project', async () => {
  const t = fakeIO(ictx.emu!.dir);
  assert.is(await init({ fromExport: ictx.exp!, target: 'bigquery' }, t.io), 0);
  const file = join(ictx.emu!.dir, 'bq.yaml');
  await writeFile(file, t.out());
  const project = ictx.emu!.emulator.project;
  assert.ok(t.out().includes(`bigquery: { project: "\${GOOGLE_CLOUD_PROJECT:-${project}}"`), t.out().slice(0, 400));
  const res = await loadSpec(file, { env: { GOOGLE_CLOUD_PROJECT: 'my-proj' } });
  assert.equal(res.diagnostics, []);
  assert.equal(res.spec!.target, { ...res.spec!.target, kind: 'bigquery', project: 'my-proj' });
  const unset = await loadSpec(file, { env: {} });
  assert.equal(unset.diagnostics, []);
  assert.is((unset.spec!.target as { project: string }).project, project);
});

Init('init without --from-export, or with a damaged export, exits 1 with a message', async () => {
  const t = fakeIO();
  assert.is(await init({}, t.io), 1);
  assert.match(t.err(), /init needs --from-export LOCATION/);
  const id = (await readdir(ictx.exp!)).sort().reverse()[0]!;
  const out = join(ictx.exp!, id, 'all_namespaces', 'all_kinds', 'output-0');
  const good = await readFile(out);
  await writeFile(out, good.subarray(0, 40_000));
  try {
    const u = fakeIO();
    assert.is(await init({ fromExport: ictx.exp! }, u.io), 1);
    assert.match(u.err(), /output-0: byte offset \d+: truncated record/);
    assert.is(u.out(), '');
  } finally {
    await writeFile(out, good);
  }
});

Stats.run();
Init.run();
