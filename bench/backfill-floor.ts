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
// Decoding, the third part, is measured by the bench itself (`export stats --jobs 1`).
// Not counted, though a backfill cannot skip them: coercion, scoring, profiles, and moving
// rows from the decoding threads into DuckDB. Prints one JSON object.

import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../src/model/sha256.js';
import { changeEventId } from '../src/record/event-id.js';

const [warehouse, dataset, table] = process.argv.slice(2);
if (!warehouse || !dataset || !table) throw new Error('usage: backfill-floor WAREHOUSE.duckdb DATASET TABLE');
const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const file = join(tmpdir(), `mlbridge-backfill-floor-${process.pid}.duckdb`);
const drop = () => {
  for (const f of [file, `${file}.wal`]) rmSync(f, { force: true });
};
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
  process.stdout.write(`${JSON.stringify({ rows, serializeAndHashCpuSeconds: hashCpu, write })}\n`);
} finally {
  c.closeSync();
  db.closeSync();
  drop();
}
