// The floor of a backfill: what any backfill of this row model must do, each part measured
// alone at its fastest, on the rows a real backfill wrote. Run by reconcile.bench.ts as a
// child process: `node dist/bench/backfill-floor.js WAREHOUSE.duckdb DATASET TABLE`.
//   serialize + hash  per row: one JSON text of the mapped columns (JSON.stringify of the
//                     row object: the text raw keeps, and, were the keys sorted, what
//                     `_hash` covers), its sha256 and the event id's sha256 (µs of CPU per
//                     row, one thread; the rows come from the warehouse, parsed untimed)
//   write             DuckDB inserting the rows of current, raw and the memo into empty
//                     tables of a new database file from in-memory copies of them (no
//                     parsing, no casts: typed columns to typed columns), and its commit
//                     (wall and CPU seconds of each insert and of the commit; DuckDB uses
//                     every core). The memo is mlbridge's own cache, not part of the row
//                     model: the floor leaves it out, and it is reported apart.
//   coerce + score    per record: coercing the mapped properties to their column types, its
//                     freshness score and the profile learned from it (µs of CPU per record,
//                     one thread; the export's entities are decoded and turned into records
//                     untimed, batch by batch)
//   transfer          DuckDB reading the rows into a table from NDJSON (key, version, hash,
//                     event id and the row's JSON as text, written untimed), the least parsing
//                     any way of moving text rows from JavaScript into DuckDB takes; the
//                     appender, the other way, is timed too and the cheaper one counts
// Decoding, the last part, is measured by the bench itself (`export stats --jobs 1`).
// Not counted, though a backfill cannot skip them: turning decoded entities into records,
// typing the rows' JSON into current's columns, and the memo. Prints one JSON object.

import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../src/model/sha256.js';
import { changeEventId } from '../src/record/event-id.js';
import { ProfileLearner } from '../src/record/profile.js';
import { mappedColumns } from '../src/record/row.js';
import { scoreRecordFreshness } from '../src/record/score.js';
import { entityToSyncRecord } from '../src/record/sync-record.js';
import { readExportBatches } from '../src/source/export/read-export.js';
import { loadSpec } from '../src/spec/load.js';

const [warehouse, dataset, table, exportDir, specFile] = process.argv.slice(2);
if (!warehouse || !dataset || !table || !exportDir || !specFile) throw new Error('usage: backfill-floor WAREHOUSE.duckdb DATASET TABLE EXPORT_DIR SPEC');
const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const file = join(tmpdir(), `mlbridge-backfill-floor-${process.pid}.duckdb`);
const lines = join(tmpdir(), `mlbridge-backfill-floor-${process.pid}.ndjson`);
const drop = () => {
  for (const f of [file, `${file}.wal`, lines]) rmSync(f, { force: true });
};

// Coerce + score + learn, over the export's records (a snapshot scores against its own time).
const loaded = await loadSpec(specFile);
const mapping = loaded.spec?.mappings.find((m) => m.kind.toLowerCase() === table.toLowerCase());
if (!mapping) throw new Error(`${specFile}: no mapping whose kind is ${table}`);
const snapshot = new Date(Date.UTC(2026, 10, 1));
const learner = new ProfileLearner(mapping);
let coerceCpu = 0;
let coerced = 0;
for await (const batch of readExportBatches(exportDir)) {
  const records = batch.entities.map((e) => entityToSyncRecord(e, { origin: 'export', version: '1796006467406000', eventTime: snapshot }));
  const t = cpuSeconds();
  for (const record of records) {
    const columns = mappedColumns(record, mapping);
    scoreRecordFreshness(record, { mapping, now: snapshot, coerced: columns });
    learner.add(columns);
  }
  coerceCpu += cpuSeconds() - t;
  coerced += records.length;
}
drop();
const db = await DuckDBInstance.create(file, { memory_limit: '256MB' });
const c = await db.connect();
try {
  await c.run(`ATTACH '${warehouse.replaceAll("'", "''")}' AS src (READ_ONLY)`);
  const sources = [
    ['current', `src.${q(dataset)}.${q(table)}`],
    ['raw', `src.${q(dataset)}.${q(`${table}_raw`)}`],
    ['memo', `src._mlbridge_memo.${q(`${dataset}.${table}`)}`],
  ] as const;

  // Serialize + hash, over raw's rows (their data is the row JSON an apply wrote).
  let rows = 0;
  let hashCpu = 0;
  const reader = await c.stream(`SELECT _key, event_id, CAST(data AS VARCHAR) AS data FROM ${sources[1][1]}`);
  for (;;) {
    const chunk = await reader.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const batch = chunk.getRows().map(([key, , data]) => ({ key: String(key), row: JSON.parse(String(data)) as Record<string, unknown> }));
    const t = cpuSeconds();
    for (const r of batch) {
      const text = JSON.stringify(r.row);
      const hash = sha256Hex(text);
      changeEventId({ kind: table, key: r.key, version: '1796006467406000', operation: 'UPSERT', contentHash: hash });
    }
    hashCpu += cpuSeconds() - t;
    rows += batch.length;
  }

  // Transfer: the rows as NDJSON text (written untimed) read by DuckDB, and through the appender.
  const transfer: Record<string, { seconds: number; cpuSeconds: number }> = {};
  const timedTransfer = async (name: string, work: () => Promise<void>) => {
    const wall = performance.now();
    const cpu = cpuSeconds();
    await work();
    transfer[name] = { seconds: (performance.now() - wall) / 1000, cpuSeconds: cpuSeconds() - cpu };
  };
  await c.run(
    `COPY (SELECT _key AS k, '1796006467406000' AS v, event_id AS h, event_id AS e, CAST(data AS VARCHAR) AS r FROM ${sources[1][1]}) TO '${lines}' (FORMAT json)`,
  );
  const transferColumns = '_key VARCHAR, _version BIGINT, _hash VARCHAR, event_id VARCHAR, "row" VARCHAR';
  await c.run(`CREATE TEMP TABLE moved_json (${transferColumns})`);
  await timedTransfer('readJson', () =>
    c.run(
      `INSERT INTO moved_json SELECT k, CAST(v AS BIGINT), h, e, r FROM read_json('${lines}', format = 'newline_delimited', records = true, columns = {'k': 'VARCHAR', 'v': 'VARCHAR', 'h': 'VARCHAR', 'e': 'VARCHAR', 'r': 'VARCHAR'})`,
    ).then(() => undefined),
  );
  // The appender's input: the same values as JavaScript strings, read untimed in chunks.
  await c.run(`CREATE TEMP TABLE moved_appender (${transferColumns})`);
  const appendReader = await c.stream('SELECT _key, event_id, "row" FROM moved_json');
  let appendSeconds = 0;
  let appendCpu = 0;
  const a = await c.createAppender('moved_appender', 'main', 'temp');
  const timedAppend = (work: () => void) => {
    const wall = performance.now();
    const cpu = cpuSeconds();
    work();
    appendSeconds += (performance.now() - wall) / 1000;
    appendCpu += cpuSeconds() - cpu;
  };
  for (;;) {
    const chunk = await appendReader.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const batch = chunk.getRows().map(([key, id, row]) => [String(key), String(id), String(row)] as const);
    timedAppend(() => {
      for (const [key, id, row] of batch) {
        a.appendVarchar(key);
        a.appendBigInt(1796006467406000n);
        a.appendVarchar(id);
        a.appendVarchar(id);
        a.appendVarchar(row);
        a.endRow();
      }
    });
  }
  timedAppend(() => a.closeSync());
  transfer.appender = { seconds: appendSeconds, cpuSeconds: appendCpu };
  await c.run('DROP TABLE moved_json');
  await c.run('DROP TABLE moved_appender');

  // Write: the same tables, copied into memory first (untimed), then inserted and committed.
  for (const [name, from] of sources) {
    await c.run(`CREATE TABLE ${name} AS SELECT * FROM ${from} LIMIT 0`);
    await c.run(`CREATE TEMP TABLE mem_${name} AS SELECT * FROM ${from}`);
  }
  await c.run('DETACH src');
  const write: Record<string, { seconds: number; cpuSeconds: number }> = {};
  const timed = async (name: string, sql: string) => {
    const wall = performance.now();
    const cpu = cpuSeconds();
    await c.run(sql);
    write[name] = { seconds: (performance.now() - wall) / 1000, cpuSeconds: cpuSeconds() - cpu };
  };
  await c.run('BEGIN TRANSACTION');
  for (const [name] of sources) await timed(name, `INSERT INTO main.${name} SELECT * FROM temp.main.mem_${name}`);
  await timed('commit', 'COMMIT');
  if (coerced !== rows) throw new Error(`the export holds ${coerced} records, the warehouse ${rows} rows`);
  process.stdout.write(`${JSON.stringify({ rows, serializeAndHashCpuSeconds: hashCpu, coerceAndScoreCpuSeconds: coerceCpu, transfer, write })}\n`);
} finally {
  c.closeSync();
  db.closeSync();
  drop();
}
