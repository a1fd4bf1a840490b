// A corpus of entities covering every value kind, committed to the real Datastore
// emulator and exported by it; shared by the export tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Entity, Key, Value } from '../../src/source/entity.js';
import { startDatastoreEmulator, type DatastoreEmulator } from '../support/datastore-emulator.js';

export const PROJECT = 'mlbridge-export-test';

const key = (path: [string, string | number][], namespaceId?: string): Key => ({
  partitionId: { projectId: PROJECT, ...(namespaceId ? { namespaceId } : {}) },
  path: path.map(([kind, idOrName]) => (typeof idOrName === 'number' ? { kind, id: String(idOrName) } : { kind, name: idOrName })),
});

const ix = (v: Value): Value => ({ ...v, excludeFromIndexes: true }) as Value;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Deterministic filler text. */
function text(n: number, seed: string): string {
  let s = '';
  let i = 0;
  while (s.length < n) s += `${seed} ${i++} ünïcødé ✓ `;
  return s.slice(0, n);
}

export function corpus(): Entity[] {
  const ents: Entity[] = [];
  ents.push({
    key: key([['Everything', 'all']]),
    properties: {
      nul: { nullValue: null },
      t: { booleanValue: true },
      f: { booleanValue: false },
      i0: { integerValue: '0' },
      imin: { integerValue: '-9223372036854775808' },
      imax: { integerValue: '9223372036854775807' },
      ineg: { integerValue: '-1' },
      ibig: { integerValue: '9007199254740993' },
      inegbig: { integerValue: '-9007199254740993' },
      d: { doubleValue: 1.5 },
      dneg: { doubleValue: -0.25 },
      dinf: { doubleValue: 'Infinity' },
      dninf: { doubleValue: '-Infinity' },
      dnan: { doubleValue: 'NaN' },
      dhuge: { doubleValue: 1e300 },
      dtiny: { doubleValue: 5e-324 },
      dint: { doubleValue: 3 },
      ts: { timestampValue: '2020-02-29T12:34:56.789Z' },
      tsus: { timestampValue: '2021-06-01T00:00:00.000001Z' },
      tspre: { timestampValue: '1969-12-31T23:59:59.999999Z' },
      ts1900: { timestampValue: '1900-01-01T00:00:00Z' },
      tsmin: { timestampValue: '0001-01-01T00:00:00Z' },
      tsmax: { timestampValue: '9999-12-31T23:59:59.999999Z' },
      s: { stringValue: 'héllo 🌍 日本' },
      sempty: { stringValue: '' },
      sun: ix({ stringValue: 'unindexed' }),
      text: { stringValue: text(5000, 'text'), meaning: 15, excludeFromIndexes: true },
      blob: { blobValue: b64(Uint8Array.of(0, 1, 2, 255)) },
      blobun: ix({ blobValue: b64(Uint8Array.of(9, 8, 7)) }),
      blobempty: { blobValue: '' },
      zlib: { meaning: 22, blobValue: b64(deflateSync(Buffer.from('compressed payload'))), excludeFromIndexes: true },
      geo: { geoPointValue: { latitude: 52.52, longitude: -13.405 } },
      geoun: ix({ geoPointValue: { latitude: -90, longitude: 180 } }),
      geozero: { geoPointValue: { latitude: 0, longitude: 0 } }, // lookup prints {} (proto3 defaults left out)
      geoequator: { geoPointValue: { latitude: 0, longitude: 13.4 } },
      kref: { keyValue: key([['Parent', 7], ['Child', 'c-ü']], 'ns.x-1') },
      kid: { keyValue: key([['Other', 123456789012345]]) },
      emb: {
        entityValue: {
          properties: {
            street: { stringValue: 'Main St' },
            n: { integerValue: '5' },
            deeper: {
              entityValue: {
                key: key([['Inner', 'k']]),
                properties: { deepest: { entityValue: { properties: { x: { doubleValue: 2.5 }, un: ix({ stringValue: 'u' }) } } } },
              },
            },
          },
        },
      },
      embkeyed: { entityValue: { key: key([['E', 3]], 'zz'), properties: { a: { booleanValue: true } } } },
      embempty: { entityValue: {} },
      embun: ix({ entityValue: { properties: { y: { integerValue: '1' } } } }),
      'price.amount': { doubleValue: 9.99 },
      arr: { arrayValue: { values: [{ integerValue: '1' }, { stringValue: 'two' }, { doubleValue: 3.5 }, { nullValue: null }, { booleanValue: false }] } },
      arrempty: { arrayValue: {} },
      arrun: { arrayValue: { values: [{ stringValue: 'b' }, ix({ stringValue: 'a' })] } }, // the emulator stores indexed elements first
      arrents: {
        arrayValue: {
          values: [
            { entityValue: { properties: { q: { integerValue: '1' } } } },
            { entityValue: { key: key([['AE', 1]]), properties: { q: { integerValue: '2' } } } },
          ],
        },
      },
      arrts: { arrayValue: { values: [{ timestampValue: '1950-05-05T05:05:05.500Z' }, { timestampValue: '2000-01-01T00:00:00Z' }] } },
      'ünï cødé': { stringValue: 'property name with spaces and unicode' },
    },
  });
  // No properties at all.
  ents.push({ key: key([['Everything', 'bare']]), properties: {} });
  // Ancestors, numeric ids, namespaces, unicode kind/name.
  ents.push({ key: key([['Parent', 7], ['Child', 'c-ü']], 'ns.x-1'), properties: { v: { integerValue: '1' } } });
  ents.push({ key: key([['Parent', 7], ['Child', 'c2'], ['Grand', 42]], 'ns.x-1'), properties: { v: { integerValue: '2' } } });
  ents.push({ key: key([['Ünïcødé', 'ключ']], 'other'), properties: { 'имя': { stringValue: 'значение' } } });
  // A record larger than one 32 KiB block (spans FIRST/MIDDLE/LAST fragments).
  ents.push({ key: key([['Big', 'big']]), properties: { body: ix({ stringValue: text(100_000, 'big') }), n: { integerValue: '1' } } });
  // Many small records: more than one block holds.
  for (let i = 1; i <= 400; i++) {
    ents.push({
      key: key([['Bulk', i]], i % 2 ? 'bulk' : undefined),
      properties: {
        i: { integerValue: String(i) },
        name: { stringValue: `item ${i} ${'x'.repeat(i % 50)}` },
        price: i % 3 ? { doubleValue: i / 4 } : { integerValue: String(i) },
        when: { timestampValue: new Date(Date.UTC(2024, 0, 1) + i * 3600_000).toISOString().replace('.000Z', 'Z') },
        ...(i % 5 ? { tags: { arrayValue: { values: [{ stringValue: 't1' }, { stringValue: `t${i}` }] } } } : {}),
        ...(i % 7 ? {} : { note: { nullValue: null } }),
      },
    });
  }
  return ents;
}

export interface EmulatorExport {
  emulator: DatastoreEmulator;
  dir: string;
  entities: Entity[];
  /** Runs :export into a fresh folder under dir and returns that folder. */
  exportTo(name: string, entityFilter?: { kinds?: string[]; namespaceIds?: string[] }): Promise<string>;
  /** The emulator's lookup of these keys, as raw parsed JSON entities (any order). */
  lookup(keys: Key[]): Promise<Entity[]>;
  close(): Promise<void>;
}

async function call(emu: DatastoreEmulator, method: string, body: unknown): Promise<unknown> {
  const res = await fetch(`http://${emu.host}/v1/projects/${emu.project}:${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const t = await res.text();
  if (!res.ok) throw new Error(`${method} failed: ${res.status} ${t}`);
  return JSON.parse(t);
}

/** Starts the emulator, commits the corpus, and returns helpers. */
export async function seededEmulator(entities: Entity[] = corpus()): Promise<EmulatorExport> {
  const emulator = await startDatastoreEmulator({ project: PROJECT });
  const dir = await mkdtemp(join(tmpdir(), 'mlbridge-export-'));
  try {
    for (let i = 0; i < entities.length; i += 200) {
      const mutations = entities.slice(i, i + 200).map((e) => ({ upsert: e }));
      await call(emulator, 'commit', { mode: 'NON_TRANSACTIONAL', mutations });
    }
  } catch (e) {
    await emulator.stop();
    throw e;
  }
  return {
    emulator,
    dir,
    entities,
    async exportTo(name, entityFilter) {
      const out = join(dir, name);
      await call(emulator, 'export', { outputUrlPrefix: out, ...(entityFilter ? { entityFilter } : {}) });
      return out;
    },
    async lookup(keys) {
      const found: Entity[] = [];
      for (let i = 0; i < keys.length; i += 300) {
        const res = (await call(emulator, 'lookup', { keys: keys.slice(i, i + 300) })) as { found?: { entity: Entity }[]; missing?: unknown[] };
        if (res.missing?.length) throw new Error(`lookup: ${res.missing.length} key(s) missing`);
        for (const f of res.found ?? []) found.push(f.entity);
      }
      return found;
    },
    async close() {
      await emulator.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function keyString(k: Key): string {
  return JSON.stringify([k.partitionId.namespaceId ?? '', k.path]);
}

/**
 * lookup's JSON leaves out proto3 defaults inside a geoPointValue (0 → absent); entities
 * from the reader always carry both coordinates, as the Entity type says. Adds them back
 * so the two can be compared.
 */
export function withGeoDefaults(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withGeoDefaults);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const g = x as { latitude?: number; longitude?: number };
    out[k] = k === 'geoPointValue' ? { latitude: g.latitude ?? 0, longitude: g.longitude ?? 0 } : withGeoDefaults(x);
  }
  return out;
}
