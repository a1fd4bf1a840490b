// Streams the entities of a managed export in the v1 REST shape. Files are read in
// 1 MiB chunks and decoded record by record, so memory does not grow with export size.
import type { Entity, Key } from '../entity.js';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import { EntityDecoder } from './entity-proto.js';
import { LogReader, corruptError, type CorruptRecord } from './log-reader.js';
import { locateExport, type ExportPart, type ExportStore, type LocatedExport } from './locate.js';
import { ProtoError } from './proto.js';

export type { CorruptRecord } from './log-reader.js';

export interface ReadExportOptions {
  /** Only these kinds (default: all). */
  kinds?: string[];
  /** Only these namespaces; "" is the default namespace (default: all). */
  namespaces?: string[];
  /** Skip damaged records (resync at the next block) instead of failing. */
  skipCorrupt?: boolean;
  /** In a folder of several exports, read this one instead of the newest. */
  exportId?: string;
  /** Told about each skipped damaged record (only with skipCorrupt). */
  onCorrupt?: (c: CorruptRecord) => void;
  /**
   * Told when a part of the export held fewer entities than its metadata lists (an output
   * file emptied or cut at a record boundary leaves no damaged record to report).
   */
  onShortPart?: (s: ShortPart) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ShortPart {
  /** Display path of the part's .export_metadata file. */
  metadata: string;
  expected: number;
  /** Records found in the part's output files. */
  found: number;
}

/** A batch of decoded entities with each one's encoded size in bytes. */
export interface EntityBatch {
  entities: Entity[];
  sizes: number[];
}

const SLICE = 2 * 32768;

function wanted(set: Set<string> | undefined, v: string | undefined): boolean {
  return set === undefined || v === undefined || set.has(v);
}

/**
 * Entities of an export, streamed. A plain iterator over readExportBatches rather than an
 * async generator: an entity already decoded comes out as a resolved promise, without a
 * generator resumption per entity.
 */
export function readExport(location: string, options: ReadExportOptions = {}): AsyncIterable<Entity> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Entity> {
      const batches = readExportBatches(location, options)[Symbol.asyncIterator]();
      let items: Entity[] = [];
      let i = 0;
      let done = false;
      // A next() called before the previous one settled waits for it (as a generator would).
      let inflight: Promise<IteratorResult<Entity>> | undefined;
      const finish = (): IteratorResult<Entity> => {
        done = true;
        items = [];
        i = 0;
        return { value: undefined, done: true };
      };
      const pull = async (): Promise<IteratorResult<Entity>> => {
        try {
          for (;;) {
            const r = await batches.next();
            if (r.done) return finish();
            items = r.value.entities;
            i = 0;
            if (items.length) return { value: items[i++]!, done: false };
          }
        } catch (e) {
          finish();
          throw e;
        }
      };
      const next = (): Promise<IteratorResult<Entity>> => {
        if (inflight) return inflight.then(next, next);
        if (i < items.length) return Promise.resolve({ value: items[i++]!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        const p = pull();
        inflight = p;
        const clear = () => {
          if (inflight === p) inflight = undefined;
        };
        p.then(clear, clear);
        return p;
      };
      return {
        next,
        async return(): Promise<IteratorResult<Entity>> {
          if (!done) {
            finish();
            await batches.return?.();
          }
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/** Entities in batches (one per chunk read); cheaper per entity than readExport. */
export async function* readExportBatches(location: string, options: ReadExportOptions = {}): AsyncIterable<EntityBatch> {
  const located = await locateExport(location, { ...(options.exportId !== undefined ? { exportId: options.exportId } : {}), ...(options.env ? { env: options.env } : {}) });
  yield* readLocatedBatches(located, options);
}

export async function* readLocatedBatches(located: LocatedExport, options: ReadExportOptions = {}): AsyncIterable<EntityBatch> {
  const kinds = options.kinds?.length ? new Set(options.kinds) : undefined;
  const namespaces = options.namespaces?.length ? new Set(options.namespaces) : undefined;
  const parts = located.parts.filter((p) => wanted(kinds, p.kind) && wanted(namespaces, p.namespace));
  for (const part of parts) yield* readPart(located, part, kinds, namespaces, options);
}

async function* readPart(
  located: LocatedExport,
  part: ExportPart,
  kinds: Set<string> | undefined,
  namespaces: Set<string> | undefined,
  options: ReadExportOptions,
): AsyncIterable<EntityBatch> {
  const { store } = located;
  const decoder = new EntityDecoder();
  const accept =
    kinds || namespaces
      ? (k: Key) => (!kinds || kinds.has(k.path[k.path.length - 1]!.kind)) && (!namespaces || namespaces.has(k.partitionId.namespaceId ?? ''))
      : undefined;
  const tally: FileTally = { records: 0, damaged: false };
  const { skipCorrupt, onCorrupt } = options;
  for (const path of part.outputs) yield* readOutputFile(store, path, { decoder, accept, tally, skipCorrupt, onCorrupt });
  checkPartCount(store, part, tally, options.onShortPart);
}

/** Records seen in a part's files, to compare with the count its metadata lists. */
export interface FileTally {
  records: number;
  /** Damage was reported: a short count is then already explained. */
  damaged: boolean;
}

/** Tells onShortPart when a part held fewer records than its metadata lists and no damage explains it. */
export function checkPartCount(store: ExportStore, part: ExportPart, tally: FileTally, onShortPart: ((s: ShortPart) => void) | undefined): void {
  if (!tally.damaged && part.entityCount !== undefined && tally.records < part.entityCount) {
    onShortPart?.({ metadata: store.display(part.metadataPath), expected: part.entityCount, found: tally.records });
  }
}

export interface OutputFileOptions {
  decoder: EntityDecoder;
  /** Keeps only the entities whose key it accepts (kind/namespace filters). */
  accept?: ((k: Key) => boolean) | undefined;
  /** Counts records and notes damage (shared by the files of one part). */
  tally: FileTally;
  skipCorrupt?: boolean | undefined;
  onCorrupt?: ((c: CorruptRecord) => void) | undefined;
}

/** The entities of one output file, in batches; damage throws, or with skipCorrupt is reported and skipped. */
export async function* readOutputFile(store: ExportStore, path: string, options: OutputFileOptions): AsyncIterable<EntityBatch> {
  const { decoder, accept, tally } = options;
  const skip = Boolean(options.skipCorrupt);
  // Damage reported explains a part's short record count (one damaged block can hide several records).
  const report = (c: CorruptRecord) => {
    tally.damaged = true;
    options.onCorrupt?.(c);
  };
  const file = store.display(path);
  let batch: EntityBatch = { entities: [], sizes: [] };
  const reader = new LogReader({
    file,
    ...(skip ? { onCorrupt: report } : {}),
    onRecordAt: (buf, start, end, offset) => {
      let entity: Entity;
      tally.records++;
      try {
        entity = decoder.decodeAt(buf, start, end);
      } catch (e) {
        const reason =
          e instanceof ProtoError ? `bad entity protobuf at record byte ${e.pos}: ${e.message}` : `bad entity record: ${errorMessage(e)}`;
        if (skip) {
          report({ file, offset, reason });
          return;
        }
        throw corruptError(file, offset, reason);
      }
      if (accept && !accept(entity.key)) return;
      batch.entities.push(entity);
      batch.sizes.push(end - start);
    },
  });
  let stream: AsyncIterable<Uint8Array>;
  try {
    stream = store.stream(path);
  } catch (e) {
    throw new MlbridgeError('EXPORT_NOT_FOUND', `${file}: cannot read output file: ${errorMessage(e)}`, { cause: e });
  }
  // A damaged record fails the read, but the entities decoded before it still come out
  // first (a dump shows everything up to the damage, like a plain stream would).
  let failure: unknown;
  try {
    for await (const chunk of stream) {
      // Decode in slices and hand each batch over at once: entities that die young are
      // cheap for the GC, a large batch surviving a scavenge is not.
      for (let p = 0; p < chunk.length; p += SLICE) {
        try {
          reader.push(p === 0 && chunk.length <= SLICE ? chunk : chunk.subarray(p, p + SLICE));
        } catch (e) {
          failure = e;
        }
        if (batch.entities.length) {
          yield batch;
          batch = { entities: [], sizes: [] };
        }
        if (failure !== undefined) throw failure;
      }
    }
    try {
      reader.end();
    } catch (e) {
      failure = e;
    }
  } catch (e) {
    if (e instanceof MlbridgeError) throw e;
    throw new MlbridgeError('EXPORT_NOT_FOUND', `${file}: cannot read output file: ${errorMessage(e)}`, { cause: e });
  }
  if (batch.entities.length) yield batch;
  if (failure !== undefined) throw failure;
}
