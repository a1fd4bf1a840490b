#!/usr/bin/env node
// Regenerates examples/quickstart/export and export-next: starts the real Cloud Datastore
// emulator on a free port, writes a few dozen deterministic entities (CustomerProfile,
// Order, Product) through the v1 REST API, asks the emulator for a managed export into
// ./export; then changes the data the way a day of traffic would (updates, deletes, new
// entities, an unchanged re-write, a wrong-typed value) and exports again into
// ./export-next, the second snapshot the README reconciles. Stops the emulator.
// The output is committed so the quickstart works without the emulator.
// Usage: node examples/quickstart/make-export.mjs   (needs `gcloud` with the datastore emulator)
import { spawn } from 'node:child_process';
import { rmSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'export');
const project = 'mlbridge-quickstart';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startEmulator() {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // detached: its own process group, so stopping it also stops the Java child gcloud spawns.
  const child = spawn(
    'gcloud',
    ['beta', 'emulators', 'datastore', 'start', '--no-store-on-disk', `--host-port=${host}`, `--project=${project}`, '--consistency=1.0'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const stop = async () => {
    try {
      await fetch(`http://${host}/shutdown`, { method: 'POST' });
    } catch {
      // already gone
    }
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`emulator exited early:\n${log}`);
    try {
      const res = await fetch(`http://${host}/`);
      if ((await res.text()).trim() === 'Ok') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`emulator did not start within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { host, stop };
}

// Value helpers in the v1 REST shape.
const str = (s) => ({ stringValue: s });
const int = (n) => ({ integerValue: String(n) });
const dbl = (n) => ({ doubleValue: n });
const bool = (b) => ({ booleanValue: b });
const ts = (iso) => ({ timestampValue: iso });
const arr = (values) => ({ arrayValue: { values } });
const ent = (properties) => ({ entityValue: { properties } });
const key = (kind, name) => ({ partitionId: { projectId: project }, path: [{ kind, name }] });

const cities = ['Lisbon', 'Oslo', 'Austin', 'Kyoto', 'Nairobi', 'Lyon'];
const segments = ['new', 'returning', 'vip'];
const categories = ['books', 'garden', 'kitchen', 'toys', 'audio'];

function entities() {
  const out = [];
  const day = (n) => new Date(Date.UTC(2026, 0, 1 + n, 9, 30)).toISOString();
  for (let i = 1; i <= 8; i++) {
    out.push({
      key: key('Product', `sku-${String(i).padStart(3, '0')}`),
      properties: {
        name: str(`Product ${i}`),
        price: dbl(Math.round((4.5 + i * 3.25) * 100) / 100),
        in_stock: bool(i % 3 !== 0),
        categories: arr([str(categories[i % 5]), str(categories[(i + 2) % 5])]),
      },
    });
  }
  for (let i = 1; i <= 12; i++) {
    out.push({
      key: key('CustomerProfile', `cust-${String(i).padStart(3, '0')}`),
      properties: {
        email: str(`customer${i}@example.com`),
        name: str(`Customer ${i}`),
        segment: str(segments[i % 3]),
        created_at: ts(day(i)),
        address: ent({ street: str(`${10 + i} Main Street`), city: str(cities[i % cities.length]), zip: str(String(10000 + i * 7)) }),
        tags: arr(i % 4 === 0 ? [] : [str('newsletter'), ...(i % 2 ? [str('beta')] : [])]),
      },
    });
  }
  for (let i = 1; i <= 20; i++) {
    const items = [];
    for (let j = 0; j < 1 + (i % 3); j++) {
      items.push(ent({ sku: str(`sku-${String(((i + j) % 8) + 1).padStart(3, '0')}`), quantity: int(1 + ((i + j) % 4)) }));
    }
    out.push({
      key: key('Order', `order-${String(i).padStart(4, '0')}`),
      properties: {
        customer: { keyValue: key('CustomerProfile', `cust-${String(((i * 5) % 12) + 1).padStart(3, '0')}`) },
        status: str(i % 5 === 0 ? 'cancelled' : i % 2 ? 'shipped' : 'paid'),
        total: dbl(Math.round(i * 17.35 * 100) / 100),
        placed_at: ts(day(12 + i)),
        items: arr(items),
      },
    });
  }
  return out;
}

async function call(host, method, body) {
  const res = await fetch(`http://${host}/v1/projects/${project}:${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} failed: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : {};
}

/** The second snapshot: 2 new orders, 2 changed customers, 1 deleted order and product,
 * one re-written unchanged, and a product whose price is the string "n/a" (quarantined). */
function drift(all) {
  const byName = new Map(all.map((e) => [e.key.path[0].name, e]));
  const mutations = [];
  for (const n of ['cust-002', 'cust-007']) {
    const e = structuredClone(byName.get(n));
    e.properties.segment = str('vip');
    e.properties.address.entityValue.properties.city = str('Porto');
    mutations.push({ upsert: e });
  }
  mutations.push({ upsert: byName.get('cust-010') }); // the same values again: unchanged
  mutations.push({ delete: key('Order', 'order-0005') });
  mutations.push({ delete: key('Product', 'sku-008') });
  const bad = structuredClone(byName.get('sku-003'));
  bad.properties.price = str('n/a');
  mutations.push({ upsert: bad });
  for (let i = 21; i <= 22; i++) {
    mutations.push({
      upsert: {
        key: key('Order', `order-${String(i).padStart(4, '0')}`),
        properties: {
          status: str('paid'),
          total: dbl(i * 10),
          placed_at: ts(new Date(Date.UTC(2026, 1, i, 9, 30)).toISOString()),
          items: arr([ent({ sku: str('sku-001'), quantity: int(2) })]),
        },
      },
    });
  }
  return mutations;
}

async function exportTo(host, dir) {
  rmSync(dir, { recursive: true, force: true });
  await call(host, 'export', { outputUrlPrefix: dir });
  return readdirSync(dir)[0];
}

const emulator = await startEmulator();
try {
  const all = entities();
  await call(emulator.host, 'commit', { mode: 'NON_TRANSACTIONAL', mutations: all.map((e) => ({ upsert: e })) });
  const first = await exportTo(emulator.host, outDir);
  process.stdout.write(`wrote ${all.length} entities; export ${first} in ${outDir}\n`);
  const mutations = drift(all);
  await call(emulator.host, 'commit', { mode: 'NON_TRANSACTIONAL', mutations });
  const nextDir = join(here, 'export-next');
  const second = await exportTo(emulator.host, nextDir);
  process.stdout.write(`applied ${mutations.length} mutations; export ${second} in ${nextDir}\n`);
} finally {
  await emulator.stop();
}
