// `mlbridge serve` lets go of the DuckDB file when idle: DuckDB lets one process hold a file
// open for writing, so a serve that kept it open forever made every `apply` run by hand fail
// with TARGET_BUSY. After the last push batch (default 2 s idle) the file is closed; an apply
// then runs as a second process, and the next push reopens the file and is written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { resolveReleaseAfterMs } from '../../src/cli/commands/serve.js';
import { storeProfile } from '../../src/engine/profiles.js';
import { formatTimestampUs } from '../../src/record/coerce-time.js';
import { learnProfile } from '../../src/record/profile.js';
import { loadSpec } from '../../src/spec/load.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import { customer, pubsubEnvelope } from './fakes.js';
import { customerSpec, mlbridge, specFolder, startServe, tableRows, type ServeChild } from './serve-child.js';

const push = (url: string, name: string, visits: string) =>
  fetch(`${url}/pubsub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: pubsubEnvelope({ operation: 'UPSERT', entity: customer(name, { visits: { integerValue: visits } }), version: '5' }, { messageId: name }).toString(),
  });

/** True once the file opens read-only in this process (serve has let go of it). */
async function opens(db: string): Promise<boolean> {
  try {
    (await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' })).closeSync();
    return true;
  } catch {
    return false;
  }
}

/** Tries to open the file, 100 ms apart, a bounded number of times (generous: a loaded machine). */
async function untilFree(db: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await opens(db)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${db} was still held after ${tries} tries to open it`);
}

const Release = suite('mlbridge serve releases the DuckDB file when idle');

let folder: ReturnType<typeof specFolder>;
let serve: ServeChild | undefined;
Release.before(async () => {
  folder = specFolder(customerSpec(), 'mlbridge-release-');
  const applied = await mlbridge(['apply', '--auto-approve', '-c', '.'], folder.dir);
  if (applied.code !== 0) throw new Error(`apply failed:\n${applied.stdout}${applied.stderr}`);
  serve = await startServe(folder.dir, 0);
});
Release.after(async () => {
  await serve?.stop('SIGTERM');
  folder?.cleanup();
});

Release('after a push the file is freed, an apply runs in another process, and the next push reopens it and is written', async () => {
  const db = join(folder.dir, 'wh.duckdb');
  assert.is((await push(serve!.url, 'ada', '1')).status, 200);
  await untilFree(db);

  const applied = await mlbridge(['apply', '--auto-approve', '-c', '.', '--no-color'], folder.dir);
  assert.is(applied.code, 0, applied.stdout + applied.stderr);
  assert.ok(applied.stdout.includes('No changes. Your target matches the spec.'), applied.stdout);

  assert.is((await push(serve!.url, 'bob', '2')).status, 200);
  await untilFree(db);
  assert.equal(await tableRows(db, 'SELECT _key, email, visits FROM live.customer_profile ORDER BY _key'), [
    { _key: 'CustomerProfile:ada', email: 'ada@example.com', visits: '1' },
    { _key: 'CustomerProfile:bob', email: 'bob@example.com', visits: '2' },
  ]);
  assert.not.match(serve!.output(), /"severity":"ERROR"|warning: could not release/);
});

Release('profiles another process stored while serve was idle score the next push', async () => {
  const db = join(folder.dir, 'wh.duckdb');
  const flagsOf = async (key: string) => (await tableRows(db, `SELECT flags FROM live.customer_profile_raw WHERE _key = 'CustomerProfile:${key}'`)).map((r) => r.flags);
  assert.is((await push(serve!.url, 'cy', '3')).status, 200);
  await untilFree(db);
  assert.ok(JSON.stringify(await flagsOf('cy')).includes('no_profile'), JSON.stringify(await flagsOf('cy')));

  // Another process learns and stores the kind's profile (as its apply would) while serve is idle.
  const spec = (await loadSpec(join(folder.dir, 'mlbridge.yaml'), { cwd: folder.dir, env: {} })).spec!;
  const rows = Array.from({ length: 50 }, (_, i) => ({ email: `c${i}@example.com`, visits: String(i % 7), tier: 'gold' }));
  const warehouse = await openWarehouse(spec.target, { readOnly: false });
  try {
    await storeProfile(warehouse, 'live', learnProfile(rows, spec.mappings[0]!), formatTimestampUs(BigInt(Date.now()) * 1000n));
  } finally {
    await warehouse.close();
  }

  assert.is((await push(serve!.url, 'dee', '4')).status, 200);
  await untilFree(db);
  const flags = JSON.stringify(await flagsOf('dee'));
  assert.ok(flags !== '[]' && !flags.includes('no_profile'), `dee was scored without the stored profile: ${flags}`);
});

Release.run();

const Setting = suite('serve --release-after');

Setting('the flag wins over MLBRIDGE_SERVE_RELEASE_AFTER, which wins over the 2 s default; 0 keeps the file open', () => {
  assert.is(resolveReleaseAfterMs('500ms', { MLBRIDGE_SERVE_RELEASE_AFTER: '1m' }), 500);
  assert.is(resolveReleaseAfterMs(undefined, { MLBRIDGE_SERVE_RELEASE_AFTER: '1m' }), 60_000);
  assert.is(resolveReleaseAfterMs(undefined, {}), 2000);
  assert.is(resolveReleaseAfterMs('0', {}), 0);
});

Setting('a value that is no duration is refused naming where it came from', () => {
  assert.throws(() => resolveReleaseAfterMs('soon', {}), (e: Error) => e.message === '--release-after: "soon" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)');
  assert.throws(
    () => resolveReleaseAfterMs(undefined, { MLBRIDGE_SERVE_RELEASE_AFTER: 'never' }),
    (e: Error) => e.message === 'MLBRIDGE_SERVE_RELEASE_AFTER: "never" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)',
  );
});

Setting.run();
