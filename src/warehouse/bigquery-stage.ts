// Staging in BigQuery (issue #9): staged rows go by load job into a scratch table with an
// expiration, in a dataset mlbridge owns (`<dataset>_mlbridge_scratch`, created on first use
// in the target's location, tables there expire after a day). The diff and the merge are
// query jobs over it compiling the same rules as DuckDB (row-rules.ts).
//
// - plan opens the warehouse read-only, and staging still writes the scratch dataset: the
//   one documented exception to "plan changes nothing" (the target dataset is untouched).
// - append() buffers NDJSON and loads a chunk (WRITE_APPEND) per ~32 MB or at diff/merge:
//   memory stays bounded by one chunk. Each chunk's load job has a deterministic id, so a
//   retry after a lost reply gets 409 duplicate and waits for that job instead of loading
//   the chunk twice; only a job seen failed (it loaded nothing) is retried under a new id.
// - merge() is three statements, each idempotent, in an order that converges after a crash
//   between them: raw append (event_id not yet logged), quarantine append (event_id not yet
//   quarantined), then ONE MERGE into current (insert new keys, version-guarded update,
//   delete events and orphans). Raw and quarantine depend only on the stage and current, so a
//   re-run after a crash before the MERGE logs nothing twice and then completes the MERGE.
//
// The mapped columns travel as the `row` JSON text and are converted in SQL (JSON_VALUE /
// JSON_QUERY / JSON_QUERY_ARRAY with a CAST per column type, RECORD and REPEATED included;
// see bigquery-row-json.ts) rather than loaded typed: the stage is filled while planning,
// before apply has created or migrated the current table, so its column types are only
// known at merge time. The one load schema also serves plan (row is null then) and every
// mapping. Result rows are read back by bigquery-row-reads.ts.

import { randomUUID } from 'node:crypto';
import type { Job } from '@google-cloud/bigquery';
import { datasetAddress, tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import { OWNER_LABEL_KEY, OWNER_LABEL_VALUE } from '../model/schema.js';
import type {
  RowDiffOptions,
  RowDiffResult,
  RowMergeOptions,
  RowMergeResult,
  StageTables,
  StagedRecord,
} from '../model/staged.js';
import { recordAt, type StagedColumns } from '../model/staged-columns.js';
import type { BigQueryCalls } from './bigquery-call.js';
import { statusOf } from './bigquery-call.js';
import { toCallError } from './bigquery-errors.js';
import { fromRowJson, jsonPath } from './bigquery-row-json.js';
import { selectRows } from './bigquery-row-reads.js';
import { STAGING_INFIX, fromRestField, quoteIdent, quoteString, sqlType } from './bigquery-schema.js';
import type { RestField } from './bigquery-schema.js';
import { orphanEventIdSql, orphanSql, collectDiff, joinedSql, keptColumnsSql, NO_KEPT_COLUMNS, rejectedSql, type StageDialect } from './row-rules.js';
import type { RowStage } from './warehouse.js';

export const SCRATCH_SUFFIX = '_mlbridge_scratch';
const DAY_MS = 24 * 3600 * 1000;
/** Load chunk size: large enough for few jobs (1,500 loads per table per day), small enough to hold. */
const CHUNK_BYTES = 32 * 1024 * 1024;

const f = (name: string, type: string, mode = 'NULLABLE'): RestField => ({ name, type, mode }) as RestField;
/** The StagedRecord columns (model/staged.ts). */
export const STAGE_FIELDS: RestField[] = [
  f('_key', 'STRING', 'REQUIRED'),
  f('_version', 'INTEGER', 'REQUIRED'),
  f('_hash', 'STRING', 'REQUIRED'),
  f('operation', 'STRING', 'REQUIRED'),
  f('event_id', 'STRING', 'REQUIRED'),
  f('event_time', 'TIMESTAMP'),
  f('_score', 'FLOAT'),
  f('flags', 'STRING', 'REPEATED'),
  f('row', 'STRING'),
  f('data', 'STRING'),
  f('reason', 'STRING'),
];

/** An empty relation with current's rule columns, for a target that has no current table yet. */
const EMPTY_CURRENT = `(SELECT CAST(NULL AS STRING) AS _key, CAST(NULL AS STRING) AS _hash, CAST(NULL AS INT64) AS _version FROM UNNEST([1]) AS x WHERE FALSE)`;
const EMPTY_LOG = `(SELECT CAST(NULL AS STRING) AS event_id FROM UNNEST([1]) AS x WHERE FALSE)`;
const ROW = quoteIdent('row');
const CAT = '__mlbridge_category';

export function scratchDataset(dataset: string): string {
  return `${dataset}${SCRATCH_SUFFIX}`;
}

function stagedLine(r: StagedRecord): string {
  const o: Record<string, unknown> = { _key: r.key, _version: r.version, _hash: r.hash, operation: r.operation, event_id: r.eventId, _score: r.score, flags: r.flags };
  if (r.eventTime !== null) o.event_time = r.eventTime;
  if (r.row !== null) o.row = r.row;
  if (r.data !== null) o.data = r.data;
  if (r.reason !== null) o.reason = r.reason;
  return JSON.stringify(o);
}

const GOOGLE_SQL: StageDialect = {
  int64: 'INT64',
  deletedVersion: (col) => `SAFE_CAST(JSON_VALUE(${col}, '$._version') AS INT64)`,
  timeMicros: (col) => `UNIX_MICROS(${col})`,
  string: 'STRING',
  // An array of one (none for a group whose rows all give NULL): a query result may not hold a NULL element.
  firstByKey: (expr) => `ARRAY_AGG(${expr} IGNORE NULLS ORDER BY _key LIMIT 1)`,
};

export class BigQueryRowStage implements RowStage {
  private readonly name: string;
  private readonly scratch: string;
  private ready: Promise<void> | undefined;
  private buffer: string[] = [];
  private bytes = 0;
  private chunks = 0;
  private count = 0;

  constructor(
    readonly api: BigQueryCalls,
    readonly project: string,
    readonly location: string,
    readonly tables: StageTables,
  ) {
    this.name = `${tables.current}${STAGING_INFIX}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    this.scratch = scratchDataset(tables.dataset);
  }

  get staged(): number {
    return this.count;
  }

  /** The stage table's address, for messages. */
  get resource(): string {
    return tableAddress('bigquery', this.scratch, this.name);
  }

  private get q(): string {
    return this.api.ref(this.scratch, this.name);
  }

  appendColumns(columns: StagedColumns): Promise<void> {
    return this.append(columns.key.map((_, i) => recordAt(columns, i)));
  }

  async append(records: StagedRecord[]): Promise<void> {
    for (const r of records) {
      const line = stagedLine(r) + '\n';
      this.buffer.push(line);
      this.bytes += Buffer.byteLength(line);
      if (this.bytes >= CHUNK_BYTES) await this.flush();
    }
    this.count += records.length;
  }

  /** The scratch dataset (created when missing) and the stage table, once per stage. */
  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      const ds = this.scratch;
      const dsResource = datasetAddress('bigquery', ds);
      const exists = await this.api
        .call(dsResource, 'datasets.get', async () => {
          await this.api.timed(() => this.api.bq.dataset(ds).getMetadata());
          return true;
        })
        .catch((e: unknown) => {
          if (statusOf(e) === 404) return false;
          throw e;
        });
      if (!exists) {
        await this.api
          .call(dsResource, 'datasets.insert', async () => {
            await this.api.timed(() =>
              this.api.bq.createDataset(ds, {
                location: this.location,
                labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
                defaultTableExpirationMs: String(DAY_MS),
                description: `mlbridge staging for ${this.tables.dataset}; tables expire after a day`,
              } as never),
            );
          })
          .catch((e: unknown) => {
            if (statusOf(e) !== 409) throw e; // another run created it first
          });
      }
      await this.api.insertTable(this.resource, ds, {
        tableReference: { projectId: this.project, datasetId: ds, tableId: this.name },
        schema: { fields: STAGE_FIELDS },
        labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
        expirationTime: String(Date.now() + DAY_MS),
      });
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  /** Loads the buffered lines as one load job (see the header for the job id). */
  private async flush(): Promise<void> {
    await this.ensure();
    if (this.buffer.length === 0) return;
    const data = this.buffer.join('');
    this.buffer = [];
    this.bytes = 0;
    const chunk = this.chunks++;
    let attempt = 0;
    await this.api.call(this.resource, 'jobs.insert (load)', async () => {
      const jobId = `mlbridge_${this.name}_${chunk}_${attempt}`;
      let job: Job;
      try {
        job = await this.api.timed(
          () =>
            new Promise<Job>((resolve, reject) => {
              const ws = this.api.tableObj(this.scratch, this.name).createWriteStream({
                jobId,
                sourceFormat: 'NEWLINE_DELIMITED_JSON',
                writeDisposition: 'WRITE_APPEND',
                createDisposition: 'CREATE_NEVER',
              } as never);
              ws.on('error', reject);
              ws.on('job', (j: Job) => resolve(j));
              ws.end(data);
            }),
        );
      } catch (e) {
        if (toCallError(e).status !== 409) throw e;
        job = this.api.bq.job(jobId, { location: this.location }); // the lost reply's job: wait for it
      }
      return this.api.waitJob(job, () => attempt++);
    });
  }

  /** The relations the rules read, given which target tables exist now. */
  private async relations(): Promise<{ current: string; raw: string; quarantine: string; fields: RestField[] | null }> {
    await this.flush();
    const { dataset } = this.tables;
    const [cur, raw, qt] = await Promise.all([
      this.api.getRawTable(dataset, this.tables.current),
      this.api.getRawTable(dataset, this.tables.raw),
      this.api.getRawTable(dataset, this.tables.quarantine),
    ]);
    return {
      current: cur ? this.api.ref(dataset, this.tables.current) : EMPTY_CURRENT,
      raw: raw ? this.api.ref(dataset, this.tables.raw) : EMPTY_LOG,
      quarantine: qt ? this.api.ref(dataset, this.tables.quarantine) : EMPTY_LOG,
      fields: cur ? (cur.schema?.fields ?? []) : null,
    };
  }

  /** `j` and the rejected rows: the shared relations of row-rules.ts, in this dialect. */
  private joined(rel: { current: string; raw: string }, options: RowDiffOptions): string {
    return joinedSql(this.q, { current: rel.current, raw: rel.raw.startsWith('(') ? null : rel.raw, snapshotVersion: options.snapshotVersion }, options.mode, GOOGLE_SQL);
  }

  private rejected(current: string, quarantine: string, options: RowDiffOptions): string {
    return rejectedSql(this.q, current, quarantine, options.mode);
  }

  /** Snapshot mode: current rows whose key was not staged are orphans (row-rules.ts orphanSql). */
  private orphans(options: RowDiffOptions, hasCurrent: boolean): boolean {
    return options.mode === 'snapshot' && options.snapshotVersion !== undefined && hasCurrent;
  }

  async diff(options: RowDiffOptions): Promise<RowDiffResult> {
    const n = Math.max(0, Math.floor(options.samples ?? 5));
    const rel = await this.relations();
    const sample = (col: string) => (n > 0 ? `ARRAY_AGG(${col} ORDER BY ${col} LIMIT ${n})` : `CAST(NULL AS ARRAY<STRING>)`);
    const parts = [
      `SELECT category, COUNT(*) AS n, ${sample('_key')} AS keys, ${keptColumnsSql(GOOGLE_SQL)} FROM ${this.joined(rel, options)} GROUP BY category`,
      // A rejected record already quarantined (or whose content current already holds) is unchanged.
      `SELECT IF(fresh, 'quarantine', 'unchanged') AS category, COUNT(*) AS n, ${sample('_key')} AS keys, ${NO_KEPT_COLUMNS} FROM ${this.rejected(rel.current, rel.quarantine, options)} GROUP BY 1`,
    ];
    if (this.orphans(options, rel.fields !== null)) {
      parts.push(`SELECT 'delete' AS category, COUNT(*) AS n, ${sample('c._key')} AS keys, ${NO_KEPT_COLUMNS} FROM ${rel.current} c WHERE ${orphanSql(this.q, options.snapshotVersion!)}`);
    }
    const rows = await selectRows(this.api, this.resource, parts.join(' UNION ALL '));
    return collectDiff(rows, n);
  }

  async merge(options: RowMergeOptions): Promise<RowMergeResult> {
    const { dataset } = this.tables;
    const rel = await this.relations();
    const need = (t: string, r: string) => {
      const resource = tableAddress('bigquery', dataset, t);
      if (r.startsWith('(')) throw new MlbridgeError('TARGET_ERROR', `${resource} does not exist; apply the tables first`, { resource });
    };
    need(this.tables.current, rel.current);
    need(this.tables.raw, rel.raw);
    need(this.tables.quarantine, rel.quarantine);
    const resource = tableAddress('bigquery', dataset, this.tables.current);
    const ingest = `CAST(${quoteString(options.ingestTime)} AS TIMESTAMP)`;
    const origin = quoteString(options.origin);
    const snapshot = this.orphans(options, true);
    const changes = `(SELECT * FROM ${this.joined(rel, options)} WHERE category IN ('insert', 'update', 'delete'))`;
    const dml = (job: Record<string, any>, k: 'insertedRowCount' | 'updatedRowCount' | 'deletedRowCount') => Number(job.statistics?.query?.dmlStats?.[k] ?? 0);

    // Raw: one row per change (snapshot) or per distinct event (events), never twice.
    const logged = `SELECT event_id FROM ${rel.raw}`;
    const events =
      options.mode === 'snapshot' ? changes : `(SELECT * FROM ${this.q} WHERE reason IS NULL QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY _key) = 1)`;
    const sources = [
      // A DELETE's raw data holds its version: the guard against older events arriving later.
      // An accepted event's `data`, when set, is what raw keeps instead of its row (serve: the row with its version).
      `SELECT event_id, _key, operation, ${origin} AS origin, event_time, ${ingest} AS ingest_time, IF(operation = 'DELETE', TO_JSON(STRUCT(CAST(_version AS STRING) AS _version)), PARSE_JSON(COALESCE(data, ${ROW}))) AS data, IF(operation = 'DELETE', NULL, _score) AS score, flags FROM ${events} x WHERE event_id NOT IN (${logged})`,
    ];
    if (snapshot) {
      const id = orphanEventIdSql(encodeURIComponent(options.kind), 'c._key', options.snapshotVersion!, quoteString, (e) => `TO_HEX(SHA256(${e}))`);
      const at = options.snapshotTime ? `CAST(${quoteString(options.snapshotTime)} AS TIMESTAMP)` : 'CAST(NULL AS TIMESTAMP)';
      sources.push(
        `SELECT id, _key, 'DELETE', ${origin}, ${at}, ${ingest}, TO_JSON(STRUCT(${quoteString(options.snapshotVersion!)} AS _version)), CAST(NULL AS FLOAT64), CAST(NULL AS ARRAY<STRING>) FROM (SELECT ${id} AS id, c._key FROM ${rel.current} c WHERE ${orphanSql(this.q, options.snapshotVersion!)}) o WHERE id NOT IN (${logged})`,
      );
    }
    const rawCols = 'event_id, _key, operation, origin, event_time, ingest_time, data, score, flags';
    // Events mode: distinct events logged now minus those that changed current are superseded.
    const appliedNew =
      options.mode === 'events' ? Number((await selectRows(this.api, resource, `SELECT COUNT(*) AS n FROM ${changes} x WHERE event_id NOT IN (${logged})`))[0]?.n ?? 0) : 0;
    const rawJob = await this.api.query(resource, `INSERT INTO ${rel.raw} (${rawCols}) SELECT * FROM (${sources.join(' UNION ALL ')})`);

    // Quarantine: nothing dropped silently, nothing twice.
    const qJob = await this.api.query(
      resource,
      `INSERT INTO ${rel.quarantine} (${rawCols}, reason) SELECT event_id, _key, operation, ${origin}, event_time, ${ingest}, PARSE_JSON(data), _score, flags, reason FROM ${this.rejected(rel.current, rel.quarantine, options)} x WHERE fresh`,
    );

    // Current: one MERGE over the changes and the orphans.
    const mergeJob = await this.api.query(resource, this.mergeSql(rel.current, rel.fields!, options, ingest, snapshot, changes));
    return {
      inserted: dml(mergeJob, 'insertedRowCount'),
      updated: dml(mergeJob, 'updatedRowCount'),
      deleted: dml(mergeJob, 'deletedRowCount'),
      quarantined: dml(qJob, 'insertedRowCount'),
      logged: dml(rawJob, 'insertedRowCount'),
      superseded: options.mode === 'events' ? dml(rawJob, 'insertedRowCount') - appliedNew : 0,
    };
  }

  /**
   * The MERGE's source is the changes (typed columns converted from `row`) UNION ALL the
   * orphans, each tagged with its category; a row is updated or deleted only when current
   * is not newer (the version guard, checked again here against the row being changed).
   */
  private mergeSql(current: string, fields: RestField[], options: RowMergeOptions, ingest: string, snapshot: boolean, changes: string): string {
    const system = new Set(['_key', '_version', '_hash', '_synced_at', '_score']);
    const mapped = fields.map(fromRestField).filter((c) => !system.has(c.name.toLowerCase()));
    const alias = (i: number) => `m_${i}`;
    const typed = mapped.map((c, i) => `${fromRowJson(c, `x.${ROW}`, jsonPath('$', c.name), 0)} AS ${alias(i)}`);
    const nulls = mapped.map((c, i) => `CAST(NULL AS ${sqlType(c)}) AS ${alias(i)}`);
    const parts = [`SELECT x._key, x._version, x._hash, x._score, x.category AS ${CAT}${typed.map((t) => `, ${t}`).join('')} FROM ${changes} x`];
    if (snapshot) parts.push(`SELECT c._key, c._version, c._hash, c._score, 'orphan'${nulls.map((t) => `, ${t}`).join('')} FROM ${current} c WHERE ${orphanSql(this.q, options.snapshotVersion!)}`);
    const values: Array<[string, string]> = [
      ['_key', 'S._key'],
      ['_version', 'S._version'],
      ['_hash', 'S._hash'],
      ['_synced_at', ingest],
      ['_score', 'S._score'],
      ...mapped.map((c, i): [string, string] => [c.name, `S.${alias(i)}`]),
    ].filter(([name]) => fields.some((x) => x.name.toLowerCase() === name.toLowerCase())) as Array<[string, string]>;
    const set = values.filter(([n]) => n !== '_key').map(([n, v]) => `${quoteIdent(n)} = ${v}`);
    return (
      `MERGE ${current} T USING (${parts.join(' UNION ALL ')}) S ON T._key = S._key` +
      ` WHEN MATCHED AND S.${CAT} = 'update' AND T._version <= S._version THEN UPDATE SET ${set.join(', ')}` +
      ` WHEN MATCHED AND S.${CAT} = 'delete' AND T._version <= S._version THEN DELETE` +
      ` WHEN MATCHED AND S.${CAT} = 'orphan' THEN DELETE` +
      ` WHEN NOT MATCHED AND S.${CAT} = 'insert' THEN INSERT (${values.map(([n]) => quoteIdent(n)).join(', ')}) VALUES (${values.map(([, v]) => v).join(', ')})`
    );
  }

  async close(): Promise<void> {
    const ready = this.ready;
    this.buffer = [];
    this.bytes = 0;
    if (!ready) return;
    this.ready = undefined;
    await ready.then(() => this.api.deleteRaw(this.resource, this.scratch, this.name, true)).catch(() => undefined); // it expires anyway
  }
}
