// The BigQuery calls the adapter makes: every request goes through call() (bounded retries,
// errors naming resource and call) and timed() (a per-request timeout that is enforced),
// plus the raw table requests and query jobs the other BigQuery modules build on.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { BigQuery, Job, Table } from '@google-cloud/bigquery';
import { datasetAddress, tableAddress } from '../model/address.js';
import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import { withRetry } from '../model/retry.js';
import type { RetryPolicy } from '../model/retry.js';
import { BigQueryCallError, isRetryableBigQueryError, toCallError } from './bigquery-errors.js';
import { holdsPatch, isInsertedTable, tableRef } from './bigquery-schema.js';
import type { RestTable } from './bigquery-schema.js';

export type OnRetry = (i: { resource: string; call: string; attempt: number; delayMs: number; error: string }) => void;

/** What the calls need of the warehouse options (see BigQueryWarehouseOptions). */
export interface CallOptions {
  onRetry?: OnRetry;
  retry?: Partial<RetryPolicy>;
  jobPollMs?: number;
  jobTimeoutMs?: number;
}

export function statusOf(e: unknown): number | undefined {
  if (e instanceof BigQueryCallError) return e.status;
  if (isMlbridgeError(e) && e.cause instanceof BigQueryCallError) return e.cause.status;
  return undefined;
}

export function staleEtag(resource: string, expected: string, actual: string | undefined): MlbridgeError {
  return new MlbridgeError(
    'TARGET_ERROR',
    `${resource}: the table changed since it was observed (etag ${expected} → ${actual ?? 'none'}); run plan again`,
    { resource },
  );
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

export class BigQueryCalls {
  /** Where the target dataset actually is, once observed (jobs must run there). */
  private datasetLocation: string | undefined;

  constructor(
    readonly bq: BigQuery,
    readonly project: string,
    /** The target dataset: every job mlbridge runs touches it, so runs in its location. */
    private readonly dataset: string,
    /** The spec's location: where a dataset not yet created will be. */
    private readonly specLocation: string,
    private readonly options: CallOptions,
    private readonly timeoutMs: number,
  ) {}

  /** Records a dataset's observed location (datasets.get / insert). */
  noteDatasetLocation(dataset: string, location: string | undefined): void {
    if (dataset === this.dataset && location) this.datasetLocation = location;
  }

  /** Where jobs run: the target dataset's actual location, which may differ from the spec's. */
  async jobLocation(): Promise<string> {
    if (this.datasetLocation === undefined) {
      try {
        const meta = await this.call(datasetAddress('bigquery', this.dataset), 'datasets.get', async () => {
          const [m] = await this.timed(() => this.bq.dataset(this.dataset).getMetadata());
          return m as { location?: string };
        });
        this.noteDatasetLocation(this.dataset, meta.location);
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
    }
    return this.datasetLocation ?? this.specLocation;
  }

  /** One API call with bounded retries; failures become TARGET_ERROR / RETRIES_EXHAUSTED naming resource and call. */
  async call<T>(resource: string, call: string, fn: () => Promise<T>): Promise<T> {
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
  timed<T>(start: () => Promise<T>): Promise<T> {
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

  /** A table handle; its location (for load jobs it starts) is the one jobLocation() found. */
  tableObj(dataset: string, name: string): Table {
    return this.bq.dataset(dataset).table(name, { location: this.datasetLocation ?? this.specLocation });
  }

  async getRawTable(dataset: string, name: string): Promise<RestTable | null> {
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

  /** tables.insert; a 409 on the first attempt is a conflict (e.g. someone holds the lock). */
  async insertTable(resource: string, dataset: string, body: RestTable): Promise<RestTable> {
    const id = body.tableReference!.tableId;
    return this.writeTable(resource, 'tables.insert', dataset, id, 409, async () => {
      const [, resp] = await this.timed(() => this.bq.dataset(dataset).createTable(id, body as never));
      return resp as RestTable;
    }, (existing) => isInsertedTable(existing, body));
  }

  /** tables.patch with the etag in the body (If-Match). */
  async patchTable(resource: string, dataset: string, name: string, body: Record<string, unknown>): Promise<RestTable> {
    return this.writeTable(resource, 'tables.patch', dataset, name, 412, async () => {
      const [meta] = await this.timed(() => this.tableObj(dataset, name).setMetadata(body as never));
      return meta as RestTable;
    }, (current) => holdsPatch(current, body));
  }

  /**
   * A table write whose first attempt may have reached BigQuery with its reply lost: the
   * retry then meets `conflict` (409 for the insert, 412 for a patch whose etag moved), and
   * that is success exactly when the table now is what the write asked for (`landed`).
   */
  private writeTable(
    resource: string,
    call: string,
    dataset: string,
    name: string,
    conflict: number,
    send: () => Promise<RestTable>,
    landed: (table: RestTable) => boolean,
  ): Promise<RestTable> {
    let attempt = 0;
    return this.call(resource, call, async () => {
      attempt++;
      try {
        return await send();
      } catch (e) {
        const ce = toCallError(e);
        if (ce.status === conflict && attempt > 1) {
          const current = await this.getRawTable(dataset, name);
          if (current && landed(current)) return current;
        }
        throw ce;
      }
    });
  }

  async deleteRaw(resource: string, dataset: string, name: string, ignoreMissing: boolean): Promise<void> {
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
   * Runs a job to completion, in the target dataset's location. The job id is fixed per
   * attempt so a retried jobs.insert whose first try did reach BigQuery (its reply lost:
   * 409 duplicate) attaches to that job instead of running the statement twice; a job that
   * itself failed retryably gets a new id.
   */
  async runJob(resource: string, call: string, configuration: Record<string, unknown>): Promise<Record<string, any>> {
    let jobId = `mlbridge_${randomUUID().replace(/-/g, '')}`;
    const location = await this.jobLocation();
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

  async waitJob(job: Job, onJobFailed: () => void): Promise<Record<string, any>> {
    let delay = this.options.jobPollMs ?? 250;
    const limit = this.options.jobTimeoutMs ?? 30 * 60_000;
    const started = Date.now();
    for (;;) {
      if (Date.now() - started > limit) {
        // Not retried: the job may still finish; a re-run re-observes and converges.
        const where = job.location ? ` --location=${job.location}` : '';
        throw new BigQueryCallError(`job ${job.id} still running after ${Math.round(limit / 1000)} s; check it with \`bq show${where} -j ${job.id}\``, undefined, 'jobTimeout', false);
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

  query(resource: string, sql: string): Promise<Record<string, any>> {
    return this.runJob(resource, 'jobs.insert (query)', { query: { query: sql, useLegacySql: false } });
  }

  ref(dataset: string, table: string): string {
    return tableRef(this.project, dataset, table);
  }
}
