// Small factories for the spec suites: write YAML into a fresh temp folder and load it
// with that folder as cwd, so diagnostics read `spec.yaml:3:5: …`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatDiagnostic } from '../../src/model/diagnostic.js';
import { loadSpec, type LoadResult } from '../../src/spec/load.js';

const dirs: string[] = [];

export function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-spec-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Loads `text` as spec.yaml (or `files` as a folder when given an object). */
export async function load(text: string | Record<string, string>, env: NodeJS.ProcessEnv = {}, path = 'spec.yaml'): Promise<LoadResult & { dir: string }> {
  const dir = tempDir(typeof text === 'string' ? { 'spec.yaml': text } : text);
  return { ...(await loadSpec(typeof text === 'string' ? path : '.', { env, cwd: dir })), dir };
}

export async function problems(text: string | Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const res = await load(text, env);
  return res.diagnostics.map(formatDiagnostic);
}

export const TARGET = 'target:\n  duckdb: { path: ./w.duckdb, dataset: analytics }\n';
