// `plan` and `apply` while another process holds the DuckDB file (a plan reading it, a serve
// or an apply writing it): DuckDB refuses the open. Without --lock-timeout that is
// TARGET_BUSY at once; with it the command waits for the file (Terraform's -lock-timeout:
// "wait up to DURATION for the state to be free"), says so once, and goes on when the other
// process lets go — which the test does once it has seen the waiting line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { processRuntime, run as runApply } from '../../src/cli/commands/apply.js';
import type { Entity } from '../../src/source/entity.js';
import { writeExport } from '../support/export-writer.js';
import { holdDuckDb, type DuckDbHolder } from '../support/duckdb-holder.js';
import { tableRows } from '../server/serve-child.js';
import { fakeSignals } from '../support/fake-signals.js';
import { fakeIO, type FakeIO, runCli } from './fake-io.js';

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: shop }
source:
  export: { path: ./exports }
mappings:
  - kind: Item
    fields:
      - { name: n, type: INT64 }
      - { name: name, type: STRING }
`;

const item = (i: number): Entity => ({
  key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] },
  properties: { n: { integerValue: String(i) }, name: { stringValue: `item ${i}` } },
});

/** The process DuckDB names as the holder: the holder's executable (this node), symlinks resolved. */
function holderName(_holder: DuckDbHolder): string {
  return realpathSync(process.execPath);
}

/** The TARGET_BUSY text a user reads when `holder` has the file. */
function busyText(db: string, holder: DuckDbHolder): string {
  return (
    `The DuckDB file ${db} is in use by another process (${holderName(holder)}, PID ${holder.pid}); DuckDB lets a file be open ` +
    'for writing in one process only, and not while another reads it — try again once that process has finished'
  );
}

const waitingLine = (holder: DuckDbHolder) => `Waiting for the DuckDB file held by ${holderName(holder)} (PID ${holder.pid})...`;

/** Polls `text()` until it holds `line` (the waiting line of a command that waits). */
async function untilPrinted(text: () => string, line: string, what: Promise<unknown>): Promise<void> {
  let ended = false;
  const end = () => (ended = true);
  void what.then(end, end);
  for (let i = 0; !text().includes(line); i++) {
    if (ended) throw new Error(`the command ended without printing "${line}":\n${text()}`);
    if (i > 1800) throw new Error(`no "${line}" after 180 s:\n${text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const BusyFile = suite('plan and apply while another process holds the DuckDB file');

let dir = '';
let db = '';
let holder: DuckDbHolder | null = null;

/** Another process opens the file (creating an empty database when it does not exist yet). */
async function hold(mode: 'READ_WRITE' | 'READ_ONLY'): Promise<DuckDbHolder> {
  if (mode === 'READ_ONLY') await (await holdDuckDb(db, 'READ_WRITE')).release();
  holder = await holdDuckDb(db, mode);
  return holder;
}

async function release(): Promise<void> {
  await holder?.release();
  holder = null;
}

BusyFile.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-busy-wait-'));
  db = join(dir, 'wh.duckdb');
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), [item(1), item(2)], { exportId: '2026-11-30T00:00:00_000' });
});
BusyFile.after.each(async () => {
  await release();
  for (const f of ['wh.duckdb', 'wh.duckdb.wal', 'wh.duckdb.mlbridge.lock']) rmSync(join(dir, f), { force: true });
});
BusyFile.after(() => rmSync(dir, { recursive: true, force: true }));

BusyFile('apply without --lock-timeout fails at once with TARGET_BUSY naming the holder, and writes nothing', async () => {
  const h = await hold('READ_WRITE');
  const r = await runCli(dir, ['apply', '--auto-approve', '--no-color']);
  assert.is(r.code, 1);
  assert.is(r.err, `Error: ${busyText(db, h)}\n`);
  assert.not.ok(r.out.includes('Waiting for'), r.out);
  await release();
  assert.equal(await tableRows(db, `SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = 'shop'`), [{ n: '0' }]);
});

BusyFile('apply -lock-timeout=30s waits for a plan reading the file, says so once, then applies every row', async () => {
  const h = await hold('READ_ONLY');
  const io: FakeIO = fakeIO({ cwd: dir });
  const applying = main(['apply', '--auto-approve', '--no-color', '-lock-timeout=30s'], io);
  await untilPrinted(io.out, waitingLine(h), applying);
  await release();
  assert.is(await applying, 0, io.out() + io.err());
  assert.equal(
    io.out().split('\n').filter((l) => l.includes('DuckDB file')),
    [waitingLine(h)],
  );
  assert.match(io.out(), /\nApply complete! Resources: 6 added, 0 changed, 0 destroyed\.\nRows: 2 inserted, 0 updated, 0 deleted, 0 quarantined\.\n/, io.out());
  assert.equal(await tableRows(db, 'SELECT n, name FROM shop.item ORDER BY n'), [
    { n: '1', name: 'item 1' },
    { n: '2', name: 'item 2' },
  ]);
});

BusyFile('Ctrl-C while apply waits for the file stops the wait at once: exit 130, nothing written', async () => {
  const h = await hold('READ_WRITE');
  const signals = fakeSignals();
  const io: FakeIO = fakeIO({ cwd: dir });
  // Without the signal reaching the wait, apply would give up after 20 s with TARGET_BUSY (exit 1).
  const applying = runApply(
    { config: 'mlbridge.yaml', autoApprove: true, allowDestructive: false, lockTimeout: '20s', target: [], json: false, color: false },
    io,
    { ...processRuntime, signals, exit: (code) => assert.unreachable(`exit(${code})`) },
  ).catch((e: unknown) => e);
  await untilPrinted(io.out, waitingLine(h), applying);
  signals.fire('SIGINT');
  assert.is(await applying, 130, io.out() + io.err());
  assert.match(io.out(), '\nInterrupted before any change was applied; run apply again\n');
  assert.not.ok(existsSync(join(dir, 'wh.duckdb.mlbridge.lock')), 'the lock was released');
  await release();
  assert.equal(await tableRows(db, `SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = 'shop'`), [{ n: '0' }]);
});

BusyFile('apply -lock-timeout=1s gives up with TARGET_BUSY and how long it waited, having written nothing', async () => {
  const h = await hold('READ_WRITE');
  const r = await runCli(dir, ['apply', '--auto-approve', '--no-color', '-lock-timeout=1s']);
  assert.is(r.code, 1);
  assert.is(r.err, `Error: ${busyText(db, h)} (waited 1s for it)\n`);
  assert.equal(
    r.out.split('\n').filter((l) => l.includes('DuckDB file')),
    [waitingLine(h)],
  );
  await release();
  assert.equal(await tableRows(db, `SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = 'shop'`), [{ n: '0' }]);
});

BusyFile('plan -lock-timeout=30s waits for a process writing the file, printing the wait once on stderr, then plans', async () => {
  const h = await hold('READ_WRITE');
  const io: FakeIO = fakeIO({ cwd: dir });
  const planning = main(['plan', '--no-color', '-lock-timeout=30s'], io);
  await untilPrinted(io.err, waitingLine(h), planning);
  await release();
  assert.is(await planning, 0, io.out() + io.err());
  assert.is(io.err(), `${waitingLine(h)}\n`);
  assert.match(io.out(), /Plan: 6 to add, 0 to change, 0 to destroy\./, io.out());
});

BusyFile('plan without --lock-timeout fails at once with TARGET_BUSY', async () => {
  const h = await hold('READ_WRITE');
  const r = await runCli(dir, ['plan', '--no-color']);
  assert.equal([r.code, r.out, r.err], [1, '', `Error: ${busyText(db, h)}\n`]);
});

BusyFile.run();
