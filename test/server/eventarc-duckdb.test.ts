// Issue #10's acceptance test for Eventarc, against real tables: entities written to the real
// Datastore emulator and read back with `:lookup` (whose answer carries each entity's
// `version` and `updateTime`, what Eventarc puts in EntityEventData) become CloudEvents posted
// to `mlbridge serve` (the CLI, a child process, on a DuckDB spec) in binary mode (protobuf)
// and in structured JSON mode, with duplicates and in shuffled order. Every POST is answered
// 200 only once written, so when the last answer is in, serve is stopped with SIGTERM and
// the tables are read read-only (DuckDB lets one process hold the file: see serve-child.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { mulberry32 } from '../../src/model/prng.js';
import { encodeEntityEvent, type EventEntityResult } from '../../src/server/entity-event-proto.js';
import type { Entity } from '../../src/source/entity.js';
import { startDatastoreEmulator, type DatastoreEmulator } from '../support/datastore-emulator.js';
import { customerSpec, mlbridge, shuffle, specFolder, startServe, tableRows, type ServeChild } from './serve-child.js';

// ---- fakes: the spec, the emulator's REST calls, CloudEvents ----

const KEYS = 20;
const ROUNDS = 4;
const DELETED = [0, 1, 2, 3];

let emulator: DatastoreEmulator;

async function datastore(method: 'commit' | 'lookup', body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${emulator.host}/v1/projects/${emulator.project}:${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`Datastore emulator ${method}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const keyOf = (k: number) => ({ partitionId: { projectId: emulator.project }, path: [{ kind: 'CustomerProfile', name: `cust-${k}` }] });
const valuesOf = (k: number, round: number) => ({ email: `cust-${k}-r${round}@example.com`, visits: String(k * 10 + round), tier: round % 2 ? 'gold' : 'silver' });

/** Upserts every key with round `round`'s values (one commit), then looks them up: what Eventarc would report. */
async function writeRound(round: number): Promise<EventEntityResult[]> {
  const mutations = Array.from({ length: KEYS }, (_, k) => {
    const x = valuesOf(k, round);
    return { upsert: { key: keyOf(k), properties: { email: { stringValue: x.email }, visits: { integerValue: x.visits }, tier: { stringValue: x.tier } } } };
  });
  await datastore('commit', { mode: 'NON_TRANSACTIONAL', mutations });
  const found = (await datastore('lookup', { keys: Array.from({ length: KEYS }, (_, k) => keyOf(k)) })).found as Array<{ entity: Entity; version: string; updateTime?: string }>;
  const byName = new Map(found.map((f) => [f.entity.key.path[0]!.name!, f]));
  return Array.from({ length: KEYS }, (_, k) => {
    const f = byName.get(`cust-${k}`)!;
    return { entity: f.entity, version: f.version, ...(f.updateTime ? { updateTime: f.updateTime } : {}) };
  });
}

interface Delivery {
  type: 'updated' | 'deleted';
  data: { value?: EventEntityResult; oldValue?: EventEntityResult };
  mode: 'binary' | 'structured';
  id: string;
}

const CE_SOURCE = '//datastore.googleapis.com/projects/mlbridge-test/databases/(default)';

/** Each event's ce-time, by its id without `-again`. */
const eventTimes = new Map<string, string>();

function post(url: string, d: Delivery): Promise<Response> {
  const type = `google.cloud.datastore.entity.v1.${d.type}`;
  // A redelivery is the same CloudEvent: the same ce-time as the first delivery.
  const base = d.id.replace(/-again$/, '');
  const time = eventTimes.get(base) ?? new Date().toISOString();
  eventTimes.set(base, time);
  if (d.mode === 'binary') {
    return fetch(`${url}/eventarc`, {
      method: 'POST',
      headers: { 'content-type': 'application/protobuf', 'ce-specversion': '1.0', 'ce-type': type, 'ce-id': d.id, 'ce-source': CE_SOURCE, 'ce-time': time },
      body: new Blob([Buffer.from(encodeEntityEvent(d.data))]),
    });
  }
  // Structured mode: the attributes and the proto3 JSON of EntityEventData in one object.
  return fetch(`${url}/eventarc`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', type, id: d.id, source: CE_SOURCE, time, datacontenttype: 'application/json', data: d.data }),
  });
}

/** Posts in order, `parallel` at a time (reordering within each window too); every answer must be 200. */
async function deliver(url: string, deliveries: Delivery[], parallel = 8): Promise<void> {
  for (let i = 0; i < deliveries.length; i += parallel) {
    const answers = await Promise.all(deliveries.slice(i, i + parallel).map(async (d) => ({ d, res: await post(url, d) })));
    for (const { d, res } of answers) {
      const body = await res.text();
      assert.is(res.status, 200, `${d.mode} ${d.type} ${d.id}: ${body}`);
      assert.equal(JSON.parse(body), { status: 'accepted' }, `${d.mode} ${d.type} ${d.id}`);
    }
  }
}

// ---- the suite ----

const E2E = suite('Datastore emulator → Eventarc CloudEvents → mlbridge serve → DuckDB');

let folder: ReturnType<typeof specFolder>;
let serve: ServeChild;

E2E.before(async () => {
  folder = specFolder(customerSpec(), 'mlbridge-eventarc-e2e-');
  const applied = await mlbridge(['apply', '--auto-approve', '--skip-data', '-c', '.'], folder.dir);
  assert.is(applied.code, 0, applied.stderr);
  emulator = await startDatastoreEmulator();
  serve = await startServe(folder.dir, 0);
});

E2E.after(async () => {
  await serve?.stop('SIGKILL');
  await emulator?.stop();
  folder?.cleanup();
});

E2E('updates in both content modes, duplicated and shuffled, then deletes and late older updates, leave exactly the entities that still exist', async () => {
  const rand = mulberry32(10);
  const rounds: EventEntityResult[][] = [];
  for (let r = 1; r <= ROUNDS; r++) rounds.push(await writeRound(r));
  // The emulator versions every write: each round is newer than the one before.
  for (let k = 0; k < KEYS; k++) for (let r = 1; r < ROUNDS; r++) assert.ok(BigInt(rounds[r]![k]!.version!) > BigInt(rounds[r - 1]![k]!.version!), `cust-${k} round ${r + 1}`);
  let n = 0;
  const update = (r: number, k: number): Delivery => ({ type: 'updated', data: { value: rounds[r]![k]! }, mode: rand() < 0.5 ? 'binary' : 'structured', id: `upd-${r}-${k}-${n++}` });

  // Held back until after the delete: the deleted keys' round-2 update, and cust-3's last
  // update (the very version the delete's old_value carries).
  const heldBack = (r: number, k: number) => (r === 1 && DELETED.includes(k)) || (r === ROUNDS - 1 && k === 3);
  const late = [...DELETED.map((k) => update(1, k)), update(ROUNDS - 1, 3)];
  const updates: Delivery[] = [];
  for (let r = 0; r < ROUNDS; r++) for (let k = 0; k < KEYS; k++) if (!heldBack(r, k)) updates.push(update(r, k));
  const again = shuffle(updates, rand).slice(0, Math.round(updates.length * 0.3)).map((d) => ({ ...d, mode: d.mode === 'binary' ? ('structured' as const) : ('binary' as const), id: `${d.id}-again` }));
  await deliver(serve.url, shuffle([...updates, ...again], rand));

  // Deletes: what the emulator's entity was before the delete travels in old_value.
  await datastore('commit', { mode: 'NON_TRANSACTIONAL', mutations: DELETED.map((k) => ({ delete: keyOf(k) })) });
  assert.equal((await datastore('lookup', { keys: DELETED.map(keyOf) })).found, undefined, 'the emulator deleted them');
  const deletes = DELETED.map((k, i): Delivery => ({ type: 'deleted', data: { oldValue: rounds[ROUNDS - 1]![k]! }, mode: i % 2 ? 'structured' : 'binary', id: `del-${k}` }));
  await deliver(serve.url, [...deletes, { ...deletes[0]!, mode: 'structured', id: 'del-0-again' }]);
  // Older updates arriving after the delete (first deliveries, and redeliveries) resurrect nothing.
  await deliver(serve.url, [...late, update(0, 0), update(2, 1), update(ROUNDS - 1, 2)]);

  assert.is(await serve.stop('SIGTERM'), 0, serve.output().slice(-2000));
  const db = join(folder.dir, 'wh.duckdb');
  const current = await tableRows(db, 'SELECT _key, CAST(_version AS VARCHAR) AS _version, email, CAST(visits AS VARCHAR) AS visits, tier FROM live.customer_profile ORDER BY _key');
  const want = Array.from({ length: KEYS }, (_, k) => k)
    .filter((k) => !DELETED.includes(k))
    .map((k) => ({ _key: `CustomerProfile:cust-${k}`, _version: rounds[ROUNDS - 1]![k]!.version!, ...valuesOf(k, ROUNDS) }))
    .sort((a, b) => a._key.localeCompare(b._key));
  assert.equal(current, want);

  const raw = await tableRows(db, "SELECT _key, operation, origin, data->>'$._version' AS deleted_version FROM live.customer_profile_raw ORDER BY _key, operation");
  assert.is(raw.length, KEYS * ROUNDS + DELETED.length, 'one raw row per distinct event: every update, every delete');
  assert.ok(raw.every((r) => r.origin === 'eventarc'));
  assert.equal(
    raw.filter((r) => r.operation === 'DELETE').map((r) => [r._key, r.deleted_version]),
    // A delete's version is its own time (ce-time in µs), later than the entity's last version.
    DELETED.map((k) => [`CustomerProfile:cust-${k}`, String(BigInt(Date.parse(eventTimes.get(`del-${k}`)!)) * 1000n)]),
    'a DELETE raw row per deleted key, at the time of the delete',
  );
  for (let k = 0; k < KEYS; k++) assert.is(raw.filter((r) => r._key === `CustomerProfile:cust-${k}` && r.operation === 'UPSERT').length, ROUNDS, `cust-${k}: one raw row per version`);
});

E2E.run();
