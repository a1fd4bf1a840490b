// Imports go down the layers (architecture.md): a lower folder never imports a higher one,
// so an adapter cannot reach into the engine and the engine cannot reach into the CLI.
// Folders on one level may import each other (record/ uses warehouse/'s Row type).
// src/index.ts, the library API, may import anything.

import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

/** Lowest first; folders on one line share a level. */
const LAYERS: string[][] = [['model'], ['google', 'spec'], ['record', 'source', 'warehouse', 'scheduler'], ['engine'], ['server', 'cli']];
const LEVEL = new Map(LAYERS.flatMap((folders, level) => folders.map((f) => [f, level] as const)));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** The top folder of a path under src ('index.ts' for the root file). */
const folderOf = (src: string, file: string) => relative(src, file).split(sep)[0]!;

/** Statements starting a line (`import … from`, `import '…'`, `export {…} from`, `export * from`), spanning lines up to their `;`. */
const STATIC = /^[ \t]*(?:import[ \t]+(?:type[ \t]+)?(?:[\w$*{][^;]*?[ \t\n]from[ \t]*)?|export[ \t]+(?:type[ \t]+)?[*{][^;]*?[ \t\n]from[ \t]*)['"]([^'"\n]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;

/** The module specifiers a file imports (static, re-exports, dynamic); commented-out lines do not count. */
function importsOf(text: string): string[] {
  const code = text
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/?\*)/.test(line))
    .join('\n');
  return [...code.matchAll(STATIC), ...code.matchAll(DYNAMIC)].map((m) => m[1]!);
}

/** Every import (static, re-export, dynamic) that goes up a layer, as "file: imports 'x' (a → b)". */
async function layeringBreaks(src: string): Promise<string[]> {
  const breaks: string[] = [];
  for (const file of await sourceFiles(src)) {
    const from = folderOf(src, file);
    if (from === 'index.ts') continue;
    const fromLevel = LEVEL.get(from);
    const name = relative(src, file).split(sep).join('/');
    if (fromLevel === undefined) {
      breaks.push(`src/${name}: folder ${from}/ has no layer (add it to LAYERS in test/layering.test.ts)`);
      continue;
    }
    for (const spec of importsOf(await readFile(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const to = folderOf(src, resolve(dirname(file), spec));
      if (to === from) continue;
      const toLevel = LEVEL.get(to);
      if (toLevel === undefined || toLevel > fromLevel) breaks.push(`src/${name}: imports '${spec}' (${from}/ → ${to === 'index.ts' ? 'index.ts' : `${to}/`})`);
    }
  }
  return breaks;
}

const Suite = suite('layering of src/');

Suite('no folder imports a folder of a higher layer', async () => {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  assert.equal(await layeringBreaks(src), []);
});

Suite('an upward import is named with its file and the import, a folder without a layer too', async () => {
  const src = await mkdtemp(join(tmpdir(), 'mlbridge-layers-'));
  try {
    const files: Record<string, string> = {
      'model/errors.ts': 'export class E {}\n',
      'source/export/support.ts': "import type { CliIO } from '../../cli/io.js';\n// import { no } from '../../cli/io.js';\nexport type X = CliIO;\n",
      'scheduler/diff.ts': "export async function f() {\n  return import('../engine/plan.js');\n}\n",
      'engine/plan.ts': "export { E } from '../model/errors.js';\nimport '../scheduler/diff.js';\n",
      'cli/io.ts': "export interface CliIO {}\nexport * from '../engine/plan.js';\n",
      'extras/x.ts': 'export {};\n',
      'index.ts': "export * from './cli/io.js';\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(src, path)), { recursive: true });
      await writeFile(join(src, path), text);
    }
    assert.equal(await layeringBreaks(src), [
      "src/extras/x.ts: folder extras/ has no layer (add it to LAYERS in test/layering.test.ts)",
      "src/scheduler/diff.ts: imports '../engine/plan.js' (scheduler/ → engine/)",
      "src/source/export/support.ts: imports '../../cli/io.js' (source/ → cli/)",
    ]);
  } finally {
    await rm(src, { recursive: true, force: true });
  }
});

Suite.run();
