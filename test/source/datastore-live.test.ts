// Live reads against the real Datastore emulator: readDatastore must yield what the
// emulator's :lookup returns for the same keys, value for value, and `init --from-datastore`
// must infer the same mappings as `init --from-export` on an export of the same data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Entity } from '../../src/source/entity.js';
import { readDatastore, type ReadDatastoreOptions } from '../../src/source/datastore.js';
import { entityJson } from '../../src/source/export/lookup-json.js';
import { main } from '../../src/cli/main.js';
import { loadSpec } from '../../src/spec/load.js';
import { isMlbridgeError, MlbridgeError } from '../../src/model/errors.js';
import { keyString, seededEmulator, withGeoDefaults, type EmulatorExport } from './emulator-fixture.js';
import { withNoCredentials } from '../support/no-credentials.js';
import { fakeIO as capturingIO } from '../cli/fake-io.js';

/** The CLI suites' capturing io, as { io, out, err }. */
function fakeIO(cwd: string, env: NodeJS.ProcessEnv) {
  const io = capturingIO({ cwd, env });
  return { io, out: io.out, err: io.err };
}


/** Spec objects without their source positions (`source`, `namespaceSources`: the two specs' comments differ in length). */
function withoutSource(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutSource);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'source' && k !== 'namespaceSources').map(([k, x]) => [k, withoutSource(x)]));
}

const ctx: { emu?: EmulatorExport } = {};
const env = (): NodeJS.ProcessEnv => ({ DATASTORE_EMULATOR_HOST: ctx.emu!.emulator.host });
const opts = (o: Partial<ReadDatastoreOptions> = {}): ReadDatastoreOptions => ({ project: ctx.emu!.emulator.project, env: env(), ...o });

async function collect(o: ReadDatastoreOptions): Promise<Entity[]> {
  const out: Entity[] = [];
  for await (const e of readDatastore(o)) out.push(e);
  return out;
}

async function rejects(p: Promise<unknown>): Promise<MlbridgeError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isMlbridgeError(e), String(e));
    return e as MlbridgeError;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

const Live = suite('readDatastore against the Datastore emulator');

Live.before(async () => {
  ctx.emu = await seededEmulator();
});
Live.after(async () => {
  await ctx.emu?.close();
});

Live('every committed entity comes out once, across namespaces, paging 7 at a time', async () => {
  const got = await collect(opts({ pageSize: 7 }));
  assert.is(got.length, ctx.emu!.entities.length);
  const want = new Set(ctx.emu!.entities.map((e) => keyString(e.key)));
  for (const e of got) assert.ok(want.delete(keyString(e.key)), `unexpected or duplicate ${keyString(e.key)}`);
  assert.is(want.size, 0);
  const namespaces = new Set(got.map((e) => e.key.partitionId.namespaceId ?? ''));
  assert.equal([...namespaces].sort(), ['', 'bulk', 'ns.x-1', 'other']);
});

Live('each entity equals what lookup returns for its key, value for value and as lookup prints it', async () => {
  const got = await collect(opts({ pageSize: 50 }));
  const looked = await ctx.emu!.lookup(got.map((e) => e.key));
  const byKey = new Map(looked.map((e) => [keyString(e.key), e]));
  for (const e of got) {
    const l = byKey.get(keyString(e.key))!;
    assert.equal(e, withGeoDefaults({ key: l.key, properties: l.properties ?? {} }), keyString(e.key));
    assert.is(entityJson(e), JSON.stringify(l), keyString(e.key));
  }
  const every = got.find((e) => e.key.path[0]!.name === 'all')!;
  assert.equal(every.properties.imin, { integerValue: '-9223372036854775808' });
  assert.equal(every.properties.dnan, { doubleValue: 'NaN' });
  assert.equal(every.properties.tspre, { timestampValue: '1969-12-31T23:59:59.999999Z' });
  assert.equal(every.properties.zlib, { meaning: 22, blobValue: deflateSync(Buffer.from('compressed payload')).toString('base64'), excludeFromIndexes: true });
  const grand = got.find((e) => e.key.path.length === 3)!;
  assert.equal(grand.key, { partitionId: { projectId: ctx.emu!.emulator.project, namespaceId: 'ns.x-1' }, path: [{ kind: 'Parent', id: '7' }, { kind: 'Child', name: 'c2' }, { kind: 'Grand', id: '42' }] });
});

Live('one entity per page still reads a kind completely, in key order', async () => {
  const got = await collect(opts({ kinds: ['Bulk'], namespaces: ['bulk'], pageSize: 1 }));
  assert.is(got.length, 200);
  const ids = got.map((e) => Number(e.key.path[0]!.id));
  assert.equal(ids, [...ids].sort((a, b) => a - b));
  assert.is(new Set(ids).size, 200);
});

Live('kind and namespace filters select only matching entities; limit caps each kind per namespace', async () => {
  const bulk = await collect(opts({ kinds: ['Bulk'], namespaces: ['bulk'] }));
  assert.ok(bulk.every((e) => e.key.partitionId.namespaceId === 'bulk' && e.key.path[0]!.kind === 'Bulk'));
  const dflt = await collect(opts({ namespaces: [''] }));
  assert.equal([...new Set(dflt.map((e) => e.key.path[e.key.path.length - 1]!.kind))].sort(), ['Big', 'Bulk', 'Everything']);
  assert.ok(dflt.every((e) => e.key.partitionId.namespaceId === undefined));
  const child = await collect(opts({ kinds: ['Child', 'Grand'] }));
  assert.equal(child.map((e) => e.key.path.map((p) => p.kind).join('/')), ['Parent/Child', 'Parent/Child/Grand']);
  const capped = await collect(opts({ kinds: ['Bulk'], limit: 3, pageSize: 2 }));
  assert.equal(capped.map((e) => `${e.key.partitionId.namespaceId ?? ''}:${e.key.path[0]!.id}`), [':2', ':4', ':6', 'bulk:1', 'bulk:3', 'bulk:5']);
  assert.equal(await collect(opts({ kinds: ['NoSuchKind'] })), []);
});

Live('a failing query is a SOURCE_ERROR naming the project, namespace and kind', async () => {
  const err = await rejects(collect(opts({ kinds: [''], namespaces: [''] })));
  assert.is(err.code, 'SOURCE_ERROR');
  assert.is(err.message, `Datastore project ${ctx.emu!.emulator.project}, namespace (default), kind "": query failed: 3 INVALID_ARGUMENT: The kind is the empty string.`);
});

Live('without an emulator host and without credentials the error names every place ADC looked', async () => {
  await withNoCredentials({ metadataServer: 'off', unset: ['DATASTORE_EMULATOR_HOST'] }, async ({ home }) => {
    const err = await rejects(collect({ project: 'p', env: { HOME: home } }));
    assert.is(err.code, 'CREDENTIALS_MISSING');
    assert.is(
      err.message,
      'No Google Cloud credentials found: tried GOOGLE_APPLICATION_CREDENTIALS (unset), gcloud application-default credentials (~/.config/gcloud/application_default_credentials.json: not found), the metadata server (not reachable). Run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS.',
    );
  });
});

Live('init --from-datastore writes a spec that loads cleanly, with the types an export gives', async () => {
  const dir = ctx.emu!.dir;
  const t = fakeIO(dir, env());
  assert.is(await main(['init', '--from-datastore', ctx.emu!.emulator.project, '-o', 'live.yaml'], t.io), 0, t.err());
  assert.is(t.err(), 'wrote live.yaml: 6 mappings\n');
  const live = await loadSpec(join(dir, 'live.yaml'), { env: {} });
  assert.equal(live.diagnostics, []);
  assert.equal(withoutSource(live.spec!.source), { kind: 'datastore', project: ctx.emu!.emulator.project });
  const every = live.spec!.mappings.find((m) => m.kind === 'Everything')!.fields;
  const types = Object.fromEntries(every.map((f) => [f.name, `${f.type} ${f.mode}`]));
  assert.equal(
    [types.imin, types.d, types.t, types.s, types.blob, types.ts, types.geo, types.kref, types.emb, types.arr, types.arrts, types.arrents, types.nul],
    ['INT64 NULLABLE', 'FLOAT64 NULLABLE', 'BOOL NULLABLE', 'STRING NULLABLE', 'BYTES NULLABLE', 'TIMESTAMP NULLABLE', 'GEOGRAPHY NULLABLE', 'STRING NULLABLE',
      'RECORD NULLABLE', 'JSON REPEATED', 'TIMESTAMP REPEATED', 'RECORD REPEATED', 'STRING NULLABLE'],
  );
  const text = (await import('node:fs/promises')).readFile(join(dir, 'live.yaml'), 'utf8');
  assert.match(await text, /# Sampled at most 10000 entities per kind in each namespace \(--limit; live reads are billed per entity\)\.\n/);
  assert.match(await text, /source:\n {2}datastore: \{ project: mlbridge-export-test \}\n/);

  // The same data through an export: the same mappings.
  await ctx.emu!.exportTo('for-init');
  const e = fakeIO(dir, {});
  assert.is(await main(['init', '--from-export', 'for-init', '-o', 'export.yaml'], e.io), 0, e.err());
  const viaExport = await loadSpec(join(dir, 'export.yaml'), { env: {} });
  assert.equal(viaExport.diagnostics, []);
  assert.equal(withoutSource(live.spec!.mappings), withoutSource(viaExport.spec!.mappings));
});

Live('init --from-datastore honours --kind, --namespace and --limit, and says when it sampled', async () => {
  const t = fakeIO(ctx.emu!.dir, env());
  const args = ['init', '--from-datastore', ctx.emu!.emulator.project, '--kind', 'Bulk', '--namespace', 'bulk', '--limit', '5', '--target', 'bigquery'];
  assert.is(await main(args, t.io), 0, t.err());
  const yaml = t.out();
  assert.match(yaml, /^# Generated by `mlbridge init` from Datastore project mlbridge-export-test \(emulator at 127\.0\.0\.1:\d+\) \(5 entities, 1 kind\)\.\n/);
  assert.match(yaml, /# Sampled at most 5 entities per kind in each namespace .*; some kinds hold more, so rare properties or types may be missing\.\n/);
  assert.match(yaml, /source:\n {2}datastore: \{ project: mlbridge-export-test, namespace: "bulk" \}\n/);
  assert.match(yaml, /# 5 entities\n {4}namespaces: \["bulk"\]\n/);
  const file = join(ctx.emu!.dir, 'sampled.yaml');
  await writeFile(file, yaml);
  const res = await loadSpec(file, { env: {} });
  assert.equal(res.diagnostics, []);
  assert.equal(res.spec!.mappings.map((m) => m.kind), ['Bulk']);
  assert.equal(withoutSource(res.spec!.source), { kind: 'datastore', project: 'mlbridge-export-test', namespace: 'bulk' });
});

Live('init --from-datastore with an emulator-only project id like `p` writes a spec its own validate accepts', async () => {
  const res = await fetch(`http://${ctx.emu!.emulator.host}/v1/projects/p:commit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'NON_TRANSACTIONAL', mutations: [{ upsert: { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Note', name: 'n1' }] }, properties: { text: { stringValue: 'hi' } } } }] }),
  });
  assert.ok(res.ok, await res.text());
  const t = fakeIO(ctx.emu!.dir, env());
  assert.is(await main(['init', '--from-datastore', 'p', '-o', 'p.yaml'], t.io), 0, t.err());
  const v = fakeIO(ctx.emu!.dir, {});
  assert.is(await main(['validate', '-c', 'p.yaml'], v.io), 0, v.err());
  assert.is(v.out(), 'Success! The spec is valid: 1 mapping, target duckdb analytics.\n');
  assert.match(v.err(), /^p\.yaml:\d+:\d+: warning: `source\.datastore\.project`: `p` is not a Google Cloud project ID \(6 to 30 lowercase letters, digits or hyphens, starting with a letter\); only the Datastore emulator accepts it\n/);
});

Live('init --from-datastore rejects export-only and bad options with a message', async () => {
  const t = fakeIO(ctx.emu!.dir, env());
  assert.is(await main(['init', '--from-datastore', ctx.emu!.emulator.project, '--limit', '0'], t.io), 1);
  assert.is(t.err(), 'Error: --limit must be a positive whole number, not "0"\n');
  const u = fakeIO(ctx.emu!.dir, env());
  assert.is(await main(['init', '--from-export', 'x', '--kind', 'A'], u.io), 1);
  assert.is(u.err(), 'Error: --kind, --namespace, --limit and --database apply to --from-datastore only\n');
});

Live('init --from-datastore --database names the database in the spec it writes', async () => {
  // The emulator keeps one store for every database id, so this shows the flag reaching
  // the spec; reading from the named database itself needs a real project.
  const t = fakeIO(ctx.emu!.dir, env());
  assert.is(await main(['init', '--from-datastore', ctx.emu!.emulator.project, '--database', 'analytics-db', '--kind', 'Bulk', '-o', 'named-db.yaml'], t.io), 0, t.err());
  const text = await readFile(join(ctx.emu!.dir, 'named-db.yaml'), 'utf8');
  assert.match(text, /^# Generated by `mlbridge init` from Datastore project mlbridge-export-test, database analytics-db \(emulator at 127\.0\.0\.1:\d+\) \(400 entities, 1 kind\)\.\n/);
  assert.match(text, /source:\n {2}datastore: \{ project: mlbridge-export-test, database: analytics-db \}\n/);
  const res = await loadSpec(join(ctx.emu!.dir, 'named-db.yaml'), { env: {} });
  assert.equal(res.diagnostics, []);
  assert.equal(withoutSource(res.spec!.source), { kind: 'datastore', project: 'mlbridge-export-test', databaseId: 'analytics-db' });
});

Live.run();
