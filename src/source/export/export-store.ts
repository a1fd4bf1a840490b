// Where an export's bytes come from: a local folder, or a Cloud Storage bucket through the
// official client (gs://bucket/prefix; STORAGE_EMULATOR_HOST for an emulator or fake). The
// finder (locate.ts) lists and reads through an ExportStore; the decoders stream its files.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { MlbridgeError } from '../../model/errors.js';
import type { ByteRange } from './log-format.js';

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
