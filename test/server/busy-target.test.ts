// serve when the target is busy for now: a DuckDB file another process holds (an apply or a
// plan run by hand), or the lock of a running apply. Cloud Scheduler's POST /reconcile and
// Pub/Sub pushes get 503 with Retry-After and the holder, so they retry with backoff; the
// same requests succeed once the target is free. A genuine failure of a reconcile stays 500.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type MlbridgeServer } from '../../src/server/app.js';
import { createIngestor } from '../../src/engine/ingest.js';
import { createReconciler, reconcileLockWaitMs, type Reconciler } from '../../src/engine/reconcile.js';
import { loadSpec } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/types.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { writeExport } from '../support/export-writer.js';
import { holdDuckDb } from '../support/duckdb-holder.js';
import { customer, pubsubEnvelope } from './fakes.js';
import { mlbridge, specFolder, startServe, type ServeChild } from './serve-child.js';

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: live }
source:
  export: { path: ./exports }
mappings:
  - kind: CustomerProfile
    fields:
      - { name: email, type: STRING }
      - { name: visits, type: INT64 }
`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A spec folder whose export holds three customers, applied: the tables exist. */
async function appliedFolder(): Promise<ReturnType<typeof specFolder>> {
  const folder = specFolder(SPEC, 'mlbridge-busy-');
  await writeExport(join(folder.dir, 'exports'), [customer('ada'), customer('bob'), customer('cy')], { exportId: '2026-11-30T00:00:00_000' });
  const applied = await mlbridge(['apply', '--auto-approve', '-c', '.'], folder.dir);
  if (applied.code !== 0) throw new Error(`apply failed:\n${applied.stdout}${applied.stderr}`);
  return folder;
}

const push = (url: string, name: string) =>
  fetch(`${url}/pubsub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: pubsubEnvelope({ operation: 'UPSERT', entity: customer(name, { visits: { integerValue: '9' } }), version: '5' }, { messageId: name }).toString(),
  });

const reconcile = (url: string) => fetch(`${url}/reconcile`, { method: 'POST' });

/** Status, Retry-After and JSON body of an answer. */
async function answer(res: Response): Promise<[number, string | null, Record<string, unknown>]> {
  return [res.status, res.headers.get('retry-after'), (await res.json()) as Record<string, unknown>];
}

// ---- the DuckDB file held by another process, through `mlbridge serve` ----

const FileHeld = suite('mlbridge serve while another process holds the DuckDB file');

let folder: ReturnType<typeof specFolder>;
let serve: ServeChild | undefined;
FileHeld.before(async () => {
  folder = await appliedFolder();
  serve = await startServe(folder.dir, 0);
});
FileHeld.after(async () => {
  await serve?.stop('SIGTERM');
  folder?.cleanup();
});

FileHeld('a push and POST /reconcile answer 503 with Retry-After naming the holder; once it is gone both succeed', async () => {
  const db = join(folder.dir, 'wh.duckdb');
  const holder = await holdDuckDb(db);
  let released = false;
  try {
    const [status, retryAfter, body] = await answer(await push(serve!.url, 'dee'));
    const proc = String((body.holder as { process?: unknown } | undefined)?.process);
    assert.ok(proc.endsWith('node'), JSON.stringify(body));
    const held = `duckdb:${db} is in use by another process (${proc}, PID ${holder.pid})`;
    assert.equal([status, retryAfter, body], [503, '30', { error: 'unavailable', reason: `the target is busy: ${held}; the change will be redelivered`, holder: { process: proc, pid: holder.pid } }]);

    const [rStatus, rRetryAfter, rBody] = await answer(await reconcile(serve!.url));
    assert.match(String(rBody.id), UUID);
    assert.equal([rStatus, rRetryAfter, rBody], [503, '30', { error: 'unavailable', id: rBody.id, reason: `the target is busy: ${held}; retry later`, holder: { process: proc, pid: holder.pid } }]);

    await holder.release();
    released = true;
    assert.equal(await answer(await push(serve!.url, 'dee')), [200, null, { status: 'accepted' }]);
    const [okStatus, , summary] = await answer(await reconcile(serve!.url));
    assert.is(okStatus, 200, JSON.stringify(summary));
    // The pushed customer is not in the export: the reconcile deletes it again.
    assert.equal(summary.kinds, { CustomerProfile: { insert: 0, update: 0, delete: 1, quarantine: 0, unchanged: 3 } });
    assert.not.match(serve!.output(), /"severity":"ERROR"/, 'a busy target is no error in the log');
  } finally {
    if (!released) await holder.release();
  }
});

FileHeld.run();

// ---- the lock of a running apply, and a genuine failure, through serve's HTTP server ----

const LockHeld = suite('serve while an apply holds the target lock');

let lockFolder: ReturnType<typeof specFolder>;
let spec: Spec;
let warehouse: Warehouse;
let server: MlbridgeServer | undefined;
LockHeld.before(async () => {
  lockFolder = await appliedFolder();
  spec = (await loadSpec(join(lockFolder.dir, 'mlbridge.yaml'), { cwd: lockFolder.dir, env: {} })).spec!;
});
LockHeld.before.each(async () => {
  warehouse = await openWarehouse(spec.target, { readOnly: false });
});
LockHeld.after.each(async () => {
  await server?.close();
  server = undefined;
  await warehouse.close();
});
LockHeld.after(() => lockFolder?.cleanup());

/** serve's HTTP server on a free port, with the real ingest and `reconciler`. */
async function listen(reconciler: Reconciler): Promise<string> {
  server = createServer({ sink: createIngestor(spec, warehouse), reconciler, kinds: ['CustomerProfile'], auth: { mode: 'disabled' } });
  return server.listen(0, '127.0.0.1');
}

LockHeld('POST /reconcile answers 503 with Retry-After and the lock: id, operation, who, pid, host, since', async () => {
  const lock = { id: 'a1b2c3d4e5f60718', pid: process.pid, host: hostname(), since: '2026-11-30T09:00:00.000Z', operation: 'apply', who: 'alice@build-7' };
  const lockFile = join(lockFolder.dir, 'wh.duckdb.mlbridge.lock');
  writeFileSync(lockFile, JSON.stringify(lock));
  const url = await listen(createReconciler(spec, warehouse, { lockTimeoutMs: 0 }));
  const [status, retryAfter, body] = await answer(await reconcile(url));
  assert.match(String(body.id), UUID);
  assert.equal([status, retryAfter, body], [
    503,
    '30',
    {
      error: 'unavailable',
      id: body.id,
      reason: `the target is busy: duckdb:${join(lockFolder.dir, 'wh.duckdb')} is locked by another mlbridge run: lock a1b2c3d4e5f60718 (operation: apply) held by alice@build-7 (pid ${process.pid} on ${hostname()}) since 2026-11-30T09:00:00.000Z; retry later`,
      holder: lock,
    },
  ]);
  rmSync(lockFile);
  const [okStatus, , summary] = await answer(await reconcile(url));
  assert.is(okStatus, 200, JSON.stringify(summary));
});

LockHeld('a reconcile that fails for another reason stays 500, without Retry-After', async () => {
  const url = await listen({
    async reconcile() {
      throw new TypeError("Cannot read properties of undefined (reading 'kinds')");
    },
  });
  const [status, retryAfter, body] = await answer(await reconcile(url));
  assert.equal([status, retryAfter, body], [500, null, { error: 'reconcile failed', id: body.id, reason: "Cannot read properties of undefined (reading 'kinds')" }]);
});

LockHeld("a reconcile waits a third of the Scheduler job's attempt deadline for the lock, and 60 s without a reconcile block", () => {
  // The default 180 s deadline leaves the reconcile two thirds after a full wait; Cloud
  // Scheduler would count an attempt still waiting past its deadline as failed.
  assert.is(reconcileLockWaitMs({ reconcile: { ...spec.reconcile!, attemptDeadlineSeconds: 180 } }), 60_000);
  assert.is(reconcileLockWaitMs({ reconcile: { ...spec.reconcile!, attemptDeadlineSeconds: 1800 } }), 600_000);
  assert.is(reconcileLockWaitMs({}), 60_000);
});

LockHeld.run();
