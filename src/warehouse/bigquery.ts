// The BigQuery target (production), through @google-cloud/bigquery (loaded lazily).
//
// - Observe: datasets.get, tables.list + tables.get (schema incl. nested, partitioning,
//   clustering, labels, description, etag; deletion protection is a label, see
//   bigquery-schema.ts). Internal tables (_mlbridge_lock, *__mlbridge_new, staging) are hidden.
// - In place: tables.patch (add columns incl. nested, relax modes, descriptions, labels,
//   clustering) sent with the etag as If-Match; DDL query jobs for DROP COLUMN,
//   RENAME COLUMN, SET DATA TYPE (see bigquery-table-update.ts). `expectedEtag` is checked
//   with a tables.get first.
// - Replace: see bigquery-replace.ts for the exact sequence and crash states.
// - Rows: readRows = tabledata.list; mergeRows = load job (NDJSON upload) into an
//   expiring staging table, then one MERGE query job, then the staging table is dropped.
// - Lock: a table `_mlbridge_lock` whose description is the LockInfo JSON. tables.insert
//   is atomic, so 409 means someone holds it. Before the dataset exists the lock is
//   provisional and becomes the table when createDataset runs (see bigquery-lock.ts).
// - Retries (ours, not the client's: autoRetry is off so each retry reaches onRetry) on
//   429, 5xx, rateLimitExceeded, backendError and request timeouts, bounded by withRetry
//   (see bigquery-call.ts).
// - Environment: BIGQUERY_EMULATOR_HOST (fake/emulator, no credentials),
//   MLBRIDGE_BIGQUERY_TIMEOUT_MS (per request, default 60 s), MLBRIDGE_BIGQUERY_MAX_ATTEMPTS,
//   MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS (default 30 min).

import { randomUUID } from 'node:crypto';
import type { BigQuery, Job } from '@google-cloud/bigquery';
import { datasetAddress, tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import { positiveIntegerEnv } from '../model/env-number.js';
import type { RetryPolicy } from '../model/retry.js';
import { OWNER_LABEL_KEY, OWNER_LABEL_VALUE } from '../model/schema.js';
import type { DatasetSchema, ObservedDataset, ObservedTable, TableSchema } from '../model/schema.js';
import type { TargetSpec } from '../spec/types.js';
import type { LockBackend, ReplaceSpec, Row, RowStage, TableOp, Warehouse } from './warehouse.js';
import type { StageTables } from '../model/staged.js';
import { BigQueryCalls, staleEtag, statusOf } from './bigquery-call.js';
import { toCallError } from './bigquery-errors.js';
import type { OnRetry } from './bigquery-call.js';
import { BigQueryLock } from './bigquery-lock.js';
import { countUncopyable, recoverCopy, replaceTable as replaceByCopy } from './bigquery-replace.js';
import type { UncopyableRows } from './replace-check.js';
import { decodeRow, encodeRow } from './bigquery-rows.js';
import {
  REPLACEMENT_SUFFIX,
  REPLACE_STATE_LABEL,
  STAGING_INFIX,
  fromRestDataset,
  fromRestTable,
  isCreatedDataset,
  isInternalTable,
  toRestDataset,
  toRestTable,
} from './bigquery-schema.js';
import { mergeStatement } from './bigquery-sql.js';
import { updateTable as updateInPlace } from './bigquery-table-update.js';
import { bigQueryEmulatorEndpoint, googleAuthClient, resolveProject } from '../google/config.js';

type BigQueryTarget = Extract<TargetSpec, { kind: 'bigquery' }>;

export interface BigQueryWarehouseOptions {
  readOnly: boolean;
  env?: NodeJS.ProcessEnv;
  onRetry?: OnRetry;
  /** Per-request timeout (default 60 s, or MLBRIDGE_BIGQUERY_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Overrides of the retry policy (tests shorten the delays). */
  retry?: Partial<RetryPolicy>;
  /** Delay between jobs.get polls (default 250 ms, doubling to 2 s). */
  jobPollMs?: number;
  /** Give up waiting for a job after this long (default 30 min, or MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS). */
  jobTimeoutMs?: number;
}

export async function createBigQueryWarehouse(target: BigQueryTarget, options: BigQueryWarehouseOptions): Promise<Warehouse> {
  const env = options.env ?? process.env;
  const project = resolveProject(target.project, env);
  const endpoint = bigQueryEmulatorEndpoint(env);
  const authClient = await googleAuthClient(env, { emulator: endpoint !== undefined, scopes: ['https://www.googleapis.com/auth/bigquery'] });
  const { BigQuery: BigQueryCtor } = await import('@google-cloud/bigquery');
  const timeout = options.timeoutMs ?? positiveIntegerEnv(env, 'MLBRIDGE_BIGQUERY_TIMEOUT_MS', 'milliseconds') ?? 60_000;
  const client = new BigQueryCtor({
    projectId: project,
    location: target.location,
    autoRetry: false,
    timeout,
    ...(endpoint ? { apiEndpoint: endpoint } : {}),
    authClient: authClient as never,
  } as ConstructorParameters<typeof BigQueryCtor>[0]); // `timeout` is read by @google-cloud/common's Service, untyped here
  // The client uses a raw BIGQUERY_EMULATOR_HOST from process.env as its base URL, which
  // breaks on a bare host:port; point it at the normalised endpoint instead.
  if (endpoint) (client as unknown as { baseUrl: string }).baseUrl = `${endpoint}/bigquery/v2`;
  // MLBRIDGE_BIGQUERY_MAX_ATTEMPTS bounds retries from the environment (CI, tests).
  const maxAttempts = positiveIntegerEnv(env, 'MLBRIDGE_BIGQUERY_MAX_ATTEMPTS', 'attempts');
  const retry = { ...(maxAttempts !== undefined ? { maxAttempts } : {}), ...options.retry };
  const jobTimeoutMs = options.jobTimeoutMs ?? positiveIntegerEnv(env, 'MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS', 'milliseconds');
  return new BigQueryWarehouse(client, project, target, { ...options, retry, ...(jobTimeoutMs ? { jobTimeoutMs } : {}) }, timeout);
}

class BigQueryWarehouse implements Warehouse {
  readonly kind = 'bigquery' as const;
  readonly location: string;
  private readonly api: BigQueryCalls;
  private readonly locks: BigQueryLock;

  constructor(
    bq: BigQuery,
    private readonly project: string,
    private readonly target: BigQueryTarget,
    private readonly options: BigQueryWarehouseOptions,
    timeoutMs: number,
  ) {
    this.location = `bigquery:${project}`;
    this.api = new BigQueryCalls(bq, project, target.dataset, target.location, options, timeoutMs);
    this.locks = new BigQueryLock(this.api, target.dataset, (what) => this.writable(what), (name) => this.getDataset(name));
  }

  private writable(what: string): void {
    if (this.options.readOnly) throw new MlbridgeError('TARGET_ERROR', `${this.location}: opened read-only; ${what} is not allowed`);
  }

  // ---- datasets -------------------------------------------------------------------

  async getDataset(name: string): Promise<ObservedDataset | null> {
    try {
      return await this.api.call(datasetAddress('bigquery', name), 'datasets.get', async () => {
        const [meta] = await this.api.timed(() => this.api.bq.dataset(name).getMetadata());
        this.api.noteDatasetLocation(name, (meta as { location?: string }).location);
        return fromRestDataset(name, meta);
      });
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  async createDataset(dataset: DatasetSchema): Promise<void> {
    this.writable('datasets.insert');
    const body = toRestDataset(this.project, dataset, this.target.location);
    const address = datasetAddress('bigquery', dataset.name);
    let attempt = 0;
    await this.api.call(address, 'datasets.insert', async () => {
      const { datasetReference: _ref, ...rest } = body;
      try {
        attempt++;
        await this.api.timed(() => this.api.bq.createDataset(dataset.name, rest as never));
      } catch (e) {
        // A retry's 409 after a lost reply: the dataset is ours when it is the one asked for.
        if (attempt > 1 && statusOf(toCallError(e)) === 409 && isCreatedDataset(await this.getDataset(dataset.name), body)) return;
        throw e;
      }
    });
    this.api.noteDatasetLocation(dataset.name, body.location);
    await this.locks.datasetCreated(dataset.name);
  }

  async deleteDataset(name: string): Promise<void> {
    this.writable('datasets.delete');
    await this.api.call(datasetAddress('bigquery', name), 'datasets.delete', async () => {
      await this.api.timed(() => this.api.bq.dataset(name).delete({ force: false }));
    });
  }

  // ---- tables: observe ------------------------------------------------------------

  async listTables(dataset: string): Promise<ObservedTable[]> {
    let names: string[];
    try {
      names = await this.api.call(datasetAddress('bigquery', dataset), 'tables.list', async () => {
        const [tables] = await this.api.timed(() => this.api.bq.dataset(dataset).getTables({ autoPaginate: true }));
        return tables.map((t) => t.id as string);
      });
    } catch (e) {
      if (statusOf(e) === 404) return [];
      throw e;
    }
    const out: ObservedTable[] = [];
    for (const name of names.filter((n) => !isInternalTable(n)).sort()) {
      const t = await this.getTable(dataset, name);
      if (t) out.push(t);
    }
    return out;
  }

  async getTable(dataset: string, name: string): Promise<ObservedTable | null> {
    const meta = await this.api.getRawTable(dataset, name);
    return meta ? fromRestTable(dataset, name, meta) : null;
  }

  // ---- tables: create / update (in place: see bigquery-table-update.ts) -------------

  async createTable(table: TableSchema): Promise<void> {
    this.writable('tables.insert');
    const resource = tableAddress('bigquery', table.dataset, table.name);
    // A replace that crashed after dropping the old table left its finished copy: finish it.
    const leftover = await this.api.getRawTable(table.dataset, table.name + REPLACEMENT_SUFFIX);
    if (leftover?.labels?.[REPLACE_STATE_LABEL] === 'copied') return recoverCopy(this.api, resource, table, leftover);
    // An unfinished copy (the old table still existed while it was made) holds nothing unique.
    if (leftover) await this.api.deleteRaw(resource, table.dataset, table.name + REPLACEMENT_SUFFIX, true);
    await this.api.insertTable(resource, table.dataset, toRestTable(this.project, table));
  }

  async updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
    this.writable('tables.patch');
    return updateInPlace(this.api, dataset, name, ops, expectedEtag);
  }

  // ---- replace: copy-and-swap, see bigquery-replace.ts -----------------------------

  async replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
    this.writable('replace');
    return replaceByCopy(this.api, desired, replace, expectedEtag);
  }

  async countUncopyable(desired: TableSchema, replace: ReplaceSpec): Promise<UncopyableRows[]> {
    const old = await this.api.getRawTable(desired.dataset, desired.name);
    return old ? countUncopyable(this.api, old, desired, replace) : [];
  }

  async deleteTable(dataset: string, name: string, expectedEtag?: string): Promise<void> {
    this.writable('tables.delete');
    const resource = tableAddress('bigquery', dataset, name);
    if (expectedEtag !== undefined) {
      const cur = await this.api.getRawTable(dataset, name);
      if (!cur) return;
      if (cur.etag !== expectedEtag) throw staleEtag(resource, expectedEtag, cur.etag);
    }
    await this.api.deleteRaw(resource, dataset, name, true);
  }

  // ---- rows -----------------------------------------------------------------------

  async *readRows(dataset: string, table: string): AsyncIterable<Row> {
    const resource = tableAddress('bigquery', dataset, table);
    const meta = await this.api.getRawTable(dataset, table);
    if (!meta) throw new MlbridgeError('TARGET_ERROR', `${resource}: tabledata.list: table not found`, { resource });
    const fields = meta.schema?.fields ?? [];
    let pageToken: string | undefined;
    do {
      const page = await this.api.call(resource, 'tabledata.list', async () => {
        const res = await this.api.timed(() => this.api.tableObj(dataset, table).getRows({
          autoPaginate: false,
          maxResults: 5000,
          skipParsing: true,
          'formatOptions.useInt64Timestamp': true,
          ...(pageToken ? { pageToken } : {}),
        } as never));
        return res as unknown as [Array<{ f: Array<{ v: unknown }> }>, { pageToken?: string } | null];
      });
      for (const r of page[0] ?? []) yield decodeRow(fields, r);
      pageToken = page[1]?.pageToken;
    } while (pageToken);
  }

  async mergeRows(dataset: string, table: string, keyColumns: string[], rows: Row[]): Promise<{ inserted: number; updated: number }> {
    this.writable('mergeRows');
    if (rows.length === 0) return { inserted: 0, updated: 0 };
    const resource = tableAddress('bigquery', dataset, table);
    const meta = await this.api.getRawTable(dataset, table);
    if (!meta) throw new MlbridgeError('TARGET_ERROR', `${resource}: mergeRows: table not found`, { resource });
    const fields = meta.schema?.fields ?? [];
    const known = new Set(fields.map((f) => f.name.toLowerCase()));
    for (const r of rows) {
      const unknown = Object.keys(r).find((k) => !known.has(k.toLowerCase()));
      if (unknown !== undefined) throw new MlbridgeError('TARGET_ERROR', `${resource}: mergeRows: the table has no column ${JSON.stringify(unknown)}`, { resource });
    }
    for (const k of keyColumns) {
      if (!known.has(k.toLowerCase())) throw new MlbridgeError('TARGET_ERROR', `${resource}: mergeRows: key column ${JSON.stringify(k)} is not in the table`, { resource });
    }
    // Last row per key wins: MERGE rejects two source rows for one target row.
    const byKey = new Map<string, Row>();
    for (const r of rows) byKey.set(JSON.stringify(keyColumns.map((k) => r[k] ?? null)), r);

    await this.api.jobLocation(); // the load job below runs where the dataset is
    const stage = `${table}${STAGING_INFIX}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await this.api.insertTable(resource, dataset, {
      tableReference: { projectId: this.project, datasetId: dataset, tableId: stage },
      schema: { fields },
      labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
      expirationTime: String(Date.now() + 24 * 3600 * 1000),
    });
    try {
      const ndjson = [...byKey.values()].map((r) => JSON.stringify(encodeRow(fields, r))).join('\n') + '\n';
      await this.api.call(resource, 'jobs.insert (load)', async () => {
        const job = await this.api.timed(() => new Promise<Job>((resolve, reject) => {
          const ws = this.api.tableObj(dataset, stage).createWriteStream({
            sourceFormat: 'NEWLINE_DELIMITED_JSON',
            writeDisposition: 'WRITE_TRUNCATE',
            schema: { fields },
          } as never);
          ws.on('error', reject);
          ws.on('job', (j: Job) => resolve(j));
          ws.end(ndjson);
        }));
        return this.api.waitJob(job, () => undefined);
      });
      const cols = fields.map((f) => f.name);
      const sql = mergeStatement(this.api.ref(dataset, table), this.api.ref(dataset, stage), keyColumns, cols);
      const job = await this.api.query(resource, sql);
      const dml = job.statistics?.query?.dmlStats ?? {};
      return { inserted: Number(dml.insertedRowCount ?? 0), updated: Number(dml.updatedRowCount ?? 0) };
    } finally {
      await this.api.deleteRaw(resource, dataset, stage, true).catch(() => undefined); // expires in a day anyway
    }
  }

  async openStage(tables: StageTables): Promise<RowStage> {
    const { BigQueryRowStage } = await import('./bigquery-stage.js');
    return new BigQueryRowStage(this.api, this.project, this.target.location, tables);
  }

  async readRowsByKey(dataset: string, table: string, keys: string[], columns?: readonly string[]): Promise<Row[]> {
    const { readRowsByKey } = await import('./bigquery-row-reads.js');
    return readRowsByKey(this.api, dataset, table, keys, columns);
  }

  // ---- lock -----------------------------------------------------------------------

  lock(): LockBackend {
    return this.locks.backend();
  }

  async close(): Promise<void> {
    // The REST client holds no connections worth closing.
  }
}
