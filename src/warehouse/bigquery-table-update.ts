// Changing a BigQuery table in place (Warehouse.updateTable): the table ops in order, as
// tables.patch calls (columns added or relaxed, descriptions, labels, clustering, partition
// options) sent with the etag as If-Match, and DDL query jobs for DROP COLUMN, RENAME COLUMN
// and SET DATA TYPE. Consecutive patch ops are sent as one patch, flushed before each DDL.

import { tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import type { TableOp } from './warehouse.js';
import { staleEtag } from './bigquery-call.js';
import type { BigQueryCalls } from './bigquery-call.js';
import {
  DELETION_PROTECTION_LABEL,
  fromRestField,
  fromRestTable,
  quoteIdent,
  restPartitioning,
  sqlType,
  toRestField,
} from './bigquery-schema.js';
import type { RestField } from './bigquery-schema.js';
import { findField } from './bigquery-sql.js';

/** Applies `ops` to `dataset.name`; with `expectedEtag`, refuses a table changed since it was read. */
export async function updateTable(api: BigQueryCalls, dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
  const resource = tableAddress('bigquery', dataset, name);
  let current = await api.getRawTable(dataset, name);
  if (!current) throw new MlbridgeError('TARGET_ERROR', `${resource}: tables.get: table not found`, { resource });
  if (expectedEtag !== undefined && current.etag !== expectedEtag) throw staleEtag(resource, expectedEtag, current.etag);

  let patch: Record<string, unknown> = {};
  let fields: RestField[] = structuredClone(current.schema?.fields ?? []);
  const flush = async () => {
    if (Object.keys(patch).length === 0) return;
    current = await api.patchTable(resource, dataset, name, { ...patch, etag: current!.etag });
    patch = {};
    fields = structuredClone(current.schema?.fields ?? []);
  };
  const ddl = async (sql: string) => {
    await flush();
    await api.query(resource, sql);
    const after = await api.getRawTable(dataset, name);
    if (!after) throw new MlbridgeError('TARGET_ERROR', `${resource}: table disappeared during update`, { resource });
    current = after;
    fields = structuredClone(current.schema?.fields ?? []);
  };
  const labelPatch = (): Record<string, string | null> => (patch.labels as Record<string, string | null> | undefined) ?? {};
  const t = api.ref(dataset, name);

  for (const op of ops) {
    switch (op.op) {
      case 'add_column': {
        const list = op.parent.length === 0 ? fields : (findField(fields, op.parent, resource).fields ??= []);
        list.push(toRestField(op.column));
        patch.schema = { fields };
        break;
      }
      case 'relax_column':
        findField(fields, op.path, resource).mode = 'NULLABLE';
        patch.schema = { fields };
        break;
      case 'set_column_description': {
        const f = findField(fields, op.path, resource);
        if (op.description === undefined) delete f.description;
        else f.description = op.description;
        patch.schema = { fields };
        break;
      }
      case 'set_description':
        patch.description = op.description ?? null;
        break;
      case 'set_labels': {
        const lp = labelPatch();
        for (const k of Object.keys(current.labels ?? {})) {
          if (k !== DELETION_PROTECTION_LABEL && !(k in op.labels)) lp[k] = null;
        }
        Object.assign(lp, op.labels);
        patch.labels = lp;
        break;
      }
      case 'set_deletion_protection': {
        const lp = labelPatch();
        lp[DELETION_PROTECTION_LABEL] = op.enabled ? 'true' : null;
        patch.labels = lp;
        break;
      }
      case 'set_clustering':
        patch.clustering = op.clustering && op.clustering.length > 0 ? { fields: op.clustering } : null;
        break;
      case 'set_partition_options': {
        const layout = fromRestTable(dataset, name, current).partitioning;
        if (!layout) throw new MlbridgeError('TARGET_ERROR', `${resource}: the table is not partitioned; its partition options cannot be set`, { resource });
        const { requireFilter: _r, expirationDays: _e, ...kept } = layout;
        const next = { ...kept, ...(op.expirationDays !== undefined ? { expirationDays: op.expirationDays } : {}) };
        patch.timePartitioning = restPartitioning(next, true);
        // The table-level field: the one inside timePartitioning is deprecated.
        patch.requirePartitionFilter = op.requireFilter;
        break;
      }
      case 'drop_column':
        await ddl(`ALTER TABLE ${t} DROP COLUMN ${quoteIdent(op.name)}`);
        break;
      case 'rename_column':
        await ddl(`ALTER TABLE ${t} RENAME COLUMN ${quoteIdent(op.from)} TO ${quoteIdent(op.to)}`);
        break;
      case 'widen_column': {
        await flush();
        const top = findField(fields, [op.path[0]!], resource);
        // SET DATA TYPE works on top-level columns; a nested widening restates the whole STRUCT.
        const col = structuredClone(top);
        findField([col], op.path, resource).type = toRestField({ name: '', type: op.to, mode: 'NULLABLE' }).type;
        await ddl(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(col.name)} SET DATA TYPE ${sqlType(fromRestField(col))}`);
        break;
      }
      default: {
        const never: never = op;
        throw new MlbridgeError('TARGET_ERROR', `${resource}: unknown table op ${JSON.stringify(never)}`, { resource });
      }
    }
  }
  await flush();
}
