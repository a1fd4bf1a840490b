// The stage folder of a run killed outright (kill -9) stays in the temp folder; the next run
// that stages files removes it, by its owner's pid, and never a live process's folder.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPlan } from '../../src/engine/index.js';
import { createStageDir, hostTag } from '../../src/engine/changes/stage-dir.js';
import { loadSpec } from '../../src/spec/load.js';
import type { Entity } from '../../src/source/entity.js';
import { openSnapshotSource } from '../../src/source/snapshot-source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import { writeExport } from '../support/export-writer.js';
import { exportSpecYaml } from '../support/export-spec.js';

function* entities(): Generator<Entity> {
  for (let i = 1; i <= 600; i++) {
    yield { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', id: String(i) }] }, properties: { label: { stringValue: `label ${i} `.padEnd(60, 'x') } } };
  }
}

const SPEC = exportSpecYaml(`  - kind: Item
    fields:
      - { name: label, type: STRING }
`);

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

/** A folder as a run of `pid` leaves it: a staged file half written. */
function leftBy(root: string, name: string): string {
  const path = join(root, name);
  mkdirSync(path);
  writeFileSync(join(path, '1-1.ndjson'), '{"key":"Item#1"');
  return path;
}

let dir = '';
let temp = '';
let sleeper: ChildProcess | undefined;
let savedTmp: string | undefined;

const Stale = suite('stage folders left by killed runs');
Stale.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-stage-dir-test-'));
  temp = join(dir, 'tmp');
  mkdirSync(temp);
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), entities(), { exportId: '2026-11-01T00:00:00_000', maxFileBytes: 8 * 1024 });
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = temp;
});
Stale.after(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  sleeper?.kill();
  rmSync(dir, { recursive: true, force: true });
});

Stale('a plan staging on workers removes the folder of a dead run and keeps those of live processes', async () => {
  sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600_000)'], { stdio: 'ignore' });
  const host = hostTag();
  const gone = deadPid();
  const dead = leftBy(temp, `mlbridge-stage-${host}-${gone}-aB3dE9`);
  const own = leftBy(temp, `mlbridge-stage-${host}-${process.pid}-Qw12Er`);
  const live = leftBy(temp, `mlbridge-stage-${host}-${sleeper.pid}-Zx98Cv`);
  // Another container sharing the temp folder: its pids are not this host's to judge.
  const elsewhere = leftBy(temp, `mlbridge-stage-other-host.example-${gone}-Mn56Bv`);
  // Named before folders carried their owner: whose it is cannot be told, so it is left alone.
  const legacy = leftBy(temp, 'mlbridge-stage-Kp4Lm2');

  const spec = (await loadSpec(join(dir, 'mlbridge.yaml'))).spec!;
  const source = await openSnapshotSource(spec.source!);
  assert.ok(source.files!.tasks.length >= 2, `${source.files!.tasks.length} output files`);
  const wh = new DuckDbWarehouse(join(dir, 'wh.duckdb'), false);
  try {
    const plan = await createPlan(spec, { warehouse: wh, source }, { jobs: 2 });
    const rows = plan.changes.find((c) => c.type === 'rows')!;
    assert.equal(rows.after, { insert: 600, update: 0, delete: 0, quarantine: 0, unchanged: 0 });
  } finally {
    await wh.close();
  }
  assert.not.ok(existsSync(dead), 'the dead run\'s folder is removed');
  assert.ok(existsSync(own) && existsSync(live) && existsSync(legacy), 'live processes\' folders are kept');
  assert.ok(existsSync(elsewhere), "another host's folder is kept, whatever its pid");
  assert.equal(readdirSync(temp).sort(), [legacy, own, live, elsewhere].map((p) => p.slice(temp.length + 1)).sort(), 'and this run removed its own');
});

Stale("a new stage folder carries its owner's host and pid", async () => {
  const path = await createStageDir(temp);
  try {
    assert.match(path.slice(temp.length + 1), new RegExp(`^mlbridge-stage-${hostTag().replace(/[.]/g, '\\.')}-${process.pid}-[A-Za-z0-9]{6}$`));
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
});

Stale.run();
