// `mlbridge serve` as a user runs it, for the end-to-end suites: the CLI from bin/mlbridge.js
// in a child process, on a DuckDB spec in a temp folder, after `mlbridge apply` created the
// tables. DuckDB lets one process at a time hold a database file open for writing, and a
// read-only open from another process is refused while serve holds it: the suites read the
// tables (tableRows) only while serve is stopped.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'mlbridge.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mlbridge ARGS` in `cwd` to its end. */
export function mlbridge(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A DuckDB spec (./wh.duckdb, dataset `live`) mapping CustomerProfile to email, visits, tier and `extra` STRING columns. */
export function customerSpec(extra: string[] = []): string {
  const fields = [['email', 'STRING'], ['visits', 'INT64'], ['tier', 'STRING'], ...extra.map((name) => [name, 'STRING'])];
  return `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: live }
mappings:
  - kind: CustomerProfile
    fields:
${fields.map(([name, type]) => `      - { name: ${name}, type: ${type} }`).join('\n')}
`;
}

/** A temp folder holding `mlbridge.yaml` (removed by cleanup()). */
export function specFolder(spec: string, prefix = 'mlbridge-e2e-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'mlbridge.yaml'), spec);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ServeChild {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  child: ChildProcess;
  /** stdout and stderr so far (JSON log lines, warnings). */
  output(): string;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `mlbridge serve --no-auth` in `dir` on `port` (0: any) and resolves once it listens. */
export async function startServe(dir: string, port: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeChild> {
  const child = spawn(process.execPath, [BIN, 'serve', '-c', '.', '--no-auth', '--host', '127.0.0.1', '--port', String(port), ...extra], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A test that crashes must not leave a server holding the database.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  void exited.then(() => process.removeListener('exit', onExit));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`mlbridge serve exited ${code} before listening:\n${out}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => out,
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Rows of `dataset.table` (DuckDB opened read-only; serve must be stopped), as JSON values. */
export async function tableRows(dbPath: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const db = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Polls `ready()` until it holds, within a generous limit (deliveries on a loaded machine). */
export async function eventually(ready: () => boolean | Promise<boolean>, what: () => string, limitMs = 180_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A deterministic shuffle (Fisher–Yates on a seeded PRNG), so a failure reproduces. */
export function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
