// A BigQuery REST API v2 fake for tests: a node:http server (port 0) that
// @google-cloud/bigquery@8 talks to over HTTP, either with `apiEndpoint` (paths under
// /bigquery/v2) or BIGQUERY_EMULATOR_HOST (paths at the root); uploads under /upload.
//
// What it verifies (so tests through it mean something):
// - the client's real requests: datasets and tables get/insert/patch/update/delete/list,
//   tabledata.list/insertAll, jobs.insert (query, load from a multipart upload)/get,
//   getQueryResults and jobs.query, with BigQuery's resource shapes (legacy type names,
//   string numRows, etags, f/v rows, int64 µs timestamps);
// - BigQuery's schema-update rules on tables.patch/update and on ALTER TABLE DDL, with its
//   error shapes: 400 invalid "Provided Schema does not match Table p:d.t. Field x has
//   changed type from STRING to INTEGER", 409 duplicate, 404 notFound, 412 conditionNotMet
//   (If-Match etag mismatch);
// - the GoogleSQL the adapter emits, run for real on an in-memory DuckDB (CASTs fail on bad
//   values like BigQuery's do, MERGE counts inserted/updated rows);
// - fault injection per call: `failNext('tables.patch', {status: 429, reason:
//   'rateLimitExceeded'}, 3)` (answered 403, as BigQuery does), 500 backendError,
//   `{hang: true}` (no answer until stop), or `{replyLost: 'drop' | 503}` (the call is done,
//   then the connection is dropped or answered 5xx, so the client retries work that happened).
//   The same from outside the process: POST /__fake/fail {"call":"tables.patch",
//   "reason":"rateLimitExceeded","times":3} (see control(); serve-fakes.ts runs the fakes standalone);
// - locations: a dataset lives in one location and a job runs in one; a job touching a
//   dataset elsewhere, or jobs.get asked in another location, is 404 notFound like BigQuery;
// - job asynchrony: a job is RUNNING when inserted and DONE after `jobPolls` jobs.get /
//   getQueryResults calls (default 1), so callers must poll;
// - case-sensitive table names (`Customer` and `customer` are two tables), at most 64 labels,
//   field descriptions of at most 1,024 characters, ALTER COLUMN SET DATA TYPE never on an
//   ARRAY, CAST between STRUCTs only with equal field counts (by position) and between ARRAYs
//   only of the same type;
// - requirePartitionFilter at table level, echoed where `requireFilterEcho` says.
// What only a live run can verify: IAM and quotas, real error wording beyond the shapes
// above, eventual consistency (INFORMATION_SCHEMA lag, streaming buffer), partition
// pruning and clustering effects, GoogleSQL semantics beyond the statements the adapter
// emits (DuckDB executes them: NUMERIC/BIGNUMERIC are DECIMAL(38,9) here), the exact
// wording of the limits above, and real rate limits (only injected here); test/live/
// checks each of these claims against a real project.

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SqlError, dq } from './bigquery-fake-sql.js';
import type { RestFieldLike } from './bigquery-fake-sql.js';
import { createJobs } from './bigquery-fake-jobs.js';
import { installGoogleSqlFunctions } from './bigquery-fake-googlesql.js';
import { HttpError, createStore, duckTableName, fieldAt, newEtag, nowMs } from './bigquery-fake-store.js';
import type { RequireFilterEcho } from './bigquery-fake-store.js';
import { cell, literal } from './bigquery-fake-values.js';

export interface Fault {
  status?: number;
  reason?: string;
  message?: string;
  /** Never answer (until stop): for client timeouts. */
  hang?: boolean;
  /** Let this many matching calls through before failing (e.g. fail the 2nd jobs.insert). */
  skip?: number;
  /** Do the call, then lose the reply: drop the connection, or answer this 5xx status. */
  replyLost?: 'drop' | number;
  /** Serve the call, then lose its reply (answer with this fault instead): a retry finds the work done. */
  afterServing?: boolean;
}

export interface BigQueryFakeOptions {
  project?: string;
  /** Where datasets go when datasets.insert names no location (default US). */
  location?: string;
  /** jobs.get / getQueryResults calls that see a job RUNNING before it is DONE (default 1). */
  jobPolls?: number;
  /** Where tables.get shows requirePartitionFilter (default: table level). */
  requireFilterEcho?: RequireFilterEcho;
}

export interface BigQueryFake {
  /** http://127.0.0.1:PORT — for `apiEndpoint` or BIGQUERY_EMULATOR_HOST. */
  endpoint: string;
  project: string;
  /** Makes the next `times` calls of `call` (e.g. "tables.patch", "jobs.insert") fail with `fault`. */
  failNext(call: string, fault: Fault, times?: number): void;
  /** Every call served, in order, e.g. "tables.get". */
  calls: string[];
  /** Runs DuckDB SQL against the fake's data (see ref), for assertions. */
  sql(query: string): Promise<Record<string, unknown>[]>;
  /** A table's name in sql(): "dataset"."table" (names with capitals are encoded). */
  ref(dataset: string, table: string): string;
  /** Requests held by a `hang` fault whose connection the client has not closed yet. */
  hanging(): number;
  /** The stored REST resource of a table, or undefined. */
  table(dataset: string, table: string): Record<string, any> | undefined;
  stop(): Promise<void>;
}


const STATUS_NAME: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const DEFAULT_MESSAGES: Record<string, string> = {
  rateLimitExceeded:
    'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas',
  backendError: 'Backend error. Job aborted.',
};

function errorBody(status: number, reason: string, message: string) {
  return { error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: STATUS_NAME[status] ?? 'UNKNOWN' } };
}


export async function startBigQueryFake(opts: BigQueryFakeOptions = {}): Promise<BigQueryFake> {
  const project = opts.project ?? 'fake-project';
  const defaultLocation = opts.location ?? 'US';
  const store = await createStore(project, defaultLocation, opts.requireFilterEcho);
  const { db, conn, datasets, tables, key, readAll, getDataset, getTableRec, touch, insertTable, withRows, patchTable, countRows, duckRef } = store;
  const { runJob, getJob, queryResponse } = createJobs(store, opts.jobPolls ?? 1);
  await installGoogleSqlFunctions(conn);
  const faults = new Map<string, Fault[]>();
  const calls: string[] = [];
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  // One request at a time: metadata and DuckDB change together.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };

  // ---- routing ----------------------------------------------------------------------

  async function handle(method: string, parts: string[], q: Record<string, string | undefined>, headers: IncomingMessage['headers'], raw: Buffer, call: string): Promise<[number, unknown]> {
    const json = () => (raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, any>) : {});
    const [, , coll, a, sub, b, tail] = parts; // projects/P/<coll>/<a>/<sub>/<b>/<tail>
    if (coll === 'datasets') {
      if (!a) {
        if (method === 'GET')
          return [200, { kind: 'bigquery#datasetList', datasets: [...datasets.values()].map((d) => ({ kind: 'bigquery#dataset', id: d.id, datasetReference: d.datasetReference, labels: d.labels, location: d.location })) }];
        const body = json();
        const id = body.datasetReference?.datasetId;
        if (!id || !/^[A-Za-z0-9_]{1,1024}$/.test(id)) throw new HttpError(400, 'invalid', `Invalid dataset ID "${id}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`);
        if (datasets.has(id)) throw new HttpError(409, 'duplicate', `Already Exists: Dataset ${project}:${id}`);
        const meta: Record<string, any> = {
          kind: 'bigquery#dataset',
          id: `${project}:${id}`,
          datasetReference: { projectId: project, datasetId: id },
          location: body.location ?? defaultLocation,
          labels: { ...(body.labels ?? {}) },
          etag: newEtag(),
          creationTime: nowMs(),
          lastModifiedTime: nowMs(),
        };
        if (body.description) meta.description = body.description;
        await conn.run(`CREATE SCHEMA ${dq(id)}`);
        datasets.set(id, meta);
        return [200, meta];
      }
      if (!sub) {
        const ds = getDataset(a);
        if (method === 'GET') return [200, ds];
        if (method === 'DELETE') {
          const owned = [...tables.keys()].filter((k) => k.startsWith(`${a}\u0000`));
          if (owned.length && q.deleteContents !== 'true') throw new HttpError(400, 'resourceInUse', `Dataset ${project}:${a} is still in use`);
          for (const k of owned) tables.delete(k);
          await conn.run(`DROP SCHEMA ${dq(a)} CASCADE`);
          datasets.delete(a);
          return [204, undefined];
        }
        const body = json();
        const ifMatch = headers['if-match'] as string | undefined;
        if (ifMatch && ifMatch !== ds.etag) throw new HttpError(412, 'conditionNotMet', 'Precondition check failed.');
        if (method === 'PATCH') {
          if (body.labels) {
            for (const [k, v] of Object.entries(body.labels)) {
              if (v === null) delete ds.labels[k];
              else ds.labels[k] = v;
            }
          }
          if ('description' in body) {
            if (body.description === null) delete ds.description;
            else ds.description = body.description;
          }
        } else {
          ds.labels = { ...(body.labels ?? {}) };
          if (body.description) ds.description = body.description;
          else delete ds.description;
        }
        ds.etag = newEtag();
        ds.lastModifiedTime = nowMs();
        return [200, ds];
      }
      if (sub === 'tables') {
        if (!b) {
          getDataset(a);
          if (method === 'GET') {
            const list = [...tables.entries()].filter(([k]) => k.startsWith(`${a}\u0000`)).map(([, r]) => ({
              kind: 'bigquery#table',
              id: r.meta.id,
              tableReference: r.meta.tableReference,
              type: 'TABLE',
              labels: r.meta.labels,
              ...(r.meta.timePartitioning ? { timePartitioning: r.meta.timePartitioning } : {}),
              ...(r.meta.clustering ? { clustering: r.meta.clustering } : {}),
              creationTime: r.meta.creationTime,
            }));
            return [200, { kind: 'bigquery#tableList', tables: list, totalItems: list.length }];
          }
          return [200, await insertTable(a, json())];
        }
        if (!tail) {
          if (method === 'GET') {
            const rec = getTableRec(a, b);
            return [200, await withRows(a, b, rec.meta)];
          }
          if (method === 'DELETE') {
            getTableRec(a, b);
            await conn.run(`DROP TABLE ${duckRef(a, b)}`);
            tables.delete(key(a, b));
            return [204, undefined];
          }
          return [200, await patchTable(a, b, json(), headers['if-match'] as string | undefined, method === 'PUT')];
        }
        if (tail === 'data' && method === 'GET') {
          const rec = getTableRec(a, b);
          const fields: RestFieldLike[] = rec.meta.schema.fields;
          const proj = fields.map((f) => (f.type === 'BYTES' && f.mode !== 'REPEATED' ? `base64(${dq(f.name)}) AS ${dq(f.name)}` : dq(f.name)));
          const start = Number(q.pageToken ?? q.startIndex ?? 0);
          const max = Number(q.maxResults ?? 10000) || 10000;
          const total = await countRows(a, b);
          const r = proj.length ? (await readAll(`SELECT ${proj.join(', ')} FROM ${duckRef(a, b)} ORDER BY rowid LIMIT ${max} OFFSET ${start}`)).rows : [];
          const int64 = q['formatOptions.useInt64Timestamp'] === 'true';
          const res: Record<string, any> = { kind: 'bigquery#tableDataList', etag: rec.meta.etag, totalRows: String(total), rows: r.map((row) => ({ f: fields.map((f) => cell(row[f.name], f, int64)) })) };
          if (start + max < total) res.pageToken = String(start + max);
          return [200, res];
        }
        if (tail === 'insertAll' && method === 'POST') {
          const rec = getTableRec(a, b);
          const body = json();
          const fields: RestFieldLike[] = rec.meta.schema.fields;
          const insertErrors: unknown[] = [];
          const values: string[] = [];
          (body.rows ?? []).forEach((r: { json: Record<string, unknown> }, index: number) => {
            try {
              for (const k of Object.keys(r.json)) if (!fieldAt(fields, k)) throw new SqlError(`no such field: ${k}.`);
              values.push(`(${fields.map((f) => literal(r.json[Object.keys(r.json).find((k) => k.toLowerCase() === f.name.toLowerCase()) ?? ''] ?? null, f, f.name, true)).join(', ')})`);
            } catch (e) {
              insertErrors.push({ index, errors: [{ reason: 'invalid', location: '', message: (e as Error).message }] });
            }
          });
          if (insertErrors.length === 0 && values.length) {
            await conn.run(`INSERT INTO ${duckRef(a, b)} (${fields.map((f) => dq(f.name)).join(', ')}) VALUES ${values.join(', ')}`);
            touch(rec);
          }
          return [200, { kind: 'bigquery#tableDataInsertAllResponse', ...(insertErrors.length ? { insertErrors } : {}) }];
        }
      }
    }
    if (coll === 'jobs') {
      if (!a && method === 'POST') {
        const ct = String(headers['content-type'] ?? '');
        if (ct.startsWith('multipart/')) {
          const { meta, data } = parseMultipart(raw, ct);
          return [200, await runJob(meta, data)];
        }
        return [200, await runJob(json())];
      }
      if (a && method === 'GET') return [200, getJob(a, q.location)];
    }
    if (coll === 'queries') {
      if (a && method === 'GET') return [200, queryResponse(a, q)];
      if (!a && method === 'POST') {
        const body = json();
        // jobs.query waits for the job (up to its timeoutMs), so it answers DONE here.
        const job = await runJob(
          {
            jobReference: { jobId: body.requestId ? `job_${body.requestId}` : undefined, location: body.location },
            configuration: { query: { query: body.query, useLegacySql: body.useLegacySql ?? true, ...(body.defaultDataset ? { defaultDataset: body.defaultDataset } : {}), ...(body.queryParameters ? { parameterMode: body.parameterMode, queryParameters: body.queryParameters } : {}) } },
          },
          undefined,
          true,
        );
        const res = queryResponse(job.jobReference.jobId, { maxResults: body.maxResults, ...(body.formatOptions?.useInt64Timestamp ? { 'formatOptions.useInt64Timestamp': 'true' } : {}) }, true);
        res.kind = 'bigquery#queryResponse';
        return [200, res];
      }
    }
    throw new HttpError(404, 'notFound', `Not found: the fake does not serve ${method} /${parts.join('/')} (${call})`);
  }

  function callName(method: string, parts: string[]): string {
    const [, , coll, a, sub, b, tail] = parts;
    if (coll === 'datasets') {
      if (!a) return method === 'GET' ? 'datasets.list' : 'datasets.insert';
      if (!sub) return { GET: 'datasets.get', DELETE: 'datasets.delete', PATCH: 'datasets.patch', PUT: 'datasets.update' }[method] ?? 'datasets.?';
      if (!b) return method === 'GET' ? 'tables.list' : 'tables.insert';
      if (tail === 'data') return 'tabledata.list';
      if (tail === 'insertAll') return 'tabledata.insertAll';
      return { GET: 'tables.get', DELETE: 'tables.delete', PATCH: 'tables.patch', PUT: 'tables.update' }[method] ?? 'tables.?';
    }
    if (coll === 'jobs') return a ? 'jobs.get' : 'jobs.insert';
    if (coll === 'queries') return a ? 'jobs.getQueryResults' : 'jobs.query';
    return 'unknown';
  }

  function failNext(call: string, fault: Fault, times = 1): void {
    const q = faults.get(call) ?? [];
    for (let i = 0; i < times; i++) q.push(fault);
    faults.set(call, q);
  }

  /**
   * The control API, for people and tests outside this process (see serve-fakes.ts):
   * POST /__fake/fail {"call":"tables.patch","reason":"rateLimitExceeded","times":3} (also status, message,
   * hang, skip, replyLost), DELETE /__fake/fail clears pending faults, GET /__fake/calls lists calls.
   */
  function control(method: string, path: string, raw: Buffer, res: ServerResponse): void {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(body));
    };
    try {
      if (path === '/__fake/fail' && method === 'POST') {
        const b = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
        if (typeof b.call !== 'string' || !b.call) return reply(400, { error: 'body needs "call", e.g. {"call":"tables.patch","reason":"rateLimitExceeded","times":3}' });
        const times = b.times === undefined ? 1 : Number(b.times);
        if (!Number.isInteger(times) || times < 1) return reply(400, { error: '"times" must be a positive integer' });
        const fault: Fault = {};
        if (b.status !== undefined) fault.status = Number(b.status);
        if (typeof b.reason === 'string') fault.reason = b.reason;
        if (typeof b.message === 'string') fault.message = b.message;
        if (b.hang === true) fault.hang = true;
        if (b.replyLost === 'drop' || typeof b.replyLost === 'number') fault.replyLost = b.replyLost;
        // "skip" lets that many calls through once, before the first of the `times` failures.
        failNext(b.call, b.skip !== undefined ? { ...fault, skip: Number(b.skip) } : fault, 1);
        if (times > 1) failNext(b.call, fault, times - 1);
        return reply(200, { call: b.call, fault, times, ...(b.skip !== undefined ? { skip: Number(b.skip) } : {}) });
      }
      if (path === '/__fake/fail' && method === 'DELETE') {
        faults.clear();
        return reply(200, {});
      }
      if (path === '/__fake/calls' && method === 'GET') return reply(200, { calls });
      reply(404, { error: `no control route ${method} ${path}` });
    } catch (e) {
      reply(400, { error: (e as Error).message });
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname.startsWith('/__fake/')) {
        control(req.method ?? 'GET', url.pathname, Buffer.concat(chunks), res);
        return;
      }
      let path = url.pathname.replace(/^\/upload/, '').replace(/^\/bigquery\/v2/, '');
      const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
      const method = (req.method ?? 'GET').toUpperCase();
      const call = callName(method, parts);
      calls.push(call);
      const send = (status: number, body: unknown) => {
        if (status === 204 || body === undefined) {
          res.writeHead(status === 200 ? 204 : status);
          res.end();
          return;
        }
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(text);
      };
      const queue = faults.get(call);
      let lost: Fault['replyLost'];
      if (queue && queue.length && queue[0]!.skip) {
        queue[0] = { ...queue[0]!, skip: queue[0]!.skip! - 1 };
      } else if (queue && queue.length && queue[0]!.replyLost !== undefined) {
        lost = queue.shift()!.replyLost;
      } else if (queue && queue.length) {
        const f = queue.shift()!;
        if (f.hang) {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        // BigQuery answers rate limits with 403 rateLimitExceeded (429 only from the API front end).
        const reason = f.reason ?? (f.status === 429 ? 'rateLimitExceeded' : 'backendError');
        const status = f.status ?? (reason === 'rateLimitExceeded' ? 403 : 500);
        const fail = () => send(status, errorBody(status, reason, f.message ?? DEFAULT_MESSAGES[reason] ?? `Injected ${reason}`));
        if (f.afterServing) {
          const q = Object.fromEntries(url.searchParams.entries());
          void serial(() => handle(method, parts, q, req.headers, Buffer.concat(chunks), call)).then(fail, fail);
          return;
        }
        fail();
        return;
      }
      const q = Object.fromEntries(url.searchParams.entries());
      serial(() => handle(method, parts, q, req.headers, Buffer.concat(chunks), call)).then(
        ([status, body]) => {
          // The work is done; the reply never arrives.
          if (lost === 'drop') res.socket?.destroy();
          else if (lost !== undefined) send(lost, errorBody(lost, 'backendError', DEFAULT_MESSAGES.backendError!));
          else send(status, body);
        },
        (e: unknown) => {
          if (e instanceof HttpError) send(e.status, errorBody(e.status, e.reason, e.message));
          else if (e instanceof SqlError) send(400, errorBody(400, 'invalidQuery', e.message));
          else send(500, errorBody(500, 'internalError', `fake: ${(e as Error)?.message ?? String(e)}`));
        },
      );
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    project,
    calls,
    failNext,
    sql: (query) => serial(async () => (await readAll(query)).rows),
    ref: (d, t) => `${dq(d)}.${dq(duckTableName(t))}`,
    table: (d, t) => tables.get(key(d, t))?.meta,
    hanging: () => hanging.size,
    async stop() {
      for (const r of hanging) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      conn.closeSync();
      db.closeSync();
    },
  };
}

/** multipart/related (the client's upload): part 1 the job JSON, part 2 the data. */
function parseMultipart(raw: Buffer, contentType: string): { meta: Record<string, any>; data: string } {
  const m = /boundary="?([^";]+)"?/.exec(contentType);
  if (!m) throw new HttpError(400, 'invalid', 'multipart upload without a boundary');
  const text = raw.toString('utf8');
  const parts = text
    .split(`--${m[1]}`)
    .slice(1)
    .filter((p) => !p.startsWith('--'))
    .map((p) => {
      const sep = p.indexOf('\r\n\r\n');
      const body = sep >= 0 ? p.slice(sep + 4) : p;
      return body.replace(/\r\n$/, '');
    });
  if (parts.length < 2) throw new HttpError(400, 'invalid', 'multipart upload needs metadata and media parts');
  return { meta: JSON.parse(parts[0]!) as Record<string, any>, data: parts[1]! };
}
