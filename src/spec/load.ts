// loadSpec: a .yaml/.yml file, or a folder of them (merged), → a validated Spec plus
// every problem found, each at file:line:col. Reads files and environment only; no
// cloud, no heavy modules.

import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { errorDiag, hasErrors, sortDiagnostics, type Diagnostic } from '../model/diagnostic.js';
import { interpolate } from './interpolate.js';
import { invalidUtf8Offset, lineColAt } from './utf8.js';
import type { Spec } from './types.js';
import { validateSpec, type SpecFile } from './validate.js';
import { parseYamlFile, resolvePlain, type ParsedFile, type YNode } from './yaml-tree.js';

export interface LoadResult {
  /** Present iff there are no errors. */
  spec?: Spec;
  diagnostics: Diagnostic[];
  /**
   * Values `${secret:VAR}` put into the spec (also in spec.sensitive), even when the spec has
   * errors: a diagnostic may quote one. Whoever prints or saves anything derived from the
   * spec redacts these.
   */
  sensitive: string[];
}

export interface LoadOptions {
  /** Variables for `${VAR}` interpolation; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder `path` is relative to, and that diagnostics' file names are shown relative to; default process.cwd(). */
  cwd?: string;
}

const SPEC_FILE = /\.ya?ml$/i;

export async function loadSpec(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const abs = resolve(cwd, path);
  const display = (p: string): string => {
    const rel = relative(cwd, p);
    if (rel === '') return '.';
    return !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel) ? rel : p;
  };

  let paths: string[];
  try {
    const st = await stat(abs);
    if (st.isDirectory()) {
      paths = (await readdir(abs, { withFileTypes: true }))
        .filter((d) => d.isFile() && SPEC_FILE.test(d.name))
        .map((d) => join(abs, d.name))
        .sort();
      if (paths.length === 0) return { diagnostics: [errorDiag(`no .yaml or .yml files in folder ${display(abs)}`)], sensitive: [] };
    } else paths = [abs];
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'no such file or folder' : `cannot read (${code ?? String(e)})`;
    // The usual cause: running mlbridge outside the folder of the spec.
    const hint = code === 'ENOENT' ? 'Point -c at the spec file or folder, or write a spec with `mlbridge init`.' : undefined;
    return { diagnostics: [errorDiag(`${what}: ${display(abs)}`, undefined, hint)], sensitive: [] };
  }

  const diagnostics: Diagnostic[] = [];
  const sensitive = new Set<string>();
  const files: SpecFile[] = [];
  for (const p of paths) {
    const shown = display(p);
    let bytes: Buffer;
    try {
      bytes = await readFile(p);
    } catch (e) {
      diagnostics.push(errorDiag(`cannot read ${shown}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`));
      continue;
    }
    const bad = invalidUtf8Offset(bytes);
    if (bad >= 0) {
      // Still parsed (bad bytes read as U+FFFD), so the file's other problems show too.
      diagnostics.push(errorDiag(
        `invalid UTF-8: byte 0x${bytes[bad]!.toString(16).padStart(2, '0')} at byte offset ${bad}; spec files are read as UTF-8 (was this saved in another encoding?)`,
        { file: shown, ...lineColAt(bytes, bad) },
      ));
    }
    const text = bytes.toString('utf8');
    const parsed = parseSpecText(text, shown, env);
    diagnostics.push(...parsed.diagnostics);
    for (const v of parsed.sensitive) sensitive.add(v);
    const file: SpecFile = { display: shown, abs: p, dir: dirname(p) };
    if (parsed.root) file.root = parsed.root;
    // A file that did not parse may hold the target: do not also report it missing.
    else if (hasErrors(parsed.diagnostics)) file.broken = true;
    files.push(file);
  }
  const secrets = [...sensitive];
  if (hasErrors(diagnostics) && files.every((f) => !f.root)) return { diagnostics: sortDiagnostics(diagnostics), sensitive: secrets };

  const result = validateSpec(files);
  const all = sortDiagnostics([...diagnostics, ...result.diagnostics]);
  if (hasErrors(all) || !result.spec) return { diagnostics: all, sensitive: secrets };
  if (secrets.length) result.spec.sensitive = secrets;
  return { spec: result.spec, diagnostics: all, sensitive: secrets };
}

/**
 * One file's text → its positioned, interpolated tree (diagnostics: YAML and interpolation
 * problems) and the values `${secret:…}` put in.
 */
export function parseSpecText(text: string, file: string, env: NodeJS.ProcessEnv): { root?: YNode; diagnostics: Diagnostic[]; sensitive: string[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const parsed = parseYamlFile(text, file);
  const diagnostics = [...parsed.diagnostics];
  const sensitive: string[] = [];
  if (parsed.root) diagnostics.push(...interpolateTree(parsed.root, text, parsed, env, sensitive));
  return parsed.root ? { root: parsed.root, diagnostics, sensitive } : { diagnostics, sensitive };
}

function hasTopKey(root: YNode | undefined, key: string): boolean {
  return root?.kind === 'map' && root.items.some((i) => i.key.value === key);
}

/** Applies `${VAR}` interpolation to every string value (not keys), in place; adds secret values to `sensitive`. */
function interpolateTree(root: YNode, text: string, parsed: ParsedFile, env: NodeJS.ProcessEnv, sensitive: string[]): Diagnostic[] {
  const diags: Diagnostic[] = [];
  const seen = new Set<YNode>();
  const visit = (node: YNode): void => {
    if (seen.has(node)) return; // aliases share nodes
    seen.add(node);
    if (node.kind === 'map') for (const item of node.items) visit(item.value);
    else if (node.kind === 'seq') for (const item of node.items) visit(item);
    else if (typeof node.value === 'string') {
      const res = interpolate(node.value, env);
      sensitive.push(...res.sensitive);
      for (const p of res.problems) {
        // Point at the `${` inside the scalar when the source text shows it verbatim.
        const raw = node.start >= 0 ? text.slice(node.start, node.end) : '';
        const idx = raw.indexOf(p.needle);
        diags.push(errorDiag(p.message, idx >= 0 ? parsed.at(node.start + idx) : node.pos));
      }
      if (res.problems.length) node.failed = true;
      else if (res.value !== node.value) {
        node.value = node.plain && res.replaced ? resolvePlain(res.value) : res.value;
      }
    }
  };
  visit(root);
  return diags;
}
