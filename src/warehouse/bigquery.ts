// The BigQuery target (production), through @google-cloud/bigquery (loaded lazily).
//
// - Observe: datasets.get, tables.list + tables.get (schema incl. nested, partitioning,
//   clustering, labels, description, etag; deletion protection is a label, see
//   bigquery-schema.ts). Internal tables (_mlbridge_lock, *__mlbridge_new, staging) are hidden.
// - In place: tables.patch (add columns incl. nested, relax modes, descriptions, labels,
//   clustering) sent with the etag as If-Match; DDL query jobs for DROP COLUMN,
//   RENAME COLUMN, SET DATA TYPE. `expectedEtag` is checked with a tables.get first.
// - Replace: see replaceTable below for the exact sequence and crash states.
// - Rows: readRows = tabledata.list; mergeRows = load job (NDJSON upload) into an
//   expiring staging table, then one MERGE query job, then the staging table is dropped.
// - Lock: a table `_mlbridge_lock` whose description is the LockInfo JSON. tables.insert
//   is atomic, so 409 means someone holds it. Before the dataset exists the lock is
//   provisional and becomes the table when createDataset runs (see lock()).
// - Retries (ours, not the client's: autoRetry is off so each retry reaches onRetry) on
//   429, 5xx, rateLimitExceeded, backendError and request timeouts, bounded by withRetry.
// - Environment: BIGQUERY_EMULATOR_HOST (fake/emulator, no credentials),
//   MLBRIDGE_BIGQUERY_TIMEOUT_MS (per request, default 60 s), MLBRIDGE_BIGQUERY_MAX_ATTEMPTS,
//   MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS (default 30 min).

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { BigQuery, Job, Table } from '@google-cloud/bigquery';
import { datasetAddress, tableAddress } from '../model/address.js';
import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import { withRetry } from '../model/retry.js';
import type { RetryPolicy } from '../model/retry.js';
import { OWNER_LABEL_KEY, OWNER_LABEL_VALUE } from '../model/schema.js';
import type { DatasetSchema, ObservedDataset, ObservedTable, TableSchema } from '../model/schema.js';
import type { TargetSpec } from '../spec/types.js';
import type { LockBackend, LockInfo, ReplaceSpec, Row, TableOp, Warehouse } from './warehouse.js';
import { BigQueryCallError, isRetryableBigQueryError, toCallError } from './bigquery-errors.js';
import { decodeRow, encodeRow } from './bigquery-rows.js';
import {
  DELETION_PROTECTION_LABEL,
  LOCK_TABLE,
  REPLACEMENT_SUFFIX,
  REPLACE_STATE_LABEL,
  STAGING_INFIX,
  fromRestDataset,
  fromRestField,
  fromRestTable,
  isInternalTable,
  quoteIdent,
  sameColumns,
  sqlType,
  tableLabels,
  tableRef,
  toRestDataset,
  toRestField,
  toRestTable,
} from './bigquery-schema.js';
import type { RestField, RestTable } from './bigquery-schema.js';
import { bigQueryEmulatorEndpoint, googleAuthClient, resolveProject } from './google-config.js';

type BigQueryTarget = Extract<TargetSpec, { kind: 'bigquery' }>;
type OnRetry = (i: { resource: string; call: string; attempt: number; delayMs: number; error: string }) => void;

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

function statusOf(e: unknown): number | undefined {
  if (e instanceof BigQueryCallError) return e.status;
  if (isMlbridgeError(e) && e.cause instanceof BigQueryCallError) return e.cause.status;
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The HTTP requests started inside one timed() call: node:http announces each request on a
 * diagnostics channel, synchronously in the async context of the code that made it.
 */
const inFlight = new AsyncLocalStorage<Set<ClientRequest>>();
diagnosticsChannel.subscribe('http.client.request.start', (message) => {
  const requests = inFlight.getStore();
  if (!requests) return;
  const request = (message as { request: ClientRequest }).request;
  requests.add(request);
  request.once('close', () => requests.delete(request));
});

export async function createBigQueryWarehouse(target: BigQueryTarget, options: BigQueryWarehouseOptions): Promise<Warehouse> {
  const env = options.env ?? process.env;
  const project = resolveProject(target.project, env);
  const endpoint = bigQueryEmulatorEndpoint(env);
  const authClient = await googleAuthClient(env, { emulator: endpoint !== undefined, scopes: ['https://www.googleapis.com/auth/bigquery'] });
  const { BigQuery: BigQueryCtor } = await import('@google-cloud/bigquery');
  const timeout = options.timeoutMs ?? (Number(env.MLBRIDGE_BIGQUERY_TIMEOUT_MS) || 60_000);
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
  const maxAttempts = Number(env.MLBRIDGE_BIGQUERY_MAX_ATTEMPTS);
  const retry = { ...(maxAttempts >= 1 ? { maxAttempts } : {}), ...options.retry };
  const jobTimeoutMs = options.jobTimeoutMs ?? (Number(env.MLBRIDGE_BIGQUERY_JOB_TIMEOUT_MS) || undefined);
  return new BigQueryWarehouse(client, project, target, { ...options, retry, ...(jobTimeoutMs ? { jobTimeoutMs } : {}) }, timeout);
}

class BigQueryWarehouse implements Warehouse {
  readonly kind = 'bigquery' as const;
  readonly location: string;
  /** A lock taken while the dataset did not exist yet (see lock()). */
  private pendingLock: LockInfo | undefined;

  constructor(
    private readonly bq: BigQuery,
    private readonly project: string,
    private readonly target: BigQueryTarget,
    private readonly options: BigQueryWarehouseOptions,
    private readonly timeoutMs: number,
  ) {
    this.location = `bigquery:${project}`;
  }

  // ---- plumbing -------------------------------------------------------------------

  /** One API call with bounded retries; failures become TARGET_ERROR / RETRIES_EXHAUSTED naming resource and call. */
  private async call<T>(resource: string, call: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(
        async () => {
          try {
            return await fn();
          } catch (e) {
            throw toCallError(e);
          }
        },
        {
          resource,
          call,
          isRetryable: isRetryableBigQueryError,
          ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
          ...(this.options.retry ? { policy: this.options.retry } : {}),
        },
      );
    } catch (e) {
      if (isMlbridgeError(e)) throw e;
      const ce = toCallError(e);
      // "rejected" when BigQuery answered with an error; "failed" when no answer came (e.g. ECONNREFUSED).
      const verb = ce.status === undefined && ce.reason === undefined ? 'failed' : 'rejected';
      const msg =
        ce.status === 412
          ? `${resource}: ${call} rejected: the table changed since it was observed (etag mismatch: ${ce.message}); run plan again`
          : `${resource}: ${call} ${verb}: ${ce.message}`;
      throw new MlbridgeError('TARGET_ERROR', msg, { resource, cause: ce });
    }
  }

  /**
   * A per-request timeout. The client's own `timeout` option is not enforced: its
   * teeny-request uses node-fetch 3, which dropped `timeout`, and takes no AbortSignal.
   * So the HTTP requests the call starts are collected (see inFlight) and destroyed when it
   * times out: the retry gets a fresh connection and no hung socket keeps the CLI alive.
   */
  private timed<T>(start: () => Promise<T>): Promise<T> {
    const ms = this.timeoutMs;
    const requests = new Set<ClientRequest>();
    return new Promise<T>((resolve, reject) => {
      let started: Promise<T>;
      try {
        started = inFlight.run(requests, start);
      } catch (e) {
        reject(e);
        return;
      }
      const timer = setTimeout(() => {
        const err = new BigQueryCallError(`request timed out after ${ms} ms`, undefined, undefined, true);
        for (const r of requests) r.destroy(err);
        reject(err);
      }, ms);
      started.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private writable(what: string): void {
    if (this.options.readOnly) throw new MlbridgeError('TARGET_ERROR', `${this.location}: opened read-only; ${what} is not allowed`);
  }

  private tableObj(dataset: string, name: string): Table {
    return this.bq.dataset(dataset).table(name, { location: this.target.location });
  }

  private async getRawTable(dataset: string, name: string): Promise<RestTable | null> {
    try {
      return await this.call(tableAddress('bigquery', dataset, name), 'tables.get', async () => {
        const [meta] = await this.timed(() => this.tableObj(dataset, name).getMetadata());
        return meta as RestTable;
      });
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  private async insertTable(resource: string, dataset: string, body: RestTable): Promise<RestTable> {
    return this.call(resource, 'tables.insert', async () => {
      const id = body.tableReference!.tableId;
      const [, resp] = await this.timed(() => this.bq.dataset(dataset).createTable(id, body as never));
      return resp as RestTable;
    });
  }

  private async patchTable(resource: string, dataset: string, name: string, body: Record<string, unknown>): Promise<RestTable> {
    return this.call(resource, 'tables.patch', async () => {
      const [meta] = await this.timed(() => this.tableObj(dataset, name).setMetadata(body as never));
      return meta as RestTable;
    });
  }

  private async deleteRaw(resource: string, dataset: string, name: string, ignoreMissing: boolean): Promise<void> {
    try {
      await this.call(resource, 'tables.delete', async () => {
        await this.timed(() => this.tableObj(dataset, name).delete());
      });
    } catch (e) {
      if (ignoreMissing && statusOf(e) === 404) return;
      throw e;
    }
  }

  /**
   * Runs a job to completion. The job id is fixed per attempt so a retried jobs.insert
   * whose first try did reach BigQuery (409 duplicate) attaches to that job instead of
   * running the statement twice; a job that itself failed retryably gets a new id.
   */
  private async runJob(resource: string, call: string, configuration: Record<string, unknown>): Promise<Record<string, any>> {
    let jobId = `mlbridge_${randomUUID().replace(/-/g, '')}`;
    const location = this.target.location;
    return this.call(resource, call, async () => {
      try {
        await this.timed(() => this.bq.createJob({ configuration, jobId, location } as never));
      } catch (e) {
        const ce = toCallError(e);
        if (ce.status !== 409) {
          if (ce.status === undefined && ce.reason) jobId = `mlbridge_${randomUUID().replace(/-/g, '')}`;
          throw ce;
        }
      }
      return this.waitJob(this.bq.job(jobId, { location }), () => {
        jobId = `mlbridge_${randomUUID().replace(/-/g, '')}`;
      });
    });
  }

  private async waitJob(job: Job, onJobFailed: () => void): Promise<Record<string, any>> {
    let delay = this.options.jobPollMs ?? 250;
    const limit = this.options.jobTimeoutMs ?? 30 * 60_000;
    const started = Date.now();
    for (;;) {
      if (Date.now() - started > limit) {
        // Not retried: the job may still finish; a re-run re-observes and converges.
        throw new BigQueryCallError(`job ${job.id} still running after ${Math.round(limit / 1000)} s; check it with \`bq show -j ${job.id}\``, undefined, 'jobTimeout', false);
      }
      const [meta] = await this.timed(() => job.getMetadata());
      const status = (meta as { status?: { state?: string; errorResult?: { reason?: string; message?: string } } }).status;
      if (status?.state === 'DONE') {
        if (status.errorResult) {
          onJobFailed();
          throw toCallError({ errors: [status.errorResult], message: status.errorResult.message });
        }
        return meta as Record<string, any>;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }

  private query(resource: string, sql: string): Promise<Record<string, any>> {
    return this.runJob(resource, 'jobs.insert (query)', { query: { query: sql, useLegacySql: false } });
  }

  private ref(dataset: string, table: string): string {
    return tableRef(this.project, dataset, table);
  }

  // ---- datasets -------------------------------------------------------------------

  async getDataset(name: string): Promise<ObservedDataset | null> {
    try {
      return await this.call(datasetAddress('bigquery', name), 'datasets.get', async () => {
        const [meta] = await this.timed(() => this.bq.dataset(name).getMetadata());
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
    await this.call(datasetAddress('bigquery', dataset.name), 'datasets.insert', async () => {
      const { datasetReference: _ref, ...rest } = body;
      await this.timed(() => this.bq.createDataset(dataset.name, rest as never));
    });
    const pending = this.pendingLock;
    if (pending && dataset.name === this.target.dataset) {
      const r = await this.insertLockTable(pending);
      if (r) this.pendingLock = undefined;
    }
  }

  /** tables.insert of the lock table: true when taken, false when someone else holds it (409). */
  private async insertLockTable(info: LockInfo): Promise<boolean> {
    const dataset = this.target.dataset;
    try {
      await this.insertTable(tableAddress('bigquery', dataset, LOCK_TABLE), dataset, {
        tableReference: { projectId: this.project, datasetId: dataset, tableId: LOCK_TABLE },
        schema: { fields: [{ name: 'lock', type: 'STRING', mode: 'NULLABLE' }] },
        description: JSON.stringify(info),
        labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
      });
      return true;
    } catch (e) {
      if (statusOf(e) === 409) return false;
      throw e;
    }
  }

  async deleteDataset(name: string): Promise<void> {
    this.writable('datasets.delete');
    await this.call(datasetAddress('bigquery', name), 'datasets.delete', async () => {
      await this.timed(() => this.bq.dataset(name).delete({ force: false }));
    });
  }

  // ---- tables: observe ------------------------------------------------------------

  async listTables(dataset: string): Promise<ObservedTable[]> {
    let names: string[];
    try {
      names = await this.call(datasetAddress('bigquery', dataset), 'tables.list', async () => {
        const [tables] = await this.timed(() => this.bq.dataset(dataset).getTables({ autoPaginate: true }));
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
    const meta = await this.getRawTable(dataset, name);
    return meta ? fromRestTable(dataset, name, meta) : null;
  }

  // ---- tables: create / update ----------------------------------------------------

  async createTable(table: TableSchema): Promise<void> {
    this.writable('tables.insert');
    const resource = tableAddress('bigquery', table.dataset, table.name);
    // A replace that crashed after dropping the old table left its finished copy: finish it.
    const leftover = await this.getRawTable(table.dataset, table.name + REPLACEMENT_SUFFIX);
    if (leftover?.labels?.[REPLACE_STATE_LABEL] === 'copied') return this.recoverCopy(resource, table, leftover);
    // An unfinished copy (the old table still existed while it was made) holds nothing unique.
    if (leftover) await this.deleteRaw(resource, table.dataset, table.name + REPLACEMENT_SUFFIX, true);
    await this.insertTable(resource, table.dataset, toRestTable(this.project, table));
  }

  async updateTable(dataset: string, name: string, ops: TableOp[], expectedEtag?: string): Promise<void> {
    this.writable('tables.patch');
    const resource = tableAddress('bigquery', dataset, name);
    let current = await this.getRawTable(dataset, name);
    if (!current) throw new MlbridgeError('TARGET_ERROR', `${resource}: tables.get: table not found`, { resource });
    if (expectedEtag !== undefined && current.etag !== expectedEtag) throw this.staleEtag(resource, expectedEtag, current.etag);

    let patch: Record<string, unknown> = {};
    let fields: RestField[] = structuredClone(current.schema?.fields ?? []);
    const flush = async () => {
      if (Object.keys(patch).length === 0) return;
      current = await this.patchTable(resource, dataset, name, { ...patch, etag: current!.etag });
      patch = {};
      fields = structuredClone(current.schema?.fields ?? []);
    };
    const ddl = async (sql: string) => {
      await flush();
      await this.query(resource, sql);
      const after = await this.getRawTable(dataset, name);
      if (!after) throw new MlbridgeError('TARGET_ERROR', `${resource}: table disappeared during update`, { resource });
      current = after;
      fields = structuredClone(current.schema?.fields ?? []);
    };
    const labelPatch = (): Record<string, string | null> => (patch.labels as Record<string, string | null> | undefined) ?? {};
    const t = this.ref(dataset, name);

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

  private staleEtag(resource: string, expected: string, actual: string | undefined): MlbridgeError {
    return new MlbridgeError(
      'TARGET_ERROR',
      `${resource}: the table changed since it was observed (etag ${expected} → ${actual ?? 'none'}); run plan again`,
      { resource },
    );
  }

  // ---- replace --------------------------------------------------------------------

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
  async replaceTable(desired: TableSchema, replace: ReplaceSpec, expectedEtag?: string): Promise<void> {
    this.writable('replace');
    const { dataset, name } = desired;
    const resource = tableAddress('bigquery', dataset, name);
    const newName = name + REPLACEMENT_SUFFIX;
    const old = await this.getRawTable(dataset, name);
    let next = await this.getRawTable(dataset, newName);
    if (!old) {
      if (next?.labels?.[REPLACE_STATE_LABEL] === 'copied') return this.recoverCopy(resource, desired, next);
      throw new MlbridgeError('TARGET_ERROR', `${resource}: cannot replace: table not found`, { resource });
    }
    if (expectedEtag !== undefined && old.etag !== expectedEtag) throw this.staleEtag(resource, expectedEtag, old.etag);

    if (next && !this.isFinishedCopy(next, desired)) {
      await this.deleteRaw(resource, dataset, newName, true);
      next = null;
    }
    if (!next) {
      const body = toRestTable(this.project, { ...desired, name: newName });
      body.labels = { ...body.labels, [REPLACE_STATE_LABEL]: 'copying' };
      const created = await this.insertTable(resource, dataset, body);
      const oldCols = fromRestTable(dataset, name, old).columns;
      const targets: string[] = [];
      const exprs: string[] = [];
      for (const col of desired.columns) {
        const src = replace.columnSources[col.name];
        if (src === undefined) continue;
        const from = oldCols.find((c) => c.name.toLowerCase() === src.toLowerCase());
        if (!from) continue;
        targets.push(quoteIdent(col.name));
        const same = sqlType(from) === sqlType(col);
        exprs.push(same ? quoteIdent(from.name) : `CAST(${quoteIdent(from.name)} AS ${sqlType(col)})`);
      }
      if (targets.length > 0) {
        try {
          await this.query(
            resource,
            `INSERT INTO ${this.ref(dataset, newName)} (${targets.join(', ')}) SELECT ${exprs.join(', ')} FROM ${this.ref(dataset, name)}`,
          );
        } catch (e) {
          // The old table is intact and the copy unfinished: don't leave it in the user's
          // dataset (a spec that stops asking for this replace would never clean it up).
          await this.deleteRaw(resource, dataset, newName, true).catch(() => undefined);
          throw e;
        }
      }
      const fresh = (await this.getRawTable(dataset, newName)) ?? created;
      await this.patchTable(resource, dataset, newName, { labels: { [REPLACE_STATE_LABEL]: 'copied' }, etag: fresh.etag });
    }
    await this.deleteRaw(resource, dataset, name, true);
    await this.promoteReplacement(resource, desired);
  }

  private isFinishedCopy(t: RestTable, desired: TableSchema): boolean {
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
  private async recoverCopy(resource: string, desired: TableSchema, copy: RestTable): Promise<void> {
    const matches = this.isFinishedCopy(copy, desired);
    const layout = fromRestTable(desired.dataset, desired.name, copy);
    await this.promoteReplacement(resource, matches ? desired : layout);
    if (!matches) {
      throw new MlbridgeError(
        'TARGET_ERROR',
        `${resource}: restored the table from an interrupted replace; its layout differs from the spec, run plan and apply again`,
        { resource },
      );
    }
  }

  /** Steps 5-6: rename the finished copy into place and drop the marker label. */
  private async promoteReplacement(resource: string, desired: TableSchema): Promise<void> {
    const { dataset, name } = desired;
    await this.query(resource, `ALTER TABLE ${this.ref(dataset, name + REPLACEMENT_SUFFIX)} RENAME TO ${quoteIdent(name)}`);
    const now = await this.getRawTable(dataset, name);
    if (!now) throw new MlbridgeError('TARGET_ERROR', `${resource}: table missing after rename`, { resource });
    const labels: Record<string, string | null> = { ...tableLabels(desired), [REPLACE_STATE_LABEL]: null };
    for (const k of Object.keys(now.labels ?? {})) if (!(k in labels)) labels[k] = null;
    await this.patchTable(resource, dataset, name, { labels, etag: now.etag });
  }

  async deleteTable(dataset: string, name: string, expectedEtag?: string): Promise<void> {
    this.writable('tables.delete');
    const resource = tableAddress('bigquery', dataset, name);
    if (expectedEtag !== undefined) {
      const cur = await this.getRawTable(dataset, name);
      if (!cur) return;
      if (cur.etag !== expectedEtag) throw this.staleEtag(resource, expectedEtag, cur.etag);
    }
    await this.deleteRaw(resource, dataset, name, true);
  }

  // ---- rows -----------------------------------------------------------------------

  async *readRows(dataset: string, table: string): AsyncIterable<Row> {
    const resource = tableAddress('bigquery', dataset, table);
    const meta = await this.getRawTable(dataset, table);
    if (!meta) throw new MlbridgeError('TARGET_ERROR', `${resource}: tabledata.list: table not found`, { resource });
    const fields = meta.schema?.fields ?? [];
    let pageToken: string | undefined;
    do {
      const page = await this.call(resource, 'tabledata.list', async () => {
        const res = await this.timed(() => this.tableObj(dataset, table).getRows({
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
    const meta = await this.getRawTable(dataset, table);
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

    const stage = `${table}${STAGING_INFIX}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await this.insertTable(resource, dataset, {
      tableReference: { projectId: this.project, datasetId: dataset, tableId: stage },
      schema: { fields },
      labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
      expirationTime: String(Date.now() + 24 * 3600 * 1000),
    });
    try {
      const ndjson = [...byKey.values()].map((r) => JSON.stringify(encodeRow(fields, r))).join('\n') + '\n';
      await this.call(resource, 'jobs.insert (load)', async () => {
        const job = await this.timed(() => new Promise<Job>((resolve, reject) => {
          const ws = this.tableObj(dataset, stage).createWriteStream({
            sourceFormat: 'NEWLINE_DELIMITED_JSON',
            writeDisposition: 'WRITE_TRUNCATE',
            schema: { fields },
          } as never);
          ws.on('error', reject);
          ws.on('job', (j: Job) => resolve(j));
          ws.end(ndjson);
        }));
        return this.waitJob(job, () => undefined);
      });
      const cols = fields.map((f) => f.name);
      const keys = new Set(keyColumns.map((k) => k.toLowerCase()));
      const on = keyColumns.map((k) => `T.${quoteIdent(k)} = S.${quoteIdent(k)}`).join(' AND ');
      const sets = cols.filter((c) => !keys.has(c.toLowerCase())).map((c) => `${quoteIdent(c)} = S.${quoteIdent(c)}`);
      const sql =
        `MERGE ${this.ref(dataset, table)} AS T USING ${this.ref(dataset, stage)} AS S ON ${on}` +
        (sets.length ? ` WHEN MATCHED THEN UPDATE SET ${sets.join(', ')}` : '') +
        ` WHEN NOT MATCHED THEN INSERT (${cols.map(quoteIdent).join(', ')}) VALUES (${cols.map((c) => `S.${quoteIdent(c)}`).join(', ')})`;
      const job = await this.query(resource, sql);
      const dml = job.statistics?.query?.dmlStats ?? {};
      return { inserted: Number(dml.insertedRowCount ?? 0), updated: Number(dml.updatedRowCount ?? 0) };
    } finally {
      await this.deleteRaw(resource, dataset, stage, true).catch(() => undefined); // expires in a day anyway
    }
  }

  // ---- lock -----------------------------------------------------------------------

  lock(): LockBackend {
    const dataset = this.target.dataset;
    const resource = tableAddress('bigquery', dataset, LOCK_TABLE);
    const read = async (): Promise<{ info: LockInfo; etag?: string } | null> => {
      const t = await this.getRawTable(dataset, LOCK_TABLE);
      if (!t) return null;
      try {
        return { info: JSON.parse(t.description ?? '') as LockInfo, ...(t.etag ? { etag: t.etag } : {}) };
      } catch {
        return { info: { id: 'unknown', pid: 0, host: 'unknown', since: '', operation: 'unknown', who: `unreadable lock table ${LOCK_TABLE}` } };
      }
    };
    return {
      tryAcquire: async (info) => {
        this.writable('lock');
        // The lock table lives in the target dataset. Before the first apply has created it
        // there is nowhere to put it: the lock is provisional and becomes the lock table the
        // moment createDataset makes the dataset (see createDataset). Two concurrent first
        // applies cannot both succeed: the second one's datasets.insert fails with 409.
        if (!(await this.getDataset(dataset))) {
          this.pendingLock = info;
          return { acquired: true };
        }
        for (let i = 0; i < 3; i++) {
          if (await this.insertLockTable(info)) return { acquired: true };
          const holder = await read();
          if (holder) return { acquired: false, holder: holder.info };
          // Released between our insert and our read: try again.
        }
        const holder = await read();
        if (holder) return { acquired: false, holder: holder.info };
        throw new MlbridgeError('TARGET_ERROR', `${resource}: could not take the lock (it keeps changing hands)`, { resource });
      },
      release: async (id) => {
        if (this.pendingLock?.id === id) {
          this.pendingLock = undefined;
          return;
        }
        const cur = await read();
        if (!cur || cur.info.id !== id) return;
        await this.deleteRaw(resource, dataset, LOCK_TABLE, true);
      },
      current: async () => (await read())?.info ?? null,
    };
  }

  async close(): Promise<void> {
    // The REST client holds no connections worth closing.
  }
}

function findField(fields: RestField[], path: string[], resource: string): RestField {
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
