// How many passes a snapshot's key joins take in DuckDB (warehouse/key-partitions.ts), and
// how a relation is cut into them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOIN_ROW_BYTES, MAX_PASSES, duckSizeBytes, keyPart, keyPartitions } from '../../src/warehouse/key-partitions.js';

const sized = (staged: number, current: number, meanKeyBytes = 12, memoryLimitBytes = 128e6) => keyPartitions({ staged, current, meanKeyBytes, memoryLimitBytes });

const Passes = suite('key partitions');

Passes('a DuckDB size setting reads as DuckDB reads it: MB are 10^6 bytes, MiB 2^20', () => {
  assert.is(duckSizeBytes('128MB'), 128e6);
  assert.is(duckSizeBytes('1.5 GiB'), 1.5 * 2 ** 30);
  assert.is(duckSizeBytes('512kb'), 512e3);
  assert.is(duckSizeBytes('2G'), 2e9);
  assert.is(duckSizeBytes('512 megabytes'), 512e6);
  // What DuckDB refuses: no unit, a percentage, no number.
  for (const bad of ['', 'lots', '12 parsecs', '-1GB', '0MB', '4096', '80%']) assert.is(duckSizeBytes(bad), undefined, bad);
});

Passes('a million short keys take one pass at the plan limit; five million take five', () => {
  const perPass = Math.floor(128e6 / (12 + JOIN_ROW_BYTES));
  assert.is(sized(1_000_000, 1_000_000), 1);
  assert.is(sized(5_000_000, 5_000_000), Math.ceil(5_000_000 / perPass));
  assert.is(sized(5_000_000, 5_000_000), 5);
  assert.is(sized(0, 5_000_000), 5, 'the larger side decides');
  assert.is(sized(5_000_000, 5_000_000, 12, 256e6), 3, "the apply's larger limit takes fewer");
  assert.is(sized(1_000_000, 1_000_000, 300), 4, 'long keys take more');
});

Passes('an empty stage and table take one pass, and no count takes more than the cap', () => {
  assert.is(sized(0, 0), 1);
  assert.is(sized(10 ** 12, 0), MAX_PASSES);
  assert.is(keyPartitions({ staged: 12_000, current: 12_000, meanKeyBytes: 8, memoryLimitBytes: 128e6, rowsPerPass: 2_500 }), 5);
  assert.is(keyPartitions({ staged: 12_000, current: 12_000, meanKeyBytes: 8, memoryLimitBytes: 128e6, rowsPerPass: 1 }), MAX_PASSES);
});

Passes('the passes of a relation hold each of its rows exactly once, and one pass is the relation itself', async () => {
  assert.is(keyPart('t', 1, 0), 't');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`CREATE TABLE t AS SELECT 'Item#' || i AS _key FROM range(10000) r(i)`);
    const counts: number[] = [];
    const keys = new Set<string>();
    for (let pass = 0; pass < 4; pass++) {
      const rows = (await c.runAndReadAll(`SELECT _key FROM ${keyPart('t', 4, pass)}`)).getRowObjectsJson();
      counts.push(rows.length);
      for (const r of rows) keys.add(String(r._key));
    }
    assert.is(counts.reduce((a, b) => a + b, 0), 10_000);
    assert.is(keys.size, 10_000);
    assert.ok(counts.every((n) => n > 2_000 && n < 3_000), `even passes: ${counts.join(', ')}`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
});

Passes('DuckDB does not hold the deletion info of a table it scanned, so the whole limit is left for the joins', async () => {
  // Passes are sized for the whole memory limit. DuckDB 1.5.5 kept 8.6 bytes per row of
  // deletion info in its buffer for every table rows had been deleted from once it was
  // scanned, never evicted (9.2 MB here; 86 MB for current and memo at 5M after a drift
  // apply), which the plan's limit then had to grow by. 1.5.6 keeps 0.5 MB here.
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-deletes-'));
  const file = join(dir, 'deleted.duckdb');
  try {
    const writer = await DuckDBInstance.create(file);
    const w = await writer.connect();
    await w.run('CREATE TABLE t AS SELECT range AS v FROM range(1000000)');
    await w.run('DELETE FROM t WHERE v % 50 = 7'); // a row in every vector of 2,048
    await w.run('CHECKPOINT');
    w.closeSync();
    writer.closeSync();
    const reader = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY', memory_limit: '1GB' });
    const r = await reader.connect();
    try {
      assert.equal((await r.runAndReadAll('SELECT count(*)::INTEGER FROM t WHERE v IS NOT NULL')).getRows(), [[980_000]]);
      const held = Number((await r.runAndReadAll("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'BASE_TABLE'")).getRows()[0]![0]);
      assert.ok(held < 4e6, `DuckDB holds ${(held / 1e6).toFixed(1)} MB of table data after scanning one BIGINT column of 980,000 rows`);
    } finally {
      r.closeSync();
      reader.closeSync();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Passes.run();
