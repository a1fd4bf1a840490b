// Terraform-style plan text: `+ ~ - -/+`, before → after per attribute, `# forces
// replacement` on the attribute that forces it, and the "Plan: N to add…" summary.
// A pure function of the Plan (never reads the target); colour is optional ANSI.

import type { ColumnSchema, TableSchema } from '../../model/schema.js';
import type { Action, Change, Plan, PlanSummary, Reason, RowsChange, TableChange } from '../../engine/plan.js';
import { formatDiagnostic } from '../../model/diagnostic.js';
import { formatCount } from './rows-progress.js';

export type LineSign = '+' | '-' | '~' | '!';

export interface AttrLine {
  sign: LineSign;
  key: string;
  /** Display value; for '~' the before value. */
  value: string;
  /** For '~': the after value. */
  after?: string;
  forcesReplacement?: boolean;
}

export interface ChangeView {
  change: Change;
  symbol: string;
  header: string;
  lines: AttrLine[];
  hidden: number;
  /** Messages of the reasons that force replacement or make the change destructive. */
  notes: string[];
}

const SYMBOL: Record<Exclude<Action, 'no-op'>, string> = { create: '+', update: '~', delete: '-', replace: '-/+' };
const LEGEND: Record<Exclude<Action, 'no-op'>, string> = {
  create: '  + create',
  update: '  ~ update in-place',
  delete: '  - destroy',
  replace: '-/+ destroy and then create replacement',
};

export function actionPhrase(action: Action): string {
  switch (action) {
    case 'create':
      return 'will be created';
    case 'update':
      return 'will be updated in-place';
    case 'delete':
      return 'will be destroyed';
    case 'replace':
      return 'must be replaced';
    default:
      return 'is unchanged';
  }
}

export function summaryLine(s: PlanSummary): string {
  return `Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`;
}

export const NO_CHANGES = 'No changes. Your target matches the spec.';

// Row counts read as apply and its progress print them: `300,000` (JSON keeps numbers).

/** `Rows: 11 to insert, 1,197 to update, 4 to delete, 1 to quarantine.` (undefined without data). */
export function rowsSummaryLine(s: PlanSummary): string | undefined {
  const r = s.rows;
  const n = formatCount;
  return r ? `Rows: ${n(r.insert)} to insert, ${n(r.update)} to update, ${n(r.delete)} to delete, ${n(r.quarantine)} to quarantine.` : undefined;
}

/** `rows.Customer: 7 to insert, 5 to update, 3 to delete, 1 to quarantine (1,297 unchanged)`. */
export function rowsHeadline(c: RowsChange): string {
  const n = c.after ?? { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 0 };
  const parts = (['insert', 'update', 'delete', 'quarantine'] as const).filter((k) => n[k] > 0).map((k) => `${formatCount(n[k])} to ${k}`);
  return `${c.address}: ${parts.length ? parts.join(', ') : 'no changes'} (${formatCount(n.unchanged)} unchanged)`;
}

/**
 * Where a rows change's data comes from, for its header: `export ID`, or `Datastore PROJECT
 * as read at T`, naming the database only when it is not the default one (whose id is
 * `(default)`, which would read as `((default))` in parentheses).
 */
export function rowsSourcePhrase(c: RowsChange): string {
  if (c.source.kind === 'export') return `export ${c.source.exportId}`;
  const database = c.source.database === '(default)' ? '' : ` (database ${c.source.database})`;
  return `Datastore ${c.source.project}${database} as read at ${c.source.readTime}`;
}

export function visibleChanges(plan: Plan): Change[] {
  return plan.changes.filter((c) => c.action !== 'no-op');
}

export function destructiveChanges(plan: Plan): Change[] {
  return visibleChanges(plan).filter((c) => c.destructive);
}

/** One sentence per destructive change: address, what happens, and why. */
export function destructiveNote(c: Change): string {
  // The reasons that make it destructive, when the engine names them; else every reason.
  const forcing = c.reasons.filter((r) => r.forcesReplacement || r.rule === 'drop-column' || r.rule === 'not-in-spec');
  const why = (forcing.length ? forcing : c.reasons).map((r) => r.message).filter(Boolean);
  return `${c.address} ${actionPhrase(c.action)}${why.length ? `: ${why.join('; ')}` : ''}`;
}

// ---- flattening resources into comparable attributes ----

type Attrs = Map<string, { key: string; value: string }>;

function quote(s: string): string {
  return JSON.stringify(s);
}

function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(fmtValue).join(', ')}]`;
  // Keys sorted: labels that come back from BigQuery in another order are not a change.
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, x]) => `${k} = ${fmtValue(x)}`).join(', ')} }`;
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function put(attrs: Attrs, key: string, value: string): void {
  attrs.set(key.toLowerCase(), { key, value });
}

function columnType(c: ColumnSchema): string {
  return c.mode === 'NULLABLE' ? c.type : `${c.type} ${c.mode}`;
}

function flattenColumns(attrs: Attrs, prefix: string, cols: readonly ColumnSchema[], rename: (name: string) => string): void {
  for (const c of cols) {
    const key = `${prefix}${prefix === 'columns.' ? rename(c.name) : c.name}`;
    put(attrs, key, columnType(c));
    if (c.description) put(attrs, `${key}.description`, quote(c.description));
    if (c.fields) flattenColumns(attrs, `${key}.`, c.fields, rename);
  }
}

function flattenTable(t: TableSchema, rename: (name: string) => string = (n) => n): Attrs {
  const attrs: Attrs = new Map();
  flattenColumns(attrs, 'columns.', t.columns, rename);
  if (t.description) put(attrs, 'description', quote(t.description));
  if (t.partitioning) {
    const p = t.partitioning;
    put(attrs, 'partitioning', `${p.type}(${p.field ?? '_PARTITIONTIME'})`);
    if (p.expirationDays !== undefined) put(attrs, 'partitioning.expiration_days', String(p.expirationDays));
    if (p.requireFilter !== undefined) put(attrs, 'partitioning.require_filter', String(p.requireFilter));
  }
  if (t.clustering?.length) put(attrs, 'clustering', fmtValue(t.clustering));
  if (Object.keys(t.labels ?? {}).length) put(attrs, 'labels', fmtValue(t.labels));
  put(attrs, 'deletion_protection', String(t.deletionProtection));
  return attrs;
}

/** Any other resource: its fields, nested objects as dotted keys, snake_case. */
function flattenObject(obj: object | null, skip: readonly string[] = []): Attrs {
  const attrs: Attrs = new Map();
  const walk = (prefix: string, o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined || (!prefix && skip.includes(k))) continue;
      const key = `${prefix}${snake(k)}`;
      if (v && typeof v === 'object' && !Array.isArray(v) && k !== 'labels') walk(`${key}.`, v as Record<string, unknown>);
      else put(attrs, key, fmtValue(v));
    }
  };
  if (obj) walk('', obj as Record<string, unknown>);
  return attrs;
}

/** Old → new column names declared by the change (rename ops or replacement column sources). */
function renamesOf(c: TableChange): Map<string, string> {
  const renames = new Map<string, string>();
  for (const op of c.ops ?? []) if (op.op === 'rename_column') renames.set(op.from.toLowerCase(), op.to);
  for (const [to, from] of Object.entries(c.replace?.columnSources ?? {})) {
    if (from && from.toLowerCase() !== to.toLowerCase()) renames.set(from.toLowerCase(), to);
  }
  return renames;
}

function forces(key: string, reasons: readonly Reason[]): boolean {
  const k = key.toLowerCase();
  return reasons.some((r) => {
    if (!r.forcesReplacement || !r.path) return false;
    const p = r.path.toLowerCase();
    return p === k || p.startsWith(`${k}.`) || (k.startsWith(`${p}.`) && !k.slice(p.length + 1).includes('.description'));
  });
}

function diffAttrs(before: Attrs, after: Attrs, reasons: readonly Reason[], all: LineSign | null): { lines: AttrLine[]; hidden: number } {
  const lines: AttrLine[] = [];
  let hidden = 0;
  if (all === '+') for (const a of after.values()) lines.push({ sign: '+', key: a.key, value: a.value });
  else if (all === '-') for (const b of before.values()) lines.push({ sign: '-', key: b.key, value: b.value });
  else {
    for (const [k, b] of before) {
      const a = after.get(k);
      if (!a) lines.push({ sign: '-', key: b.key, value: b.value, forcesReplacement: forces(b.key, reasons) });
      else if (a.value !== b.value || a.key !== b.key) {
        lines.push({ sign: '~', key: a.key, value: b.value, after: a.value, forcesReplacement: forces(a.key, reasons) });
      } else hidden++;
    }
    for (const [k, a] of after) {
      if (!before.has(k)) lines.push({ sign: '+', key: a.key, value: a.value, forcesReplacement: forces(a.key, reasons) });
    }
  }
  return { lines, hidden };
}

const ROW_SIGNS = { insert: '+', update: '~', delete: '-', quarantine: '!' } as const;

/** One line per category with sample keys: the keys a reviewer can look up. */
function rowsLines(c: RowsChange): AttrLine[] {
  const counts = c.after ?? { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 0 };
  const out: AttrLine[] = [];
  for (const k of ['insert', 'update', 'delete', 'quarantine'] as const) {
    if (counts[k] === 0) continue;
    const keys = c.sampleKeys[k];
    out.push({ sign: ROW_SIGNS[k], key: k, value: `${keys.join(', ')}${counts[k] > keys.length ? `, … (${formatCount(counts[k] - keys.length)} more)` : ''}` });
  }
  return out;
}

/** What a change looks like on screen, independent of colour and format. */
export function describeChange(change: Change): ChangeView {
  const action = change.action === 'no-op' ? 'update' : change.action;
  const all: LineSign | null = action === 'create' ? '+' : action === 'delete' ? '-' : null;
  let lines: AttrLine[] = [];
  let hidden = 0;
  if (change.type === 'rows') {
    lines = rowsLines(change);
  } else if (change.type === 'table') {
    const renames = renamesOf(change);
    const before = change.before ? flattenTable(change.before, (n) => n) : new Map();
    // Compare renamed columns under their new names, then say they were renamed.
    const beforeRenamed = change.before ? flattenTable(change.before, (n) => renames.get(n.toLowerCase()) ?? n) : new Map();
    const after = change.after ? flattenTable(change.after) : new Map();
    ({ lines, hidden } = diffAttrs(all ? before : beforeRenamed, after, change.reasons, all));
    if (!all) {
      for (const [from, to] of renames) {
        const orig = change.before?.columns.find((c) => c.name.toLowerCase() === from)?.name ?? from;
        lines.unshift({ sign: '~', key: `columns.${to}`, value: `(renamed from ${orig})` });
      }
    }
  } else {
    const skip = change.type === 'dataset' ? ['name'] : [];
    ({ lines, hidden } = diffAttrs(flattenObject(change.before, skip), flattenObject(change.after, skip), change.reasons, all));
  }
  const notes = change.reasons
    // The deletion-protection reason is shown once, as the `blocked:` note below.
    .filter((r) => (r.forcesReplacement || change.action === 'delete') && !(change.blocked && r.message === change.blocked))
    .map((r) => `${r.message}${r.rule ? ` [${r.rule}]` : ''}`);
  if (change.blocked) notes.push(`blocked: ${change.blocked}`);
  return {
    change,
    symbol: SYMBOL[action],
    header: change.type === 'rows' ? `# ${change.address} will be synced from ${rowsSourcePhrase(change)}` : `# ${change.address} ${actionPhrase(change.action)}`,
    lines,
    hidden,
    notes,
  };
}

// ---- text rendering ----

export interface TextStyle {
  color: boolean;
}

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', dim: '\x1b[2m' };

function paint(on: boolean, code: string, s: string): string {
  return on ? `${code}${s}${ANSI.reset}` : s;
}

function paintSign(on: boolean, sign: string): string {
  if (!on) return sign;
  if (sign === '+') return paint(on, ANSI.green, sign);
  if (sign === '-') return paint(on, ANSI.red, sign);
  if (sign === '-/+') return `${paint(on, ANSI.red, '-')}/${paint(on, ANSI.green, '+')}`;
  return paint(on, ANSI.yellow, sign);
}

/** The block of one change, as lines (symbol column padded so `-/+` lines up). */
export function renderChangeLines(view: ChangeView, style: TextStyle): string[] {
  const on = style.color;
  const out: string[] = [];
  out.push(`  ${paint(on, ANSI.bold, view.header)}`);
  for (const n of view.notes) out.push(`  ${paint(on, ANSI.dim, `# (${n})`)}`);
  if (view.change.type === 'rows') {
    // Data is counts and sample keys, not attributes: one headline, one line per category.
    out.push(`${' '.repeat(3 - view.symbol.length)}${paintSign(on, view.symbol)} ${rowsHeadline(view.change)}`);
    const width = Math.max(0, ...view.lines.map((l) => l.key.length));
    for (const l of view.lines) out.push(`      ${paintSign(on, l.sign)} ${`${l.key}:`.padEnd(width + 1)} ${l.value}`);
    return out;
  }
  out.push(`${' '.repeat(3 - view.symbol.length)}${paintSign(on, view.symbol)} ${view.change.address} {`);
  const width = Math.max(0, ...view.lines.map((l) => l.key.length));
  for (const l of view.lines) {
    const value = l.sign === '~' && l.after !== undefined ? `${l.value} → ${l.after}` : l.value;
    const mark = l.forcesReplacement ? ` ${paint(on, ANSI.red, '# forces replacement')}` : '';
    out.push(`      ${paintSign(on, l.sign)} ${l.key.padEnd(width)} = ${value}${mark}`);
  }
  if (view.hidden > 0) {
    out.push(`        ${paint(on, ANSI.dim, `# (${view.hidden} unchanged attribute${view.hidden === 1 ? '' : 's'} hidden)`)}`);
  }
  out.push('    }');
  return out;
}

/** The whole plan as terminal text, ending with the summary line or "No changes.". */
export function renderPlanText(plan: Plan, style: TextStyle = { color: false }): string {
  const on = style.color;
  const changes = visibleChanges(plan);
  const out: string[] = [];
  const failed = plan.diagnostics.some((d) => d.severity === 'error');
  if (changes.length === 0) {
    // "matches the spec" would contradict the error printed below.
    if (!failed) out.push(paint(on, ANSI.bold + ANSI.green, NO_CHANGES));
  } else {
    const actions = new Set(changes.map((c) => c.action));
    out.push(
      `mlbridge compared the spec with ${plan.target.location}. Resource actions are indicated with the following symbols:`,
    );
    for (const a of ['create', 'update', 'delete', 'replace'] as const) {
      if (actions.has(a)) out.push(LEGEND[a].replace(SYMBOL[a], paintSign(on, SYMBOL[a])));
    }
    out.push('', 'mlbridge will perform the following actions:', '');
    for (const c of changes) {
      out.push(...renderChangeLines(describeChange(c), style), '');
    }
    out.push(paint(on, ANSI.bold, summaryLine(plan.summary)));
    const rows = rowsSummaryLine(plan.summary);
    if (rows) out.push(paint(on, ANSI.bold, rows));
    const destructive = destructiveChanges(plan);
    if (destructive.length) {
      out.push(
        '',
        paint(on, ANSI.yellow, `Warning: ${destructive.length} destructive change${destructive.length === 1 ? '' : 's'} (apply needs --allow-destructive):`),
        ...destructive.map((c) => `  - ${destructiveNote(c)}`),
      );
    }
    const blocked = changes.filter((c) => c.blocked);
    if (blocked.length) {
      out.push(
        '',
        paint(on, ANSI.red, `Deletion protection blocks ${blocked.length} change${blocked.length === 1 ? '' : 's'}; apply will refuse this plan:`),
        ...blocked.map((c) => `  - ${c.blocked}`),
      );
    }
  }
  if (plan.diagnostics.length) {
    // A diagnostic without a source line would otherwise start bare; errors read as errors.
    if (out.length) out.push('');
    out.push(...plan.diagnostics.map((d) => `${d.severity === 'error' && !d.source ? 'Error: ' : ''}${formatDiagnostic(d)}`));
  }
  return `${out.join('\n')}\n`;
}
