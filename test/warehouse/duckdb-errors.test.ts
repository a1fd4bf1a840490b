// DuckDB's refusal to open a file another process holds, told apart from other failures
// (fileInUse): DuckDB gives only a message for it, so these tests use its real errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { MlbridgeError } from '../../src/model/errors.js';
import { duckMessage, fileInUse } from '../../src/warehouse/duckdb-errors.js';
import { holdDuckDb } from '../support/duckdb-holder.js';

/** DuckDB's own error for a list of ten million numbers (a list cannot spill) within 16MB. */
async function outOfMemoryError(): Promise<unknown> {
  const db = await DuckDBInstance.create(':memory:', { memory_limit: '16MB', threads: '1' });
  const c = await db.connect();
  try {
    await c.run('SELECT list(range) FROM range(10000000)');
  } catch (e) {
    return e;
  } finally {
    c.closeSync();
    db.closeSync();
  }
  throw new Error('the list fit in 16MB');
}

/** Runs fn with MLBRIDGE_DUCKDB_MEMORY_LIMIT set to `limit` (unset when undefined). */
function withLimit<T>(limit: string | undefined, fn: () => T): T {
  const before = process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
  if (limit === undefined) delete process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
  else process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT = limit;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT;
    else process.env.MLBRIDGE_DUCKDB_MEMORY_LIMIT = before;
  }
}

/** DuckDB's own error for opening `path` to write. */
async function openError(path: string): Promise<unknown> {
  try {
    (await DuckDBInstance.create(path, { access_mode: 'READ_WRITE' })).closeSync();
  } catch (e) {
    return e;
  }
  throw new Error(`${path} opened`);
}

const InUse = suite('a DuckDB file another process holds is TARGET_BUSY');

let dir = '';
let db = '';
InUse.before.each(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-duck-busy-'));
  db = join(dir, 'wh.duckdb');
  (await DuckDBInstance.create(db)).closeSync();
});
InUse.after.each(() => rmSync(dir, { recursive: true, force: true }));

for (const mode of ['READ_WRITE', 'READ_ONLY'] as const) {
  InUse(`held ${mode === 'READ_WRITE' ? 'for writing (an apply)' : 'for reading (a plan)'}: names the file and the holder, without DuckDB's own advice`, async () => {
    const holder = await holdDuckDb(db, mode);
    const raw = await openError(db);
    await holder.release();
    const busy = fileInUse(raw);
    assert.ok(busy);
    assert.is(busy.code, 'TARGET_BUSY');
    assert.is(busy.resource, `duckdb:${db}`);
    const proc = (busy.details!.holder as { process: string }).process;
    assert.equal(busy.details, { path: db, holder: { process: proc, pid: holder.pid } });
    assert.ok(proc.endsWith('node'), proc);
    assert.is(
      busy.message,
      `The DuckDB file ${db} is in use by another process (${proc}, PID ${holder.pid}); DuckDB lets a file be open for writing in one process only, and not while another reads it — try again once that process has finished`,
    );
  });
}

InUse('found inside the adapter error that wraps it (cause), which stays the cause', async () => {
  const holder = await holdDuckDb(db);
  const raw = await openError(db);
  await holder.release();
  const wrapped = new MlbridgeError('TARGET_ERROR', `The DuckDB file ${db} is in use by another process`, { cause: raw });
  const busy = fileInUse(wrapped);
  assert.is(busy?.code, 'TARGET_BUSY');
  assert.is(busy?.cause, wrapped);
  assert.is(fileInUse(busy), busy, 'already TARGET_BUSY: returned as is');
});

InUse('any other failure is not a busy file', async () => {
  const corrupt = join(dir, 'not-a-db.duckdb');
  rmSync(db);
  writeFileSync(corrupt, 'not a database file at all, long enough to be read as a header '.repeat(100));
  const raw = await openError(corrupt);
  assert.match(String(raw), 'not a valid DuckDB database file');
  assert.is(fileInUse(raw), null);
  assert.is(fileInUse(new MlbridgeError('TARGET_ERROR', 'Could not set lock on file "x": said by us, not DuckDB')), null, 'our own errors are not read');
  assert.is(fileInUse('Could not set lock on file "x"'), null);
});

InUse.run();

const OutOfMemory = suite('DuckDB running out of memory');

OutOfMemory('names the limit the user set and what to do, not DuckDB\'s own settings', async () => {
  const raw = await outOfMemoryError();
  assert.match(String((raw as Error).message), /SET threads=X/);
  const message = withLimit('16MB', () => duckMessage(raw));
  assert.match(message, /^DuckDB ran out of memory \(failed to allocate data of size [\d.]+ [KM]iB \([\d.]+ MiB\/[\d.]+ MiB used\)\): MLBRIDGE_DUCKDB_MEMORY_LIMIT=16MB is too small for this work: raise it, or unset it for the default$/);
});

OutOfMemory('at the default limit, says which variable raises it', async () => {
  const message = withLimit(undefined, () => duckMessage(new Error('Out of Memory Error: could not allocate block of size 256.0 KiB (127.8 MiB/128.0 MiB used)\n\nPossible solutions:\n* Reducing the number of threads (SET threads=X)')));
  assert.is(
    message,
    'DuckDB ran out of memory (could not allocate block of size 256.0 KiB (127.8 MiB/128.0 MiB used)): set MLBRIDGE_DUCKDB_MEMORY_LIMIT to a larger size than the default (128MB for plan, 256MB for apply and serve), e.g. 1GB',
  );
});

OutOfMemory('leaves other failures as DuckDB words them, without our SQL', () => {
  assert.is(duckMessage(new Error('Binder Error: column "x" not found\n\nLINE 1: SELECT x FROM t\n               ^')), 'Binder Error: column "x" not found');
});

OutOfMemory.run();
