// The GoogleSQL that converts the mapped columns out of a staged record's `row` JSON text
// into typed values (JSON_VALUE / JSON_QUERY / JSON_QUERY_ARRAY with a CAST per column
// type, RECORD and REPEATED included), for the stage's MERGE into current. Separate from
// bigquery-stage.ts because it is a pure function of the column schema, apart from the
// jobs the stage runs.

import type { ColumnSchema } from '../model/schema.js';
import { quoteIdent, quoteString } from './bigquery-schema.js';

/** A JSONPath step: `$.name`, or `$."odd name"` for names that are not plain identifiers. */
export function jsonPath(parent: string, name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `${parent}.${name}` : `${parent}."${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A scalar of `col`'s type from `text`, the STRING the row JSON holds for it (record/coerce.ts conventions). */
function fromText(col: ColumnSchema, text: string): string {
  switch (col.type) {
    case 'STRING':
      return text;
    case 'BYTES':
      return `FROM_BASE64(${text})`;
    case 'FLOAT64':
      return `CAST(REPLACE(${text}, 'Infinity', 'inf') AS FLOAT64)`; // coerce.ts writes Infinity; GoogleSQL reads inf
    case 'GEOGRAPHY':
      return `IF(STARTS_WITH(${text}, '{'), ST_GEOGFROMGEOJSON(${text}), ST_GEOGFROMTEXT(${text}))`;
    default:
      return `CAST(${text} AS ${col.type})`;
  }
}

/** A STRUCT of `fields` read from the JSON text `src` at `path`. */
function structOf(fields: ColumnSchema[], src: string, path: string, depth: number): string {
  return `STRUCT(${fields.map((c) => `${fromRowJson(c, src, jsonPath(path, c.name), depth)} AS ${quoteIdent(c.name)}`).join(', ')})`;
}

/** The SQL converting the value at `path` of the JSON text `src` to column `col` (NULL when absent or null). */
export function fromRowJson(col: ColumnSchema, src: string, path: string, depth: number): string {
  const p = quoteString(path);
  if (col.mode === 'REPEATED') {
    const e = `e${depth}`;
    const o = `o${depth}`;
    const each = { ...col, mode: 'NULLABLE' as const };
    const item =
      col.type === 'RECORD' ? structOf(col.fields ?? [], e, '$', depth + 1) : col.type === 'JSON' ? `PARSE_JSON(${e})` : fromText(each, e);
    const list = col.type === 'RECORD' || col.type === 'JSON' ? `JSON_QUERY_ARRAY(${src}, ${p})` : `JSON_VALUE_ARRAY(${src}, ${p})`;
    return `ARRAY(SELECT ${item} FROM UNNEST(${list}) AS ${e} WITH OFFSET AS ${o} ORDER BY ${o})`;
  }
  if (col.type === 'RECORD') return `IF(COALESCE(JSON_QUERY(${src}, ${p}), 'null') = 'null', NULL, ${structOf(col.fields ?? [], src, path, depth)})`;
  if (col.type === 'JSON') return `PARSE_JSON(NULLIF(JSON_QUERY(${src}, ${p}), 'null'))`;
  return fromText(col, `JSON_VALUE(${src}, ${p})`);
}
