// Plan file fuzzing, one seeded case at a time: a plan saved by `plan --out` (with a
// `${secret:…}` value in it) is damaged as text or as JSON, then handed to `apply`. Replay a
// case with `npm run fuzz -- --only plan-file --seed N --cases 1`. Used in bounded form by
// test/engine/plan-file-fuzz.test.ts and at length by `npm run fuzz`.
//
// What must hold for every case: apply returns (never throws out of main), exits 0 or 1,
// prints no stack trace even with MLBRIDGE_DEBUG set (a stack is printed only for errors
// that are not MlbridgeError), says `Error: …` when it exits 1, and never shows the secret.
// Damage to a file that still carries its original checksum must be refused before apply.
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 } from '../../src/model/prng.js';
import { runCli } from '../cli/fake-io.js';

export const SECRET = 'team-fz7secret';

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: analytics }
mappings:
  - kind: Customer
    labels: { team: "\${secret:TEAM}" }
    fields:
      - { name: email, type: STRING, mode: REQUIRED }
      - { name: age, type: INT64 }
`;

export interface PlanFuzzFixture {
  dir: string;
  file: string;
  /** The saved plan's text as `plan --out` wrote it. */
  original: string;
}

const ENV = { TEAM: SECRET, MLBRIDGE_DEBUG: '1' };

const cli = (dir: string, args: string[]) => runCli(dir, args, { PATH: process.env.PATH, ...ENV });

export async function planFuzzFixture(dir: string): Promise<PlanFuzzFixture> {
  await writeFile(join(dir, 'mlbridge.yaml'), SPEC);
  const r = await cli(dir, ['plan', '--out', 'plan.json']);
  if (r.code !== 0) throw new Error(`plan --out failed: ${r.err}`);
  const file = join(dir, 'plan.json');
  return { dir, file, original: await readFile(file, 'utf8') };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ODD: Json[] = [null, true, 0, -1, 1e308, 'x', '', [], {}, [null], { formatVersion: '1' }, '(sensitive:000000000000)', 'a'.repeat(10_000), '__proto__'];

/** Every path to a value inside v. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k]!, [...at, k], out);
  return out;
}

function mutateValue(root: Json, rnd: () => number): string {
  const int = (n: number) => Math.floor(rnd() * n);
  const all = paths(root).filter((p) => p.length > 0 && p[p.length - 1] !== 'checksum');
  const path = all[int(all.length)]!;
  let parent = root as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const key = path[path.length - 1]!;
  const old = parent[key];
  const op = int(5);
  if (op === 0 && !Array.isArray(parent)) {
    delete parent[key];
    return `deleted ${path.join('.')}`;
  }
  if (op === 1 && typeof old === 'string' && old.length) {
    parent[key] = old.slice(0, int(old.length)) + String.fromCharCode(32 + int(95)) + old.slice(int(old.length));
    return `edited the string at ${path.join('.')}`;
  }
  if (op === 2 && typeof old === 'number') {
    parent[key] = [old + 1, -old, old * 1000, NaN, 0.5][int(5)]!;
    return `changed the number at ${path.join('.')}`;
  }
  if (op === 3 && Array.isArray(old) && old.length) {
    old.push(structuredClone(old[int(old.length)]!));
    return `duplicated an element of ${path.join('.')}`;
  }
  const value = ODD[int(ODD.length)]!;
  parent[key] = structuredClone(value);
  return `set ${path.join('.')} to ${JSON.stringify(value).slice(0, 30)}`;
}

/** The damaged file text for a seed, what was done, and whether its checksum was recomputed. */
export function mutatePlan(original: string, seed: number): { text: string; what: string; resealed: boolean } {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const mode = int(3);
  if (mode === 0) {
    const at = int(original.length);
    const kind = int(3);
    if (kind === 0) return { text: original.slice(0, at), what: `cut at ${at}`, resealed: false };
    if (kind === 1) return { text: original.slice(0, at) + String.fromCharCode(int(128)) + original.slice(at + 1), what: `character ${at} replaced`, resealed: false };
    return { text: original.slice(0, at) + original.slice(at + 1 + int(50)), what: `characters deleted at ${at}`, resealed: false };
  }
  const value = JSON.parse(original) as { [k: string]: Json };
  const what = mutateValue(value, rnd);
  if (mode === 1) return { text: JSON.stringify(value, null, 2), what, resealed: false };
  // Resealed: the checksum recomputed over the damaged plan, so what lies behind it is tested.
  const { checksum: _, ...body } = value;
  const checksum = `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
  return { text: JSON.stringify({ ...body, checksum }, null, 2), what: `${what}, checksum recomputed`, resealed: true };
}

/** Runs one case; returns its outcome, throws an Error naming the seed when a property fails. */
export async function planFuzzCase(fx: PlanFuzzFixture, seed: number): Promise<'refused' | 'applied'> {
  const { text, what, resealed } = mutatePlan(fx.original, seed);
  const fail = (problem: string): never => {
    throw new Error(`plan-file fuzz seed ${seed} (${what}): ${problem}\nreplay: npm run fuzz -- --only plan-file --seed ${seed} --cases 1`);
  };
  // A fresh, empty warehouse each time: the saved plan was made against one.
  await rm(join(fx.dir, 'wh.duckdb'), { force: true });
  await rm(join(fx.dir, 'wh.duckdb.wal'), { force: true });
  await writeFile(fx.file, text);
  let r: { code: number; out: string; err: string };
  try {
    r = await cli(fx.dir, ['apply', 'plan.json', '--no-color']);
  } catch (e) {
    return fail(`main threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  const all = r.out + r.err;
  if (/\n\s+at .+:\d+:\d+\)?\n/.test(all)) fail(`a stack trace was printed:\n${r.err}`);
  if (all.includes(SECRET)) fail('the secret was printed');
  if (r.code !== 0 && r.code !== 1) fail(`exit ${r.code}`);
  if (r.code === 1 && !/^Error: \S/m.test(r.err)) fail(`exit 1 without an Error: line:\n${r.err}`);
  if (r.code === 0 && !resealed && text.trim() !== fx.original.trim() && !sameJson(text, fx.original)) fail('a damaged plan was applied without its checksum matching');
  return r.code === 0 ? 'applied' : 'refused';
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}
