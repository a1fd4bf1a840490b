// Writes Datastore managed exports (LevelDB framing, EntityProto records, metadata files)
// for fixtures and benchmarks, in either folder layout. Streams to disk, so exports far
// larger than memory can be written. Entities are given in the v1 REST shape.
import { crc32c } from '@node-rs/crc32';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entity, Key, Value } from '../../src/source/entity.js';

export const BLOCK_SIZE = 32768;
const HEADER = 7;

function mask(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

const F64 = new Float64Array(1);
const F64B = new Uint8Array(F64.buffer);

/** A growable byte buffer with protobuf primitives. */
export class ProtoWriter {
  // allocUnsafe draws small buffers from Node's slab: far cheaper than zeroed typed arrays.
  buf: Uint8Array = Buffer.allocUnsafe(64);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): this {
    this.ensure(1);
    this.buf[this.len++] = b;
    return this;
  }
  varint(n: number | bigint): this {
    if (typeof n === 'number' && n >= 0 && n < 128) {
      this.ensure(1);
      this.buf[this.len++] = n;
      return this;
    }
    let v = typeof n === 'bigint' ? BigInt.asUintN(64, n) : n < 0 ? BigInt.asUintN(64, BigInt(n)) : n;
    if (typeof v === 'number') {
      this.ensure(10);
      while (v > 127) {
        this.buf[this.len++] = (v % 128) | 128;
        v = Math.floor(v / 128);
      }
      this.buf[this.len++] = v;
      return this;
    }
    this.ensure(10);
    while (v > 127n) {
      this.buf[this.len++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }
  double(field: number, d: number): this {
    this.tag(field, 1);
    this.ensure(8);
    F64[0] = d;
    this.buf.set(F64B, this.len);
    this.len += 8;
    return this;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Test-only value: a stringValue whose bytes are given raw (e.g. invalid UTF-8). */
export interface RawStringValue {
  rawStringBytes: Uint8Array;
  excludeFromIndexes?: boolean;
}
export type WriterValue = Value | RawStringValue;

function idVarint(id: string): number | bigint {
  const n = Number(id);
  return Number.isSafeInteger(n) && n >= 0 ? n : BigInt(id);
}

function keyRef(w: ProtoWriter, key: Key | undefined): void {
  w.string(13, key?.partitionId.projectId ?? '');
  const path = new ProtoWriter();
  for (const el of key?.path ?? []) {
    path.tag(1, 3).string(2, el.kind);
    if (el.id !== undefined) path.tag(3, 0).varint(idVarint(el.id));
    if (el.name !== undefined) path.string(4, el.name);
    path.tag(1, 4);
  }
  w.bytes(14, path.done());
  if (key?.partitionId.namespaceId) w.string(20, key.partitionId.namespaceId);
  if (key?.partitionId.databaseId) w.string(23, key.partitionId.databaseId);
}

function keyValue(w: ProtoWriter, key: Key): void {
  w.tag(12, 3);
  w.string(13, key.partitionId.projectId);
  for (const el of key.path) {
    w.tag(14, 3).string(15, el.kind);
    if (el.id !== undefined) w.tag(16, 0).varint(idVarint(el.id));
    if (el.name !== undefined) w.string(17, el.name);
    w.tag(14, 4);
  }
  if (key.partitionId.namespaceId) w.string(20, key.partitionId.namespaceId);
  if (key.partitionId.databaseId) w.string(23, key.partitionId.databaseId);
  w.tag(12, 4);
}

function micros(ts: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  if (!m) throw new Error(`bad timestamp ${ts}`);
  const secs = BigInt(Date.parse(`${m[1]}Z`) / 1000);
  const frac = BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 6) || '0');
  return secs * 1000000n + frac;
}

function doubleOf(d: number | string): number {
  return d === 'Infinity' ? Infinity : d === '-Infinity' ? -Infinity : d === 'NaN' ? NaN : Number(d);
}

/** Writes one Property (meaning, meaning_uri, name, multiple, value). */
function property(name: string, v: WriterValue, multiple: boolean): Uint8Array {
  const w = new ProtoWriter();
  const val = new ProtoWriter();
  let meaning = 'meaning' in v && typeof v.meaning === 'number' ? v.meaning : 0;
  let uri: string | undefined;
  if ('rawStringBytes' in v) val.bytes(3, v.rawStringBytes);
  else if ('nullValue' in v) {
    /* nothing set */
  } else if ('booleanValue' in v) val.tag(2, 0).varint(v.booleanValue ? 1 : 0);
  else if ('integerValue' in v) {
    const num = Number(v.integerValue);
    val.tag(1, 0).varint(Number.isSafeInteger(num) && num >= 0 ? num : BigInt(v.integerValue));
  }
  else if ('doubleValue' in v) val.double(4, doubleOf(v.doubleValue));
  else if ('timestampValue' in v) {
    meaning = 7;
    val.tag(1, 0).varint(micros(v.timestampValue));
  } else if ('stringValue' in v) val.string(3, v.stringValue);
  else if ('blobValue' in v) {
    if (meaning === 22) {
      meaning = 14;
      uri = 'ZLIB';
    } else if (!meaning) meaning = v.excludeFromIndexes ? 14 : 16;
    val.bytes(3, Buffer.from(v.blobValue, 'base64'));
  } else if ('geoPointValue' in v) {
    if (!meaning) meaning = 9;
    else if (meaning === 23) meaning = 0; // a point stored without the GEORSS meaning
    val.tag(5, 3).double(6, v.geoPointValue.latitude).double(7, v.geoPointValue.longitude).tag(5, 4);
  } else if ('keyValue' in v) keyValue(val, v.keyValue);
  else if ('entityValue' in v) {
    meaning = 19;
    val.bytes(3, encodeEntityProto(v.entityValue.key, v.entityValue.properties ?? {}));
  } else if ('arrayValue' in v) {
    meaning = 24; // only reached for empty arrays
  }
  if (meaning) w.tag(1, 0).varint(meaning);
  if (uri) w.string(2, uri);
  w.string(3, name).tag(4, 0).varint(multiple ? 1 : 0);
  w.bytes(5, val.done());
  return w.done();
}

/** EntityProto bytes for a key (optional for embedded entities) and properties. */
export function encodeEntityProto(key: Key | undefined, properties: Record<string, WriterValue>): Uint8Array {
  const w = new ProtoWriter();
  const ref = new ProtoWriter();
  keyRef(ref, key);
  w.bytes(13, ref.done());
  const raw: Uint8Array[] = [];
  for (const [name, v] of Object.entries(properties)) {
    const values = 'arrayValue' in v && v.arrayValue.values?.length ? v.arrayValue.values : undefined;
    if (values) {
      for (const el of values) {
        const p = property(name, el, true);
        if (el.excludeFromIndexes) raw.push(p);
        else w.bytes(14, p);
      }
    } else {
      const p = property(name, v, false);
      if (v.excludeFromIndexes) raw.push(p);
      else w.bytes(14, p);
    }
  }
  for (const p of raw) w.bytes(15, p);
  // entity_group: the root element of the key's path (empty for embedded entities).
  const group = new ProtoWriter();
  const root = key?.path[0];
  if (root) {
    group.tag(1, 3).string(2, root.kind);
    if (root.id !== undefined) group.tag(3, 0).varint(idVarint(root.id));
    if (root.name !== undefined) group.string(4, root.name);
    group.tag(1, 4);
  }
  w.bytes(16, group.done());
  return w.done();
}

export function encodeEntity(entity: Entity | { key: Key; properties: Record<string, WriterValue> }): Uint8Array {
  return encodeEntityProto(entity.key, entity.properties);
}

/** LevelDB log writer into an in-memory byte sink, flushed in whole chunks. */
export class LogWriter {
  private blockOffset = 0;
  private readonly out: Uint8Array;
  private outLen = 0;
  /** Bytes written so far (including headers and trailers). */
  written = 0;

  constructor(
    private readonly sink: (chunk: Uint8Array) => void | Promise<void>,
    chunkBytes = 1 << 20,
  ) {
    this.out = new Uint8Array(chunkBytes);
  }

  private async put(b: Uint8Array): Promise<void> {
    let p = 0;
    while (p < b.length) {
      const n = Math.min(b.length - p, this.out.length - this.outLen);
      this.out.set(b.subarray(p, p + n), this.outLen);
      this.outLen += n;
      p += n;
      if (this.outLen === this.out.length) await this.flush();
    }
    this.written += b.length;
  }

  async flush(): Promise<void> {
    if (!this.outLen) return;
    const chunk = this.out.slice(0, this.outLen);
    this.outLen = 0;
    await this.sink(chunk);
  }

  async addRecord(payload: Uint8Array): Promise<void> {
    let p = 0;
    let begin = true;
    do {
      const left = BLOCK_SIZE - this.blockOffset;
      if (left < HEADER) {
        if (left > 0) await this.put(new Uint8Array(left));
        this.blockOffset = 0;
      }
      const avail = BLOCK_SIZE - this.blockOffset - HEADER;
      const n = Math.min(avail, payload.length - p);
      const end = p + n === payload.length;
      const type = begin && end ? 1 : begin ? 2 : end ? 4 : 3;
      await this.emit(type, payload.subarray(p, p + n));
      p += n;
      begin = false;
    } while (p < payload.length);
  }

  private async emit(type: number, data: Uint8Array): Promise<void> {
    const h = Buffer.allocUnsafe(HEADER + data.length);
    h[4] = data.length & 0xff;
    h[5] = data.length >>> 8;
    h[6] = type;
    h.set(data, HEADER);
    const crc = mask(crc32c(Buffer.from(h.buffer, h.byteOffset + 6, data.length + 1)) >>> 0);
    h[0] = crc & 0xff;
    h[1] = (crc >>> 8) & 0xff;
    h[2] = (crc >>> 16) & 0xff;
    h[3] = crc >>> 24;
    await this.put(h);
    this.blockOffset += h.length;
  }

  /** Zero-pads to the end of the current block (some writers pad files to whole blocks). */
  async padToBlock(): Promise<void> {
    if (this.blockOffset > 0 && this.blockOffset < BLOCK_SIZE) await this.put(new Uint8Array(BLOCK_SIZE - this.blockOffset));
    this.blockOffset = 0;
  }
}

/** Frames records into one in-memory file. */
export async function frameRecords(records: Uint8Array[], options: { padToBlock?: boolean } = {}): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const w = new LogWriter((c) => void chunks.push(c));
  for (const r of records) await w.addRecord(r);
  if (options.padToBlock) await w.padToBlock();
  await w.flush();
  return Buffer.concat(chunks);
}

class FileSink {
  private readonly stream: WriteStream;
  constructor(path: string) {
    this.stream = createWriteStream(path);
  }
  write = (chunk: Uint8Array): Promise<void> | void => {
    if (!this.stream.write(chunk)) return new Promise((r) => this.stream.once('drain', () => r()));
  };
  close(): Promise<void> {
    return new Promise((resolve, reject) => this.stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

interface Group {
  dir: string;
  metaName: string;
  kind?: string;
  namespace?: string;
  files: string[];
  sink?: FileSink;
  writer?: LogWriter;
  count: number;
  bytes: number;
}

export interface WriteExportOptions {
  exportId?: string;
  /**
   * 'all': all_namespaces/all_kinds; 'per-kind': namespace_<NS>|default_namespace/kind_<K>
   * (an entity filter's layout); 'kind-folders': all_namespaces/kind_<K> (a kind filter
   * without a namespace filter).
   */
  layout?: 'all' | 'per-kind' | 'kind-folders';
  /** Start a new output-N file after this many bytes. */
  maxFileBytes?: number;
  /** Pad each output file with zeros to a whole block (as files written 2019–2023 are). */
  padFiles?: boolean;
  /** Name of the .overall_export_metadata file, when it differs from the folder (`production/importbackup.…`). */
  overallName?: string;
  /** Leave out the .overall_export_metadata file (a copied kind folder has none). */
  noOverall?: boolean;
  /** The export's start time in the metadata (default: now). */
  startTime?: Date;
  /** This many extra 0-byte output files listed in each part's metadata (they occur in production). */
  emptyOutputs?: number;
  /**
   * The .export_metadata of Google's servers: 'pre-2024' names the export "export_entities"
   * in field 1.1; '2024' (from about October 2024) names the export there and adds field
   * 2.5 of negative varints. Both write kind `__all__` for an all-kinds part. Default: the
   * export id in field 1.1, nothing else.
   */
  metadataStyle?: 'pre-2024' | '2024';
}

function descriptor(kind: string | undefined, ns: string | undefined): Uint8Array {
  const d = new ProtoWriter();
  d.tag(1, 0).varint(kind !== undefined ? 1 : 2).string(2, kind ?? '');
  d.tag(3, 0).varint(ns === undefined ? 3 : ns === '' ? 1 : 2).string(4, ns ?? '');
  return d.done();
}

/** Writes an export folder `<dir>/<exportId>/…` and returns its path. */
export async function writeExport(
  dir: string,
  entities: Iterable<Entity | { key: Key; properties: Record<string, WriterValue> }> | AsyncIterable<Entity>,
  options: WriteExportOptions = {},
): Promise<{ exportId: string; path: string; entities: number }> {
  const exportId = options.exportId ?? new Date().toISOString().replace(/\.(\d{3})Z$/, '_$1').slice(0, 23);
  const root = join(dir, exportId);
  const maxFile = options.maxFileBytes ?? 256 * 1024 * 1024;
  const groups = new Map<string, Group>();
  const groupFor = async (key: Key): Promise<Group> => {
    let id = 'all';
    let sub = 'all_namespaces/all_kinds';
    let kind: string | undefined;
    let ns: string | undefined;
    if (options.layout === 'per-kind') {
      kind = key.path[key.path.length - 1]!.kind;
      ns = key.partitionId.namespaceId ?? '';
      sub = `${ns ? `namespace_${ns}` : 'default_namespace'}/kind_${kind}`;
      id = sub;
    } else if (options.layout === 'kind-folders') {
      kind = key.path[key.path.length - 1]!.kind;
      sub = `all_namespaces/kind_${kind}`;
      id = sub;
    }
    let g = groups.get(id);
    if (!g) {
      g = { dir: join(root, sub), metaName: `${sub.replace('/', '_')}.export_metadata`, files: [], count: 0, bytes: 0 };
      if (kind !== undefined) g.kind = kind;
      if (ns !== undefined) g.namespace = ns;
      await mkdir(g.dir, { recursive: true });
      groups.set(id, g);
    }
    return g;
  };
  const openFile = (g: Group) => {
    const name = `output-${g.files.length}`;
    g.files.push(name);
    g.sink = new FileSink(join(g.dir, name));
    g.writer = new LogWriter(g.sink.write);
  };
  const closeFile = async (g: Group) => {
    if (!g.writer || !g.sink) return;
    if (options.padFiles) await g.writer.padToBlock();
    await g.writer.flush();
    await g.sink.close();
    g.writer = undefined as unknown as LogWriter;
    g.sink = undefined as unknown as FileSink;
  };
  let n = 0;
  for await (const e of entities as AsyncIterable<Entity>) {
    const g = await groupFor(e.key);
    if (!g.writer || g.writer.written >= maxFile) {
      await closeFile(g);
      openFile(g);
    }
    const rec = encodeEntity(e);
    await g.writer!.addRecord(rec);
    g.count++;
    g.bytes += rec.length;
    n++;
  }
  if (groups.size === 0 && (options.layout ?? 'all') === 'all') {
    const g = await groupFor({ partitionId: { projectId: '' }, path: [{ kind: '_' }] });
    openFile(g);
  }
  const overall = new ProtoWriter();
  const started = BigInt((options.startTime ?? new Date()).getTime()) * 1000n;
  const style = options.metadataStyle;
  for (const g of groups.values()) {
    await closeFile(g);
    for (let i = 0; i < (options.emptyOutputs ?? 0); i++) {
      const name = `output-${g.files.length}`;
      g.files.push(name);
      await writeFile(join(g.dir, name), new Uint8Array(0));
    }
    const meta = new ProtoWriter();
    const info = new ProtoWriter().string(1, style === 'pre-2024' ? 'export_entities' : exportId).tag(2, 0).varint(started).tag(3, 0).varint(started + 1000n);
    meta.bytes(1, info.done());
    const files = new ProtoWriter().string(1, g.kind ?? (style ? '__all__' : ''));
    for (const f of g.files) files.string(2, f);
    // Field 2.5 as seen since late 2024: signed varints, negative ones 10 bytes long.
    if (style === '2024') files.tag(5, 0).varint(-1).tag(5, 0).varint(-123456789).tag(5, 0).varint(7);
    meta.bytes(2, files.done());
    await writeFile(join(g.dir, g.metaName), meta.done());
    const entry = new ProtoWriter()
      .bytes(1, descriptor(g.kind, g.namespace))
      .string(2, `${g.dir.slice(root.length + 1)}/${g.metaName}`)
      .tag(3, 0)
      .varint(g.count)
      .tag(4, 0)
      .varint(g.bytes);
    overall.bytes(1, entry.done());
  }
  await mkdir(root, { recursive: true });
  if (!options.noOverall) {
    await writeFile(join(root, `${options.overallName ?? exportId}.overall_export_metadata`), await frameRecords([Uint8Array.of(0x33), overall.done()]));
  }
  return { exportId, path: root, entities: n };
}
