import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { diffTable, isWidening } from '../../src/engine/schema-diff.js';
import type { ColumnSchema, DesiredTable, ObservedTable } from '../../src/model/schema.js';

const Suite = suite('schema diff by BigQuery rules');

const c = (name: string, type: ColumnSchema['type'], mode: ColumnSchema['mode'] = 'NULLABLE', fields?: ColumnSchema[]): ColumnSchema => ({
  name,
  type,
  mode,
  ...(fields ? { fields } : {}),
});

const observed = (columns: ColumnSchema[], over: Partial<ObservedTable> = {}): ObservedTable => ({
  dataset: 'd',
  name: 't',
  columns,
  labels: { 'managed-by': 'mlbridge' },
  deletionProtection: true,
  etag: 'e1',
  owned: true,
  ...over,
});
const desired = (columns: ColumnSchema[], over: Partial<DesiredTable> = {}): DesiredTable => ({
  dataset: 'd',
  name: 't',
  columns,
  labels: { 'managed-by': 'mlbridge' },
  deletionProtection: true,
  role: 'current',
  renames: {},
  ...over,
});
const rules = (d: ReturnType<typeof diffTable>) => d.reasons.filter((r) => r.forcesReplacement).map((r) => r.rule);

Suite('identical schemas, in any column order and case, are a no-op', () => {
  const d = diffTable(desired([c('b', 'INT64'), c('A', 'STRING')]), observed([c('a', 'STRING'), c('B', 'INT64')]));
  assert.equal(d, { action: 'no-op', ops: [], reasons: [], destructive: false });
});

Suite('widenings are exactly the ones BigQuery allows', () => {
  assert.ok(isWidening('INT64', 'NUMERIC') && isWidening('INT64', 'BIGNUMERIC') && isWidening('INT64', 'FLOAT64'));
  assert.ok(isWidening('NUMERIC', 'BIGNUMERIC') && isWidening('NUMERIC', 'FLOAT64'));
  assert.not.ok(isWidening('FLOAT64', 'NUMERIC') || isWidening('STRING', 'INT64') || isWidening('BIGNUMERIC', 'NUMERIC'));
});

Suite('FLOAT64 → INT64 is a replacement with the rule and a human message', () => {
  const d = diffTable(desired([c('x', 'INT64')]), observed([c('x', 'FLOAT64')]));
  assert.is(d.action, 'replace');
  assert.ok(d.destructive);
  assert.equal(d.reasons[0], { path: 'columns.x.type', rule: 'type-change-not-widening', message: 'FLOAT64 → INT64 is not a widening BigQuery allows in place', forcesReplacement: true });
  assert.equal(d.replace, { columnSources: { x: 'x' } });
});

Suite('adding a REQUIRED column forces replacement; a NULLABLE or REPEATED one does not', () => {
  assert.equal(rules(diffTable(desired([c('a', 'STRING'), c('b', 'STRING', 'REQUIRED')]), observed([c('a', 'STRING')]))), ['add-required-column']);
  const d = diffTable(desired([c('a', 'STRING'), c('tags', 'STRING', 'REPEATED')]), observed([c('a', 'STRING')]));
  assert.is(d.action, 'update');
  assert.equal(d.ops, [{ op: 'add_column', parent: [], column: c('tags', 'STRING', 'REPEATED') }]);
});

Suite('relaxing REQUIRED is in place; NULLABLE → REQUIRED and REPEATED changes force replacement', () => {
  assert.equal(diffTable(desired([c('a', 'STRING')]), observed([c('a', 'STRING', 'REQUIRED')])).ops, [{ op: 'relax_column', path: ['a'] }]);
  assert.equal(rules(diffTable(desired([c('a', 'STRING', 'REQUIRED')]), observed([c('a', 'STRING')]))), ['nullable-to-required']);
  assert.equal(rules(diffTable(desired([c('a', 'STRING', 'REPEATED')]), observed([c('a', 'STRING')]))), ['repeated-mode-change']);
  assert.equal(rules(diffTable(desired([c('a', 'STRING')]), observed([c('a', 'STRING', 'REPEATED')]))), ['repeated-mode-change']);
});

Suite('nested RECORD: a new NULLABLE field is added in place, a dropped field forces replacement', () => {
  const o = observed([c('addr', 'RECORD', 'NULLABLE', [c('street', 'STRING'), c('zip', 'STRING')])]);
  const add = diffTable(desired([c('addr', 'RECORD', 'NULLABLE', [c('street', 'STRING'), c('zip', 'STRING'), c('city', 'STRING')])]), o);
  assert.is(add.action, 'update');
  assert.equal(add.ops, [{ op: 'add_column', parent: ['addr'], column: c('city', 'STRING') }]);
  const drop = diffTable(desired([c('addr', 'RECORD', 'NULLABLE', [c('street', 'STRING')])]), o);
  assert.equal(rules(drop), ['drop-nested-field']);
  const widen = diffTable(desired([c('addr', 'RECORD', 'NULLABLE', [c('street', 'STRING'), c('zip', 'INT64')])]), o);
  assert.equal(rules(widen), ['type-change-not-widening']);
  assert.is(widen.reasons[0]!.path, 'columns.addr.zip.type');
});

Suite('a rename is taken only when declared; otherwise it is a drop and an add', () => {
  const o = observed([c('name', 'STRING')]);
  const declared = diffTable(desired([c('full_name', 'STRING')], { renames: { full_name: 'name' } }), o);
  assert.equal(declared.ops, [{ op: 'rename_column', from: 'name', to: 'full_name' }]);
  assert.not.ok(declared.destructive);
  const guessed = diffTable(desired([c('full_name', 'STRING')]), o);
  assert.equal(guessed.ops, [
    { op: 'add_column', parent: [], column: c('full_name', 'STRING') },
    { op: 'drop_column', name: 'name' },
  ]);
  assert.ok(guessed.destructive);
});

Suite('partitioning changes force replacement; clustering, labels and description change in place', () => {
  const part = diffTable(desired([c('ts', 'TIMESTAMP')], { partitioning: { type: 'DAY', field: 'ts' } }), observed([c('ts', 'TIMESTAMP')], { partitioning: { type: 'MONTH', field: 'ts' } }));
  assert.equal(rules(part), ['partitioning-change']);
  assert.is(part.reasons[0]!.message, 'partitioning MONTH(ts) → DAY(ts) cannot change in place');
  const inPlace = diffTable(
    desired([c('a', 'STRING')], { clustering: ['a'], labels: { 'managed-by': 'mlbridge', team: 'x' }, description: 'hi', deletionProtection: false }),
    observed([c('a', 'STRING')]),
  );
  assert.is(inPlace.action, 'update');
  assert.equal(inPlace.ops.map((o) => o.op), ['set_clustering', 'set_description', 'set_labels', 'set_deletion_protection']);
});

Suite('renaming or dropping a partitioning or clustering column forces replacement', () => {
  const o = observed([c('ts', 'TIMESTAMP'), c('region', 'STRING')], { partitioning: { type: 'DAY', field: 'ts' }, clustering: ['region'] });
  const keep = { partitioning: { type: 'DAY' as const, field: 'ts' } };
  assert.equal(rules(diffTable(desired([c('ts', 'TIMESTAMP'), c('area', 'STRING')], { ...keep, clustering: ['area'], renames: { area: 'region' } }), o)), ['rename-clustering-column']);
  assert.equal(rules(diffTable(desired([c('ts', 'TIMESTAMP')], keep), o)), ['drop-clustering-column']);
  assert.ok(rules(diffTable(desired([c('when', 'TIMESTAMP'), c('region', 'STRING')], { partitioning: { type: 'DAY', field: 'when' }, clustering: ['region'], renames: { when: 'ts' } }), o)).includes('rename-partitioning-column'));
});

Suite('type aliases in the observed schema are not a change', () => {
  const o = observed([c('a', 'INTEGER' as ColumnSchema['type']), c('b', 'BOOLEAN' as ColumnSchema['type'])]);
  assert.is(diffTable(desired([c('a', 'INT64'), c('b', 'BOOL')]), o).action, 'no-op');
});

Suite('widening inside a REPEATED column (or a RECORD within one) forces replacement; inside a plain RECORD it is in place', () => {
  const items = (qty: ColumnSchema['type']) => [c('items', 'RECORD', 'REPEATED', [c('sku', 'STRING'), c('dims', 'RECORD', 'NULLABLE', [c('qty', qty)])])];
  const rep = diffTable(desired(items('FLOAT64')), observed(items('INT64')));
  assert.equal(rules(rep), ['widen-in-repeated']);
  assert.equal(rep.reasons[0], {
    path: 'columns.items.dims.qty.type',
    rule: 'widen-in-repeated',
    message: 'INT64 → FLOAT64 inside the REPEATED column items: BigQuery cannot change a type inside an ARRAY in place',
    forcesReplacement: true,
  });
  assert.equal(rules(diffTable(desired([c('tags', 'NUMERIC', 'REPEATED')]), observed([c('tags', 'INT64', 'REPEATED')]))), ['widen-in-repeated']);
  const plain = diffTable(desired([c('dims', 'RECORD', 'NULLABLE', [c('w', 'FLOAT64')])]), observed([c('dims', 'RECORD', 'NULLABLE', [c('w', 'INT64')])]));
  assert.equal(plain.ops, [{ op: 'widen_column', path: ['dims', 'w'], from: 'INT64', to: 'FLOAT64' }]);
});

Suite('partition expiration and require-filter change in place where the target can patch them, else force replacement', () => {
  const o = observed([c('ts', 'TIMESTAMP')], { partitioning: { type: 'DAY', field: 'ts', expirationDays: 30 } });
  const d = desired([c('ts', 'TIMESTAMP')], { partitioning: { type: 'DAY', field: 'ts', requireFilter: true } });
  const bq = diffTable(d, o, { partitionOptionsInPlace: true });
  assert.equal(bq, {
    action: 'update',
    ops: [{ op: 'set_partition_options', expirationDays: undefined, requireFilter: true }],
    reasons: [{ path: 'partitioning', rule: 'partition-options', message: 'partition expiration 30d → none, require partition filter off → on change in place' }],
    destructive: false,
  });
  assert.equal(rules(diffTable(d, o)), ['partitioning-change']);
  // The layout itself never changes in place, whatever the options do.
  const month = desired([c('ts', 'TIMESTAMP')], { partitioning: { type: 'MONTH', field: 'ts', requireFilter: true } });
  assert.equal(rules(diffTable(month, o, { partitionOptionsInPlace: true })), ['partitioning-change']);
});

Suite.run();
