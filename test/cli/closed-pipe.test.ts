// `mlbridge … | head -1`: the reader closes the pipe before the command is done printing.
// Every command finishes its work, prints no stack trace and exits with its own status.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'bin', 'mlbridge.js');

/** Runs the bin with its stdout pipe closed by the reader before the command writes anything. */
function runWithClosedStdout(cwd: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    // The parent's end closes now, long before the child has loaded: its first write gets EPIPE.
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, err }));
  });
}

async function tableRows(file: string, table: string): Promise<number> {
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${table}`);
    return Number(r.getRowObjects()[0]!.n);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

let dir = '';
const ClosedPipe = suite('a closed stdout pipe');

ClosedPipe.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-closed-pipe-'));
  cpSync(join(root, 'examples', 'quickstart'), dir, { recursive: true, filter: (src) => !src.includes('.data') });
});
ClosedPipe.after(() => rmSync(dir, { recursive: true, force: true }));

ClosedPipe('validate prints no stack trace and exits 0', async () => {
  const r = await runWithClosedStdout(dir, ['validate']);
  assert.is(r.err, '');
  assert.is(r.code, 0);
});

ClosedPipe('plan --detailed-exitcode prints no stack trace and exits 2 for its changes', async () => {
  const r = await runWithClosedStdout(dir, ['plan', '--detailed-exitcode', '--skip-data']);
  assert.is(r.err, '');
  assert.is(r.code, 2);
});

ClosedPipe('reconcile writes every row, prints no stack trace and exits 2 for the rows it repaired', async () => {
  const r = await runWithClosedStdout(dir, ['reconcile']);
  assert.is(r.err, '');
  assert.is(r.code, 2);
  assert.is(await tableRows(join(dir, '.data', 'warehouse.duckdb'), 'analytics."order"'), 20);
});

ClosedPipe('output lost for another reason (a full disk: /dev/full) is an error on stderr and exit 1, not a silent success', async () => {
  if (!existsSync('/dev/full')) return; // Linux only
  const full = openSync('/dev/full', 'w');
  const r = await new Promise<{ code: number | null; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'validate'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', full, 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, err }));
  }).finally(() => closeSync(full));
  assert.is(r.err, 'mlbridge: could not write stdout: ENOSPC; the output is incomplete\n');
  assert.is(r.code, 1);
});

ClosedPipe.run();
