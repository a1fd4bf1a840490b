// A snapshot of the source for a reconcile: a managed export (local folder or gs://) or a
// full read of the live Datastore API. One pass yields every mapped kind, so an export
// whose files hold all kinds is read once, however many mappings there are.
//
// Versions (the `_version` of the rows a snapshot produces):
//   export     the export's start time in µs for every entity (an export has no entity
//              versions); the snapshot version guarding deletes is the same start time
//   datastore  each entity's own version as the query returned it; the snapshot version
//              guarding deletes is the time the read started, in µs
// The identity says which snapshot a saved plan was made from: an export's id and start
// time (never an absolute path, so a plan applies in another checkout), or the live
// project and database.

import type { SourceSpec } from '../spec/types.js';
import type { Entity } from './entity.js';
import type { ExportTask } from './export/file-tasks.js';
import type { Diagnostic } from '../model/diagnostic.js';
import { MlbridgeError } from '../model/errors.js';

export type SourceIdentity =
  | { kind: 'export'; exportId: string; startTime: string }
  | { kind: 'datastore'; project: string; database: string; readTime: string };

export interface SourceEntity {
  entity: Entity;
  /** Decimal INT64: the entity version (live), or the export's start time in µs. */
  version: string;
}

export interface SnapshotSource {
  identity: SourceIdentity;
  /** Current rows at or below this version whose entity the snapshot lacks were deleted. */
  snapshotVersion: string;
  /** When the snapshot was taken: records of a snapshot are scored as of this time. */
  snapshotTime: Date;
  /** What the user should know about the snapshot chosen (a newer export passed over as incomplete). */
  warnings?: Diagnostic[];
  /** Entities the snapshot holds for these kinds, when the source says so (export metadata). */
  expectedCount(kinds: string[]): number | undefined;
  /**
   * Entities of these kinds (and, per kind, these namespaces), in batches. `onOtherNamespace`
   * hears of each entity of a selected kind left out for its namespace, where the source
   * reads them anyway (an export; the live API is asked for the selected namespaces only).
   */
  read(select: KindSelection[], onOtherNamespace?: (kind: string, namespace: string) => void): AsyncIterable<SourceEntity[]>;
  /**
   * An export's output files, for readers in worker threads (each opens the store from
   * `location` and reads whole files or block ranges of them); checkPart compares a part's
   * records with its metadata.
   */
  files?: ExportFiles;
}

export interface ExportFiles {
  location: string;
  /** The environment the export was located with (gs:// credentials, STORAGE_EMULATOR_HOST). */
  env: NodeJS.ProcessEnv;
  /** One task per output file, in part order. */
  tasks: ExportTask[];
  /**
   * The tasks for `jobs` threads, in file order: `tasks`, with large files split in block
   * ranges when there are too few files to keep every thread busy (file-tasks.ts).
   */
  split(jobs: number): Promise<ExportTask[]>;
  /** Throws EXPORT_CORRUPT when the part's files held another number of records than listed. */
  checkPart(part: number, records: number): void;
  /**
   * Throws EXPORT_CORRUPT when a block occurs in two ranges of a file (copied data), given
   * each task's block fingerprints from its ranged read, in task order.
   */
  checkRanges(tasks: readonly ExportTask[], blocks: readonly (readonly number[] | undefined)[]): void;
}

export interface KindSelection {
  kind: string;
  /** Absent: every namespace. */
  namespaces?: string[];
}

export interface OpenSourceOptions {
  /** An export id (or overall metadata name) to read instead of the newest. */
  exportId?: string;
  env?: NodeJS.ProcessEnv;
  /** The time a live read starts (injected clock). */
  now?: () => Date;
}

const us = (d: Date): bigint => BigInt(d.getTime()) * 1000n;

function wants(select: KindSelection[], onOtherNamespace?: (kind: string, namespace: string) => void): (e: Entity) => boolean {
  const byKind = new Map(select.map((s) => [s.kind, s.namespaces && s.namespaces.length ? new Set(s.namespaces) : undefined]));
  return (e) => {
    const kind = e.key.path[e.key.path.length - 1]?.kind;
    if (kind === undefined || !byKind.has(kind)) return false;
    const ns = byKind.get(kind);
    if (ns === undefined || ns.has(e.key.partitionId.namespaceId ?? '')) return true;
    onOtherNamespace?.(kind, e.key.partitionId.namespaceId ?? '');
    return false;
  };
}

export async function openSnapshotSource(source: SourceSpec, options: OpenSourceOptions = {}): Promise<SnapshotSource> {
  if (source.kind === 'export') return openExportSource(source.path, options);
  if (options.exportId !== undefined) {
    throw new MlbridgeError('INVALID_ARGUMENT', '--export-id applies to an export source; this spec reads the live Datastore API (source.datastore)');
  }
  return openDatastoreSource(source, options);
}

async function openExportSource(location: string, options: OpenSourceOptions): Promise<SnapshotSource> {
  const { locateExport, skippedExportWarnings } = await import('./export/locate.js');
  const { parseExportMetadata } = await import('./export/metadata.js');
  const { readLocatedBatches } = await import('./export/read-export.js');
  const env = options.env ?? process.env;
  const located = await locateExport(location, { ...(options.exportId !== undefined ? { exportId: options.exportId } : {}), env });
  let startMicros: number | undefined;
  let name: string | undefined;
  for (const part of located.parts) {
    const meta = parseExportMetadata(located.store.display(part.metadataPath), await located.store.readAll(part.metadataPath, 1 << 20));
    if (meta.startMicros !== undefined && (startMicros === undefined || meta.startMicros < startMicros)) startMicros = meta.startMicros;
    name ??= meta.name;
  }
  const exportId = located.exportId ?? name;
  if (startMicros === undefined || exportId === undefined) {
    throw new MlbridgeError(
      'EXPORT_CORRUPT',
      `${located.store.display(located.parts[0]?.metadataPath ?? location)}: the export metadata has no ${startMicros === undefined ? 'start time' : 'export id'}; a reconcile needs it to version the rows`,
    );
  }
  const start = new Date(Math.floor(startMicros / 1000));
  const version = String(BigInt(startMicros));
  const { checkPartCount } = await import('./export/read-export.js');
  const { checkRangeRepeats, splitTasks } = await import('./export/file-tasks.js');
  const tasks = located.parts.flatMap((p, part) => p.outputs.map((path) => ({ path, part, display: located.store.display(path) })));
  const files: ExportFiles = {
    location,
    env,
    tasks,
    split: (jobs) => splitTasks(located.store, tasks, jobs),
    checkPart(part, records) {
      checkPartCount(located.store, located.parts[part]!, { records, damaged: false }, { skipCorrupt: false });
    },
    checkRanges: checkRangeRepeats,
  };
  const warnings = skippedExportWarnings(located);
  return {
    files,
    ...(warnings.length ? { warnings } : {}),
    identity: { kind: 'export', exportId, startTime: start.toISOString() },
    snapshotVersion: version,
    snapshotTime: start,
    expectedCount(kinds) {
      let n = 0;
      for (const p of located.parts) {
        if (p.kind !== undefined && !kinds.includes(p.kind)) continue;
        if (p.entityCount === undefined) return undefined;
        n += p.entityCount;
      }
      return n;
    },
    async *read(select, onOtherNamespace) {
      const accept = wants(select, onOtherNamespace);
      const kinds = [...new Set(select.map((s) => s.kind))];
      // No separate framing pass: staging keeps nothing of a read that fails.
      for await (const batch of readLocatedBatches(located, { kinds, env, verify: 'none' })) {
        const out: SourceEntity[] = [];
        for (const e of batch.entities) if (accept(e)) out.push({ entity: e, version });
        if (out.length) yield out;
      }
    },
  };
}

async function openDatastoreSource(source: Extract<SourceSpec, { kind: 'datastore' }>, options: OpenSourceOptions): Promise<SnapshotSource> {
  const { readDatastoreVersioned } = await import('./datastore.js');
  const started = (options.now ?? (() => new Date()))();
  const env = options.env ?? process.env;
  const snapshotVersion = String(us(started));
  return {
    identity: { kind: 'datastore', project: source.project, database: source.databaseId ?? '(default)', readTime: started.toISOString() },
    snapshotVersion,
    snapshotTime: started,
    expectedCount: () => undefined,
    async *read(select) {
      for (const sel of select) {
        const namespaces = sel.namespaces ?? (source.namespace !== undefined ? [source.namespace] : undefined);
        let out: SourceEntity[] = [];
        for await (const r of readDatastoreVersioned({
          project: source.project,
          kinds: [sel.kind],
          env,
          ...(namespaces ? { namespaces } : {}),
          ...(source.databaseId ? { databaseId: source.databaseId } : {}),
        })) {
          // An entity without a version (an old emulator) is versioned by the read time.
          out.push({ entity: r.entity, version: r.version ?? snapshotVersion });
          if (out.length >= 500) {
            yield out;
            out = [];
          }
        }
        if (out.length) yield out;
      }
    },
  };
}
