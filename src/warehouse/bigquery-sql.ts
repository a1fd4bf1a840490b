// The GoogleSQL the BigQuery adapter sends as query jobs (names quoted, tables fully
// qualified), and the column lookup its schema patches use.

import { MlbridgeError } from '../model/errors.js';
import type { ColumnSchema, TableSchema } from '../model/schema.js';
import { quoteIdent, sqlType } from './bigquery-schema.js';
import type { RestField } from './bigquery-schema.js';

/**
 * The INSERT … SELECT that fills a replacement table `into` from the old table `from`:
 * each desired column with a source column in the old table, converted by carry().
 * undefined when no column carries over (nothing to copy).
 */
export function copyStatement(
  into: string,
  from: string,
  desired: TableSchema,
  oldCols: ColumnSchema[],
  columnSources: Record<string, string | undefined>,
): string | undefined {
  const targets: string[] = [];
  const exprs: string[] = [];
  for (const col of desired.columns) {
    const src = columnSources[col.name];
    if (src === undefined) continue;
    const source = oldCols.find((c) => c.name.toLowerCase() === src.toLowerCase());
    if (!source) continue;
    targets.push(quoteIdent(col.name));
    exprs.push(carry(quoteIdent(source.name), source, col, { n: 0 }));
  }
  if (targets.length === 0) return undefined;
  return `INSERT INTO ${into} (${targets.join(', ')}) SELECT ${exprs.join(', ')} FROM ${from}`;
}

/**
 * The expression turning a value of column `from` into one of column `to`. STRUCTs are
 * built field by field, by name: BigQuery casts a STRUCT only to one with as many fields,
 * and by position ("Invalid cast from STRUCT<city, zip> to STRUCT<city>"), so a CAST would
 * fail on an added or dropped nested field and swap values between reordered ones. ARRAYs
 * are rebuilt element by element (in order) when their element type changes. New nested
 * fields start NULL. `alias` numbers the UNNEST variables of nested arrays.
 */
function carry(expr: string, from: ColumnSchema, to: ColumnSchema, alias: { n: number }): string {
  if (sqlType(from) === sqlType(to)) return expr;
  if (to.mode === 'REPEATED' && from.mode === 'REPEATED') {
    const n = ++alias.n;
    const e = `_e${n}`;
    return `ARRAY(SELECT ${element(e, from, to, alias)} FROM UNNEST(${expr}) AS ${e} WITH OFFSET AS _o${n} ORDER BY _o${n})`;
  }
  // One value becomes an array of it; an array never becomes one value (BigQuery refuses
  // the CAST, naming both types, and the old table stays as it was).
  if (to.mode === 'REPEATED') return `IF(${expr} IS NULL, [], [${element(expr, from, to, alias)}])`;
  if (from.mode === 'REPEATED') return `CAST(${expr} AS ${sqlType(to)})`;
  return element(expr, from, to, alias);
}

/** A single value (or array element) of `from` as one of `to`, ignoring the REPEATED mode. */
function element(expr: string, from: ColumnSchema, to: ColumnSchema, alias: { n: number }): string {
  if (from.type === 'RECORD' && to.type === 'RECORD') {
    const fields = (to.fields ?? []).map((f) => {
      const src = (from.fields ?? []).find((x) => x.name.toLowerCase() === f.name.toLowerCase());
      const value = src ? carry(`${expr}.${quoteIdent(src.name)}`, src, f, alias) : `CAST(NULL AS ${sqlType(f)})`;
      return `${value} AS ${quoteIdent(f.name)}`;
    });
    return `IF(${expr} IS NULL, NULL, STRUCT(${fields.join(', ')}))`;
  }
  if (sqlType(from, false) === sqlType(to, false)) return expr;
  return `CAST(${expr} AS ${sqlType(to, false)})`;
}

/** MERGE of the staged rows into the table by key: matched rows are updated, the others inserted. */
export function mergeStatement(target: string, stage: string, keyColumns: string[], cols: string[]): string {
  const keys = new Set(keyColumns.map((k) => k.toLowerCase()));
  const on = keyColumns.map((k) => `T.${quoteIdent(k)} = S.${quoteIdent(k)}`).join(' AND ');
  const sets = cols.filter((c) => !keys.has(c.toLowerCase())).map((c) => `${quoteIdent(c)} = S.${quoteIdent(c)}`);
  return (
    `MERGE ${target} AS T USING ${stage} AS S ON ${on}` +
    (sets.length ? ` WHEN MATCHED THEN UPDATE SET ${sets.join(', ')}` : '') +
    ` WHEN NOT MATCHED THEN INSERT (${cols.map(quoteIdent).join(', ')}) VALUES (${cols.map((c) => `S.${quoteIdent(c)}`).join(', ')})`
  );
}

export function findField(fields: RestField[], path: string[], resource: string): RestField {
  let list = fields;
  let found: RestField | undefined;
  for (const part of path) {
    found = list.find((f) => f.name.toLowerCase() === part.toLowerCase());
    if (!found) throw new MlbridgeError('TARGET_ERROR', `${resource}: no column ${path.join('.')}`, { resource });
    list = found.fields ?? [];
  }
  if (!found) throw new MlbridgeError('TARGET_ERROR', `${resource}: empty column path`, { resource });
  return found;
}
