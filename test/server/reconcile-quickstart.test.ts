// Issue #10's acceptance test for reconcile, on the quickstart (a copy in a temp folder):
// the first export is applied, then the spec is pointed at the export after a day of
// changes (QUICKSTART_EXPORT=export-next) and repaired by `mlbridge reconcile` and by serve's
// POST /reconcile, each from the CLI in a child process on the DuckDB file.
//
// The 409 of a second concurrent /reconcile must not depend on timing: the test holds the
// target's apply lock (the lock file beside the DuckDB file, in the record format of a live
// process: this one), so the first reconcile waits on it; the second call is made once serve
// has logged that the first started, and the lock is released only after the 409.
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { newLockInfo } from '../../src/engine/lock.js';
import { eventually, mlbridge, ROOT, specFolder, startServe, tableRows, type ServeChild } from './serve-child.js';

// ---- fakes: the quickstart copy and the counts its drift gives ----

const NEXT = { QUICKSTART_EXPORT: 'export-next' };

/** A copy of examples/quickstart (without a warehouse left by `npm run quickstart`) with the first export applied. */
async function appliedQuickstart(): Promise<ReturnType<typeof specFolder>> {
  const folder = specFolder('', 'mlbridge-quickstart-');
  cpSync(join(ROOT, 'examples', 'quickstart'), folder.dir, { recursive: true, filter: (src) => !src.includes(`${join('quickstart', '.data')}`) });
  const applied = await mlbridge(['apply', '--auto-approve', '-c', '.'], folder.dir);
  assert.is(applied.code, 0, applied.stderr);
  return folder;
}

const counts = (c: Partial<Record<'insert' | 'update' | 'delete' | 'quarantine', number>>, unchanged: number) => ({ insert: 0, update: 0, delete: 0, quarantine: 0, ...c, unchanged });

/** What the day of changes in export-next amounts to (README, "The quickstart"). */
const DRIFT = {
  CustomerProfile: counts({ update: 2 }, 10),
  Order: counts({ insert: 2, delete: 1 }, 19),
  Product: counts({ delete: 1, quarantine: 1 }, 6),
};
// After the repair: sku-003's rejected content is already quarantined, so it counts as unchanged.
const IN_STEP = { CustomerProfile: counts({}, 12), Order: counts({}, 21), Product: counts({}, 7) };

interface Summary {
  id: string;
  kinds: Record<string, ReturnType<typeof counts>>;
  duration_ms: number;
  changed: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---- mlbridge reconcile ----

const Cli = suite('mlbridge reconcile on the quickstart after drift');

let cliFolder: ReturnType<typeof specFolder>;
Cli.before(async () => {
  cliFolder = await appliedQuickstart();
});
Cli.after(() => cliFolder?.cleanup());

Cli('repairs the drift with exit 2 and per-kind counts, and a second run finds nothing (exit 0)', async () => {
  const first = await mlbridge(['reconcile', '--json', '-c', '.'], cliFolder.dir, NEXT);
  assert.is(first.code, 2, first.stderr);
  const summary = JSON.parse(first.stdout) as Summary;
  assert.match(summary.id, UUID);
  assert.equal([summary.kinds, summary.changed], [DRIFT, true]);

  const second = await mlbridge(['reconcile', '--json', '-c', '.'], cliFolder.dir, NEXT);
  assert.is(second.code, 0, second.stderr);
  const again = JSON.parse(second.stdout) as Summary;
  assert.equal([again.kinds, again.changed], [IN_STEP, false]);
  assert.is.not(again.id, summary.id);

  const plan = await mlbridge(['plan', '--detailed-exitcode', '-c', '.'], cliFolder.dir, NEXT);
  assert.is(plan.code, 0, plan.stdout);
});

Cli.run();

// ---- serve's POST /reconcile ----

const Http = suite('POST /reconcile on serve, on the quickstart after drift');

let folder: ReturnType<typeof specFolder>;
let serve: ServeChild;
const db = () => join(folder.dir, '.data', 'warehouse.duckdb');

Http.before(async () => {
  folder = await appliedQuickstart();
  serve = await startServe(folder.dir, 0, [], NEXT);
});
Http.after(async () => {
  await serve?.stop('SIGKILL');
  folder?.cleanup();
});

Http('answers the summary with the counts; a second call while it runs gets 409 naming the running id', async () => {
  const lockFile = `${db()}.mlbridge.lock`;
  writeFileSync(lockFile, JSON.stringify(newLockInfo('test: holding the lock so the reconcile waits')), { flag: 'wx' });
  let released = false;
  try {
    const first = fetch(`${serve.url}/reconcile`, { method: 'POST' });
    let running = '';
    await eventually(
      () => ((running = /reconcile ([0-9a-f-]{36}) started/.exec(serve.output())?.[1] ?? ''), running !== ''),
      () => `serve to log that the reconcile started:\n${serve.output()}`,
    );
    const conflict = await fetch(`${serve.url}/reconcile`, { method: 'POST' });
    const body = (await conflict.json()) as { error: string; reason: string; running: string };
    assert.is(conflict.status, 409);
    assert.equal([body.error, body.running], ['conflict', running]);
    assert.match(body.reason, new RegExp(`^reconcile ${running} is running since \\d{4}-`));

    rmSync(lockFile);
    released = true;
    const res = await first;
    const summary = (await res.json()) as Summary;
    assert.is(res.status, 200, JSON.stringify(summary));
    assert.equal([summary.id, summary.kinds, summary.changed], [running, DRIFT, true]);
  } finally {
    if (!released) rmSync(lockFile, { force: true });
  }

  const next = await fetch(`${serve.url}/reconcile`, { method: 'POST' });
  const again = (await next.json()) as Summary;
  assert.is(next.status, 200);
  assert.equal([again.kinds, again.changed], [IN_STEP, false]);
  // The log says what each did, in the words the CLI uses.
  assert.match(serve.output(), /reconcile [0-9a-f-]{36} finished in \d+ ms \(rows repaired\)/);
  assert.match(serve.output(), new RegExp(`reconcile ${again.id} finished in \\d+ ms \\(nothing to repair\\)`));

  // The rows a user sees afterwards (serve stopped: DuckDB holds one process at a time).
  assert.is(await serve.stop('SIGTERM'), 0, serve.output().slice(-2000));
  const orders = await tableRows(db(), "SELECT _key FROM analytics.\"order\" WHERE _key IN ('Order:order-0005', 'Order:order-0021', 'Order:order-0022') ORDER BY _key");
  assert.equal(orders, [{ _key: 'Order:order-0021' }, { _key: 'Order:order-0022' }]);
  const quarantined = await tableRows(db(), 'SELECT _key, reason FROM analytics.product_quarantine');
  assert.equal(quarantined, [
    { _key: 'Product:sku-003', reason: 'type drift: Product Product:sku-003: property price (column price): expected FLOAT64, found STRING "n/a"' },
  ]);
});

Http.run();
