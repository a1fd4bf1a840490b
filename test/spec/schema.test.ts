// Keeps specs/mlbridge.schema.json and the loader in agreement: every spec under
// examples/ and specs/ passes both; every fixture under fixtures/broken fails both.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDiagnostic } from '../../src/model/diagnostic.js';
import { loadSpec, parseSpecText } from '../../src/spec/load.js';
import { toPlain } from '../../src/spec/yaml-tree.js';

// dist/test/spec → repo root
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'specs', 'mlbridge.schema.json'), 'utf8'));
const BROKEN = join(ROOT, 'test', 'spec', 'fixtures', 'broken');
// Variables the env-dependent examples need; everything else comes from the real environment.
const ENV: NodeJS.ProcessEnv = { ...process.env, MLBRIDGE_PROJECT: 'my-proj' };

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false }); // if/then requires `fields` declared one level up
const validate = ajv.compile(SCHEMA);

function yamlFiles(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(yamlFiles(p));
    else if (/\.ya?ml$/i.test(name)) out.push(p);
  }
  return out.sort();
}

function schemaErrors(file: string): string[] {
  const parsed = parseSpecText(readFileSync(file, 'utf8'), file, ENV);
  if (!parsed.root) return parsed.diagnostics.map(formatDiagnostic);
  if (validate(toPlain(parsed.root))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

function hasTarget(file: string): boolean {
  return /^target\s*:/m.test(readFileSync(file, 'utf8'));
}

const Agreement = suite('JSON Schema and loader agreement');

const valid = [...yamlFiles(join(ROOT, 'examples')), ...yamlFiles(join(ROOT, 'specs'))];

Agreement('there are example specs to check, including the full-featured and the minimal one', () => {
  const names = valid.map((f) => relative(ROOT, f));
  assert.ok(names.includes(join('specs', 'examples', 'bigquery-full.yaml')));
  assert.ok(names.includes(join('specs', 'examples', 'duckdb-minimal.yaml')));
});

for (const file of valid) {
  const rel = relative(ROOT, file);
  Agreement(`${rel} passes the JSON Schema and the loader`, async () => {
    assert.equal(schemaErrors(file), [], 'JSON Schema errors');
    // A file without a target is part of a folder spec: load the folder.
    const res = await loadSpec(hasTarget(file) ? file : dirname(file), { env: ENV, cwd: ROOT });
    assert.equal(res.diagnostics.map(formatDiagnostic), [], 'loader diagnostics');
    assert.ok(res.spec);
  });
}

const broken = yamlFiles(BROKEN);

Agreement('there are at least 8 broken fixtures', () => {
  assert.ok(broken.length >= 8, `only ${broken.length}`);
});

for (const file of broken) {
  const rel = relative(ROOT, file);
  Agreement(`${rel} fails the JSON Schema and the loader`, async () => {
    const expect = /^# expect: (.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
    assert.ok(expect, 'fixture states what the loader must say');
    assert.ok(schemaErrors(file).length > 0, 'the JSON Schema accepted it');
    const res = await loadSpec(file, { env: ENV, cwd: ROOT });
    assert.is(res.spec, undefined);
    const got = res.diagnostics.map(formatDiagnostic);
    assert.ok(got.some((d) => d.includes(expect!)), `expected a diagnostic containing ${expect}, got:\n${got.join('\n')}`);
    assert.ok(got.every((d) => /^test\/spec\/fixtures\/broken\/[\w-]+\.yaml:\d+:\d+: /.test(d)), `every diagnostic has file:line:col:\n${got.join('\n')}`);
  });
}

Agreement('specs/README.md documents every key of the JSON Schema', () => {
  const readme = readFileSync(join(ROOT, 'specs', 'README.md'), 'utf8');
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') for (const k of Object.keys(o.properties)) keys.add(k);
    for (const v of Object.values(o)) walk(v);
  };
  walk(SCHEMA);
  const missing = [...keys].filter((k) => !new RegExp(`\`([\\w.\\[\\]]*\\.)?${k}(\\.[\\w.]+)?\``).test(readme));
  assert.equal(missing, []);
  assert.ok(keys.size > 50, `walked ${keys.size} keys`);
});

Agreement.run();
