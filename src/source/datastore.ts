// Live reads from Cloud Datastore (or its emulator) with @google-cloud/datastore, as
// entities in the v1 REST shape: exactly what the export reader yields for the same
// entities, so inference and reconciliation treat both sources alike.
//
// We call the client's gapic `runQuery` (through `request_`) and convert the raw protos
// ourselves: the client's own entity objects lose what the REST shape keeps (meaning,
// excludeFromIndexes per value, int64 beyond 2^53 unless wrapped, blob vs text).
// Memory is bounded: one page of `pageSize` entities at a time, fetched only when the
// consumer asks for the next one.
import type { Entity, Key, PathElement, Value } from './entity.js';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../model/errors.js';

export interface ReadDatastoreOptions {
  project: string;
  /** Namespaces to read ('' = the default namespace); default: every namespace (`__namespace__`). */
  namespaces?: string[];
  /** Kinds to read; default: every kind of each namespace (`__kind__`). */
  kinds?: string[];
  /** A named database; default: the project's default database. */
  databaseId?: string;
  /** DATASTORE_EMULATOR_HOST is read from here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Entities per runQuery call (default 500). */
  pageSize?: number;
  /** At most this many entities per kind in each namespace (a sample); default: all. */
  limit?: number;
}

/** The raw gapic proto objects (longs as strings, enums as strings, oneofs named). */
interface ProtoKey {
  partitionId?: { projectId?: string; namespaceId?: string; databaseId?: string } | null;
  path?: { kind?: string; id?: string | number | null; name?: string | null; idType?: string }[];
}
interface ProtoValue {
  valueType?: string;
  meaning?: number;
  excludeFromIndexes?: boolean;
  nullValue?: unknown;
  booleanValue?: boolean;
  integerValue?: string | number | { toString(): string };
  doubleValue?: number;
  timestampValue?: { seconds?: string | number; nanos?: number } | null;
  keyValue?: ProtoKey | null;
  stringValue?: string;
  blobValue?: Uint8Array | string;
  geoPointValue?: { latitude?: number; longitude?: number } | null;
  entityValue?: ProtoEntity | null;
  arrayValue?: { values?: ProtoValue[] } | null;
}
interface ProtoEntity {
  key?: ProtoKey | null;
  properties?: Record<string, ProtoValue>;
}
interface RunQueryResponse {
  batch?: {
    entityResults?: { entity?: ProtoEntity; version?: string | number | { toString(): string } }[];
    endCursor?: Uint8Array | string;
    moreResults?: string;
  } | null;
}

interface Client {
  request_(config: { client: string; method: string; reqOpts: object }, cb: (err: Error | null, resp?: unknown) => void): void;
  clients_: Map<string, { close?: () => Promise<void> }>;
}

// ---- proto → REST shape -------------------------------------------------------------

export function keyFromProto(k: ProtoKey): Key {
  const p = k.partitionId ?? {};
  const partitionId: Key['partitionId'] = { projectId: p.projectId ?? '' };
  // proto3 JSON leaves out empty strings, as lookup does.
  if (p.namespaceId) partitionId.namespaceId = p.namespaceId;
  if (p.databaseId) partitionId.databaseId = p.databaseId;
  const path: PathElement[] = (k.path ?? []).map((el) => {
    const out: PathElement = { kind: el.kind ?? '' };
    if (el.idType === 'name' || (el.idType === undefined && el.name)) out.name = el.name ?? '';
    else if (el.idType === 'id' || (el.idType === undefined && el.id != null)) out.id = String(el.id);
    return out;
  });
  return { partitionId, path };
}

/** RFC 3339 UTC with 0, 3, 6 or 9 fraction digits, as proto3 JSON (and lookup) prints it. */
export function timestampFromProto(t: { seconds?: string | number; nanos?: number }): string {
  const seconds = Number(t.seconds ?? 0);
  const nanos = t.nanos ?? 0;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (!nanos) return `${base}Z`;
  const digits = String(nanos).padStart(9, '0');
  const frac = nanos % 1_000_000 === 0 ? digits.slice(0, 3) : nanos % 1000 === 0 ? digits.slice(0, 6) : digits;
  return `${base}.${frac}Z`;
}

function propsFromProto(props: Record<string, ProtoValue> | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  if (props) for (const name of Object.keys(props)) out[name] = valueFromProto(props[name]!);
  return out;
}

function doubleJson(d: number): number | 'Infinity' | '-Infinity' | 'NaN' {
  if (Number.isNaN(d)) return 'NaN';
  if (d === Infinity) return 'Infinity';
  if (d === -Infinity) return '-Infinity';
  return d;
}

export function valueFromProto(v: ProtoValue): Value {
  // Field order as lookup prints it: meaning, the value, excludeFromIndexes.
  const out: Record<string, unknown> = {};
  if (v.meaning) out.meaning = v.meaning;
  const type = v.valueType ?? Object.keys(v).find((k) => k.endsWith('Value') && (v as Record<string, unknown>)[k] != null);
  switch (type) {
    case 'nullValue':
      out.nullValue = null;
      break;
    case 'booleanValue':
      out.booleanValue = Boolean(v.booleanValue);
      break;
    case 'integerValue':
      out.integerValue = String(v.integerValue ?? '0');
      break;
    case 'doubleValue':
      out.doubleValue = doubleJson(Number(v.doubleValue ?? 0));
      break;
    case 'timestampValue':
      out.timestampValue = timestampFromProto(v.timestampValue ?? {});
      break;
    case 'keyValue':
      out.keyValue = keyFromProto(v.keyValue ?? {});
      break;
    case 'stringValue':
      out.stringValue = v.stringValue ?? '';
      break;
    case 'blobValue': {
      const b = v.blobValue ?? '';
      out.blobValue = typeof b === 'string' ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
      break;
    }
    case 'geoPointValue':
      out.geoPointValue = { latitude: v.geoPointValue?.latitude ?? 0, longitude: v.geoPointValue?.longitude ?? 0 };
      break;
    case 'entityValue': {
      const ev: { key?: Key; properties?: Record<string, Value> } = {};
      if (v.entityValue?.key) ev.key = keyFromProto(v.entityValue.key);
      const props = v.entityValue?.properties;
      if (props && Object.keys(props).length) ev.properties = propsFromProto(props);
      out.entityValue = ev;
      break;
    }
    case 'arrayValue': {
      const values = v.arrayValue?.values ?? [];
      out.arrayValue = values.length ? { values: values.map(valueFromProto) } : {};
      break;
    }
    default:
      // A value with no value set reads as null (proto3: nothing set in the oneof).
      out.nullValue = null;
  }
  if (v.excludeFromIndexes) out.excludeFromIndexes = true;
  return out as unknown as Value;
}

export function entityFromProto(e: ProtoEntity): Entity {
  return { key: keyFromProto(e.key ?? {}), properties: propsFromProto(e.properties) };
}

// ---- client ----------------------------------------------------------------------------

/** `host:port` from DATASTORE_EMULATOR_HOST without a scheme or trailing slash, or undefined. */
export function datastoreEmulatorHost(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.DATASTORE_EMULATOR_HOST?.trim();
  if (!raw) return undefined;
  return raw.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

async function openClient(options: ReadDatastoreOptions, env: NodeJS.ProcessEnv): Promise<Client> {
  const emulator = datastoreEmulatorHost(env);
  const { googleAuthClient } = await import('../google/config.js');
  // The emulator needs no credentials (PassThroughClient: no ADC lookup, no metadata
  // probe); otherwise ADC resolved up front → one clear CREDENTIALS_MISSING.
  const auth = await googleAuthClient(env, { emulator: emulator !== undefined, scopes: ['https://www.googleapis.com/auth/datastore'] });
  const { Datastore } = await import('@google-cloud/datastore');
  const grpc = emulator !== undefined ? await import('@grpc/grpc-js') : undefined;
  const ds = new Datastore({
    // `auth` reaches the gapic clients (GrpcClient takes options.auth); not in DatastoreOptions' type.
    ...({ auth } as object),
    projectId: options.project,
    // The client reads DATASTORE_EMULATOR_HOST from process.env itself; we pass it
    // explicitly so an `env` other than process.env is honoured too.
    ...(emulator !== undefined ? { apiEndpoint: emulator, sslCreds: grpc!.credentials.createInsecure() } : {}),
    ...(options.databaseId ? { databaseId: options.databaseId } : {}),
  });
  return ds as unknown as Client;
}

async function closeClient(client: Client): Promise<void> {
  for (const c of client.clients_.values()) {
    try {
      await c.close?.();
    } catch {
      // closing is best effort
    }
  }
}

function runQuery(client: Client, reqOpts: object): Promise<RunQueryResponse> {
  return new Promise((resolve, reject) => {
    client.request_({ client: 'DatastoreClient', method: 'runQuery', reqOpts }, (err, resp) => (err ? reject(err) : resolve((resp ?? {}) as RunQueryResponse)));
  });
}

function describe(options: ReadDatastoreOptions, namespace: string | undefined, kind: string): string {
  const db = options.databaseId ? `, database ${JSON.stringify(options.databaseId)}` : '';
  const ns = namespace === undefined ? '' : `, namespace ${namespace ? JSON.stringify(namespace) : '(default)'}`;
  return `Datastore project ${options.project}${db}${ns}, kind ${/^[\p{L}\p{N}_.-]+$/u.test(kind) ? kind : JSON.stringify(kind)}`;
}

function sourceError(what: string, e: unknown): MlbridgeError {
  if (isMlbridgeError(e)) return e;
  const msg = errorMessage(e).replace(/\s+/g, ' ').trim();
  if (/Could not load the default credentials|Could not refresh access token|invalid_grant/i.test(msg)) {
    return new MlbridgeError('CREDENTIALS_MISSING', `${what}: ${msg}`, { resource: what, cause: e });
  }
  return new MlbridgeError('SOURCE_ERROR', `${what}: query failed: ${msg}`, { resource: what, cause: e });
}

/** Pages through one kind query, yielding raw entity protos; at most `limit` in all. */
async function* pages(
  client: Client,
  options: ReadDatastoreOptions,
  namespace: string,
  query: { kind: string; keysOnly?: boolean },
  limit: number,
): AsyncGenerator<{ entity: ProtoEntity; version?: string }> {
  const pageSize = Math.max(1, Math.floor(options.pageSize ?? 500));
  let cursor: Uint8Array | string | undefined;
  let n = 0;
  for (;;) {
    const want = Math.min(pageSize, limit - n);
    if (want <= 0) return;
    const reqOpts = {
      partitionId: { projectId: options.project, namespaceId: namespace, ...(options.databaseId ? { databaseId: options.databaseId } : {}) },
      query: {
        kind: [{ name: query.kind }],
        limit: { value: want },
        ...(query.keysOnly ? { projection: [{ property: { name: '__key__' } }] } : {}),
        ...(cursor !== undefined ? { startCursor: cursor } : {}),
      },
    };
    let resp: RunQueryResponse;
    try {
      resp = await runQuery(client, reqOpts);
    } catch (e) {
      throw sourceError(describe(options, namespace, query.kind), e);
    }
    const results = resp.batch?.entityResults ?? [];
    for (const r of results) {
      if (r.entity) {
        n++;
        yield r.version !== undefined && r.version !== null ? { entity: r.entity, version: String(r.version) } : { entity: r.entity };
      }
    }
    const more = resp.batch?.moreResults;
    const next = resp.batch?.endCursor;
    // NO_MORE_RESULTS ends it; so does an empty page (a guard against a cursor that
    // does not advance: never loop forever).
    if (more === 'NO_MORE_RESULTS' || results.length === 0 || next === undefined || next === null || (next as { length?: number }).length === 0) return;
    cursor = next;
  }
}

async function listNamespaces(client: Client, options: ReadDatastoreOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const { entity: e } of pages(client, options, '', { kind: '__namespace__', keysOnly: true }, Infinity)) {
    const el = e.key?.path?.[e.key.path.length - 1];
    // The default namespace is the key with id 1.
    out.push(el?.idType === 'name' || (el?.name ?? '') !== '' ? (el?.name ?? '') : '');
  }
  return [...new Set(out)];
}

async function listKinds(client: Client, options: ReadDatastoreOptions, namespace: string): Promise<string[]> {
  const out: string[] = [];
  for await (const { entity: e } of pages(client, options, namespace, { kind: '__kind__', keysOnly: true }, Infinity)) {
    const name = e.key?.path?.[e.key.path.length - 1]?.name ?? '';
    // `__Stat_…__` and other reserved kinds are Datastore's, not the user's.
    if (name && !name.startsWith('__')) out.push(name);
  }
  return out;
}

/**
 * Every entity of the selected namespaces and kinds, namespace by namespace, kind by kind,
 * in key order within a kind. Kinds and namespaces not given are listed with the
 * `__kind__` / `__namespace__` metadata queries.
 */
export async function* readDatastore(options: ReadDatastoreOptions): AsyncGenerator<Entity> {
  for await (const r of readDatastoreVersioned(options)) yield r.entity;
}

/** An entity with its version (Datastore's monotonically increasing per-entity version). */
export interface VersionedEntity {
  entity: Entity;
  version?: string;
}

/** readDatastore, with each entity's version as the query returned it. */
export async function* readDatastoreVersioned(options: ReadDatastoreOptions): AsyncGenerator<VersionedEntity> {
  const env = options.env ?? process.env;
  const limit = options.limit ?? Infinity;
  let client: Client;
  try {
    client = await openClient(options, env);
  } catch (e) {
    if (isMlbridgeError(e)) throw e;
    throw new MlbridgeError('SOURCE_ERROR', `Datastore project ${options.project}: could not open the client: ${errorMessage(e)}`, { cause: e });
  }
  try {
    const namespaces = options.namespaces?.length ? [...new Set(options.namespaces)] : await listNamespaces(client, options);
    for (const ns of namespaces) {
      const kinds = options.kinds?.length ? [...new Set(options.kinds)] : await listKinds(client, options, ns);
      for (const kind of kinds) {
        for await (const r of pages(client, options, ns, { kind }, limit)) {
          yield r.version !== undefined ? { entity: entityFromProto(r.entity), version: r.version } : { entity: entityFromProto(r.entity) };
        }
      }
    }
  } finally {
    await closeClient(client);
  }
}
