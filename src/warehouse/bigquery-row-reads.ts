// Reading rows back from BigQuery by query job: a SELECT's result pages decoded like
// tabledata.list (bigquery-rows.ts), and the rows of given keys in batches of parameterized
// queries. Separate from bigquery-stage.ts because the warehouse reads current and raw rows
// by key (serve, events staging) without any stage; the stage uses selectRows for its
// diff counts.

import { tableAddress } from '../model/address.js';
import type { BigQueryCalls } from './bigquery-call.js';
import { decodeRow } from './bigquery-rows.js';
import { quoteIdent } from './bigquery-schema.js';
import type { RestField } from './bigquery-schema.js';
import type { Row } from './warehouse.js';

const KEYS_PER_QUERY = 10_000;

/** Runs a SELECT as a query job and decodes every result row (INT64 as strings, etc.). */
export async function selectRows(api: BigQueryCalls, resource: string, sql: string, parameters?: Record<string, unknown>[]): Promise<Row[]> {
  const meta = await api.runJob(resource, 'jobs.insert (query)', {
    query: { query: sql, useLegacySql: false, ...(parameters ? { parameterMode: 'NAMED', queryParameters: parameters } : {}) },
  });
  const ref = meta.jobReference as { jobId: string; location?: string };
  const job = api.bq.job(ref.jobId, ref.location ? { location: ref.location } : {});
  const out: Row[] = [];
  let pageToken: string | undefined;
  do {
    const [rows, , resp] = await api.call(resource, 'jobs.getQueryResults', () =>
      api.timed(
        () =>
          job.getQueryResults({ autoPaginate: false, skipParsing: true, maxResults: 10_000, ...(pageToken ? { pageToken } : {}) } as never) as unknown as Promise<
            [Array<{ f: Array<{ v: unknown }> }>, unknown, { schema?: { fields?: RestField[] }; pageToken?: string }]
          >,
      ),
    );
    const fields = resp?.schema?.fields ?? [];
    for (const r of rows ?? []) out.push(decodeRow(fields, r));
    pageToken = resp?.pageToken;
  } while (pageToken);
  return out;
}


/**
 * The rows of these keys (a parameterized query), decoded like tabledata.list; with
 * `columns`, only those of them the table has, and `_key` (BigQuery bills the bytes of the
 * columns a query reads).
 */
export async function readRowsByKey(api: BigQueryCalls, dataset: string, table: string, keys: string[], columns?: readonly string[]): Promise<Row[]> {
  if (keys.length === 0) return [];
  const resource = tableAddress('bigquery', dataset, table);
  const raw = await api.getRawTable(dataset, table);
  if (!raw) return [];
  const fields = (raw.schema?.fields ?? []).map((f) => f.name);
  const select = columns ? fields.filter((f) => f === '_key' || columns.includes(f)).map(quoteIdent).join(', ') : '*';
  const out: Row[] = [];
  for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
    const batch = keys.slice(i, i + KEYS_PER_QUERY);
    const param = { name: 'keys', parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } }, parameterValue: { arrayValues: batch.map((value) => ({ value })) } };
    out.push(...(await selectRows(api, resource, `SELECT ${select} FROM ${api.ref(dataset, table)} WHERE _key IN UNNEST(@keys)`, [param])));
  }
  return out;
}
