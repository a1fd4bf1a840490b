// Export decode throughput and memory. Generates (once, reused) exports of 1M and 5M
// entities of ~10 properties with the test writer, then measures in the same run:
//   - decode: readExportBatches over every entity (entities/s, MB/s of export bytes); a plain
//     read checks every file's framing first, then decodes (read-export.ts)
//   - check pass: that first pass alone (framing, CRC32C, block fingerprints, counts)
//   - decode with skipCorrupt: a block-fingerprint scan per file, then the decode
//   - CPU seconds of the decode and the check pass (process.cpuUsage): steadier than wall
//     time on a machine shared with other work
//   - floor: a plain read of the same files with the same chunk size
//   - checks only: the LevelDB framing and per-record CRC32C checks every decode must make,
//     with no protobuf decoding (how much of the floor-to-decode gap no decoder can close)
//   - cold: the plain read and the decode again with the page cache dropped first (only
//     when this process may write /proc/sys/vm/drop_caches, i.e. as root; else null)
//   - profile: profileExport (export stats, init --from-export) in one thread and in one
//     worker thread per core
//   - peak RSS of a child process decoding 1M and 5M entities (separate processes)
// BENCH_QUICK=1 scales down to 100k / 500k. BENCH_RUNS sets the number of timed runs (default 5).
// Usage: node dist/bench/export-decode.bench.js
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Entity } from '../src/source/entity.js';
import { readExport, readExportBatches, locateExport } from '../src/source/export/index.js';
import { verifyPart } from '../src/source/export/read-export.js';
import { LogReader } from '../src/source/export/log-reader.js';
import { profileExport } from '../src/source/export/profile-export.js';
import { writeExport } from '../test/support/export-writer.js';

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS ?? (quick ? 3 : 5));
const SMALL = quick ? 100_000 : 1_000_000;
const LARGE = quick ? 500_000 : 5_000_000;

function* entities(n: number): Generator<Entity> {
  const base = Date.UTC(2024, 0, 1);
  for (let i = 1; i <= n; i++) {
    yield {
      key: { partitionId: { projectId: 'bench', ...(i % 4 === 0 ? { namespaceId: 'tenant-a' } : {}) }, path: [{ kind: i % 3 ? 'Order' : 'Customer', id: String(i) }] },
      properties: {
        email: { stringValue: `user${i}@example.com` },
        name: { stringValue: `Customer number ${i} ${i % 7 ? 'Jensen' : 'Müller-Łukasz'}` },
        age: { integerValue: String(18 + (i % 70)) },
        balance: { doubleValue: (i % 10000) / 7 },
        active: { booleanValue: i % 2 === 0 },
        created: { timestampValue: new Date(base + i * 1000).toISOString() },
        city: { stringValue: ['Berlin', 'Paris', 'Tokyo', 'Lagos', 'Lima'][i % 5]! },
        notes: { stringValue: `free text note ${i} `.repeat(3), excludeFromIndexes: true },
        tags: { arrayValue: { values: [{ stringValue: 'alpha' }, { stringValue: `t${i % 13}` }] } },
        address: { entityValue: { properties: { street: { stringValue: `${i} Main Street` }, zip: { stringValue: String(10000 + (i % 89999)) } } } },
      },
    };
  }
}

async function ensureExport(n: number): Promise<{ dir: string; files: string[]; bytes: number }> {
  const dir = join(tmpdir(), `mlbridge-bench-export-${n}`);
  const marker = join(dir, 'COMPLETE');
  if (!existsSync(marker)) {
    await rm(dir, { recursive: true, force: true });
    const t = performance.now();
    await writeExport(dir, entities(n), { exportId: 'bench', maxFileBytes: 128 * 1024 * 1024 });
    await writeFile(marker, '');
    process.stderr.write(`generated ${n} entities in ${((performance.now() - t) / 1000).toFixed(1)} s at ${dir}\n`);
  }
  const located = await locateExport(dir);
  const files = located.parts.flatMap((p) => p.outputs);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  return { dir, files, bytes };
}

async function decode(dir: string, skipCorrupt = false): Promise<number> {
  let n = 0;
  for await (const b of readExportBatches(dir, { skipCorrupt })) n += b.entities.length;
  return n;
}

/** The pass a plain read makes before decoding: every part's files checked, counts compared. */
async function checkPass(dir: string): Promise<void> {
  const located = await locateExport(dir);
  for (const part of located.parts) await verifyPart(located.store, part);
}

/** Wall and CPU seconds of fn. */
async function timedCpu(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** The public per-entity AsyncIterable, for its overhead over batches. */
async function decodeEach(dir: string): Promise<number> {
  let n = 0;
  for await (const _ of readExport(dir)) n++;
  return n;
}

async function plainRead(files: string[]): Promise<number> {
  let bytes = 0;
  for (const f of files) for await (const c of createReadStream(f, { highWaterMark: 1 << 20 })) bytes += (c as Buffer).length;
  return bytes;
}

/** Framing and checksums only: every record found and its CRC32C checked, nothing decoded. */
async function checksOnly(files: string[]): Promise<number> {
  let records = 0;
  for (const f of files) {
    const reader = new LogReader({ file: f, onRecordAt: () => void records++ });
    for await (const c of createReadStream(f, { highWaterMark: 1 << 20 })) reader.push(c as Buffer);
    reader.end();
  }
  return records;
}

async function profile(dir: string, jobs: number): Promise<number> {
  const p = await profileExport(dir, { byNamespace: true, jobs });
  return p.groups.reduce((n, g) => n + g.entities, 0);
}

/** Drops the page cache; false when not permitted (not root, or a read-only /proc/sys). */
function dropCaches(): boolean {
  try {
    spawnSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function child(n: number): Promise<void> {
  const { dir } = await ensureExport(n);
  const count = await decode(dir);
  process.stdout.write(JSON.stringify({ entities: count, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  const childArg = process.argv.indexOf('--child');
  if (childArg >= 0) return child(Number(process.argv[childArg + 1]));

  const { dir, files, bytes } = await ensureExport(SMALL);
  await ensureExport(LARGE);
  const mb = bytes / 1e6;
  const dec: number[] = [];
  const raw: number[] = [];
  const checks: number[] = [];
  const decCpu: number[] = [];
  const pass: number[] = [];
  const passCpu: number[] = [];
  const skip: number[] = [];
  let count = 0;
  await decode(dir); // warm-up (JIT, page cache)
  for (let r = 0; r < RUNS; r++) {
    raw.push(await timed(() => plainRead(files)));
    checks.push(await timed(() => checksOnly(files)));
    const d = await timedCpu(async () => (count = await decode(dir)));
    dec.push(d.wall);
    decCpu.push(d.cpu);
    const c = await timedCpu(() => checkPass(dir));
    pass.push(c.wall);
    passCpu.push(c.cpu);
    skip.push(await timed(() => decode(dir, true)));
  }
  const each: number[] = [];
  for (let r = 0; r < Math.min(3, RUNS); r++) each.push(await timed(() => decodeEach(dir)));
  const cores = availableParallelism();
  const prof1: number[] = [];
  const profN: number[] = [];
  for (let r = 0; r < Math.min(3, RUNS); r++) {
    prof1.push(await timed(() => profile(dir, 1)));
    profN.push(await timed(() => profile(dir, cores)));
  }
  // Cold: each measure after dropping the page cache, each paired with the same measure
  // warm right after it (this machine slows down over a long run; pairs share the drift).
  const coldRaw: number[] = [];
  const coldDec: number[] = [];
  const pairedRaw: number[] = [];
  const pairedDec: number[] = [];
  for (let r = 0; r < Math.min(3, RUNS); r++) {
    if (!dropCaches()) break;
    coldRaw.push(await timed(() => plainRead(files)));
    pairedRaw.push(await timed(() => plainRead(files)));
    if (!dropCaches()) break;
    coldDec.push(await timed(() => decode(dir)));
    pairedDec.push(await timed(() => decode(dir)));
  }
  const d = median(dec);
  const p = median(raw);
  const self = fileURLToPath(import.meta.url);
  const rss = (n: number) => {
    const r = spawnSync(process.execPath, [self, '--child', String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { entities: number; maxRssMB: number };
  };
  const r1 = rss(SMALL);
  const r5 = rss(LARGE);
  const out = {
    entities: count,
    exportMB: Number(mb.toFixed(1)),
    files: files.length,
    runs: RUNS,
    decodeSeconds: Number(d.toFixed(3)),
    entitiesPerSecond: Math.round(count / d),
    decodeMBps: Number((mb / d).toFixed(1)),
    plainReadSeconds: Number(p.toFixed(3)),
    plainReadMBps: Number((mb / p).toFixed(1)),
    decodeVsPlainRead: Number((d / p).toFixed(2)),
    decodeCpuSeconds: Number(median(decCpu).toFixed(3)),
    checkPassSeconds: Number(median(pass).toFixed(3)),
    checkPassCpuSeconds: Number(median(passCpu).toFixed(3)),
    checkPassShareOfDecodeCpu: Number((median(passCpu) / median(decCpu)).toFixed(2)),
    decodeSkipCorruptSeconds: Number(median(skip).toFixed(3)),
    checksOnlySeconds: Number(median(checks).toFixed(3)),
    checksOnlyVsPlainRead: Number((median(checks) / p).toFixed(2)),
    coldPlainReadSeconds: coldRaw.length ? Number(median(coldRaw).toFixed(3)) : null,
    coldDecodeSeconds: coldDec.length ? Number(median(coldDec).toFixed(3)) : null,
    coldDecodeVsColdPlainRead: coldRaw.length && coldDec.length ? Number((median(coldDec) / median(coldRaw)).toFixed(2)) : null,
    warmPairedWithColdSeconds: pairedDec.length ? { plainRead: Number(median(pairedRaw).toFixed(3)), decode: Number(median(pairedDec).toFixed(3)) } : null,
    cores,
    profileOneThreadSeconds: Number(median(prof1).toFixed(3)),
    [`profile${cores}ThreadsSeconds`]: Number(median(profN).toFixed(3)),
    [`profile${cores}ThreadsMBps`]: Number((mb / median(profN)).toFixed(1)),
    perEntityIteratorSeconds: Number(median(each).toFixed(3)),
    perEntityIteratorMBps: Number((mb / median(each)).toFixed(1)),
    [`peakRssMB_${SMALL}`]: Number(r1.maxRssMB.toFixed(1)),
    [`peakRssMB_${LARGE}`]: Number(r5.maxRssMB.toFixed(1)),
    allDecodeSeconds: dec.map((x) => Number(x.toFixed(3))),
    allPlainReadSeconds: raw.map((x) => Number(x.toFixed(3))),
    allChecksOnlySeconds: checks.map((x) => Number(x.toFixed(3))),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
