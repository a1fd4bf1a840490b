// Replacing a BigQuery table whose change cannot be made in place: copy-and-swap through
// `<t>__mlbridge_new`, resumable after a crash at any step (see replaceTable).

import { tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import type { TableSchema } from '../model/schema.js';
import type { ReplaceSpec } from './warehouse.js';
import { staleEtag } from './bigquery-call.js';
import type { BigQueryCalls } from './bigquery-call.js';
import { REPLACEMENT_SUFFIX, REPLACE_STATE_LABEL, fromRestTable, quoteIdent, sameColumns, sqlType, tableLabels, toRestTable } from './bigquery-schema.js';
import type { RestTable } from './bigquery-schema.js';
import { copyStatement } from './bigquery-sql.js';
import { selectRows } from './bigquery-row-reads.js';
import { checkQuery, copyChecks, uncopyable, uncopyableError } from './replace-check.js';
import type { CheckDialect, UncopyableRows } from './replace-check.js';

const bigQueryCheck: CheckDialect = {
  quote: quoteIdent,
  tryCast: (expr, to) => `SAFE_CAST(${expr} AS ${sqlType(to, false)})`,
  countIf: (cond) => `COUNTIF(${cond})`,
};

/**
 * The rows of `old` (the table as tables.get returned it) that copying into `desired` would
 * refuse, counted by one query job: BigQuery would otherwise fail the copy half-way with its
 * own text ("Required field x cannot be null"), which is not ours to parse.
 */
export async function countUncopyable(api: BigQueryCalls, old: RestTable, desired: TableSchema, replace: ReplaceSpec): Promise<UncopyableRows[]> {
  const { dataset, name } = desired;
  const checks = copyChecks(fromRestTable(dataset, name, old).columns, desired, replace);
  const query = checkQuery(bigQueryCheck, api.ref(dataset, name), desired, checks);
  if (query === undefined) return [];
  return uncopyable(checks, (await selectRows(api, tableAddress('bigquery', dataset, name), query))[0]);
}

/**
 * Copy-and-swap. Sequence, and what a crash after each step leaves (a re-run converges):
 *  1. tables.insert `<t>__mlbridge_new` (desired schema, label mlbridge-replace=copying)
 *     → crash: old intact; the re-run deletes the unfinished copy and starts over.
 *  2. INSERT INTO new SELECT CAST(...) FROM old (query job)        → same as 1.
 *  3. tables.patch new: mlbridge-replace=copied                    → crash: old intact, copy
 *     complete; the re-run (still a replace) reuses the copy when it matches the desired schema.
 *  4. tables.delete old                                            → crash: only the finished copy
 *     exists; the re-run plans a create and createTable promotes the copy (steps 5-6).
 *  5. ALTER TABLE new RENAME TO old (query job)                   → crash: the table is complete
 *     but still carries mlbridge-replace=copied; the re-run plans a label update that removes it.
 *  6. tables.patch: remove mlbridge-replace.
 * The old data is deleted only in step 4, after the copy is complete.
 */
export async function replaceTable(api: BigQueryCalls, desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
  const { dataset, name } = desired;
  const resource = tableAddress('bigquery', dataset, name);
  const newName = name + REPLACEMENT_SUFFIX;
  const old = await api.getRawTable(dataset, name);
  let next = await api.getRawTable(dataset, newName);
  if (!old) {
    if (next?.labels?.[REPLACE_STATE_LABEL] === 'copied') return recoverCopy(api, resource, desired, next);
    throw new MlbridgeError('TARGET_ERROR', `${resource}: cannot replace: table not found`, { resource });
  }
  if (expectedEtag !== undefined && old.etag !== expectedEtag) throw staleEtag(resource, expectedEtag, old.etag);

  if (next && !isFinishedCopy(next, desired)) {
    await api.deleteRaw(resource, dataset, newName, true);
    next = null;
  }
  if (!next) {
    const refused = await countUncopyable(api, old, desired, replace);
    if (refused.length > 0) throw uncopyableError(resource, refused);
    const body = toRestTable(api.project, { ...desired, name: newName });
    body.labels = { ...body.labels, [REPLACE_STATE_LABEL]: 'copying' };
    const created = await api.insertTable(resource, dataset, body);
    const oldCols = fromRestTable(dataset, name, old).columns;
    const copy = copyStatement(api.ref(dataset, newName), api.ref(dataset, name), desired, oldCols, replace.columnSources);
    if (copy !== undefined) {
      try {
        await api.query(resource, copy);
      } catch (e) {
        // The old table is intact and the copy unfinished: don't leave it in the user's
        // dataset (a spec that stops asking for this replace would never clean it up).
        await api.deleteRaw(resource, dataset, newName, true).catch(() => undefined);
        throw e;
      }
    }
    const fresh = (await api.getRawTable(dataset, newName)) ?? created;
    await api.patchTable(resource, dataset, newName, { labels: { [REPLACE_STATE_LABEL]: 'copied' }, etag: fresh.etag });
  }
  await api.deleteRaw(resource, dataset, name, true);
  await promoteReplacement(api, resource, desired);
}

function isFinishedCopy(t: RestTable, desired: TableSchema): boolean {
  if (t.labels?.[REPLACE_STATE_LABEL] !== 'copied') return false;
  const obs = fromRestTable(desired.dataset, desired.name, t);
  const samePart =
    (obs.partitioning?.type ?? '') === (desired.partitioning?.type ?? '') &&
    (obs.partitioning?.field ?? '') === (desired.partitioning?.field ?? '');
  return samePart && sameColumns(obs.columns, desired.columns);
}

/**
 * The old table is gone and a finished copy exists: it holds the only data, so it is
 * always promoted. When the spec changed meanwhile, say so instead of pretending the
 * table now matches it.
 */
export async function recoverCopy(api: BigQueryCalls, resource: string, desired: TableSchema, copy: RestTable): Promise<void> {
  const matches = isFinishedCopy(copy, desired);
  const layout = fromRestTable(desired.dataset, desired.name, copy);
  await promoteReplacement(api, resource, matches ? desired : layout);
  if (!matches) {
    throw new MlbridgeError(
      'TARGET_ERROR',
      `${resource}: restored the table from an interrupted replace; its layout differs from the spec, run plan and apply again`,
      { resource },
    );
  }
}

/** Steps 5-6: rename the finished copy into place and drop the marker label. */
async function promoteReplacement(api: BigQueryCalls, resource: string, desired: TableSchema): Promise<void> {
  const { dataset, name } = desired;
  await api.query(resource, `ALTER TABLE ${api.ref(dataset, name + REPLACEMENT_SUFFIX)} RENAME TO ${quoteIdent(name)}`);
  const now = await api.getRawTable(dataset, name);
  if (!now) throw new MlbridgeError('TARGET_ERROR', `${resource}: table missing after rename`, { resource });
  const labels: Record<string, string | null> = { ...tableLabels(desired), [REPLACE_STATE_LABEL]: null };
  for (const k of Object.keys(now.labels ?? {})) if (!(k in labels)) labels[k] = null;
  await api.patchTable(resource, dataset, name, { labels, etag: now.etag });
}
