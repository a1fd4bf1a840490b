// Finds an export's files: a local folder or gs://bucket/prefix, pointing at an export
// folder, a folder holding several exports (newest by id, or the one named), an
// .overall_export_metadata file, or one kind's .export_metadata. Both layouts (all
// kinds, and per kind/namespace from an entity filter) are described by the metadata.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
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
  stream(path: string): AsyncIterable<Uint8Array>;
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
  async *stream(p: string): AsyncIterable<Uint8Array> {
    yield* createReadStream(p, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>;
  }
  async size(p: string): Promise<number> {
    return (await stat(p)).size;
  }
}

interface GcsBucketLike {
  getFiles(q: { prefix: string; delimiter?: string; autoPaginate?: boolean; pageToken?: string }): Promise<unknown[]>;
  file(name: string): {
    download(): Promise<[Buffer]>;
    createReadStream(): NodeJS.ReadableStream;
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
  async *stream(p: string): AsyncIterable<Uint8Array> {
    yield* this.bucket.file(p).createReadStream() as unknown as AsyncIterable<Buffer>;
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
    parts.push((await partFromExportMetadata(store, metaPath, extra)).part);
  }
  return { store, exportId: overallName.replace(/\.overall_export_metadata$/, ''), parts };
}

function notFound(what: string): MlbridgeError {
  return new MlbridgeError('EXPORT_NOT_FOUND', what);
}

/** Resolves a location to the export it names. */
export async function locateExport(location: string, options: { exportId?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LocatedExport> {
  const { store, path } = await openStore(location, options.env ?? process.env);
  const shown = store.display(path);
  try {
    if (path.endsWith('.overall_export_metadata') && (await store.isFile(path))) {
      return await fromExportFolder(store, store.dirname(path), baseName(path));
    }
    if (path.endsWith('.export_metadata') && (await store.isFile(path))) {
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
    const overall = entries.find((e) => !e.dir && e.name.endsWith('.overall_export_metadata'));
    if (overall && (options.exportId === undefined || overall.name === `${options.exportId}.overall_export_metadata`)) {
      return await fromExportFolder(store, path, overall.name);
    }
    // A folder of exports: each child folder ID holding ID/ID.overall_export_metadata.
    const candidates: string[] = [];
    for (const e of entries.filter((x) => x.dir).sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))) {
      if (options.exportId !== undefined && e.name !== options.exportId) continue;
      const dir = store.join(path, e.name);
      if (await store.isFile(store.join(dir, `${e.name}.overall_export_metadata`))) candidates.push(e.name);
      if (candidates.length) break; // sorted newest first: the first hit is the newest
    }
    if (candidates.length) {
      const id = candidates[0]!;
      return await fromExportFolder(store, store.join(path, id), `${id}.overall_export_metadata`);
    }
    if (options.exportId !== undefined) throw notFound(`${shown}: no export with id ${options.exportId}`);
    // A single kind folder: one .export_metadata among the files.
    const meta = entries.filter((e) => !e.dir && e.name.endsWith('.export_metadata'));
    if (meta.length === 1) {
      const { part, name } = await partFromExportMetadata(store, store.join(path, meta[0]!.name), {});
      return name !== undefined ? { store, exportId: name, parts: [part] } : { store, parts: [part] };
    }
    throw notFound(`${shown}: no export found (expected ID.overall_export_metadata, a folder of exports, or a .export_metadata file)`);
  } catch (e) {
    if (e instanceof MlbridgeError) throw e;
    throw new MlbridgeError('EXPORT_NOT_FOUND', `${shown}: ${errorMessage(e)}`, { cause: e });
  }
}
