// `apply PLANFILE` checks the file against what mlbridge plans now: an edited guard, op,
// action or an added change is refused naming the change and the field, and nothing runs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, createPlan, readPlanFile, writePlanFile } from '../../src/engine/index.js';
import { planChecksum } from '../../src/engine/plan-file.js';
import { checkSavedPlan } from '../../src/engine/saved-plan-check.js';
import type { Change, Plan, RowsChange } from '../../src/engine/plan.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import type { Spec } from '../../src/spec/types.js';
import type { SnapshotSource } from '../../src/source/snapshot-source.js';
import { customerEntity, snapshotOf } from './fixtures/deleted-after-snapshot.js';
import { field, mapping, spec, tempDir, withWarehouse } from './fixtures/factories.js';
import { rejects } from '../support/rejects.js';

// ---- factories ----

/** A live Datastore read holding these customers (it never stands still between reads). */
const liveRead = (names: string[], at: string): SnapshotSource => ({
  ...snapshotOf(names.map((n) => customerEntity(n, `${n}@x`)), at),
  identity: { kind: 'datastore', project: 'p', database: '(default)', readTime: at },
});

const customers = (fields = baseFields(), deletionProtection = true) => mapping('Customer', fields, { deletionProtection });
const baseFields = () => [field('email', 'STRING', 'REQUIRED'), field('age', 'INT64'), field('note', 'STRING'), field('zip', 'STRING')];
const sys = (key: string) => ({ _key: key, _version: '1', _hash: 'h', _synced_at: '2026-01-01T00:00:00Z' });
const CUSTOMER = 'duckdb_table.analytics.customer';
const PREFIX = 'Saved plan does not match what mlbridge would plan: ';

const rowsChange = (over: Partial<RowsChange> = {}): RowsChange => ({
  type: 'rows',
  kind: 'Customer',
  address: 'rows.Customer',
  action: 'update',
  before: null,
  after: { insert: 3, update: 1, delete: 0, quarantine: 0, unchanged: 5 },
  reasons: [],
  destructive: false,
  sampleKeys: { insert: ['k1', 'k2', 'k3'], update: ['k9'], delete: [], quarantine: [] },
  source: { kind: 'export', exportId: '2026-11-23T10:00:00_000', startTime: '2026-11-23T10:00:00.000Z' },
  snapshotVersion: '1795420800000000',
  ...over,
});

const planOf = (changes: Change[]): Plan => ({
  formatVersion: '1',
  createdAt: '2026-11-23T10:00:00.000Z',
  mlbridgeVersion: '0.1.0',
  target: { kind: 'duckdb', location: 'duckdb:/x' },
  spec: { files: [], hash: 'h' },
  changes,
  summary: { add: 0, change: 0, destroy: 0 },
  diagnostics: [],
  fingerprints: {},
  targets: [],
});

let ctx: ReturnType<typeof tempDir>;

const plan = (s: Spec) => withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse }));
const applySaved = (s: Spec, savedPlan: Plan, allowDestructive = false) =>
  withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { savedPlan, allowDestructive }));

/** The target as a user would inspect it: tables, the customer table's columns and its rows. */
async function snapshot(s: Spec) {
  return withWarehouse(s, true, async (w) => {
    const tables = (await w.listTables('analytics')).map((t) => t.name).sort();
    const customer = await w.getTable('analytics', 'customer');
    const rows: Row[] = [];
    for await (const r of w.readRows('analytics', 'customer')) rows.push(r);
    const ledger: Row[] = [];
    if (tables.includes('ledger')) for await (const r of w.readRows('analytics', 'ledger')) ledger.push(r);
    return { tables, columns: customer?.columns.map((c) => `${c.name} ${c.type}`), rows, ledger };
  });
}

/** Applies the base spec with two customers, and returns it. */
async function seeded(): Promise<Spec> {
  const s = spec(ctx.db, [customers()]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {}));
  await withWarehouse(s, false, (w) =>
    w.mergeRows('analytics', 'customer', ['_key'], [
      { ...sys('k1'), email: 'a@x', age: '41', note: 'vip', zip: '1234' },
      { ...sys('k2'), email: 'b@x', age: '37', note: 'late payer', zip: '5678' },
    ]),
  );
  return s;
}

/**
 * Saves `p` with `plan --out`, lets `edit` change the JSON as a user with an editor would,
 * recomputes the checksum (as anyone editing on purpose can: it catches damage, not intent)
 * and reads it back. What refuses the edit is then the check against the fresh plan.
 */
async function edited(p: Plan, edit: (changes: Record<string, unknown>[]) => void): Promise<Plan> {
  const file = join(ctx.dir, 'edited.plan');
  await writePlanFile(file, p);
  const { checksum: _old, ...json } = JSON.parse(readFileSync(file, 'utf8')) as { changes: Record<string, unknown>[]; checksum?: string };
  edit(json.changes);
  writeFileSync(file, JSON.stringify({ ...json, checksum: planChecksum(json) }, null, 2));
  return readPlanFile(file);
}

const at = (changes: Record<string, unknown>[], address: string) => changes.find((c) => c.address === address)!;

/** Applies an edited plan, which must be refused with `message`, and checks the target is as before. */
async function refusedUnchanged(s: Spec, saved: Plan, message: string, allowDestructive = true): Promise<void> {
  const before = await snapshot(s);
  const err = await rejects(applySaved(s, saved, allowDestructive));
  assert.is(err.message, PREFIX + message);
  assert.is(err.code, 'PLAN_INVALID');
  assert.equal(await snapshot(s), before, 'nothing was applied');
  assert.is(before.rows.length, 2);
}

const Saved = suite('a saved plan is checked, not trusted');
Saved.before.each(() => {
  ctx = tempDir('mlbridge-saved-plan-');
});
Saved.after.each(() => ctx.cleanup());

Saved('destructive edited to false: refused naming the column the change drops, even without --allow-destructive asked', async () => {
  await seeded();
  const s2 = spec(ctx.db, [customers(baseFields().filter((f) => f.name !== 'note'))]);
  const saved = await edited(await plan(s2), (cs) => void (at(cs, CUSTOMER).destructive = false));
  await refusedUnchanged(s2, saved, `${CUSTOMER}: destructive is false in the plan file but the change drops the column note and its data`, false);
});

Saved('an edited after of a replacement: refused naming the column and both types', async () => {
  await seeded();
  const zipInt = baseFields().map((f) => (f.name === 'zip' ? field('zip', 'INT64') : f));
  const s2 = spec(ctx.db, [customers(zipInt, false)]);
  const fresh = await plan(s2);
  assert.is(fresh.changes.find((c) => c.address === CUSTOMER)?.action, 'replace');
  const saved = await edited(fresh, (cs) => {
    const after = at(cs, CUSTOMER).after as { columns: Array<{ name: string; type: string }> };
    after.columns.find((c) => c.name === 'zip')!.type = 'BOOL';
  });
  await refusedUnchanged(s2, saved, `${CUSTOMER}: after.columns[8].type is "BOOL" in the plan file but mlbridge would plan "INT64"`);
});

Saved('an added drop_column op: refused naming the op', async () => {
  await seeded();
  const s2 = spec(ctx.db, [customers([...baseFields(), field('city', 'STRING')])]);
  const saved = await edited(await plan(s2), (cs) => (at(cs, CUSTOMER).ops as unknown[]).push({ op: 'drop_column', name: 'note' }));
  await refusedUnchanged(s2, saved, `${CUSTOMER}: the plan file has ops[1] = {"op":"drop_column","name":"note"}, which mlbridge would not plan`);
});

Saved('a removed blocked: refused because deletion protection forbids the change', async () => {
  await seeded();
  const s2 = spec(ctx.db, [customers(baseFields().map((f) => (f.name === 'zip' ? field('zip', 'INT64') : f)))]);
  const fresh = await plan(s2);
  assert.ok(fresh.changes.find((c) => c.address === CUSTOMER)?.blocked);
  const saved = await edited(fresh, (cs) => void delete at(cs, CUSTOMER).blocked);
  await refusedUnchanged(s2, saved, `${CUSTOMER}: blocked is missing from the plan file but deletion protection forbids this change`);
});

Saved('a changed action: refused naming both actions', async () => {
  const s = await seeded();
  const saved = await edited(await plan(s), (cs) => {
    const c = at(cs, CUSTOMER);
    c.action = 'delete';
    c.destructive = true;
  });
  await refusedUnchanged(s, saved, `${CUSTOMER}: action is "delete" in the plan file but mlbridge would plan "no-op"`);
});

Saved('an added change deleting a table mlbridge does not own: refused, and the table keeps its rows', async () => {
  const s = await seeded();
  await withWarehouse(s, false, async (w) => {
    await w.createTable({ dataset: 'analytics', name: 'ledger', columns: [{ name: '_key', type: 'STRING', mode: 'NULLABLE' }], labels: {}, deletionProtection: false });
    await w.mergeRows('analytics', 'ledger', ['_key'], [{ _key: 'entry-1' }]);
  });
  const saved = await edited(await plan(s), (cs) =>
    cs.push({ ...at(cs, CUSTOMER), address: 'duckdb_table.analytics.ledger', action: 'delete', destructive: true, after: null }),
  );
  await refusedUnchanged(s, saved, 'duckdb_table.analytics.ledger: the plan file has a delete that mlbridge would not plan');
  assert.equal((await snapshot(s)).ledger, [{ _key: 'entry-1' }]);
});

Saved('a change left out of the plan file is refused too', async () => {
  await seeded();
  const s2 = spec(ctx.db, [customers([...baseFields(), field('city', 'STRING')])]);
  const saved = await edited(await plan(s2), (cs) => void cs.splice(cs.indexOf(at(cs, CUSTOMER)), 1));
  await refusedUnchanged(s2, saved, `${CUSTOMER}: mlbridge would plan an update that the plan file does not have`);
});

Saved('an unedited plan file is applied, and edited reasons (display only) do not matter', async () => {
  await seeded();
  const s2 = spec(ctx.db, [customers([...baseFields(), field('city', 'STRING')])]);
  const saved = await edited(await plan(s2), (cs) => void (at(cs, CUSTOMER).reasons = [{ rule: 'x', message: 'reworded' }]));
  const r = await applySaved(s2, saved);
  assert.ok(r.applied);
  assert.equal((await snapshot(s2)).columns?.at(-1), 'city STRING');
  assert.equal((await snapshot(s2)).rows.map((r) => [r._key, r.note]), [['k1', 'vip'], ['k2', 'late payer']]);
});

/** The message checkSavedPlan refuses with, or "accepted". */
const verdict = (saved: Change[], fresh: Change[]): string => {
  try {
    checkSavedPlan(planOf(saved), planOf(fresh));
    return 'accepted';
  } catch (e) {
    return (e as Error).message;
  }
};

Saved('a change type with no display-only list is compared in full', () => {
  const report = { type: 'report', address: 'report.daily', action: 'create', before: null, after: { recipients: ['ops@x'] }, reasons: [], destructive: false };
  const edited = { ...report, after: { recipients: ['ops@x', 'attacker@y'] } };
  assert.is(
    verdict([edited as unknown as Change], [report as unknown as Change]),
    `${PREFIX}report.daily: the plan file has after.recipients[1] = "attacker@y", which mlbridge would not plan`,
  );
});

Saved('a rows change: counts and sample keys are display only (the fresh rows run); kind and the guards are compared', () => {
  const moved = rowsChange({ after: { insert: 9, update: 0, delete: 0, quarantine: 0, unchanged: 5 }, sampleKeys: { insert: [], update: [], delete: [], quarantine: [] } });
  assert.is(verdict([moved], [rowsChange()]), 'accepted');
  assert.is(verdict([rowsChange({ kind: 'Order' })], [rowsChange()]), `${PREFIX}rows.Customer: kind is "Order" in the plan file but mlbridge would plan "Customer"`);
  assert.is(
    verdict([rowsChange()], [rowsChange({ destructive: true, reasons: [{ rule: 'delete-rows', message: 'deletes 4 rows the source no longer has' }] })]),
    `${PREFIX}rows.Customer: destructive is false in the plan file but the change deletes 4 rows the source no longer has`,
  );
});

Saved('the normalize seam lets a redacted plan file equal the fresh plan redacted the same way', () => {
  const secret = rowsChange({ kind: 'sk-live-123' });
  const redact = (p: Plan): Plan => ({ ...p, changes: p.changes.map((c) => (c.type === 'rows' ? { ...c, kind: '(redacted)' } : c)) });
  const saved = planOf([rowsChange({ kind: '(redacted)' })]);
  checkSavedPlan(saved, planOf([secret]), { normalize: redact });
  assert.throws(() => checkSavedPlan(saved, planOf([secret])), /kind is "\(redacted\)" in the plan file but mlbridge would plan "sk-live-123"/);
});

const Moved = suite('a saved plan whose row counts differ from the fresh ones');
Moved.before.each(() => {
  ctx = tempDir('mlbridge-saved-moved-');
});
Moved.after.each(() => ctx.cleanup());

const movedWarning = (p: Plan) => p.diagnostics.filter((d) => d.detail?.startsWith('rows.')).map((d) => `${d.summary}\n${d.detail}`);
/** Customer (email, age), its tables created (a read-only plan needs the DuckDB file). */
async function customerOnly(): Promise<Spec> {
  const s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING'), field('age', 'INT64')])]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, {}));
  return s;
}

Moved('a live source: the fresh rows run, and the warning says the source or the target changed', async () => {
  const s = await customerOnly();
  const saved = await withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse, source: liveRead(['a', 'b'], '2026-11-23T10:00:00.000Z') }));
  const r = await withWarehouse(s, false, (warehouse) => apply(s, { warehouse, source: liveRead(['a', 'b', 'c'], '2026-11-23T10:05:00.000Z') }, { savedPlan: saved }));
  assert.ok(r.applied);
  assert.equal(movedWarning(r.plan), [
    "the rows to change differ from the plan file's counts (the source or the target changed since the plan was made); applying them as counted now\n" +
      'rows.Customer: insert 2 → 3, update 0 → 0, delete 0 → 0, quarantine 0 → 0',
  ]);
  assert.is(r.summary.rows?.insert, 3);
});

Moved('an export: it cannot have moved, so the warning says the target changed or the file was edited', async () => {
  const s = await customerOnly();
  const source = snapshotOf([customerEntity('a', 'a@x')], '2026-11-23T10:00:00.000Z');
  const saved = await edited(await withWarehouse(s, true, (warehouse) => createPlan(s, { warehouse, source })), (changes) => {
    (at(changes, 'rows.Customer').after as Record<string, number>).insert = 7;
  });
  const r = await withWarehouse(s, false, (warehouse) => apply(s, { warehouse, source }, { savedPlan: saved }));
  assert.ok(r.applied);
  assert.equal(movedWarning(r.plan), [
    "the rows to change differ from the plan file's counts (the export is the same, so the target changed since the plan was made, or the file was edited); applying them as counted now\n" +
      'rows.Customer: insert 7 → 1, update 0 → 0, delete 0 → 0, quarantine 0 → 0',
  ]);
});

Saved.run();
Moved.run();
