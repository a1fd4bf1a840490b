// Changing a DuckDB table in place (the warehouse's updateTable: one ALTER per operation, then
// the recorded schema in the table COMMENT, see duckdb-catalog.ts) or by rebuilding it under
// a new schema (replaceTable: a temp table filled from the old one, then swapped in). Both run
// in the caller's transaction, so a failure leaves the old table as it was.

import type { DuckDBConnection } from '@duckdb/node-api';
import { MlbridgeError } from '../model/errors.js';
import type { ObservedTable, TableSchema } from '../model/schema.js';
import type { ReplaceSpec, TableOp } from './warehouse.js';
import { columnAt, findCol, metaComment } from './duckdb-catalog.js';
import type { DuckSql } from './duckdb-catalog.js';
import { replaceFailure, duckMessage } from './duckdb-errors.js';
import { columnDefinition, duckType, qualified, quoteIdent, quoteLiteral } from './sql-duckdb.js';
import { checkQuery, copyChecks, uncopyable, uncopyableError } from './replace-check.js';
import type { CheckDialect, UncopyableRows } from './replace-check.js';

const duckCheck: CheckDialect = {
  quote: quoteIdent,
  tryCast: (expr, to) => `TRY_CAST(${expr} AS ${duckType(to)})`,
  countIf: (cond) => `count(*) FILTER (WHERE ${cond})`,
};

/** The rows of `o` that replacing it with `desired` could not copy (see replace-check.ts). */
export async function countUncopyable(sql: DuckSql, c: DuckDBConnection, o: ObservedTable, desired: TableSchema, replace: ReplaceSpec): Promise<UncopyableRows[]> {
  const checks = copyChecks(o.columns, desired, replace);
  const query = checkQuery(duckCheck, qualified(o.dataset, o.name), desired, checks);
  if (query === undefined) return [];
  return uncopyable(checks, (await sql.rows(c, query))[0]);
}

/** Applies `ops` to the table `o` (as observed, etag checked), `resource` its address. */
export async function alterTable(sql: DuckSql, c: DuckDBConnection, o: ObservedTable, ops: TableOp[], resource: string): Promise<void> {
  const { etag: _e, owned: _o, numRows: _n, ...schema } = structuredClone(o);
  const q = qualified(o.dataset, o.name);
  const retype = async (top: string) => {
    const col = columnAt(schema.columns, [top], resource);
    await sql.run(c, `ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(col.name)} SET DATA TYPE ${duckType(col)}`);
  };
  for (const op of ops) {
    switch (op.op) {
      case 'add_column':
        if (op.parent.length === 0) {
          await sql.run(c, `ALTER TABLE ${q} ADD COLUMN ${columnDefinition(op.column)}`);
          schema.columns.push(structuredClone(op.column));
        } else {
          const parent = columnAt(schema.columns, op.parent, resource);
          parent.fields = [...(parent.fields ?? []), structuredClone(op.column)];
          // A STRUCT (or list of STRUCT) is recast by field name: existing fields keep their values, the new one is NULL.
          await retype(op.parent[0]!);
        }
        break;
      case 'relax_column': {
        const col = columnAt(schema.columns, op.path, resource);
        col.mode = 'NULLABLE';
        if (op.path.length === 1) await sql.run(c, `ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(col.name)} DROP NOT NULL`);
        break;
      }
      case 'rename_column': {
        const col = columnAt(schema.columns, [op.from], resource);
        await sql.run(c, `ALTER TABLE ${q} RENAME COLUMN ${quoteIdent(col.name)} TO ${quoteIdent(op.to)}`);
        col.name = op.to;
        break;
      }
      case 'drop_column': {
        const col = columnAt(schema.columns, [op.name], resource);
        await sql.run(c, `ALTER TABLE ${q} DROP COLUMN ${quoteIdent(col.name)}`);
        schema.columns = schema.columns.filter((x) => x !== col);
        break;
      }
      case 'widen_column': {
        const col = columnAt(schema.columns, op.path, resource);
        const before = duckType(columnAt(schema.columns, [op.path[0]!], resource));
        col.type = op.to;
        // NUMERIC → BIGNUMERIC share a DuckDB type: only the recorded BigQuery type changes.
        if (duckType(columnAt(schema.columns, [op.path[0]!], resource)) !== before) await retype(op.path[0]!);
        break;
      }
      case 'set_column_description': {
        const col = columnAt(schema.columns, op.path, resource);
        if (op.description === undefined) delete col.description;
        else col.description = op.description;
        break;
      }
      case 'set_description':
        if (op.description === undefined) delete schema.description;
        else schema.description = op.description;
        break;
      case 'set_labels':
        schema.labels = { ...op.labels };
        break;
      case 'set_clustering':
        if (op.clustering && op.clustering.length) schema.clustering = [...op.clustering];
        else delete schema.clustering;
        break;
      case 'set_deletion_protection':
        schema.deletionProtection = op.enabled;
        break;
      case 'set_partition_options':
        // Recorded only: DuckDB has no partitions to expire or to require a filter on.
        if (schema.partitioning) {
          const { expirationDays: _e, requireFilter: _r, ...rest } = schema.partitioning;
          schema.partitioning = {
            ...rest,
            ...(op.expirationDays !== undefined ? { expirationDays: op.expirationDays } : {}),
            ...(op.requireFilter ? { requireFilter: true } : {}),
          };
        }
        break;
      default: {
        const unknown: never = op;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: unsupported table operation ${JSON.stringify(unknown)}`, { resource });
      }
    }
  }
  await sql.run(c, `COMMENT ON TABLE ${q} IS ${quoteLiteral(metaComment(schema))}`);
}

/** Replaces the table `o` (as observed, etag checked) with `desired`, carrying the columns `replace` names. */
export async function rebuildTable(sql: DuckSql, c: DuckDBConnection, o: ObservedTable, desired: TableSchema, replace: ReplaceSpec, resource: string): Promise<void> {
  if (o.deletionProtection && desired.deletionProtection) {
    throw new MlbridgeError('TARGET_ERROR', `${resource} has deletion protection; it cannot be replaced`, { resource });
  }
  const refused = await countUncopyable(sql, c, o, desired, replace);
  if (refused.length > 0) throw uncopyableError(resource, refused);
  const oldQ = qualified(o.dataset, o.name);
  const tmp = `${o.name}__mlbridge_replace`;
  const tmpQ = qualified(o.dataset, tmp);
  try {
    await sql.run(c, `DROP TABLE IF EXISTS ${tmpQ}`);
    await sql.run(c, `CREATE TABLE ${tmpQ} (${desired.columns.map((col) => columnDefinition(col)).join(', ')})`);
    const carried = desired.columns.filter((col) => {
      const src = replace.columnSources[col.name];
      return src !== undefined && findCol(o.columns, src);
    });
    if (carried.length > 0) {
      const targets = carried.map((col) => quoteIdent(col.name)).join(', ');
      const exprs = carried.map((col) => `CAST(${quoteIdent(findCol(o.columns, replace.columnSources[col.name]!)!.name)} AS ${duckType(col)})`).join(', ');
      await sql.run(c, `INSERT INTO ${tmpQ} (${targets}) SELECT ${exprs} FROM ${oldQ}`);
    } else {
      await sql.run(c, `INSERT INTO ${tmpQ} SELECT ${desired.columns.map(() => 'NULL').join(', ')} FROM ${oldQ}`);
    }
    await sql.run(c, `DROP TABLE ${oldQ}`);
    await sql.run(c, `ALTER TABLE ${tmpQ} RENAME TO ${quoteIdent(desired.name)}`);
    await sql.run(c, `COMMENT ON TABLE ${qualified(o.dataset, desired.name)} IS ${quoteLiteral(metaComment(desired))}`);
  } catch (e) {
    throw new MlbridgeError('TARGET_ERROR', `Replacing ${resource} failed; the old table and its rows are kept: ${replaceFailure(duckMessage(e), tmp)}`, {
      resource,
      cause: e,
    });
  }
}
