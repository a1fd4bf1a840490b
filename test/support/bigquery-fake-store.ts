// State of the BigQuery fake (test/support/bigquery-fake.ts): datasets and tables as REST
// resources, their rows in an in-memory DuckDB (schema = dataset, table = table), and
// BigQuery's rules for creating and patching tables.

import { randomBytes } from 'node:crypto';
import { dq, duckType, legacyType } from './bigquery-fake-sql.js';
import type { RestFieldLike } from './bigquery-fake-sql.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}


export const newEtag = () => randomBytes(12).toString('base64');
export const nowMs = () => String(Date.now());

export interface TableRec {
  meta: Record<string, any>;
}

export function fieldAt(fields: RestFieldLike[], name: string): RestFieldLike | undefined {
  return fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
}

/**
 * DuckDB's identifiers are case-insensitive even when quoted, BigQuery's table names are
 * case-sensitive: a name with capitals gets the positions of its capitals appended (after a
 * `~`, which BigQuery table names cannot hold), so `Customer` and `customer` are two tables.
 */
export function duckTableName(t: string): string {
  const caps = [...t].flatMap((ch, i) => (ch !== ch.toLowerCase() ? [i] : []));
  return caps.length ? `${t}~${caps.join(',')}` : t;
}

/** How tables.get shows requirePartitionFilter (BigQuery's docs leave it open; tests try each). */
export type RequireFilterEcho = 'table' | 'nested' | 'both';

/** BigQuery's limits the fake enforces. */
export const MAX_LABELS = 64;
export const MAX_FIELD_DESCRIPTION = 1024;

export async function createStore(project: string, defaultLocation: string, requireFilterEcho: RequireFilterEcho = 'table') {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run("SET TimeZone = 'UTC'").catch(() => undefined);
  const datasets = new Map<string, Record<string, any>>();
  const tables = new Map<string, TableRec>();
  const key = (d: string, t: string) => `${d}\u0000${t}`;
  const readAll = async (sql: string) => {
    const r = await conn.runAndReadAll(sql);
    return { rows: r.getRowObjectsJson() as Record<string, unknown>[], names: r.columnNames(), types: r.columnTypes() };
  };

  const tableName = (d: string, t: string) => `${project}:${d}.${t}`;
  /** The DuckDB table holding a BigQuery table's rows. */
  const duckRef = (d: string, t: string) => `${dq(d)}.${dq(duckTableName(t))}`;

  function getDataset(d: string): Record<string, any> {
    const ds = datasets.get(d);
    if (!ds) throw new HttpError(404, 'notFound', `Not found: Dataset ${project}:${d}`);
    return ds;
  }

  function getTableRec(d: string, t: string): TableRec {
    getDataset(d);
    const rec = tables.get(key(d, t));
    if (!rec) throw new HttpError(404, 'notFound', `Not found: Table ${tableName(d, t)}`);
    return rec;
  }

  function touch(rec: TableRec): void {
    rec.meta.etag = newEtag();
    rec.meta.lastModifiedTime = nowMs();
  }

  function normalizeFields(fields: RestFieldLike[] | undefined, where: string): RestFieldLike[] {
    const seen = new Set<string>();
    return (fields ?? []).map((f) => {
      if (!f.name || !/^[\p{L}\p{M}\p{N}_][\p{L}\p{M}\p{N}\p{Pc}\p{Pd}_ &%=+:'<>#|]*$/u.test(f.name) || f.name.length > 300) {
        throw new HttpError(400, 'invalid', `Invalid field name "${f.name}". Fields must contain the allowed characters, and be at most 300 characters long.`);
      }
      const lower = f.name.toLowerCase();
      if (seen.has(lower)) throw new HttpError(400, 'invalid', `Field ${f.name} already exists in schema of ${where}`);
      seen.add(lower);
      const type = legacyType(f.type ?? 'STRING');
      const out: RestFieldLike = { name: f.name, type, mode: (f.mode ?? 'NULLABLE').toUpperCase() };
      if (f.description !== undefined && f.description !== null) {
        if ([...f.description].length > MAX_FIELD_DESCRIPTION)
          throw new HttpError(400, 'invalid', `The description for field ${f.name} is too long. The maximum length is ${MAX_FIELD_DESCRIPTION} characters.`);
        out.description = f.description;
      }
      if (type === 'RECORD') {
        if (!f.fields?.length) throw new HttpError(400, 'invalid', `Field ${f.name} is type RECORD but has no schema`);
        out.fields = normalizeFields(f.fields, where);
      }
      return out;
    });
  }

  function validateLayout(meta: Record<string, any>, where: string): void {
    const labelCount = Object.keys(meta.labels ?? {}).length;
    if (labelCount > MAX_LABELS) throw new HttpError(400, 'invalid', `Too many labels on ${where}: ${labelCount}. A resource can have at most ${MAX_LABELS} labels.`);
    const fields: RestFieldLike[] = meta.schema?.fields ?? [];
    const tp = meta.timePartitioning;
    if (tp?.field) {
      const f = fields.find((x) => x.name.toLowerCase() === String(tp.field).toLowerCase());
      if (!f) throw new HttpError(400, 'invalid', `The field specified for partitioning cannot be found in the schema of ${where}. Invalid field: ${tp.field}.`);
      if (!['TIMESTAMP', 'DATE', 'DATETIME', 'INTEGER'].includes(f.type) || f.mode === 'REPEATED')
        throw new HttpError(400, 'invalid', `Partitioning field ${tp.field} of ${where} must be a top-level TIMESTAMP, DATE or DATETIME column; it is ${f.mode} ${f.type}.`);
    }
    const cl: string[] = meta.clustering?.fields ?? [];
    if (cl.length > 4) throw new HttpError(400, 'invalid', `Too many clustering fields: ${cl.length}, only 4 are allowed.`);
    for (const c of cl) {
      const f = fields.find((x) => x.name.toLowerCase() === c.toLowerCase());
      if (!f) throw new HttpError(400, 'invalid', `The field specified for clustering cannot be found in the schema. Invalid field: ${c}.`);
      if (f.type === 'RECORD' || f.mode === 'REPEATED' || ['FLOAT', 'JSON'].includes(f.type))
        throw new HttpError(400, 'invalid', `Field ${c} is of type ${f.mode === 'REPEATED' ? 'ARRAY' : f.type} which is not supported for clustering.`);
    }
  }

  async function createDuckTable(d: string, t: string, fields: RestFieldLike[]): Promise<void> {
    const cols = fields.map((f) => `${dq(f.name)} ${duckType(f)}${f.mode === 'REQUIRED' ? ' NOT NULL' : ''}`);
    // A table without columns (allowed in BigQuery) holds no data here.
    await conn.run(`CREATE TABLE ${duckRef(d, t)} (${cols.length ? cols.join(', ') : '"__mlbridge_fake_empty" BOOLEAN'})`);
  }

  async function insertTable(d: string, body: Record<string, any>): Promise<Record<string, any>> {
    getDataset(d);
    const t = body.tableReference?.tableId;
    if (!t) throw new HttpError(400, 'invalid', 'Required parameter is missing: tableReference.tableId');
    if (!/^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]{1,1024}$/u.test(t)) throw new HttpError(400, 'invalid', `Invalid table ID "${t}".`);
    if (tables.has(key(d, t))) throw new HttpError(409, 'duplicate', `Already Exists: Table ${tableName(d, t)}`);
    const fields = normalizeFields(body.schema?.fields, tableName(d, t));
    const meta: Record<string, any> = {
      kind: 'bigquery#table',
      id: tableName(d, t),
      selfLink: `/projects/${project}/datasets/${d}/tables/${t}`,
      tableReference: { projectId: project, datasetId: d, tableId: t },
      schema: { fields },
      labels: { ...(body.labels ?? {}) },
      type: 'TABLE',
      location: datasets.get(d)!.location,
      creationTime: nowMs(),
      lastModifiedTime: nowMs(),
      etag: newEtag(),
    };
    for (const k of ['description', 'timePartitioning', 'clustering', 'expirationTime', 'friendlyName']) {
      if (body[k] !== undefined && body[k] !== null) meta[k] = structuredClone(body[k]);
    }
    if (meta.timePartitioning) meta.timePartitioning.type = String(meta.timePartitioning.type ?? 'DAY').toUpperCase();
    setRequireFilter(meta, body);
    validateLayout(meta, tableName(d, t));
    await createDuckTable(d, t, fields);
    tables.set(key(d, t), { meta });
    return withRows(d, t, meta);
  }

  async function withRows(d: string, t: string, meta: Record<string, any>): Promise<Record<string, any>> {
    const { rows } = await readAll(`SELECT COUNT(*) AS n FROM ${duckRef(d, t)}`);
    const out: Record<string, any> = { ...structuredClone(meta), numRows: String(rows[0]!.n), numBytes: '0' };
    // Stored once (table level); shown where this fake is told BigQuery shows it.
    const rpf = out.requirePartitionFilter;
    if (requireFilterEcho !== 'table' && rpf !== undefined && out.timePartitioning) out.timePartitioning.requirePartitionFilter = rpf;
    if (requireFilterEcho === 'nested') delete out.requirePartitionFilter;
    return out;
  }

  /**
   * requirePartitionFilter: the table-level field, or the deprecated one inside
   * timePartitioning (moved up; the table-level one wins). Only partitioned tables take it.
   */
  function setRequireFilter(meta: Record<string, any>, body: Record<string, any>): void {
    const nested = body.timePartitioning?.requirePartitionFilter;
    if (meta.timePartitioning) delete meta.timePartitioning.requirePartitionFilter;
    const value = 'requirePartitionFilter' in body ? body.requirePartitionFilter : nested;
    if (value === undefined) return;
    if (value === null || value === false) delete meta.requirePartitionFilter;
    else meta.requirePartitionFilter = true;
  }

  /** BigQuery's tables.patch/update schema rules; returns the DuckDB statements that apply the change. */
  function schemaChange(d: string, t: string, oldF: RestFieldLike[], newF: RestFieldLike[], prefix: string[], stmts: string[], duckPrefix: string[] = []): void {
    const where = `Provided Schema does not match Table ${tableName(d, t)}.`;
    const path = (n: string) => [...prefix, n].join('.');
    for (const o of oldF) {
      const n = newF.find((x) => x.name.toLowerCase() === o.name.toLowerCase());
      if (!n) throw new HttpError(400, 'invalid', `${where} Field ${path(o.name)} is missing in new schema`);
      if (n.type !== o.type) throw new HttpError(400, 'invalid', `${where} Field ${path(o.name)} has changed type from ${o.type} to ${n.type}`);
      if (n.mode !== o.mode) {
        if (o.mode === 'REQUIRED' && n.mode === 'NULLABLE') {
          if (prefix.length === 0) stmts.push(`ALTER TABLE ${duckRef(d, t)} ALTER COLUMN ${dq(o.name)} DROP NOT NULL`);
        } else throw new HttpError(400, 'invalid', `${where} Field ${path(o.name)} has changed mode from ${o.mode} to ${n.mode}`);
      }
      if (o.type === 'RECORD') {
        // DuckDB addresses a struct inside a list as list.element.field.
        const duck = [...duckPrefix, o.name, ...(o.mode === 'REPEATED' ? ['element'] : [])];
        schemaChange(d, t, o.fields ?? [], n.fields ?? [], [...prefix, o.name], stmts, duck);
      }
    }
    for (const n of newF) {
      if (oldF.some((x) => x.name.toLowerCase() === n.name.toLowerCase())) continue;
      if (n.mode === 'REQUIRED') throw new HttpError(400, 'invalid', `${where} Cannot add required fields to an existing schema. (field: ${path(n.name)})`);
      stmts.push(`ALTER TABLE ${duckRef(d, t)} ADD COLUMN ${[...duckPrefix, n.name].map(dq).join('.')} ${duckType(n)}`);
    }
  }

  async function patchTable(d: string, t: string, body: Record<string, any>, ifMatch: string | undefined, full: boolean): Promise<Record<string, any>> {
    const rec = getTableRec(d, t);
    if (ifMatch && ifMatch !== rec.meta.etag) throw new HttpError(412, 'conditionNotMet', 'Precondition check failed.');
    const next = structuredClone(rec.meta);
    const stmts: string[] = [];
    if (body.schema !== undefined || full) {
      const fields = normalizeFields(body.schema?.fields, tableName(d, t));
      schemaChange(d, t, rec.meta.schema.fields, fields, [], stmts);
      next.schema = { fields };
    }
    if (body.timePartitioning !== undefined || (full && rec.meta.timePartitioning)) {
      const a = rec.meta.timePartitioning;
      const b = body.timePartitioning;
      const spec = (p: any) => (p ? `interval(type:${String(p.type ?? 'DAY').toLowerCase()},field:${p.field ?? ''})` : 'none');
      if (spec(a) !== spec(b)) {
        throw new HttpError(
          400,
          'invalid',
          `Incompatible table partitioning specification. Expects partitioning specification ${spec(a)}, but input partitioning specification is ${spec(b)}`,
        );
      }
      // Expiration changes in place; null removes it.
      if (b) {
        next.timePartitioning = { ...a, ...b, type: String(b.type ?? a.type).toUpperCase() };
        for (const [k, v] of Object.entries(next.timePartitioning)) if (v === null) delete next.timePartitioning[k];
      }
    }
    if ('requirePartitionFilter' in body || body.timePartitioning?.requirePartitionFilter !== undefined) setRequireFilter(next, body);
    else if (full) delete next.requirePartitionFilter;
    if (full) {
      next.labels = { ...(body.labels ?? {}) };
      for (const k of ['description', 'clustering', 'expirationTime', 'friendlyName']) {
        if (body[k] === undefined || body[k] === null) delete next[k];
        else next[k] = structuredClone(body[k]);
      }
    } else {
      if (body.labels !== undefined) {
        const labels = { ...(next.labels ?? {}) };
        for (const [k, v] of Object.entries(body.labels ?? {})) {
          if (v === null) delete labels[k];
          else labels[k] = v;
        }
        next.labels = labels;
      }
      for (const k of ['description', 'clustering', 'expirationTime', 'friendlyName']) {
        if (!(k in body)) continue;
        if (body[k] === null || (k === 'clustering' && !(body[k]?.fields?.length))) delete next[k];
        else next[k] = structuredClone(body[k]);
      }
    }
    validateLayout(next, tableName(d, t));
    for (const s of stmts) await conn.run(s);
    rec.meta = next;
    touch(rec);
    return withRows(d, t, rec.meta);
  }

  async function countRows(d: string, t: string): Promise<number> {
    const { rows } = await readAll(`SELECT COUNT(*) AS n FROM ${duckRef(d, t)}`);
    return Number(rows[0]!.n);
  }

  return {
    db, conn, project, defaultLocation, datasets, tables, key, readAll, tableName, duckRef,
    getDataset, getTableRec, touch, insertTable, withRows, patchTable, countRows,
  };
}

export type FakeStore = Awaited<ReturnType<typeof createStore>>;
