// The `fields:` list of a mapping → FieldSpec[]: names, types, modes, descriptions,
// `from` paths, renames and nested RECORDs, plus the checks that need every field of the
// mapping (paths through scalars, rename clashes). Separate from mapping.ts because the
// field tree is its own recursive reader; mapping.ts only calls it and keeps the result.

import type { SourceRange } from '../model/diagnostic.js';
import { COLUMN_MODES, TYPE_NAMES, canonicalType, type ColumnType } from '../model/schema.js';
import { KEY_ROOT, formatFromPath, keyPathProblem, splitFromPath } from './from-path.js';
import { columnNameProblem, suggest } from './names.js';
import { join, pathLabel, type Reader } from './reader.js';
import type { FieldSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

const FIELD_KEYS = ['name', 'type', 'mode', 'description', 'from', 'renamed_from', 'fields'] as const;
const MAX_RECORD_DEPTH = 15;
// BigQuery: a column description holds at most 1,024 characters.
const MAX_COLUMN_DESCRIPTION = 1024;

export interface FieldInfo {
  field: FieldSpec;
  /** Path from the entity root (nested fields prefix their parent's path). */
  absolute: string[];
  fromPos: SourceRange;
  path: string;
}

export function readFieldList(
  r: Reader, nodes: YNode[], path: string, parentAbs: string[], depth: number, infos: FieldInfo[], declared?: Set<string>,
): FieldSpec[] {
  const out: FieldSpec[] = [];
  const seen = new Map<string, SourceRange>();
  nodes.forEach((node, i) => {
    const p = join(path, i);
    // Names are claimed before the field is checked, so a field with another problem
    // still counts (no cascade of "unknown column" or missed duplicates).
    const nameNode = node.kind === 'map' ? node.items.find((it) => it.key.value === 'name')?.value : undefined;
    if (nameNode?.kind === 'scalar' && typeof nameNode.value === 'string') {
      const lower = nameNode.value.toLowerCase();
      const first = seen.get(lower);
      if (first) {
        r.error(
          `${pathLabel(join(p, 'name'))}: duplicate column \`${nameNode.value}\` (first at line ${first.line}:${first.col}); BigQuery column names are case-insensitive`,
          nameNode.pos,
        );
        return;
      }
      seen.set(lower, nameNode.pos);
      declared?.add(lower);
    }
    const field = readField(r, node, p, parentAbs, depth, infos);
    if (field) out.push(field);
  });
  return out;
}

function readField(r: Reader, node: YNode, path: string, parentAbs: string[], depth: number, infos: FieldInfo[]): FieldSpec | undefined {
  const f = r.object(node, path, FIELD_KEYS, ['name', 'type']);
  if (!f) return undefined;
  const topLevel = depth === 1;
  const name = r.string(f.name, join(path, 'name'));
  let nameOk = name !== undefined;
  if (name !== undefined) {
    const problem = columnNameProblem(name, topLevel);
    if (problem) { r.error(`${pathLabel(join(path, 'name'))}: column name \`${name}\` ${problem}`, f.name!.value.pos); nameOk = false; }
  }
  const typeName = r.string(f.type, join(path, 'type'));
  let type: ColumnType | undefined;
  if (typeName !== undefined) {
    type = canonicalType(typeName);
    if (!type) {
      const hint = suggest(typeName.toUpperCase(), TYPE_NAMES);
      r.error(
        `${pathLabel(join(path, 'type'))}: unknown column type \`${typeName}\`; ${hint ? `did you mean \`${hint}\`?` : `expected one of ${TYPE_NAMES.join(', ')}`}`,
        f.type!.value.pos,
      );
    }
  }
  const mode = (f.mode ? r.enumeration(f.mode, join(path, 'mode'), COLUMN_MODES, 'column mode') : 'NULLABLE') as FieldSpec['mode'] | undefined;
  const description = r.string(f.description, join(path, 'description'));
  if (description !== undefined && [...description].length > MAX_COLUMN_DESCRIPTION) {
    r.error(
      `${pathLabel(join(path, 'description'))}: a column description holds at most ${MAX_COLUMN_DESCRIPTION} characters (BigQuery's limit); this one has ${[...description].length}`,
      f.description!.value.pos,
    );
  }

  // `from`: text or list of segments; default [name].
  let from: string[] | undefined = name !== undefined ? [name] : undefined;
  const fromPos = f.from?.value.pos ?? f.name?.value.pos ?? node.pos;
  if (f.from) {
    const fp = join(path, 'from');
    const v = f.from.value;
    if (v.kind === 'seq') {
      const segs: string[] = [];
      let ok = true;
      v.items.forEach((item, i) => {
        const s = r.string({ key: f.from!.key, value: item }, join(fp, i), { nonEmpty: true });
        if (s === undefined) ok = false;
        else segs.push(s);
      });
      if (segs.length === 0 && ok) { r.error(`${pathLabel(fp)}: must not be empty`, v.pos); ok = false; }
      from = ok ? segs : undefined;
    } else if (v.kind === 'scalar' && typeof v.value === 'string') {
      const split = splitFromPath(v.value);
      if ('problem' in split) { r.error(`${pathLabel(fp)}: ${split.problem}`, v.pos); from = undefined; }
      else from = split.segments;
    } else {
      r.wrongType(fp, 'a dotted path (a string) or a list of path segments', v);
      from = undefined;
    }
    if (from) {
      const problem = keyPathProblem(from);
      if (problem) { r.error(`${pathLabel(fp)}: ${problem}`, v.pos); from = undefined; }
      else if (from[0] === KEY_ROOT && type === 'RECORD') {
        r.error(`${pathLabel(fp)}: a RECORD field cannot read \`${formatFromPath(from)}\``, v.pos);
      }
    }
  }

  let renamedFrom: string | undefined;
  if (f.renamed_from) {
    const rp = join(path, 'renamed_from');
    renamedFrom = r.string(f.renamed_from, rp, { nonEmpty: true });
    if (renamedFrom !== undefined && !topLevel) {
      r.error(`${pathLabel(rp)}: only top-level columns can be renamed in place (BigQuery cannot rename a nested field)`, f.renamed_from.key.pos);
      renamedFrom = undefined;
    } else if (renamedFrom !== undefined) {
      const problem = columnNameProblem(renamedFrom, false);
      if (problem) { r.error(`${pathLabel(rp)}: column name \`${renamedFrom}\` ${problem}`, f.renamed_from.value.pos); renamedFrom = undefined; }
    }
  }

  let sub: FieldSpec[] | undefined;
  const absolute = from ? [...parentAbs, ...from] : undefined;
  if (type === 'RECORD') {
    if (!f.fields) r.error(`${pathLabel(path)}: a RECORD field needs \`fields\``, f.type!.value.pos);
    else if (depth >= MAX_RECORD_DEPTH) r.error(`${pathLabel(join(path, 'fields'))}: RECORD fields nest at most ${MAX_RECORD_DEPTH} levels deep`, f.fields.key.pos);
    else {
      const p = join(path, 'fields');
      const nodes = r.list(f.fields, p);
      if (nodes && nodes.length === 0) r.error(`${pathLabel(p)}: a RECORD needs at least one field`, f.fields.value.pos);
      if (nodes) sub = readFieldList(r, nodes, p, absolute ?? parentAbs, depth + 1, infos);
    }
  } else if (f.fields && type !== undefined) {
    r.error(`${pathLabel(path)}: \`fields\` is only allowed on a RECORD field (this one is ${type})`, f.fields.key.pos);
  }

  if (!nameOk || type === undefined || mode === undefined || from === undefined) return undefined;
  const field: FieldSpec = { name: name!, type, mode, from, source: f.name!.value.pos };
  if (description !== undefined) field.description = description;
  if (renamedFrom !== undefined) field.renamedFrom = renamedFrom;
  if (sub) field.fields = sub;
  infos.push({ field, absolute: absolute!, fromPos, path });
  return field;
}

/**
 * "A path to nowhere": a `from` path that continues past a property another field of the
 * same mapping declares as a scalar (not RECORD or JSON), e.g. `from: address.city` next
 * to `{name: address, type: STRING}`. Such a property can have no members.
 */
export function checkPathsThroughScalars(r: Reader, infos: FieldInfo[]): void {
  for (const info of infos) {
    if (info.absolute[0] === KEY_ROOT) continue;
    for (let k = 1; k < info.absolute.length; k++) {
      const prefix = info.absolute.slice(0, k);
      const blocker = infos.find(
        (o) => o !== info && o.field.type !== 'RECORD' && o.field.type !== 'JSON' &&
          o.absolute.length === k && o.absolute.every((s, i) => s === prefix[i]),
      );
      if (blocker) {
        r.error(
          `${pathLabel(join(info.path, 'from'))}: \`${formatFromPath(info.absolute)}\` goes through \`${formatFromPath(prefix)}\`, ` +
            `which field \`${blocker.field.name}\` (line ${blocker.fromPos.line}:${blocker.fromPos.col}) declares as ${blocker.field.type}; ` +
            'only a RECORD or JSON property has members',
          info.fromPos,
        );
        break;
      }
    }
  }
}

export function checkRenames(r: Reader, fields: FieldSpec[], infos: FieldInfo[]): void {
  const seen = new Map<string, FieldSpec>();
  for (const field of fields) {
    if (!field.renamedFrom) continue;
    const info = infos.find((i) => i.field === field)!;
    const old = field.renamedFrom.toLowerCase();
    const p = join(info.path, 'renamed_from');
    if (old === field.name.toLowerCase()) {
      r.error(`${pathLabel(p)}: a column cannot be renamed from its own name \`${field.name}\``, field.source);
      continue;
    }
    const clash = fields.find((x) => x.name.toLowerCase() === old);
    if (clash) {
      r.error(`${pathLabel(p)}: \`${field.renamedFrom}\` is still declared as a column; a rename needs the old name to be gone`, field.source);
      continue;
    }
    const twice = seen.get(old);
    if (twice) {
      r.error(`${pathLabel(p)}: \`${twice.name}\` is already renamed from \`${field.renamedFrom}\``, field.source);
      continue;
    }
    seen.set(old, field);
  }
}
