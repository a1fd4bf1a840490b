// Crash safety of a data apply: `mlbridge apply` runs as a child process over an export of
// 24,000 entities and is killed with SIGKILL at several points (while staging, inside a
// mapping's merge transaction, between two mappings' merges, after all but the profile
// refresh); then apply runs again, and the target must converge: current equals the
// source, raw has no duplicate event_id, quarantine holds the one bad record once, the
// dead apply's lock is taken over without force-unlock, and a plan says "No changes".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/source/entity.js';
import { writeExport } from '../support/export-writer.js';
import { startApply } from '../support/apply-child.js';
import { runCli } from '../cli/fake-io.js';

const ITEMS = 20_000;
const NOTES = 4_000;

function* entities(): Generator<Entity> {
  for (let i = 1; i <= ITEMS; i++) {
    yield {
      key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] },
      properties: {
        n: { integerValue: String(i) },
        // One item carries a value that is no INT64: type drift, quarantined.
        qty: i === 777 ? { stringValue: 'lots' } : { integerValue: String(i % 13) },
        name: { stringValue: `item ${i}` },
        price: { doubleValue: i / 8 },
        tags: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: `t${i % 7}` }] } },
      },
    };
  }
  for (let i = 1; i <= NOTES; i++) {
    yield { key: { partitionId: { projectId: 'p', namespaceId: 'ns' }, path: [{ kind: 'Note', name: `note-${i}` }] }, properties: { text: { stringValue: `note ${i}` } } };
  }
}

const SPEC = `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: crash }
source:
  export: { path: ./exports }
mappings:
  - kind: Item
    fields:
      - { name: n, type: INT64 }
      - { name: qty, type: INT64 }
      - { name: name, type: STRING }
      - { name: price, type: FLOAT64 }
      - { name: tags, type: STRING, mode: REPEATED }
  - kind: Note
    fields:
      - { name: text, type: STRING }
`;

async function fresh(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mlbridge-crash-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), entities(), { exportId: '2026-11-30T00:00:00_000', maxFileBytes: 512 * 1024 });
  return dir;
}

/** Starts `apply --json` and SIGKILLs it at the first event `at` accepts; resolves with what it printed. */
async function killedApply(dir: string, at: (e: Record<string, unknown>) => boolean): Promise<{ killed: boolean; out: string }> {
  let killed = false;
  const { done } = startApply(dir, (e, child) => {
    if (!killed && at(e)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const { out } = await done;
  return { killed, out };
}

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(join(dir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
  try {
    const c = await inst.connect();
    const r = (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
    c.closeSync();
    return r;
  } finally {
    inst.closeSync();
  }
}

async function assertConverged(dir: string): Promise<void> {
  const [items] = await query(dir, `SELECT count(*) AS n, sum(n) AS total, count(DISTINCT _key) AS keys FROM crash.item`);
  assert.is(Number(items!.n), ITEMS - 1, 'every good item, once (the bad one keeps no row: it never had one)');
  assert.is(Number(items!.keys), ITEMS - 1);
  assert.is(Number(items!.total), (ITEMS * (ITEMS + 1)) / 2 - 777);
  const [notes] = await query(dir, `SELECT count(*) AS n FROM crash.note`);
  assert.is(Number(notes!.n), NOTES);
  for (const raw of ['item_raw', 'note_raw']) {
    const [r] = await query(dir, `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM crash.${raw}`);
    assert.is(Number(r!.n), Number(r!.ids), `${raw}: no duplicate event_id`);
    assert.is(Number(r!.n), raw === 'item_raw' ? ITEMS - 1 : NOTES, `${raw}: one row per change`);
  }
  const q = await query(dir, `SELECT _key, reason FROM crash.item_quarantine`);
  assert.equal(q, [{ _key: 'Item#777', reason: 'type drift: Item Item#777: property qty (column qty): expected INT64, found STRING "lots"' }]);
  const plan = await runCli(dir, ['plan', '--detailed-exitcode']);
  assert.is(plan.code, 0, plan.out + plan.err);
}

const Crash = suite('a killed data apply converges on the next apply');

const points: [string, (e: Record<string, unknown>) => boolean][] = [
  ['while staging the source', (e) => e.type === 'observe-start' && String(e.what).startsWith('rows of')],
  ['inside the first mapping merge', (e) => e.type === 'change-start' && e.address === 'rows.Item'],
  ['between two mappings merges', (e) => e.type === 'change-done' && e.address === 'rows.Item'],
  ['after the last merge', (e) => e.type === 'change-done' && e.address === 'rows.Note'],
];

for (const [name, at] of points) {
  Crash(`killed ${name}`, async () => {
    const dir = await fresh();
    try {
      const killed = await killedApply(dir, at);
      assert.ok(killed.killed, `the apply reached the kill point:\n${killed.out.slice(-2000)}`);
      const again = await runCli(dir, ['apply', '--auto-approve']);
      assert.is(again.code, 0, again.err);
      await assertConverged(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

Crash.run();
