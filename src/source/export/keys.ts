// Datastore keys in EntityProto: Reference messages (entity keys, with a length-delimited
// Path of groups) and ReferenceValue groups (key properties) → v1 REST Key.
import type { Key, PathElement } from '../entity.js';
import { ProtoError, ProtoReader, int64String, WIRE_END_GROUP, WIRE_LEN, WIRE_VARINT } from './proto.js';
import { nameField, stringField } from './scalars.js';

// Every key of an export names the same app: remember the last one's project.
let lastApp = '';
let lastProject = '';
function projectOf(app: string, fallback: string): string {
  if (!app) return fallback;
  if (app === lastApp) return lastProject;
  const i = app.lastIndexOf('~');
  lastApp = app;
  lastProject = i >= 0 ? app.slice(i + 1) : app;
  return lastProject;
}

function buildKey(app: string, ns: string, db: string, path: PathElement[], fallbackProject: string): Key {
  const partitionId: Key['partitionId'] = { projectId: projectOf(app, fallbackProject) };
  if (ns) partitionId.namespaceId = ns;
  if (db) partitionId.databaseId = db;
  return { partitionId, path };
}

/**
 * Path message (length-delimited): repeated group Element = 1 {type=2, id=3, name=4},
 * appended to `path` (a new array when undefined: a one-element literal, since growing an
 * empty array by push reserves room for 17).
 */
function readPath(r: ProtoReader, end: number, path: PathElement[] | undefined): PathElement[] | undefined {
  const outer = r.end;
  r.end = end;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 11) {
      const el = readElement(r, 2, 3, 4, 12);
      if (path === undefined) path = [el];
      else path.push(el);
    } else r.skip(tag & 7, tag >>> 3);
  }
  r.end = outer;
  return path;
}

function readElement(r: ProtoReader, fType: number, fId: number, fName: number, endTag: number): PathElement {
  let kind: string | undefined;
  let id: string | undefined;
  let name: string | undefined;
  for (;;) {
    if (r.pos >= r.end) r.fail('unterminated path element');
    const tag = r.uint32();
    if (tag === endTag) break;
    const f = tag >>> 3;
    const w = tag & 7;
    if (f === fType && w === WIRE_LEN) kind = nameField(r);
    else if (f === fId && w === WIRE_VARINT) {
      const lo = r.varint64();
      id = int64String(lo, r.hi);
    } else if (f === fName && w === WIRE_LEN) name = stringField(r);
    else if (w === WIRE_END_GROUP) r.fail(`unexpected end of group ${f} in a path element`);
    else r.skip(w, f);
  }
  if (kind === undefined) r.fail('path element without a kind');
  const el: PathElement = { kind };
  if (name !== undefined) el.name = name;
  else if (id !== undefined && id !== '0') el.id = id;
  return el;
}

/** Reference message (length-delimited) → Key, or undefined when the path is empty. */
export function readReference(r: ProtoReader, end: number, fallbackProject: string): Key | undefined {
  const outer = r.end;
  r.end = end;
  let app = '';
  let ns = '';
  let db = '';
  let path: PathElement[] | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 106: // 13 app
        app = nameField(r);
        break;
      case 114: // 14 path
        path = readPath(r, r.lenEnd(), path);
        break;
      case 162: // 20 name_space
        ns = stringField(r);
        break;
      case 186: // 23 database_id
        db = stringField(r);
        break;
      default:
        r.skip(tag & 7, tag >>> 3);
    }
  }
  r.end = outer;
  return path !== undefined ? buildKey(app, ns, db, path, fallbackProject) : undefined;
}

/** ReferenceValue group (PropertyValue field 12) → Key. */
export function readReferenceValue(r: ProtoReader, fallbackProject: string): Key {
  let app = '';
  let ns = '';
  let db = '';
  const path: PathElement[] = [];
  for (;;) {
    if (r.pos >= r.end) r.fail('unterminated reference value');
    const tag = r.uint32();
    if (tag === 100) break; // end group 12
    switch (tag) {
      case 106:
        app = stringField(r);
        break;
      case 115: // start group 14 PathElement
        path.push(readElement(r, 15, 16, 17, 116));
        break;
      case 162:
        ns = stringField(r);
        break;
      case 186:
        db = stringField(r);
        break;
      default:
        if ((tag & 7) === WIRE_END_GROUP) r.fail(`unexpected end of group ${tag >>> 3} in a reference value`);
        r.skip(tag & 7, tag >>> 3);
    }
  }
  return buildKey(app, ns, db, path, fallbackProject);
}


/**
 * The namespace ('' = the default) of an EntityProto record's key, read without decoding its
 * properties: for records staging counts but does not decode (source memo hits). Undefined
 * when the record has no key or does not parse.
 */
export function recordNamespace(bytes: Uint8Array): string | undefined {
  const r = new ProtoReader(bytes);
  try {
    while (r.pos < r.end) {
      const tag = r.uint32();
      if (tag !== 106) {
        // 13 key: every other top-level field is skipped whole.
        r.skip(tag & 7, tag >>> 3);
        continue;
      }
      r.end = r.lenEnd();
      while (r.pos < r.end) {
        const t = r.uint32();
        if (t === 162) return stringField(r); // 20 name_space
        r.skip(t & 7, t >>> 3);
      }
      return '';
    }
    return undefined;
  } catch (e) {
    if (e instanceof ProtoError) return undefined;
    throw e;
  }
}
