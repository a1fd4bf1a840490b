// Finds an export's files: a local folder or gs://bucket/prefix, pointing at an export
// folder, a folder holding several exports (the newest by the time its metadata records,
// or the one named by its folder's or its overall file's name), an
// .overall_export_metadata file, one kind's .export_metadata, or a folder with part
// metadata somewhere below it and no overall file (a kept kind folder). Both layouts (all
// kinds, and per kind/namespace from an entity filter) are described by the metadata.
import { warningDiag, type Diagnostic } from '../../model/diagnostic.js';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import { openStore, type ExportStore } from './export-store.js';
import { parseExportMetadata, parseOverallMetadata } from './metadata.js';

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
  /** Newer exports of the folder passed over because they could not be read, newest first. */
  skipped?: SkippedExport[];
}

/** An export of a folder of exports left out for an older one: what is wrong with it. */
export interface SkippedExport {
  exportId: string;
  /** `missing`: a file the export needs is absent (copied in part, or still being written). */
  problem: 'missing' | 'unreadable';
  /** The file at fault, relative to the export's folder (absent when not known). */
  file?: string;
  /** The error naming it in full, as --export-id would report it. */
  message: string;
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

/**
 * The error, carrying which file of the export is at fault and how (`details.problem`,
 * `details.file`), so a folder of exports can say why it passed over this one.
 */
async function atFault(store: ExportStore, e: unknown, path: string, file: string): Promise<MlbridgeError> {
  const problem: SkippedExport['problem'] = (await store.isFile(path)) ? 'unreadable' : 'missing';
  const details = { ...(e instanceof MlbridgeError ? e.details : {}), problem, file };
  if (e instanceof MlbridgeError) return new MlbridgeError(e.code, e.message, { ...(e.resource !== undefined ? { resource: e.resource } : {}), cause: e.cause ?? e, details });
  return new MlbridgeError('EXPORT_NOT_FOUND', `${store.display(path)}: ${errorMessage(e)}`, { cause: e, details });
}

async function fromExportFolder(store: ExportStore, dir: string, overallName: string): Promise<LocatedExport> {
  const overallPath = store.join(dir, overallName);
  const overall = await store
    .readAll(overallPath, MAX_METADATA)
    .then((bytes) => parseOverallMetadata(store.display(overallPath), bytes))
    .catch(async (e: unknown) => {
      throw await atFault(store, e, overallPath, overallName);
    });
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
    const read = await partFromExportMetadata(store, metaPath, extra).catch(async (err: unknown) => {
      const missing = !(err instanceof MlbridgeError) && !(await store.isFile(metaPath));
      const shown = missing ? notFound(`${store.display(metaPath)}: missing, though ${store.display(overallPath)} lists it (the export was copied in part, or is still being written)`) : err;
      throw await atFault(store, shown, metaPath, e.path);
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
  /** Absent: a folder laid out as an export with no overall file (yet). */
  overallName?: string;
  /** The folder's name and the overall file's base name; they differ (`production/importbackup.overall_export_metadata`). */
  names: string[];
  startMicros?: number;
  /** Its metadata could not be read far enough to date it: it may be the newest. */
  undated?: boolean;
}

const idOf = (overallName: string) => overallName.slice(0, -OVERALL.length);

function candidate(dir: string, folderName: string, overallName: string): Candidate {
  const names = [folderName, idOf(overallName)].filter((n, i, all) => n && all.indexOf(n) === i);
  return { dir, overallName, names };
}

/** The top folders of an export's layout (all kinds and namespaces, or an entity filter's). */
const EXPORT_TOP = /^(all_namespaces|default_namespace|namespace_.+)$/;

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

/**
 * The overall files in this folder, else in its child folders (a folder of exports), with
 * the child folders laid out as an export but lacking an overall file: one being written,
 * or copied in part.
 */
async function findExports(store: ExportStore, path: string, entries: { name: string; dir: boolean }[], exportId: string | undefined): Promise<Candidate[]> {
  const here = entries.filter((e) => !e.dir && e.name.endsWith(OVERALL)).map((e) => candidate(path, baseName(path), e.name));
  // An export folder: its child folders are its parts, not more exports.
  if (here.length && (exportId === undefined || here.some((c) => c.names.includes(exportId)))) return here;
  const children = entries.filter((e) => e.dir);
  const found = await mapLimit(children, async (child): Promise<Candidate[]> => {
    const dir = store.join(path, child.name);
    let inner: { name: string; dir: boolean }[];
    try {
      inner = await store.list(dir);
    } catch {
      return [];
    }
    const overalls = inner.filter((f) => !f.dir && f.name.endsWith(OVERALL)).map((f) => candidate(dir, child.name, f.name));
    if (overalls.length) return overalls;
    return inner.some((f) => f.dir && EXPORT_TOP.test(f.name)) ? [{ dir, names: [child.name] }] : [];
  });
  return found.flat();
}

/**
 * Dates an export by field 1.2 of its first part's .export_metadata (the overall file's
 * first entry; without an overall file, the first found below). One whose metadata cannot
 * be read that far is `undated`.
 */
async function date(store: ExportStore, c: Candidate): Promise<void> {
  try {
    let metaPath: string | undefined;
    if (c.overallName === undefined) {
      c.undated = true; // unusable whatever its parts say; dated only to tell whether it is newer
      metaPath = (await findParts(store, c.dir, await store.list(c.dir)))[0];
    } else {
      const overallPath = store.join(c.dir, c.overallName);
      const overall = parseOverallMetadata(store.display(overallPath), await store.readAll(overallPath, MAX_METADATA));
      const first = overall.entries[0];
      if (!first) return;
      metaPath = c.dir;
      for (const seg of first.path.split('/')) metaPath = store.join(metaPath, seg);
      if (first.path.split('/').includes('..') || !(await store.isFile(metaPath))) {
        c.undated = true;
        return;
      }
    }
    if (metaPath === undefined) return;
    const t = parseExportMetadata(store.display(metaPath), await store.readAll(metaPath, MAX_METADATA)).startMicros;
    if (t !== undefined) c.startMicros = t;
  } catch {
    c.undated = true;
  }
}

/**
 * The newest of several exports by the time their metadata records (folder names say
 * nothing about it once they are not the default timestamps: `backup`, `production`) that
 * can be read. A newer one that cannot (being written, copied in part, damaged) is passed
 * over and listed in `skipped`; one that cannot be dated counts as newer than all. When
 * none can be read, the newest one's error is thrown.
 */
async function newestReadable(store: ExportStore, candidates: Candidate[]): Promise<LocatedExport> {
  if (candidates.length > 1) await mapLimit(candidates, (c) => date(store, c));
  // Dated first by time; undated ones that are still readable (no start time in their metadata) last.
  const rank = (c: Candidate) => c.startMicros ?? (c.undated ? Infinity : -Infinity);
  const byName = (a: Candidate, b: Candidate) => (a.names[0]! < b.names[0]! ? 1 : a.names[0]! > b.names[0]! ? -1 : 0);
  const ordered = [...candidates].sort((a, b) => rank(b) - rank(a) || byName(a, b));
  const skipped: SkippedExport[] = [];
  let newestError: unknown;
  for (const c of ordered) {
    try {
      const located = await fromCandidate(store, c);
      if (ordered.length > 1) await outputsPresent(store, c.dir, located);
      return skipped.length ? { ...located, skipped } : located;
    } catch (e) {
      newestError ??= e;
      const d = e instanceof MlbridgeError ? e.details : undefined;
      skipped.push({
        exportId: c.names[0]!,
        problem: d?.problem === 'missing' ? 'missing' : 'unreadable',
        ...(typeof d?.file === 'string' ? { file: d.file } : {}),
        message: errorMessage(e),
      });
    }
  }
  throw newestError;
}

/**
 * Throws, as for a missing part, when an output file a part's metadata lists is not in its
 * folder: a parallel copy (`gsutil -m cp -r`) can land the metadata before the data. One
 * listing per part folder; checked only where an older export could be used instead.
 */
async function outputsPresent(store: ExportStore, exportDir: string, located: LocatedExport): Promise<void> {
  const folders = [...new Set(located.parts.flatMap((p) => p.outputs.map((o) => store.dirname(o))))];
  const listed = new Map(await mapLimit(folders, async (dir) => [dir, new Set((await store.list(dir).catch(() => [])).filter((e) => !e.dir).map((e) => e.name))] as const));
  for (const part of located.parts) {
    for (const output of part.outputs) {
      if (listed.get(store.dirname(output))?.has(baseName(output))) continue;
      const file = relativeTo(exportDir, output);
      throw new MlbridgeError(
        'EXPORT_NOT_FOUND',
        `${store.display(output)}: missing, though ${store.display(part.metadataPath)} lists it (the export was copied in part, or is still being written)`,
        { details: { problem: 'missing', file } },
      );
    }
  }
}

/** `path` below `dir`, in the store's own separators, for messages. */
function relativeTo(dir: string, path: string): string {
  return path.startsWith(dir) ? path.slice(dir.length).replace(/^[\\/]+/, '') : baseName(path);
}

/**
 * One warning per export passed over for an older one: the source the user reads is not
 * the newest they have, and they should know why (`export X is incomplete (F is missing):
 * using Y`), with the full error as the detail.
 */
export function skippedExportWarnings(located: LocatedExport): Diagnostic[] {
  return (located.skipped ?? []).map((s) => {
    const what = s.problem === 'missing' ? `is incomplete (${s.file ?? 'a file'} is missing)` : `cannot be read${s.file !== undefined ? ` (${s.file})` : ''}`;
    return warningDiag(`export ${s.exportId} ${what}: using ${located.exportId ?? 'an older one'}`, undefined, s.message);
  });
}

function fromCandidate(store: ExportStore, c: Candidate): Promise<LocatedExport> {
  if (c.overallName !== undefined) return fromExportFolder(store, c.dir, c.overallName);
  const message = `${store.display(c.dir)}: no ${OVERALL} file, though the folder holds an export's parts (the export was copied in part, or is still being written)`;
  return Promise.reject(new MlbridgeError('EXPORT_NOT_FOUND', message, { details: { problem: 'missing', file: `${c.names[0]}${OVERALL}` } }));
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
        const where = named.map((c) => store.display(c.overallName !== undefined ? store.join(c.dir, c.overallName) : c.dir)).join(', ');
        throw notFound(`${shown}: export id ${exportId} names ${named.length} exports (${where}); give the folder name instead`);
      }
      if (named.length === 0) {
        const known = candidates.flatMap((c) => c.names);
        throw notFound(`${shown}: no export with id ${exportId}${known.length ? ` (found: ${known.join(', ')})` : ''}`);
      }
      return await fromCandidate(store, named[0]!);
    }
    // Folders laid out as exports without an overall file count only beside a whole export:
    // alone, they are kept kind folders (found below).
    if (candidates.some((c) => c.overallName !== undefined)) return await newestReadable(store, candidates);
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
