// Jobs of the BigQuery fake: query jobs (GoogleSQL DDL/DML/SELECT run on DuckDB with
// BigQuery's ALTER TABLE and CAST rules and error wording) and load jobs from an NDJSON
// upload. A job runs in one location and may only touch datasets there; it does its work
// at insert but reads RUNNING until it has been polled `jobPolls` times.

import { randomBytes } from 'node:crypto';
import { SqlError, columnCasts, dq, duckType, identName, isWord, parseType, solid, tablePath, tokenize, translate } from './bigquery-fake-sql.js';
import type { RestFieldLike } from './bigquery-fake-sql.js';
import { HttpError, duckTableName as duckTableNameOf, fieldAt, nowMs } from './bigquery-fake-store.js';
import type { FakeStore } from './bigquery-fake-store.js';
import { cell, fieldForDuckType, literal } from './bigquery-fake-values.js';
import { bindParameters, rewriteGoogleSql } from './bigquery-fake-googlesql.js';

export interface JobEntry {
  resource: Record<string, any>;
  schema?: RestFieldLike[];
  rows?: Record<string, unknown>[];
  /** Polls (jobs.get, getQueryResults) left before the job reads DONE. */
  pollsLeft: number;
  /** The status it reads once DONE. */
  final: Record<string, any>;
}

const sameLocation = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function createJobs(store: FakeStore, jobPolls: number) {
  const { conn, tables, datasets, key, tableName, getTableRec, touch, insertTable, countRows, readAll, project, defaultLocation, duckRef } = store;
  const jobs = new Map<string, JobEntry>();

  /** BigQuery runs a job in one location: a dataset elsewhere is "not found" from there. */
  function inLocation(dataset: string, location: string): void {
    const ds = datasets.get(dataset);
    if (ds && !sameLocation(ds.location, location)) throw new HttpError(404, 'notFound', `Not found: Dataset ${project}:${dataset} was not found in location ${location}`);
  }

  /** Is a CAST from `from` to `to` one BigQuery accepts (STRUCTs by position, ARRAYs only to the same type)? */
  function castable(from: RestFieldLike, to: RestFieldLike): boolean {
    const rep = (f: RestFieldLike) => f.mode === 'REPEATED';
    if (rep(from) || rep(to)) return rep(from) && rep(to) && sqlTypeName(from) === sqlTypeName(to);
    if (from.type === 'RECORD' || to.type === 'RECORD') {
      const a = from.fields ?? [];
      const b = to.fields ?? [];
      return from.type === to.type && a.length === b.length && a.every((f, i) => castable(f, b[i]!));
    }
    return true;
  }

  function checkCasts(sql: string, sources: Array<{ dataset: string; table: string }>): void {
    const fields = sources.flatMap((t) => (tables.get(key(t.dataset, t.table))?.meta.schema.fields ?? []) as RestFieldLike[]);
    for (const c of columnCasts(sql)) {
      let f: RestFieldLike | undefined = fieldAt(fields, c.path[0]!);
      for (const part of c.path.slice(1)) f = f && f.mode !== 'REPEATED' ? fieldAt(f.fields ?? [], part) : undefined;
      if (f && !castable(f, c.to)) throw new SqlError(`Invalid cast from ${sqlTypeName(f)} to ${sqlTypeName(c.to)}`);
    }
  }

  /** Does a SET DATA TYPE from `from` to `to` change the type of an ARRAY (at any depth)? */
  function changesArray(from: RestFieldLike, to: RestFieldLike): boolean {
    if (from.mode === 'REPEATED' || to.mode === 'REPEATED') return sqlTypeName(from) !== sqlTypeName(to);
    return (from.fields ?? []).some((f) => {
      const g = fieldAt(to.fields ?? [], f.name);
      return !!g && changesArray(f, g);
    });
  }
  type JobOutcome = { schema?: RestFieldLike[]; rows?: Record<string, unknown>[]; stats: Record<string, any> };

  /** Is a column of type `from` assignable to `to` (ALTER COLUMN SET DATA TYPE)? */
  function assignable(from: RestFieldLike, to: RestFieldLike): boolean {
    if ((from.mode === 'REPEATED') !== (to.mode === 'REPEATED')) return false;
    if (from.type === 'RECORD' || to.type === 'RECORD') {
      if (from.type !== to.type) return false;
      const a = from.fields ?? [];
      const b = to.fields ?? [];
      return a.length === b.length && a.every((f) => {
        const g = fieldAt(b, f.name);
        return !!g && assignable(f, g);
      });
    }
    if (from.type === to.type) return true;
    const widen: Record<string, string[]> = { INTEGER: ['NUMERIC', 'BIGNUMERIC', 'FLOAT'], NUMERIC: ['BIGNUMERIC', 'FLOAT'] };
    return (widen[from.type] ?? []).includes(to.type);
  }

  const sqlTypeName = (f: RestFieldLike): string => {
    const m: Record<string, string> = { INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', RECORD: 'STRUCT' };
    const base = f.type === 'RECORD' ? `STRUCT<${(f.fields ?? []).map((c) => `${c.name} ${sqlTypeName(c)}`).join(', ')}>` : m[f.type] ?? f.type;
    return f.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
  };

  async function runAlter(sql: string, location: string): Promise<JobOutcome> {
    const s = solid(tokenize(sql));
    const p = tablePath(s[2]);
    if (!p) throw new SqlError('Syntax error: expected a table name after ALTER TABLE');
    inLocation(p.dataset, location);
    const rec = getTableRec(p.dataset, p.table);
    const fields: RestFieldLike[] = rec.meta.schema.fields;
    const T = duckRef(p.dataset, p.table);
    const name = tableName(p.dataset, p.table);
    const layoutCols = [rec.meta.timePartitioning?.field, ...(rec.meta.clustering?.fields ?? [])].filter(Boolean).map((x: string) => x.toLowerCase());
    const mustFind = (c: string | undefined): RestFieldLike => {
      const f = c ? fieldAt(fields, c) : undefined;
      if (!f) throw new SqlError(`Column ${c} does not exist in table ${name}`);
      return f;
    };
    let i = 3;
    if (isWord(s[i], 'DROP') && isWord(s[i + 1], 'COLUMN')) {
      i += 2;
      const ifExists = isWord(s[i], 'IF') && isWord(s[i + 1], 'EXISTS');
      if (ifExists) i += 2;
      const c = identName(s[i]);
      const f = c ? fieldAt(fields, c) : undefined;
      if (!f) {
        if (ifExists) return { stats: { statementType: 'ALTER_TABLE' } };
        mustFind(c);
      }
      if (layoutCols.includes(f!.name.toLowerCase())) throw new SqlError(`Cannot drop column ${f!.name}: it is a partitioning or clustering column of table ${name}`);
      if (fields.length === 1) throw new SqlError(`Cannot drop column ${f!.name}: a table must have at least one column`);
      await conn.run(`ALTER TABLE ${T} DROP COLUMN ${dq(f!.name)}`);
      rec.meta.schema.fields = fields.filter((x) => x !== f);
    } else if (isWord(s[i], 'RENAME') && isWord(s[i + 1], 'COLUMN')) {
      const f = mustFind(identName(s[i + 2]));
      if (!isWord(s[i + 3], 'TO')) throw new SqlError('Syntax error: expected TO');
      const to = identName(s[i + 4])!;
      if (fieldAt(fields, to)) throw new SqlError(`Column already exists: ${to}`);
      if (layoutCols.includes(f.name.toLowerCase())) throw new SqlError(`Cannot rename column ${f.name}: it is a partitioning or clustering column of table ${name}`);
      await conn.run(`ALTER TABLE ${T} RENAME COLUMN ${dq(f.name)} TO ${dq(to)}`);
      f.name = to;
    } else if (isWord(s[i], 'RENAME') && isWord(s[i + 1], 'TO')) {
      const to = identName(s[i + 2])!;
      if (tables.has(key(p.dataset, to))) throw new SqlError(`Already Exists: Table ${tableName(p.dataset, to)}`);
      await conn.run(`ALTER TABLE ${T} RENAME TO ${dq(duckTableNameOf(to))}`);
      tables.delete(key(p.dataset, p.table));
      rec.meta.tableReference = { projectId: project, datasetId: p.dataset, tableId: to };
      rec.meta.id = tableName(p.dataset, to);
      tables.set(key(p.dataset, to), rec);
    } else if (isWord(s[i], 'ALTER') && isWord(s[i + 1], 'COLUMN')) {
      const f = mustFind(identName(s[i + 2]));
      i += 3;
      if (isWord(s[i], 'SET') && isWord(s[i + 1], 'DATA') && isWord(s[i + 2], 'TYPE')) {
        const to = parseType(s, i + 3).field;
        to.name = f.name;
        if (changesArray(f, to)) {
          throw new SqlError(`ALTER TABLE ALTER COLUMN SET DATA TYPE cannot change the type of an ARRAY: column ${f.name} is ${sqlTypeName(f)}, requested ${sqlTypeName(to)}`);
        }
        if (!assignable(f, to)) {
          throw new SqlError(
            `ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (${sqlTypeName(f)}) is assignable to the new type (${sqlTypeName(to)})`,
          );
        }
        await conn.run(`ALTER TABLE ${T} ALTER COLUMN ${dq(f.name)} SET DATA TYPE ${duckType(to)}`);
        const keep = (a: RestFieldLike, b: RestFieldLike) => {
          a.type = b.type;
          for (const sub of a.fields ?? []) keep(sub, fieldAt(b.fields ?? [], sub.name)!);
        };
        keep(f, to);
      } else if (isWord(s[i], 'DROP') && isWord(s[i + 1], 'NOT') && isWord(s[i + 2], 'NULL')) {
        if (f.mode === 'REQUIRED') {
          await conn.run(`ALTER TABLE ${T} ALTER COLUMN ${dq(f.name)} DROP NOT NULL`);
          f.mode = 'NULLABLE';
        }
      } else throw new SqlError('Syntax error: unsupported ALTER COLUMN action');
    } else if (isWord(s[i], 'ADD') && isWord(s[i + 1], 'COLUMN')) {
      i += 2;
      if (isWord(s[i], 'IF') && isWord(s[i + 1], 'NOT') && isWord(s[i + 2], 'EXISTS')) i += 3;
      const c = identName(s[i])!;
      const ft = parseType(s, i + 1).field;
      if (fieldAt(fields, c)) throw new SqlError(`Column already exists: ${c}`);
      const nf = { ...ft, name: c };
      await conn.run(`ALTER TABLE ${T} ADD COLUMN ${dq(c)} ${duckType(nf)}`);
      fields.push(nf);
    } else throw new SqlError('Syntax error: unsupported ALTER TABLE statement');
    touch(rec);
    return { stats: { statementType: 'ALTER_TABLE' } };
  }

  async function runQuery(sql: string, location: string, defaultDataset?: string): Promise<JobOutcome> {
    const s = solid(tokenize(sql));
    const first = s[0] && s[0].k === 'w' ? s[0].v.toUpperCase() : '';
    if (first === 'ALTER' && isWord(s[1], 'TABLE')) return runAlter(sql, location);
    if (first === 'DROP' && isWord(s[1], 'TABLE')) {
      const ifExists = isWord(s[2], 'IF') && isWord(s[3], 'EXISTS');
      const p = tablePath(s[ifExists ? 4 : 2], defaultDataset);
      if (!p) throw new SqlError('Syntax error: expected a table name');
      inLocation(p.dataset, location);
      if (!tables.has(key(p.dataset, p.table))) {
        if (ifExists) return { stats: { statementType: 'DROP_TABLE' } };
        throw new HttpError(404, 'notFound', `Not found: Table ${tableName(p.dataset, p.table)}`);
      }
      await conn.run(`DROP TABLE ${duckRef(p.dataset, p.table)}`);
      tables.delete(key(p.dataset, p.table));
      return { stats: { statementType: 'DROP_TABLE' } };
    }
    const tr = translate(rewriteGoogleSql(sql), duckRef);
    for (const t of tr.tables) {
      inLocation(t.dataset, location);
      if (!tables.has(key(t.dataset, t.table)))
        throw new HttpError(404, 'notFound', `Not found: Table ${tableName(t.dataset, t.table)} was not found in location ${location}`);
    }
    checkCasts(sql, first === 'SELECT' || first === 'WITH' ? tr.tables : tr.tables.slice(1));
    if (first === 'SELECT' || first === 'WITH') {
      const r = await readAll(tr.sql);
      // BigQuery runs queries whose arrays hold NULLs, but refuses to write one into a result.
      for (const row of r.rows) {
        for (const name of r.names) {
          const v = row[name];
          if (Array.isArray(v) && v.some((x) => x === null)) throw new SqlError(`Array cannot have a null element; error in writing field ${name}`);
        }
      }
      const schema = r.names.map((n, i) => fieldForDuckType(n, r.types[i] as never));
      return { schema, rows: r.rows, stats: { statementType: 'SELECT' } };
    }
    if (!['INSERT', 'MERGE', 'UPDATE', 'DELETE'].includes(first)) throw new SqlError(`Syntax error: the fake does not support ${first || 'this'} statements`);
    const target = tr.tables[0];
    if (!target) throw new SqlError('Syntax error: expected a target table');
    const rec = tables.get(key(target.dataset, target.table))!;
    const before = await countRows(target.dataset, target.table);
    // MERGE: count each row's action, as BigQuery's dmlStats do (deletes included).
    const actions = first === 'MERGE' ? await mergeActions(tr.sql) : undefined;
    const changed = actions ? actions.INSERT + actions.UPDATE + actions.DELETE : Number((await conn.run(tr.sql)).rowsChanged);
    const after = await countRows(target.dataset, target.table);
    const dml = { insertedRowCount: '0', updatedRowCount: '0', deletedRowCount: '0' };
    if (first === 'INSERT') dml.insertedRowCount = String(changed);
    else if (first === 'UPDATE') dml.updatedRowCount = String(changed);
    else if (first === 'DELETE') dml.deletedRowCount = String(changed);
    else if (actions) {
      dml.insertedRowCount = String(actions.INSERT);
      dml.updatedRowCount = String(actions.UPDATE);
      dml.deletedRowCount = String(actions.DELETE);
    } else {
      const inserted = Math.max(0, after - before);
      dml.insertedRowCount = String(inserted);
      dml.updatedRowCount = String(changed - inserted);
    }
    if (changed > 0) touch(rec);
    return { stats: { statementType: first, numDmlAffectedRows: String(changed), dmlStats: dml } };
  }

  async function mergeActions(duckSql: string): Promise<Record<'INSERT' | 'UPDATE' | 'DELETE', number>> {
    const r = await readAll(`${duckSql} RETURNING merge_action`);
    const n = { INSERT: 0, UPDATE: 0, DELETE: 0 };
    for (const row of r.rows) n[String(row.merge_action) as keyof typeof n]++;
    return n;
  }

  /** DuckDB's wording → BigQuery's, for the failures tests look at. */
  function bigQueryMessage(e: unknown): string {
    const m = e instanceof Error ? e.message : String(e);
    const conv = /Could not convert string '([^']*)' to (INT64|INT32|BIGINT|INTEGER)/i.exec(m);
    if (conv) return `Bad int64 value: ${conv[1]}`;
    const conv2 = /Could not convert string '([^']*)' to (DOUBLE|DECIMAL[^ ]*)/i.exec(m);
    if (conv2) return `Bad ${conv2[2]!.startsWith('D') && conv2[2] !== 'DOUBLE' ? 'numeric' : 'double'} value: ${conv2[1]}`;
    const nn = /NOT NULL constraint failed: [^.]+\.(.+)/.exec(m);
    if (nn) return `Required field ${nn[1]} cannot be null`;
    return `Query error: ${m.split('\n')[0]}`;
  }

  function jobResource(ref: { projectId?: string; jobId: string }, location: string, configuration: Record<string, any>): Record<string, any> {
    return {
      kind: 'bigquery#job',
      id: `${project}:${location}.${ref.jobId}`,
      jobReference: { projectId: project, jobId: ref.jobId, location },
      configuration,
      status: { state: 'DONE' },
      statistics: { creationTime: nowMs(), startTime: nowMs(), endTime: nowMs() },
    };
  }

  async function loadRows(cfg: Record<string, any>, data: string, location: string): Promise<Record<string, any>> {
    const dest = cfg.destinationTable ?? {};
    const d = dest.datasetId;
    const t = dest.tableId;
    inLocation(d, location);
    if ((cfg.sourceFormat ?? 'CSV') !== 'NEWLINE_DELIMITED_JSON') throw new SqlError(`The fake loads only NEWLINE_DELIMITED_JSON, not ${cfg.sourceFormat ?? 'CSV'}`);
    if (!tables.has(key(d, t))) {
      if (cfg.createDisposition === 'CREATE_NEVER') throw new HttpError(404, 'notFound', `Not found: Table ${tableName(d, t)}`);
      if (!cfg.schema?.fields) throw new SqlError(`No schema specified on job or table ${tableName(d, t)}.`);
      await insertTable(d, { tableReference: dest, schema: cfg.schema });
    }
    const rec = getTableRec(d, t);
    const fields: RestFieldLike[] = rec.meta.schema.fields;
    const lines = data.split('\n').filter((l) => l.trim() !== '');
    const disp = cfg.writeDisposition ?? 'WRITE_APPEND';
    if (disp === 'WRITE_EMPTY' && (await countRows(d, t)) > 0) throw new SqlError(`Already Exists: Table ${tableName(d, t)} is not empty`);
    const values: string[] = [];
    lines.forEach((line, n) => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new SqlError(`Error while reading data, error message: JSON parsing error in row starting at position ${n}`);
      }
      for (const k of Object.keys(obj)) if (!fieldAt(fields, k)) throw new SqlError(`Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: ${n + 1}; no such field: ${k}.`);
      try {
        values.push(`(${fields.map((f) => literal(obj[Object.keys(obj).find((k) => k.toLowerCase() === f.name.toLowerCase()) ?? ''] ?? null, f)).join(', ')})`);
      } catch (e) {
        throw new SqlError(`Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: ${n + 1}; errors: 1. ${(e as Error).message}`);
      }
    });
    if (disp === 'WRITE_TRUNCATE') await conn.run(`DELETE FROM ${duckRef(d, t)}`);
    for (let i = 0; i < values.length; i += 500) {
      await conn.run(`INSERT INTO ${duckRef(d, t)} (${fields.map((f) => dq(f.name)).join(', ')}) VALUES ${values.slice(i, i + 500).join(', ')}`);
    }
    touch(rec);
    return { load: { outputRows: String(values.length), inputFiles: '1' } };
  }

  /** Where a job without a location runs: BigQuery infers it from the datasets it names. */
  function inferLocation(cfg: Record<string, any>): string {
    const named = cfg.load?.destinationTable?.datasetId ?? cfg.query?.defaultDataset?.datasetId ?? (cfg.query ? translate(String(cfg.query.query ?? '')).tables[0]?.dataset : undefined);
    return (named !== undefined ? datasets.get(named)?.location : undefined) ?? defaultLocation;
  }

  /** Runs a job (its work happens now); it reads DONE only after it was polled. `finished`: jobs.query, which waits. */
  async function runJob(body: Record<string, any>, upload?: string, finished = false): Promise<Record<string, any>> {
    const ref = { ...(body.jobReference ?? {}), jobId: body.jobReference?.jobId ?? `job_${randomBytes(8).toString('hex')}` };
    const cfg = body.configuration ?? {};
    const location: string = ref.location ?? inferLocation(cfg);
    if (jobs.has(ref.jobId)) throw new HttpError(409, 'duplicate', `Already Exists: Job ${project}:${location}.${ref.jobId}`);
    const job = jobResource(ref, location, cfg);
    const entry: JobEntry = { resource: job, pollsLeft: finished ? 0 : jobPolls, final: { state: 'DONE' } };
    jobs.set(ref.jobId, entry);
    try {
      if (cfg.query) {
        const dflt = cfg.query.defaultDataset?.datasetId;
        const out = await runQuery(bindParameters(String(cfg.query.query ?? ''), cfg.query), location, dflt);
        job.statistics.query = out.stats;
        if (out.schema) {
          entry.schema = out.schema;
          entry.rows = out.rows ?? [];
          job.statistics.query.schema = { fields: out.schema };
          job.statistics.query.totalRows = String(entry.rows.length);
        }
      } else if (cfg.load) {
        job.statistics.load = (await loadRows(cfg.load, upload ?? '', location)).load;
      } else throw new SqlError('The fake runs query and load jobs only');
    } catch (e) {
      const reason = e instanceof HttpError ? e.reason : 'invalidQuery';
      const message = e instanceof HttpError ? e.message : e instanceof SqlError ? e.message : bigQueryMessage(e);
      const err = { reason, location: 'query', message };
      entry.final = { state: 'DONE', errorResult: err, errors: [err] };
      // BigQuery rejects what it can tell before running (missing tables, bad SQL, bad
      // CASTs) at insert; failures while running (bad values) show when the job is DONE.
      if (e instanceof HttpError || e instanceof SqlError) entry.pollsLeft = 0;
    }
    job.status = entry.pollsLeft > 0 ? { state: 'RUNNING' } : entry.final;
    return structuredClone(job);
  }

  /** jobs.get: a job in another location is not found; each poll brings it closer to DONE. */
  function poll(jobId: string, location: string | undefined): JobEntry {
    const entry = jobs.get(jobId);
    const at = entry?.resource.jobReference.location as string | undefined;
    if (!entry || (location !== undefined && !sameLocation(location, at!))) {
      throw new HttpError(404, 'notFound', `Not found: Job ${project}:${location ?? defaultLocation}.${jobId}`);
    }
    if (entry.pollsLeft > 0 && --entry.pollsLeft === 0) entry.resource.status = entry.final;
    return entry;
  }

  function getJob(jobId: string, location: string | undefined): Record<string, any> {
    return structuredClone(poll(jobId, location).resource);
  }

  function queryResponse(jobId: string, q: Record<string, string | undefined>, finished = false): Record<string, any> {
    const entry = finished ? jobs.get(jobId)! : poll(jobId, q.location);
    if (entry.pollsLeft > 0) return { kind: 'bigquery#getQueryResultsResponse', jobReference: entry.resource.jobReference, jobComplete: false };
    const er = entry.resource.status?.errorResult;
    if (er) throw new HttpError(400, er.reason, er.message);
    const res: Record<string, any> = { kind: 'bigquery#getQueryResultsResponse', jobReference: entry.resource.jobReference, jobComplete: true, cacheHit: false };
    const stats = entry.resource.statistics.query ?? {};
    if (stats.numDmlAffectedRows !== undefined) res.numDmlAffectedRows = stats.numDmlAffectedRows;
    if (entry.schema) {
      res.schema = { fields: entry.schema };
      res.totalRows = String(entry.rows!.length);
      Object.assign(res, page(entry.schema, entry.rows!, q));
    } else res.totalRows = '0';
    return res;
  }

  function page(schema: RestFieldLike[], rows: Record<string, unknown>[], q: Record<string, string | undefined>) {
    const start = Number(q.pageToken ?? q.startIndex ?? 0);
    const max = Number(q.maxResults ?? 10000) || 10000;
    const slice = rows.slice(start, start + max);
    const int64 = q['formatOptions.useInt64Timestamp'] === 'true';
    const out: Record<string, any> = { rows: slice.map((r) => ({ f: schema.map((f) => cell(r[f.name], f, int64)) })) };
    if (start + max < rows.length) out.pageToken = String(start + max);
    return out;
  }

  return { jobs, runJob, getJob, queryResponse };
}
