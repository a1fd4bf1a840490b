// Streams the entities of a managed export in the v1 REST shape. Files are read in
// 1 MiB chunks and decoded record by record, so memory does not grow with export size.
//
// What comes out is never more than was written. Each part's records are counted against
// the entity count its metadata lists. A plain read (no skipCorrupt) first checks the
// framing and checksums of every file it will read and those counts, and only then decodes:
// a damaged export fails before the first entity instead of after a partial stream (this
// reads the files twice; the check pass adds about 18% CPU time to the decode). With
// skipCorrupt the entities come out as they are decoded (after a scan of each file's block
// fingerprints, see log-reader.ts): damaged records are reported and skipped, a part that
// comes up short is reported, and a part that yields more records than listed fails.
import type { Entity, Key } from '../entity.js';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import { EntityDecoder } from './entity-proto.js';
import { corruptError, type ByteRange, type CorruptRecord } from './log-format.js';
import { LogReader, scanRepeatedBlocks } from './log-reader.js';
import { locateExport, type ExportPart, type LocatedExport } from './locate.js';
import type { ExportStore } from './export-store.js';
import { ProtoError } from './proto.js';

export type { CorruptRecord } from './log-format.js';

export interface ReadExportOptions {
  /** Only these kinds (default: all). */
  kinds?: string[];
  /** Only these namespaces; "" is the default namespace (default: all). */
  namespaces?: string[];
  /** Skip damaged records (resync at the next block) instead of failing. */
  skipCorrupt?: boolean;
  /**
   * Without skipCorrupt: when the framing is checked before decoding. 'all' (default): every
   * file of the selection and the metadata's counts before the first entity comes out.
   * 'file': each file just before it is decoded, so reading only the start of a large export
   * (a dump with a limit) does not read all of it first; a later file can then still fail
   * after entities of earlier ones came out. 'none': no separate pass — for a consumer that
   * keeps nothing of a read that fails (a reconcile stages into a table it drops on error);
   * every record is still checked as it is decoded, and the counts at the end of each part.
   */
  verify?: 'all' | 'file' | 'none';
  /** In a folder of several exports, read this one instead of the newest. */
  exportId?: string;
  /** Told about each skipped damaged record (only with skipCorrupt). */
  onCorrupt?: (c: CorruptRecord) => void;
  /**
   * With skipCorrupt: told when a part of the export yielded fewer entities than its
   * metadata lists (damaged records skipped, or an output file emptied or cut at a record
   * boundary). Without skipCorrupt a short part is an EXPORT_CORRUPT error, and a part that
   * yields more than listed is one in either mode.
   */
  onShortPart?: (s: ShortPart) => void;
  /** Hears which export was found, before any entity (its `skipped` says what newer one was passed over). */
  onLocated?: (located: LocatedExport) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ShortPart {
  /** Display path of the part's .export_metadata file. */
  metadata: string;
  expected: number;
  /** Entities read from the part's output files. */
  found: number;
  /** Damaged records were skipped in the part (they account for some of the difference). */
  damaged: boolean;
}

/** A batch of decoded entities with each one's encoded size in bytes. */
export interface EntityBatch {
  entities: Entity[];
  sizes: number[];
  /** With a screen: what it returned for each entity's record. */
  prints?: bigint[];
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
  options.onLocated?.(located);
  yield* readLocatedBatches(located, options);
}

export async function* readLocatedBatches(located: LocatedExport, options: ReadExportOptions = {}): AsyncIterable<EntityBatch> {
  const kinds = options.kinds?.length ? new Set(options.kinds) : undefined;
  const namespaces = options.namespaces?.length ? new Set(options.namespaces) : undefined;
  const parts = located.parts.filter((p) => wanted(kinds, p.kind) && wanted(namespaces, p.namespace));
  if (!options.skipCorrupt && (options.verify ?? 'all') === 'all') {
    for (const part of parts) await verifyPart(located.store, part);
  }
  for (const part of parts) yield* readPart(located, part, kinds, namespaces, options);
}

/**
 * Checks a part without decoding it: every output file's framing and checksums (a repeated
 * block included), and the record count against the metadata's. Throws EXPORT_CORRUPT.
 */
export async function verifyPart(store: ExportStore, part: ExportPart): Promise<void> {
  const tally: FileTally = { records: 0, damaged: false };
  for (const path of part.outputs) await verifyOutputFile(store, path, tally);
  checkPartCount(store, part, tally, { skipCorrupt: false });
}

/** Checks one output file's framing and checksums, counting its records into tally. */
export async function verifyOutputFile(store: ExportStore, path: string, tally: FileTally): Promise<void> {
  const file = store.display(path);
  const reader = new LogReader({ file, onRecordAt: () => void tally.records++ });
  try {
    for await (const chunk of store.stream(path)) reader.push(chunk);
  } catch (e) {
    if (e instanceof MlbridgeError) throw e;
    throw new MlbridgeError('EXPORT_NOT_FOUND', `${file}: cannot read output file: ${errorMessage(e)}`, { cause: e });
  }
  reader.end();
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
  for (const path of part.outputs) {
    if (!skipCorrupt && options.verify === 'file') await verifyOutputFile(store, path, { records: 0, damaged: false });
    yield* readOutputFile(store, path, { decoder, accept, tally, skipCorrupt, onCorrupt });
  }
  checkPartCount(store, part, tally, { skipCorrupt: Boolean(skipCorrupt), onShortPart: options.onShortPart });
}

/** Records read from a part's files, to compare with the count its metadata lists. */
export interface FileTally {
  /** Whole, checked records (when decoding: entities decoded, before kind/namespace filters). */
  records: number;
  /** Damage was reported (and skipped). */
  damaged: boolean;
}

/**
 * Compares a part's records with the count its metadata lists (parts without a listed count
 * are not checked). More than listed throws EXPORT_CORRUPT: data was repeated. Fewer throws
 * too, unless skipCorrupt, where onShortPart is told instead.
 */
export function checkPartCount(
  store: ExportStore,
  part: ExportPart,
  tally: FileTally,
  options: { skipCorrupt: boolean; onShortPart?: ((s: ShortPart) => void) | undefined },
): void {
  const expected = part.entityCount;
  if (expected === undefined || tally.records === expected) return;
  const metadata = store.display(part.metadataPath);
  const details = { metadata, expected, found: tally.records };
  if (tally.records > expected) {
    throw new MlbridgeError(
      'EXPORT_CORRUPT',
      `${metadata}: the export lists ${expected} entities here but its output files hold ${tally.records}, more than were written`,
      { resource: metadata, details },
    );
  }
  if (!options.skipCorrupt) {
    throw new MlbridgeError(
      'EXPORT_CORRUPT',
      `${metadata}: the export lists ${expected} entities here but its output files hold only ${tally.records}: they are missing or incomplete`,
      { resource: metadata, details },
    );
  }
  options.onShortPart?.({ ...details, damaged: tally.damaged });
}

export interface OutputFileOptions {
  decoder: EntityDecoder;
  /** Keeps only the entities whose key it accepts (kind/namespace filters). */
  accept?: ((k: Key) => boolean) | undefined;
  /** Counts records and notes damage (shared by the files of one part). */
  tally: FileTally;
  skipCorrupt?: boolean | undefined;
  onCorrupt?: ((c: CorruptRecord) => void) | undefined;
  /**
   * Only the records whose FULL or FIRST fragment lies in these bytes of the file (see
   * LogReader's range). Not with skipCorrupt: skipping a copied block wherever it occurs takes
   * a scan of the whole file.
   */
  range?: ByteRange | undefined;
  /** Receives a ranged read's block fingerprints, for firstRepeatedBlock across the file's ranges. */
  blocks?: number[] | undefined;
  /**
   * Sees each whole, checked record's bytes before they are decoded. null: the record is
   * counted but not decoded (the caller knows what it holds, see record/source-memo.ts);
   * a value: it is decoded, and the value kept for it in the batch's prints.
   */
  screen?: ((bytes: Uint8Array) => bigint | null) | undefined;
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
  const { range } = options;
  if (range && skip) throw new RangeError(`${file}: a ranged read cannot skip damage`);
  // Skipping damage, the file is read twice: first its blocks' fingerprints (no checksums, no
  // decoding), so a copied block is skipped wherever it occurs, even before its original.
  let repeats: Map<number, number[]> | undefined;
  if (skip) {
    try {
      repeats = await scanRepeatedBlocks(file, store.stream(path));
    } catch (e) {
      throw new MlbridgeError('EXPORT_NOT_FOUND', `${file}: cannot read output file: ${errorMessage(e)}`, { cause: e });
    }
  }
  const { screen } = options;
  const fresh = (): EntityBatch => (screen ? { entities: [], sizes: [], prints: [] } : { entities: [], sizes: [] });
  let batch = fresh();
  const reader = new LogReader({
    file,
    ...(skip ? { onCorrupt: report, repeats } : {}),
    ...(range ? { range } : {}),
    onRecordAt: (buf, start, end, offset) => {
      let print: bigint | null = null;
      if (screen) {
        print = screen(buf.subarray(start, end));
        if (print === null) {
          tally.records++;
          return;
        }
      }
      let entity: Entity;
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
      tally.records++;
      if (accept && !accept(entity.key)) return;
      batch.entities.push(entity);
      batch.sizes.push(end - start);
      if (print !== null) batch.prints!.push(print);
    },
  });
  const stream = range ? rangeChunks(store, path, range, reader) : store.stream(path);
  // Damage met here fails the read after the entities decoded before it came out: reached
  // only with skipCorrupt off and verify 'file' across files, when a file changes after its
  // check, or for a record whose checksum holds but whose protobuf does not decode.
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
          batch = fresh();
        }
        if (failure !== undefined) throw failure;
      }
      if (reader.done) break;
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
  if (range) options.blocks?.push(...reader.blockFingerprints());
}

/**
 * A range's bytes, then (unless the reader is done by then) the rest of the file, for the
 * record begun in the range and finished after it; the caller stops reading once done.
 */
async function* rangeChunks(store: ExportStore, path: string, range: ByteRange, reader: LogReader): AsyncIterable<Uint8Array> {
  let read = 0;
  for await (const chunk of store.stream(path, range)) {
    read += chunk.length;
    yield chunk;
  }
  // A short range is the end of the file.
  if (range.end === Infinity || reader.done || read < range.end - range.start) return;
  yield* store.stream(path, { start: range.end, end: Infinity });
}
