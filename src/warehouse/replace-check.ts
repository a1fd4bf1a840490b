// The rows a table replacement could not copy into the stricter schema: NULLs in a column the
// spec makes REQUIRED (or a new REQUIRED column, NULL in every existing row) and values a changed
// type cannot hold. Counted with one aggregate query over the old table, by plan (to predict the
// failure) and by replaceTable before it copies anything (so a refused replace leaves no half-done
// copy, and both warehouses say the same thing instead of their own error text).

import { MlbridgeError } from '../model/errors.js';
import type { ColumnSchema, TableSchema } from '../model/schema.js';
import type { ReplaceSpec } from './warehouse.js';

/** One condition a copied row must meet. `source` is the old column (absent: a new column). */
export interface CopyCheck {
  column: string;
  source?: string;
  rule: 'required' | 'convert';
  /** For `convert`: the old and the new type. */
  from?: string;
  to?: string;
}

export interface UncopyableRows extends CopyCheck {
  rows: number;
}

/** How a warehouse's SQL spells the pieces of the counting query. */
export interface CheckDialect {
  quote(name: string): string;
  /** `expr` as `to`'s type, NULL when the value cannot be converted. */
  tryCast(expr: string, to: ColumnSchema): string;
  countIf(condition: string): string;
}

const scalar = (c: ColumnSchema) => c.type !== 'RECORD' && c.mode !== 'REPEATED';

/** The checks copying `oldCols` into `desired` needs (RECORD and REPEATED conversions are left to the copy). */
export function copyChecks(oldCols: ColumnSchema[], desired: TableSchema, replace: ReplaceSpec): CopyCheck[] {
  const checks: CopyCheck[] = [];
  for (const col of desired.columns) {
    const src = replace.columnSources[col.name];
    const old = src === undefined ? undefined : oldCols.find((c) => c.name.toLowerCase() === src.toLowerCase());
    if (col.mode === 'REQUIRED' && old?.mode !== 'REQUIRED') {
      checks.push({ column: col.name, ...(old ? { source: old.name } : {}), rule: 'required' });
    }
    if (old && scalar(old) && scalar(col) && old.type !== col.type) {
      checks.push({ column: col.name, source: old.name, rule: 'convert', from: old.type, to: col.type });
    }
  }
  return checks;
}

/** `SELECT <one count per check> FROM <from>`; undefined when there is nothing to check. */
export function checkQuery(d: CheckDialect, from: string, desired: TableSchema, checks: CopyCheck[]): string | undefined {
  if (checks.length === 0) return undefined;
  const counts = checks.map((c, i) => {
    const src = c.source === undefined ? undefined : d.quote(c.source);
    let cond: string;
    if (c.rule === 'required') cond = src === undefined ? 'TRUE' : `${src} IS NULL`;
    else cond = `${src} IS NOT NULL AND ${d.tryCast(src!, desired.columns.find((x) => x.name === c.column)!)} IS NULL`;
    return `${d.countIf(cond)} AS ${d.quote(`c${i}`)}`;
  });
  return `SELECT ${counts.join(', ')} FROM ${from}`;
}

/** The checks some rows fail, with their counts, from the query's one result row. */
export function uncopyable(checks: CopyCheck[], row: Record<string, unknown> | undefined): UncopyableRows[] {
  return checks.map((c, i) => ({ ...c, rows: Number(row?.[`c${i}`] ?? 0) })).filter((c) => c.rows > 0);
}

/** `1 existing row holds a value` / `3 existing rows hold values`. */
const rowsHold = (n: number, what: 'NULL' | 'value') =>
  (n === 1 ? '1 existing row holds ' : `${n} existing rows hold `) + (what === 'NULL' ? 'NULL' : n === 1 ? 'a value' : 'values');

/** What the rows hold and what the user can do, one clause per failed check. */
export function describeUncopyable(u: UncopyableRows): string {
  if (u.rule === 'convert') {
    return `${rowsHold(u.rows, 'value')} in column ${u.source} that cannot be converted from ${u.from} to ${u.to}; fix or delete those rows, or keep ${u.column} ${u.from}`;
  }
  if (u.source === undefined) {
    return `${u.rows === 1 ? '1 existing row' : `${u.rows} existing rows`} would hold NULL in the new column ${u.column}, which the spec makes REQUIRED; add ${u.column} as NULLABLE first, apply (which fills it), then make it REQUIRED`;
  }
  return `${rowsHold(u.rows, 'NULL')} in column ${u.source}, which the spec makes REQUIRED; fill or delete those rows, or keep ${u.column} NULLABLE`;
}

/** The replace of `resource` refused before anything was copied; details.uncopyable lists the counts. */
export function uncopyableError(resource: string, found: UncopyableRows[]): MlbridgeError {
  return new MlbridgeError(
    'TARGET_ERROR',
    `Replacing ${resource} failed; the old table and its rows are kept: ${found.map(describeUncopyable).join('; ')}`,
    { resource, details: { uncopyable: found } },
  );
}
