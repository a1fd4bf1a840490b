// The GoogleSQL the BigQuery adapter sends as query jobs (names quoted, tables fully
// qualified), and the column lookup its schema patches use.

import { MlbridgeError } from '../model/errors.js';
import type { ColumnSchema, TableSchema } from '../model/schema.js';
import { quoteIdent, sqlType } from './bigquery-schema.js';
import type { RestField } from './bigquery-schema.js';

/**
 * The INSERT … SELECT that fills a replacement table `into` from the old table `from`:
 * each desired column with a source column in the old table, CAST when the type changed.
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
    const same = sqlType(source) === sqlType(col);
    exprs.push(same ? quoteIdent(source.name) : `CAST(${quoteIdent(source.name)} AS ${sqlType(col)})`);
  }
  if (targets.length === 0) return undefined;
  return `INSERT INTO ${into} (${targets.join(', ')}) SELECT ${exprs.join(', ')} FROM ${from}`;
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
