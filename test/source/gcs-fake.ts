// A minimal Cloud Storage JSON API over a local folder, enough for @google-cloud/storage's
// getFiles (with prefixes), getMetadata/exists and media downloads (whole, or a byte range).
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

export interface GcsFake {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  requests: string[];
  /** The Range headers of ranged downloads, in arrival order. */
  ranged: string[];
  close(): Promise<void>;
}

/** Serves bucket `bucket` from folder `root` (object names = paths relative to root). */
export async function startGcsFake(bucket: string, root: string): Promise<GcsFake> {
  const requests: string[] = [];
  const ranged: string[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${req.method} ${url.pathname}`);
      const path = url.pathname.replace(/^\/download/, '').replace(/^\/storage\/v1/, '');
      const list = new RegExp(`^/b/${bucket}/o/?$`).exec(path);
      const obj = new RegExp(`^/b/${bucket}/o/(.+)$`).exec(path);
      if (list) {
        const prefix = url.searchParams.get('prefix') ?? '';
        const delimiter = url.searchParams.get('delimiter');
        const names = (await walk(root)).map((f) => relative(root, f).split(sep).join('/')).filter((n) => n.startsWith(prefix));
        const items: { name: string; size: string; bucket: string }[] = [];
        const prefixes = new Set<string>();
        for (const n of names.sort()) {
          const rest = n.slice(prefix.length);
          const cut = delimiter ? rest.indexOf(delimiter) : -1;
          if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1));
          else items.push({ name: n, bucket, size: String((await stat(join(root, n))).size) });
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ kind: 'storage#objects', items, prefixes: [...prefixes] }));
        return;
      }
      if (obj) {
        const name = decodeURIComponent(obj[1]!);
        const file = join(root, ...name.split('/'));
        let size: number;
        try {
          const s = await stat(file);
          if (!s.isFile()) throw new Error('not a file');
          size = s.size;
        } catch {
          res.statusCode = 404;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: { code: 404, message: `No such object: ${bucket}/${name}` } }));
          return;
        }
        if (url.searchParams.get('alt') === 'media') {
          res.setHeader('content-type', 'application/octet-stream');
          const range = req.headers.range;
          if (range !== undefined) {
            // What Cloud Storage does with `Range: bytes=START-[END]`: END clamped to the
            // object, 206 with Content-Range; a START at or past its end is refused (416).
            const m = /^bytes=(\d+)-(\d*)$/.exec(range);
            const start = m ? Number(m[1]) : NaN;
            const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
            ranged.push(range);
            if (!(start < size) || end < start) {
              res.statusCode = 416;
              res.setHeader('content-type', 'application/json');
              res.end(JSON.stringify({ error: { code: 416, message: 'The requested range cannot be satisfied.' } }));
              return;
            }
            res.statusCode = 206;
            res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
            res.setHeader('content-length', String(end - start + 1));
            createReadStream(file, { start, end }).pipe(res);
            return;
          }
          res.setHeader('content-length', String(size));
          createReadStream(file).pipe(res);
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ kind: 'storage#object', name, bucket, size: String(size) }));
        return;
      }
      res.statusCode = 404;
      res.end('{}');
    })().catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    ranged,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
