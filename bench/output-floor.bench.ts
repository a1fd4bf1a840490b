// The least any decoder into the Datastore v1 REST shape must spend in this runtime,
// whatever its parsing: making the strings and objects of the output. Measured for
// 1M entities shaped like export-decode's (10 properties: 7 strings, an array of two,
// an embedded entity of two; key with namespace), with every string cut from a
// Buffer (utf8Slice, the fastest way to make one) and no protobuf reading at all.
// Compare its seconds with export-decode's plainReadSeconds: its ratio is a floor
// under decodeVsPlainRead. BENCH_RUNS sets the number of timed runs (default 7).
// Usage: node dist/bench/output-floor.bench.js
import type { Entity } from '../src/source/entity.js';
import type { FastBuffer } from '../src/source/export/scalars.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const N = process.env.BENCH_QUICK === '1' ? 100_000 : 1_000_000;

// Bytes to cut strings from, as a decoder would from a record (offsets vary per entity).
const text = Buffer.from(
  'user123456@example.com|Customer number 123456 Jensen|123456|Berlin|free text note 123456 free text note 123456 free text note 123456 |' +
    'alpha|t7|123456 Main Street|54321|bench|tenant-a|Order|2024-01-02T10:17:36Z|',
) as FastBuffer;
const fields: [number, number][] = [];
for (let p = 0, q = text.indexOf(124); q >= 0; p = q + 1, q = text.indexOf(124, p)) fields.push([p, q]);
const cut = (f: number, i: number): string => text.utf8Slice(fields[f]![0] + (i & 1), fields[f]![1]);

function entity(i: number): Entity {
  return {
    key: { partitionId: { projectId: cut(9, 0), namespaceId: cut(10, i) }, path: [{ kind: cut(11, 0), id: cut(2, i) }] },
    properties: {
      email: { stringValue: cut(0, i) },
      name: { stringValue: cut(1, i) },
      age: { integerValue: cut(2, i) },
      balance: { doubleValue: i / 7 },
      active: { booleanValue: (i & 1) === 0 },
      created: { timestampValue: cut(12, i) },
      city: { stringValue: cut(3, i) },
      notes: { stringValue: cut(4, i), excludeFromIndexes: true },
      tags: { arrayValue: { values: [{ stringValue: cut(5, i) }, { stringValue: cut(6, i) }] } },
      address: { entityValue: { properties: { street: { stringValue: cut(7, i) }, zip: { stringValue: cut(8, i) } } } },
    },
  };
}

let kept = 0;
function build(): void {
  // Batches of the size the reader hands out, dropped at once, as a consumer would.
  let batch: Entity[] = [];
  for (let i = 0; i < N; i++) {
    batch.push(entity(i));
    if (batch.length === 150) {
      kept += batch.length;
      batch = [];
    }
  }
}

build(); // warm-up
const times: number[] = [];
for (let r = 0; r < RUNS; r++) {
  const t = performance.now();
  build();
  times.push((performance.now() - t) / 1000);
}
times.sort((a, b) => a - b);
const out = {
  entities: N,
  stringsPerEntity: 14,
  outputFloorSeconds: Number(times[Math.floor(times.length / 2)]!.toFixed(3)),
  allSeconds: times.map((x) => Number(x.toFixed(3))),
  built: kept,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
