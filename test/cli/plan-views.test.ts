import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Change, Plan, RowsChange, TableChange } from '../../src/engine/plan.js';
import { summarize } from '../../src/engine/plan.js';
import type { ColumnSchema, TableSchema } from '../../src/model/schema.js';
import { renderPlanText } from '../../src/cli/views/plan-text.js';
import { renderPlanJson } from '../../src/cli/views/plan-json.js';
import { renderPlanMarkdown } from '../../src/cli/views/plan-markdown.js';

const col = (name: string, type: ColumnSchema['type'] = 'STRING', mode: ColumnSchema['mode'] = 'NULLABLE', fields?: ColumnSchema[]): ColumnSchema => ({
  name,
  type,
  mode,
  ...(fields ? { fields } : {}),
});

const table = (name: string, columns: ColumnSchema[], extra: Partial<TableSchema> = {}): TableSchema => ({
  dataset: 'analytics',
  name,
  columns,
  labels: { 'managed-by': 'mlbridge' },
  deletionProtection: true,
  ...extra,
});

const tableChange = (name: string, action: Change['action'], before: TableSchema | null, after: TableSchema | null, extra: Partial<TableChange> = {}): TableChange => ({
  type: 'table',
  address: `duckdb_table.analytics.${name}`,
  action,
  before,
  after,
  reasons: [],
  destructive: action === 'replace' || action === 'delete',
  ...extra,
});

const makePlan = (changes: Change[]): Plan => ({
  formatVersion: '1',
  createdAt: '2026-11-23T22:00:00Z',
  mlbridgeVersion: '0.1.0',
  target: { kind: 'duckdb', location: 'duckdb:/tmp/wh.duckdb' },
  spec: { files: ['/tmp/mlbridge.yaml'], hash: 'abc' },
  changes,
  summary: summarize(changes),
  diagnostics: [],
  fingerprints: {},
  targets: [],
});

/** rows.Order with counts in the hundreds of thousands, as a real export gives. */
const bigRows: RowsChange = {
  type: 'rows',
  address: 'rows.Order',
  kind: 'Order',
  action: 'update',
  before: null,
  after: { insert: 300000, update: 1197, delete: 12, quarantine: 1, unchanged: 2450000 },
  reasons: [],
  destructive: false,
  sampleKeys: { insert: ['Order:o1', 'Order:o2'], update: ['Order:o3'], delete: ['Order:o4'], quarantine: ['Order:o5'] },
  source: { kind: 'export', exportId: '2026-11-23T21:00:00_1', startTime: '2026-11-23T21:00:00Z' },
  snapshotVersion: '1795467600000000',
};

const customer = table('customer', [col('_key', 'STRING', 'REQUIRED'), col('email', 'STRING', 'REQUIRED'), col('address', 'RECORD', 'NULLABLE', [col('city')]), col('tags', 'STRING', 'REPEATED')]);

const createPlan = makePlan([
  {
    type: 'dataset',
    address: 'duckdb_dataset.analytics',
    action: 'create',
    before: null,
    after: { name: 'analytics', labels: { 'managed-by': 'mlbridge' } },
    reasons: [],
    destructive: false,
  },
  tableChange('customer', 'create', null, customer),
  tableChange('order', 'no-op', table('order', [col('a')]), table('order', [col('a')])),
]);

const Text = suite('plan text');

Text('a create lists every attribute with + and ends with the add count', () => {
  const text = renderPlanText(createPlan);
  const lines = text.split('\n');
  assert.ok(lines.includes('  + create'), text);
  assert.ok(lines.includes('  # duckdb_table.analytics.customer will be created'), text);
  assert.ok(lines.includes('  + duckdb_table.analytics.customer {'), text);
  assert.ok(lines.includes('      + columns.email        = STRING REQUIRED'), text);
  assert.ok(lines.includes('      + columns.address.city = STRING'), text);
  assert.ok(lines.includes('      + columns.tags         = STRING REPEATED'), text);
  assert.ok(lines.includes('  + duckdb_dataset.analytics {'), text);
  assert.ok(text.trimEnd().endsWith('Plan: 2 to add, 0 to change, 0 to destroy.'), text);
  assert.not.match(text, 'duckdb_table.analytics.order', 'no-ops are hidden');
  assert.not.match(text, '\x1b[', 'no colour unless asked');
});

Text('an update shows only what changes, before → after, and counts the rest as hidden', () => {
  const before = table('order', [col('_key', 'STRING', 'REQUIRED'), col('amount', 'INT64'), col('status', 'STRING', 'REQUIRED')]);
  const after = table('order', [col('_key', 'STRING', 'REQUIRED'), col('amount', 'NUMERIC'), col('status'), col('note')]);
  const text = renderPlanText(
    makePlan([
      tableChange('order', 'update', before, after, {
        ops: [
          { op: 'widen_column', path: ['amount'], from: 'INT64', to: 'NUMERIC' },
          { op: 'relax_column', path: ['status'] },
          { op: 'add_column', parent: [], column: col('note') },
        ],
      }),
    ]),
  );
  const lines = text.split('\n');
  assert.ok(lines.includes('  ~ update in-place'), text);
  assert.ok(lines.includes('  # duckdb_table.analytics.order will be updated in-place'), text);
  assert.ok(lines.includes('      ~ columns.amount = INT64 → NUMERIC'), text);
  assert.ok(lines.includes('      ~ columns.status = STRING REQUIRED → STRING'), text);
  assert.ok(lines.includes('      + columns.note   = STRING'), text);
  assert.ok(lines.includes('        # (3 unchanged attributes hidden)'), text);
  assert.ok(text.includes('Plan: 0 to add, 1 to change, 0 to destroy.'), text);
});

Text('a declared rename reads as a rename, not a drop and an add', () => {
  const before = table('customer', [col('name')]);
  const after = table('customer', [col('customer_name')]);
  const text = renderPlanText(makePlan([tableChange('customer', 'update', before, after, { ops: [{ op: 'rename_column', from: 'name', to: 'customer_name' }] })]));
  assert.ok(text.includes('      ~ columns.customer_name = (renamed from name)'), text);
  assert.not.match(text, '- columns.name');
});

Text('a replacement marks the attribute that forces it and names the rule', () => {
  const before = table('order', [col('status'), col('note')]);
  const after = table('order', [col('status', 'INT64'), col('note')]);
  const text = renderPlanText(
    makePlan([
      tableChange('order', 'replace', before, after, {
        reasons: [{ path: 'columns.status.type', rule: 'type-change-not-widening', message: 'STRING → INT64 is not a widening BigQuery allows in place', forcesReplacement: true }],
        replace: { columnSources: { status: 'status', note: 'note' } },
      }),
    ]),
  );
  const lines = text.split('\n');
  assert.ok(lines.includes('-/+ destroy and then create replacement'), text);
  assert.ok(lines.includes('  # duckdb_table.analytics.order must be replaced'), text);
  assert.ok(lines.includes('-/+ duckdb_table.analytics.order {'), text);
  assert.ok(lines.includes('      ~ columns.status = STRING → INT64 # forces replacement'), text);
  assert.ok(text.includes('type-change-not-widening'), text);
  assert.ok(text.includes('Plan: 1 to add, 0 to change, 1 to destroy.'), text);
  assert.ok(text.includes('Warning: 1 destructive change (apply needs --allow-destructive):'), text);
});

Text('a scheduler job update shows its changed fields in snake_case', () => {
  const job = {
    project: 'p',
    region: 'us-central1',
    name: 'mlbridge-reconcile',
    schedule: '*/30 * * * *',
    timeZone: 'Etc/UTC',
    uri: 'https://x.run.app/reconcile',
    httpMethod: 'POST' as const,
    attemptDeadlineSeconds: 180,
    retry: { count: 3, minBackoffSeconds: 5, maxBackoffSeconds: 3600 },
    state: 'ENABLED' as const,
  };
  const text = renderPlanText(
    makePlan([
      {
        type: 'scheduler_job',
        address: 'cloud_scheduler_job.mlbridge-reconcile',
        action: 'update',
        before: job,
        after: { ...job, schedule: '0 * * * *', retry: { ...job.retry, count: 5 } },
        reasons: [],
        destructive: false,
        updateMask: ['schedule', 'retry_config'],
      },
    ]),
  );
  assert.ok(text.includes('      ~ schedule    = "*/30 * * * *" → "0 * * * *"'), text);
  assert.ok(text.includes('      ~ retry.count = 3 → 5'), text);
});

Text('a plan without changes says so and nothing else', () => {
  const text = renderPlanText(makePlan([tableChange('order', 'no-op', table('order', [col('a')]), table('order', [col('a')]))]));
  assert.is(text, 'No changes. Your target matches the spec.\n');
});

Text('colour, when asked, paints the symbols', () => {
  const text = renderPlanText(createPlan, { color: true });
  assert.match(text, '\x1b[32m+\x1b[0m duckdb_table.analytics.customer {');
});

Text('prints row counts with thousands separators, as apply reports them', () => {
  const out = renderPlanText(makePlan([bigRows]));
  assert.match(
    out,
    [
      '  # rows.Order will be synced from export 2026-11-23T21:00:00_1',
      '  ~ rows.Order: 300,000 to insert, 1,197 to update, 12 to delete, 1 to quarantine (2,450,000 unchanged)',
      '      + insert:     Order:o1, Order:o2, … (299,998 more)',
      '      ~ update:     Order:o3, … (1,196 more)',
      '      - delete:     Order:o4, … (11 more)',
      '      ! quarantine: Order:o5',
    ].join('\n'),
  );
  assert.match(out, '\nRows: 300,000 to insert, 1,197 to update, 12 to delete, 1 to quarantine.\n');
});

Text('names a live source by its project, and its database only when it is a named one', () => {
  const live = (database: string): RowsChange => ({ ...bigRows, source: { kind: 'datastore', project: 'demo', database, readTime: '2026-11-23T22:00:00.000Z' } });
  assert.match(renderPlanText(makePlan([live('(default)')])), '\n  # rows.Order will be synced from Datastore demo as read at 2026-11-23T22:00:00.000Z\n');
  assert.match(renderPlanText(makePlan([live('orders')])), '\n  # rows.Order will be synced from Datastore demo (database orders) as read at 2026-11-23T22:00:00.000Z\n');
  assert.match(renderPlanMarkdown(makePlan([live('(default)')])), '\n**`rows.Order`** from Datastore demo as read at 2026-11-23T22:00:00.000Z\n');
});

Text.run();

Text('labels read back in another key order are not shown as a change', () => {
  const before = table('customer', [col('email')], { labels: { team: 'growth', 'managed-by': 'mlbridge' } });
  const after = table('customer', [col('email'), col('phone')], { labels: { 'managed-by': 'mlbridge', team: 'growth' } });
  const out = renderPlanText(makePlan([tableChange('customer', 'update', before, after)]));
  assert.match(out, /\+ columns\.phone/);
  assert.not.match(out, /labels/);
});

const Json = suite('plan json');

Json('keeps row counts plain numbers', () => {
  const doc = JSON.parse(renderPlanJson(makePlan([bigRows])));
  assert.equal(doc.summary.rows, { insert: 300000, update: 1197, delete: 12, quarantine: 1 });
  assert.equal(doc.changes[0].after, { insert: 300000, update: 1197, delete: 12, quarantine: 1, unchanged: 2450000 });
});

Json('is one JSON document with format_version 1, snake_case keys and the summary', () => {
  const out = renderPlanJson(createPlan);
  const doc = JSON.parse(out);
  assert.is(doc.format_version, '1');
  assert.equal(doc.summary, { add: 2, change: 0, destroy: 0 });
  assert.equal(doc.diagnostics, []);
  const t = doc.changes.find((c: { address: string }) => c.address === 'duckdb_table.analytics.customer');
  assert.is(t.action, 'create');
  assert.is(t.after.deletion_protection, true);
  assert.equal(t.after.labels, { 'managed-by': 'mlbridge' }, 'label keys are data, left as they are');
  assert.is(out.trim().split('\n').length, 1);
});

Json.run();

const Md = suite('plan markdown');

Md('is a PR comment: heading, summary, destructive warning, collapsible diff', () => {
  const before = table('order', [col('status')]);
  const after = table('order', [col('status', 'INT64')]);
  const md = renderPlanMarkdown(
    makePlan([
      tableChange('customer', 'create', null, customer),
      tableChange('order', 'replace', before, after, {
        reasons: [{ path: 'columns.status.type', rule: 'type-change-not-widening', message: 'STRING → INT64 is not a widening', forcesReplacement: true }],
      }),
    ]),
  );
  assert.ok(md.startsWith('### mlbridge plan for `duckdb:/tmp/wh.duckdb`'), md);
  assert.match(md, '**Plan: 2 to add, 0 to change, 1 to destroy.**');
  assert.match(md, '> [!WARNING]');
  assert.match(md, '> - `duckdb_table.analytics.order` must be replaced: STRING → INT64 is not a widening');
  assert.match(md, '<details><summary>Show plan</summary>');
  assert.match(md, '```diff');
  assert.match(md, '\n+ + duckdb_table.analytics.customer {');
  assert.match(md, '\n!-/+ duckdb_table.analytics.order {');
  assert.match(md, '</details>');
});

Md('prints row counts with thousands separators in the summary, the table and the diff', () => {
  const md = renderPlanMarkdown(makePlan([bigRows]));
  assert.match(md, '**Rows: 300,000 to insert, 1,197 to update, 12 to delete, 1 to quarantine.**');
  assert.match(md, '| `~` | `rows.Order` | 300,000 to insert, 1,197 to update, 12 to delete, 1 to quarantine (2,450,000 unchanged) |');
  assert.match(
    md,
    [
      '| rows | count | sample keys |',
      '|---|---:|---|',
      '| insert | 300,000 | `Order:o1`, `Order:o2`, … |',
      '| update | 1,197 | `Order:o3`, … |',
      '| delete | 12 | `Order:o4`, … |',
      '| quarantine | 1 | `Order:o5` |',
      '| unchanged | 2,450,000 | |',
    ].join('\n'),
  );
  assert.match(md, '\n! ~ rows.Order: 300,000 to insert, 1,197 to update, 12 to delete, 1 to quarantine (2,450,000 unchanged)\n');
});

Md('says "No changes." when there are none', () => {
  const md = renderPlanMarkdown(makePlan([]));
  assert.match(md, '**No changes. Your target matches the spec.**');
  assert.not.match(md, '<details>');
});

Md.run();
