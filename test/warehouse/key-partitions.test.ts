// How many passes a snapshot's key joins take in DuckDB (warehouse/key-partitions.ts), and
// how a relation is cut into them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DuckDBInstance } from '@duckdb/node-api';
import { JOIN_ROW_BYTES, MAX_PASSES, checkUserLimit, deletionInfoBytes, duckSizeBytes, keyPart, keyPartitions } from '../../src/warehouse/key-partitions.js';
import { MlbridgeError } from '../../src/model/errors.js';

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

Passes('a memory limit the user set is refused, with the size to set, when the deletion info leaves too little of it', () => {
  // The 5M bench after a drift apply: 10M rows of current and memo hold deletion info.
  const rows = 10_069_910;
  assert.is(deletionInfoBytes(rows), 90_629_190);
  let refused: unknown;
  try {
    checkUserLimit('duckdb_table.bench.item', '128MB', 128e6, rows);
  } catch (e) {
    refused = e;
  }
  assert.instance(refused, MlbridgeError);
  assert.is((refused as MlbridgeError).code, 'TARGET_ERROR');
  assert.is(
    (refused as MlbridgeError).message,
    "duckdb_table.bench.item: MLBRIDGE_DUCKDB_MEMORY_LIMIT=128MB leaves 38 MB for this reconcile: DuckDB keeps about 91 MB of deletion info for the 10069910 rows of this mapping's current table and source memo (rows were deleted from them; 9 bytes per row, never evicted). Set it to at least 192MB, or unset it (the default limit grows by the deletion info)",
  );
  assert.equal((refused as MlbridgeError).details, { memoryLimitBytes: 128e6, deletionInfoBytes: 90_629_190, neededBytes: 191_328_290 });
  // What it asks for is enough; a small table with deletes needs little beside them.
  checkUserLimit('duckdb_table.bench.item', '192MB', 192e6, rows);
  checkUserLimit('duckdb_table.bench.item', '64MB', 64e6, 5_000);
});

Passes.run();
