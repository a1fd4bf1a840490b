// The two metadata files of a managed export:
// - <ID>.overall_export_metadata: LevelDB-framed; a version byte record, then an
//   OverallExportMetadata listing each kind folder's .export_metadata.
// - *.export_metadata: a plain protobuf naming the export and the output-N files.
//   Field 1.1 held the literal "export_entities" until about October 2024 and the export's
//   name since; an all-kinds part names kind `__all__`. Fields added later (2.5, signed
//   varints) are skipped like any unknown field.
import { corruptError } from './log-format.js';
import { readAllRecords } from './log-reader.js';
import { ProtoError, ProtoReader, int64Number, WIRE_LEN, WIRE_VARINT } from './proto.js';

export interface OverallEntry {
  /** Kind name; absent when the entry covers all kinds. */
  kind?: string;
  /** Namespace; absent when the entry covers all namespaces. */
  namespace?: string;
  /** Path of the .export_metadata file relative to the export folder. */
  path: string;
  entityCount?: number;
  bytes?: number;
}

export interface OverallMetadata {
  entries: OverallEntry[];
}

/** What field 1.1 held before exports named themselves there. */
const LEGACY_NAME = 'export_entities';
/** The kind of a part that holds every kind. */
const ALL_KINDS = '__all__';

export interface ExportMetadata {
  /** The export's name (its folder name), when the file says it (exports from late 2024 on). */
  name?: string;
  startMicros?: number;
  endMicros?: number;
  kind?: string;
  /** Output file names, relative to the folder holding the .export_metadata. */
  outputs: string[];
}

function str(r: ProtoReader): string {
  const e = r.lenEnd();
  const s = Buffer.from(r.buf.buffer, r.buf.byteOffset + r.pos, e - r.pos).toString('utf8');
  r.pos = e;
  return s;
}

function wrap<T>(file: string, base: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtoError) throw corruptError(file, base + e.pos, `bad metadata protobuf: ${e.message}`);
    throw e;
  }
}

/** Kind descriptor: observed fields 1 (type), 2 (kind name, "" = all), 3 (type), 4 (namespace). */
function readDescriptor(r: ProtoReader, end: number, entry: OverallEntry): void {
  const outer = r.end;
  r.end = end;
  let kindSet = 0;
  let nsSet = 0;
  let kind = '';
  let ns = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) kindSet = r.uint32();
    else if (tag === 18) kind = str(r);
    else if (tag === 24) nsSet = r.uint32();
    else if (tag === 34) ns = str(r);
    else r.skip(tag & 7, tag >>> 3);
  }
  r.end = outer;
  // Field 1: 1 = one kind (field 2), 2 = all kinds. Field 3: 1 = the default namespace,
  // 2 = one namespace (field 4), 3 = all namespaces (as the emulator writes them).
  if (kindSet === 1 || (kindSet === 0 && kind)) entry.kind = kind;
  if (nsSet === 1) entry.namespace = '';
  else if (nsSet === 2 || (nsSet === 0 && ns)) entry.namespace = ns;
}

export function parseOverallMetadata(file: string, data: Uint8Array): OverallMetadata {
  const records = readAllRecords(file, data);
  if (records.length < 2) throw corruptError(file, data.length, `expected a version record and a metadata record, found ${records.length} record(s)`);
  const rec = records[1]!;
  return wrap(file, 0, () => {
    const r = new ProtoReader(rec);
    const entries: OverallEntry[] = [];
    while (r.pos < r.end) {
      const tag = r.uint32();
      if (tag !== ((1 << 3) | WIRE_LEN)) {
        r.skip(tag & 7, tag >>> 3);
        continue;
      }
      const end = r.lenEnd();
      const outer = r.end;
      r.end = end;
      const entry: OverallEntry = { path: '' };
      while (r.pos < end) {
        const t = r.uint32();
        if (t === 10) readDescriptor(r, r.lenEnd(), entry);
        else if (t === 18) entry.path = str(r);
        else if (t === 24) entry.entityCount = int64Number(r.varint64(), r.hi);
        else if (t === 32) entry.bytes = int64Number(r.varint64(), r.hi);
        else r.skip(t & 7, t >>> 3);
      }
      r.end = outer;
      if (!entry.path) r.fail('metadata entry without a path');
      entries.push(entry);
    }
    return { entries };
  });
}

export function parseExportMetadata(file: string, data: Uint8Array): ExportMetadata {
  return wrap(file, 0, () => {
    const r = new ProtoReader(data);
    const out: ExportMetadata = { outputs: [] };
    while (r.pos < r.end) {
      const tag = r.uint32();
      const f = tag >>> 3;
      if ((tag & 7) !== WIRE_LEN || (f !== 1 && f !== 2)) {
        if (tag === 0) r.fail('bad field tag 0');
        r.skip(tag & 7, f);
        continue;
      }
      const end = r.lenEnd();
      const outer = r.end;
      r.end = end;
      while (r.pos < end) {
        const t = r.uint32();
        if (f === 1) {
          if (t === 10) {
            const name = str(r);
            if (name && name !== LEGACY_NAME) out.name = name;
          }
          else if (t === ((2 << 3) | WIRE_VARINT)) out.startMicros = int64Number(r.varint64(), r.hi);
          else if (t === ((3 << 3) | WIRE_VARINT)) out.endMicros = int64Number(r.varint64(), r.hi);
          else r.skip(t & 7, t >>> 3);
        } else {
          if (t === 10) {
            const k = str(r);
            if (k && k !== ALL_KINDS) out.kind = k;
          } else if (t === 18) out.outputs.push(str(r));
          else r.skip(t & 7, t >>> 3);
        }
      }
      r.end = outer;
    }
    for (const o of out.outputs) {
      if (!o || o.includes('/') || o.includes('\\') || o === '..') throw corruptError(file, 0, `bad output file name ${JSON.stringify(o)}`);
    }
    return out;
  });
}
