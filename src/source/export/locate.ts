// Finds an export's files: a local folder or gs://bucket/prefix, pointing at an export
// folder, a folder holding several exports (the newest by the time its metadata records,
// or the one named by its folder's or its overall file's name), an
// .overall_export_metadata file, one kind's .export_metadata, or a folder with part
// metadata somewhere below it and no overall file (a kept kind folder). Both layouts (all
// kinds, and per kind/namespace from an entity filter) are described by the metadata.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import type { ByteRange } from './log-format.js';
import { parseExportMetadata, parseOverallMetadata } from './metadata.js';

/** Where export bytes come from. Paths are store-specific (local paths, or object names). */
export interface ExportStore {
  /** Display form of a path for messages (gs://bucket/name or the local path). */
  display(path: string): string;
  join(dir: string, name: string): string;
  dirname(path: string): string;
  /** Immediate children (files and folders) of a folder; names only. */
  list(dir: string): Promise<{ name: string; dir: boolean }[]>;
  isFile(path: string): Promise<boolean>;
  readAll(path: string, maxBytes: number): Promise<Uint8Array>;
  /** The file's bytes; of a range, those in [start, end) (end Infinity: to the file's end). */
  stream(path: string, range?: ByteRange): AsyncIterable<Uint8Array>;
  size(path: string): Promise<number>;
}

export interface ExportPart {
  /** Store path of the .export_metadata file. */
  metadataPath: string;
  kind?: string;
  namespace?: string;
  entityCount?: number;
  /** Store paths of the output-N files. */
  outputs: string[];
}

export interface LocatedExport {
  store: ExportStore;
  /** Export id (folder name) when known. */
  exportId?: string;
  parts: ExportPart[];
}

const READ_CHUNK = 1 << 20; // 32 whole blocks

class LocalStore implements ExportStore {
  display(p: string): string {
    return p;
  }
  join(dir: string, name: string): string {
    return join(dir, name);
  }
  dirname(p: string): string {
    return join(p, '..');
  }
  async list(dir: string): Promise<{ name: string; dir: boolean }[]> {
    const ents = await readdir(dir, { withFileTypes: true });
    return ents.map((e) => ({ name: e.name, dir: e.isDirectory() }));
  }
  async isFile(p: string): Promise<boolean> {
    try {
      return (await stat(p)).isFile();
    } catch {
      return false;
    }
  }
  async readAll(p: string, maxBytes: number): Promise<Uint8Array> {
    const size = await this.size(p);
    if (size > maxBytes) throw new MlbridgeError('EXPORT_CORRUPT', `${p}: byte offset 0: metadata file is ${size} bytes, more than ${maxBytes}`);
    return readFile(p);
  }
  async *stream(p: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    const bounds = range ? { start: range.start, ...(range.end !== Infinity ? { end: range.end - 1 } : {}) } : {};
    yield* createReadStream(p, { highWaterMark: READ_CHUNK, ...bounds }) as AsyncIterable<Buffer>;
  }
  async size(p: string): Promise<number> {
    return (await stat(p)).size;
  }
}

interface GcsBucketLike {
  getFiles(q: { prefix: string; delimiter?: string; autoPaginate?: boolean; pageToken?: string }): Promise<unknown[]>;
  file(name: string): {
    download(): Promise<[Buffer]>;
    createReadStream(options?: { start?: number; end?: number }): NodeJS.ReadableStream;
    getMetadata(): Promise<[{ size?: string | number }]>;
    exists(): Promise<[boolean]>;
  };
}

class GcsStore implements ExportStore {
  constructor(
    private readonly bucketName: string,
    private readonly bucket: GcsBucketLike,
  ) {}
  display(p: string): string {
    return `gs://${this.bucketName}/${p}`;
  }
  join(dir: string, name: string): string {
    return dir ? posix.join(dir, name) : name;
  }
  dirname(p: string): string {
    const d = posix.dirname(p);
    return d === '.' ? '' : d;
  }
  async list(dir: string): Promise<{ name: string; dir: boolean }[]> {
    const prefix = dir ? `${dir.replace(/\/$/, '')}/` : '';
    const out: { name: string; dir: boolean }[] = [];
    // Prefixes ("folders") only come back in apiResponse with autoPaginate off: page by hand.
    let pageToken: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const res = (await this.bucket.getFiles({ prefix, delimiter: '/', autoPaginate: false, ...(pageToken ? { pageToken } : {}) })) as [
        { name: string }[],
        { pageToken?: string } | null | undefined,
        { prefixes?: string[] } | undefined,
      ];
      for (const f of res[0] ?? []) out.push({ name: f.name.slice(prefix.length), dir: false });
      for (const p of res[2]?.prefixes ?? []) out.push({ name: p.slice(prefix.length).replace(/\/$/, ''), dir: true });
      pageToken = res[1]?.pageToken;
      if (!pageToken) break;
    }
    return out.filter((e) => e.name);
  }
  async isFile(p: string): Promise<boolean> {
    if (!p) return false;
    return (await this.bucket.file(p).exists())[0];
  }
  async readAll(p: string, maxBytes: number): Promise<Uint8Array> {
    const size = await this.size(p);
    if (size > maxBytes) throw new MlbridgeError('EXPORT_CORRUPT', `${this.display(p)}: byte offset 0: metadata file is ${size} bytes, more than ${maxBytes}`);
    return (await this.bucket.file(p).download())[0];
  }
  async *stream(p: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    // A ranged download (HTTP Range; `end` inclusive) carries no checksum to validate; the
    // records' own CRC32Cs still cover every byte decoded.
    const bounds = range ? { start: range.start, ...(range.end !== Infinity ? { end: range.end - 1 } : {}) } : undefined;
    yield* this.bucket.file(p).createReadStream(bounds) as unknown as AsyncIterable<Buffer>;
  }
  async size(p: string): Promise<number> {
    return Number((await this.bucket.file(p).getMetadata())[0].size ?? 0);
  }
}

export async function openStore(location: string, env: NodeJS.ProcessEnv): Promise<{ store: ExportStore; path: string }> {
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!m) return { store: new LocalStore(), path: location };
  const { Storage } = await import('@google-cloud/storage');
  const emulator = env.STORAGE_EMULATOR_HOST;
  const storage = new Storage({
    ...(emulator ? { apiEndpoint: emulator.startsWith('http') ? emulator : `http://${emulator}` } : {}),
    ...(env.GOOGLE_CLOUD_PROJECT ? { projectId: env.GOOGLE_CLOUD_PROJECT } : {}),
  });
  return { store: new GcsStore(m[1]!, storage.bucket(m[1]!) as unknown as GcsBucketLike), path: m[2]!.replace(/\/$/, '') };
}

const MAX_METADATA = 64 * 1024 * 1024;

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? '';
}

async function partFromExportMetadata(store: ExportStore, metaPath: string, extra: Partial<ExportPart>): Promise<{ part: ExportPart; name?: string }> {
  const meta = parseExportMetadata(store.display(metaPath), await store.readAll(metaPath, MAX_METADATA));
  const dir = store.dirname(metaPath);
  const part: ExportPart = { metadataPath: metaPath, outputs: meta.outputs.map((o) => store.join(dir, o)), ...extra };
  if (part.kind === undefined && meta.kind) part.kind = meta.kind;
  return meta.name !== undefined ? { part, name: meta.name } : { part };
}

async function fromExportFolder(store: ExportStore, dir: string, overallName: string): Promise<LocatedExport> {
  const overallPath = store.join(dir, overallName);
  const overall = parseOverallMetadata(store.display(overallPath), await store.readAll(overallPath, MAX_METADATA));
  const parts: ExportPart[] = [];
  for (const e of overall.entries) {
    if (e.path.split('/').includes('..')) {
      throw new MlbridgeError('EXPORT_CORRUPT', `${store.display(overallPath)}: byte offset 0: bad metadata path ${JSON.stringify(e.path)}`);
    }
    const extra: Partial<ExportPart> = {};
    if (e.kind !== undefined) extra.kind = e.kind;
    if (e.namespace !== undefined) extra.namespace = e.namespace;
    if (e.entityCount !== undefined) extra.entityCount = e.entityCount;
    let metaPath = dir;
    for (const seg of e.path.split('/')) metaPath = store.join(metaPath, seg);
    // A part the overall metadata lists but the folder lacks: an export copied in part (or
    // still being written). Say so naming both files, not with the file system's errno text.
    const read = await partFromExportMetadata(store, metaPath, extra).catch(async (e: unknown) => {
      if (e instanceof MlbridgeError || (await store.isFile(metaPath))) throw e;
      throw notFound(`${store.display(metaPath)}: missing, though ${store.display(overallPath)} lists it (the export was copied in part, or is still being written)`);
    });
    parts.push(read.part);
  }
  return { store, exportId: overallName.replace(/\.overall_export_metadata$/, ''), parts };
}

function notFound(what: string): MlbridgeError {
  return new MlbridgeError('EXPORT_NOT_FOUND', what);
}

const OVERALL = '.overall_export_metadata';
const PART = '.export_metadata';
/** How deep below the given folder part metadata is searched for (kind_X sits 2 below an export folder). */
const SEARCH_DEPTH = 3;
/** Folders listed at most while searching, so a wrong location fails fast instead of walking a bucket. */
const SEARCH_FOLDERS = 500;
/** Listings or small reads in flight at once (gs:// round trips). */
const CONCURRENCY = 16;

/** An export found in a folder: its overall file, and the names it answers to. */
interface Candidate {
  dir: string;
  overallName: string;
  /** The folder's name and the overall file's base name; they differ (`production/importbackup.overall_export_metadata`). */
  names: string[];
  startMicros?: number;
}

const idOf = (overallName: string) => overallName.slice(0, -OVERALL.length);

function candidate(dir: string, folderName: string, overallName: string): Candidate {
  const names = [folderName, idOf(overallName)].filter((n, i, all) => n && all.indexOf(n) === i);
  return { dir, overallName, names };
}

async function mapLimit<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

/** The overall files in this folder, else in its child folders (a folder of exports). */
async function findExports(store: ExportStore, path: string, entries: { name: string; dir: boolean }[], exportId: string | undefined): Promise<Candidate[]> {
  const here = entries.filter((e) => !e.dir && e.name.endsWith(OVERALL)).map((e) => candidate(path, baseName(path), e.name));
  // An export folder: its child folders are its parts, not more exports.
  if (here.length && (exportId === undefined || here.some((c) => c.names.includes(exportId)))) return here;
  const children = entries.filter((e) => e.dir);
  const found = await mapLimit(children, async (child) => {
    const dir = store.join(path, child.name);
    let inner: { name: string; dir: boolean }[];
    try {
      inner = await store.list(dir);
    } catch {
      return [];
    }
    return inner.filter((f) => !f.dir && f.name.endsWith(OVERALL)).map((f) => candidate(dir, child.name, f.name));
  });
  return found.flat();
}

/** The export's start time: field 1.2 of its first part's .export_metadata. */
async function startMicros(store: ExportStore, c: Candidate): Promise<number | undefined> {
  const overallPath = store.join(c.dir, c.overallName);
  const overall = parseOverallMetadata(store.display(overallPath), await store.readAll(overallPath, MAX_METADATA));
  const first = overall.entries[0];
  if (!first || first.path.split('/').includes('..')) return undefined;
  let metaPath = c.dir;
  for (const seg of first.path.split('/')) metaPath = store.join(metaPath, seg);
  if (!(await store.isFile(metaPath))) return undefined;
  return parseExportMetadata(store.display(metaPath), await store.readAll(metaPath, MAX_METADATA)).startMicros;
}

/**
 * The newest of several exports by the time their metadata records; folder names say
 * nothing about it once they are not the default timestamps (`backup`, `production`).
 */
async function newest(store: ExportStore, candidates: Candidate[]): Promise<Candidate> {
  if (candidates.length === 1) return candidates[0]!;
  await mapLimit(candidates, async (c) => {
    const t = await startMicros(store, c);
    if (t !== undefined) c.startMicros = t;
  });
  const byName = (a: Candidate, b: Candidate) => (a.names[0]! < b.names[0]! ? 1 : a.names[0]! > b.names[0]! ? -1 : 0);
  return [...candidates].sort((a, b) => (b.startMicros ?? -Infinity) - (a.startMicros ?? -Infinity) || byName(a, b))[0]!;
}

/**
 * Every .export_metadata at most SEARCH_DEPTH folders below `path`: an export kept as a
 * kind folder (`kind_X/all_namespaces_kind_X.export_metadata`), or as all_namespaces/…,
 * with no overall file above it.
 */
async function findParts(store: ExportStore, path: string, entries: { name: string; dir: boolean }[]): Promise<string[]> {
  const found: string[] = [];
  let level: { dir: string; entries: { name: string; dir: boolean }[] }[] = [{ dir: path, entries }];
  let listed = 1;
  for (let depth = 0; depth <= SEARCH_DEPTH && level.length; depth++) {
    const next: string[] = [];
    for (const { dir, entries: es } of level) {
      for (const e of es) {
        if (!e.dir && e.name.endsWith(PART) && !e.name.endsWith(OVERALL)) found.push(store.join(dir, e.name));
        else if (e.dir) next.push(store.join(dir, e.name));
      }
    }
    if (found.length || depth === SEARCH_DEPTH) break;
    if (listed + next.length > SEARCH_FOLDERS) break;
    listed += next.length;
    level = (await mapLimit(next, async (dir) => ({ dir, entries: await store.list(dir).catch(() => []) }))).filter((l) => l.entries.length);
  }
  return found.sort();
}

/** Resolves a location to the export it names. */
export async function locateExport(location: string, options: { exportId?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LocatedExport> {
  const { store, path } = await openStore(location, options.env ?? process.env);
  const shown = store.display(path);
  const { exportId } = options;
  try {
    if (path.endsWith(OVERALL) && (await store.isFile(path))) {
      return await fromExportFolder(store, store.dirname(path), baseName(path));
    }
    if (path.endsWith(PART) && (await store.isFile(path))) {
      const { part, name } = await partFromExportMetadata(store, path, {});
      return name !== undefined ? { store, exportId: name, parts: [part] } : { store, parts: [part] };
    }
    let entries: { name: string; dir: boolean }[];
    try {
      entries = await store.list(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' ? 'no such file or folder'
        : code === 'ENOTDIR' ? 'a file, not an export folder (expected a folder, an .overall_export_metadata or an .export_metadata file)'
        : errorMessage(e);
      throw notFound(`${shown}: no export found: ${why}`);
    }
    const candidates = await findExports(store, path, entries, exportId);
    if (exportId !== undefined) {
      const named = candidates.filter((c) => c.names.includes(exportId));
      if (named.length > 1) {
        const where = named.map((c) => store.display(store.join(c.dir, c.overallName))).join(', ');
        throw notFound(`${shown}: export id ${exportId} names ${named.length} exports (${where}); give the folder name instead`);
      }
      if (named.length === 0) {
        const known = candidates.flatMap((c) => c.names);
        throw notFound(`${shown}: no export with id ${exportId}${known.length ? ` (found: ${known.join(', ')})` : ''}`);
      }
      return await fromExportFolder(store, named[0]!.dir, named[0]!.overallName);
    }
    if (candidates.length) {
      const pick = await newest(store, candidates);
      return await fromExportFolder(store, pick.dir, pick.overallName);
    }
    const metas = await findParts(store, path, entries);
    if (metas.length) {
      const read = await Promise.all(metas.map((m) => partFromExportMetadata(store, m, {})));
      const names = [...new Set(read.map((r) => r.name).filter((n): n is string => n !== undefined))];
      if (names.length > 1) {
        throw notFound(`${shown}: the .export_metadata files below belong to ${names.length} exports (${names.join(', ')}); point at one of them`);
      }
      const parts = read.map((r) => r.part);
      return names.length ? { store, exportId: names[0]!, parts } : { store, parts };
    }
    throw notFound(`${shown}: no export found (expected ID.overall_export_metadata, a folder of exports, or .export_metadata files at most ${SEARCH_DEPTH} folders below)`);
  } catch (e) {
    if (e instanceof MlbridgeError) throw e;
    throw new MlbridgeError('EXPORT_NOT_FOUND', `${shown}: ${errorMessage(e)}`, { cause: e });
  }
}
