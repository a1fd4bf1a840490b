// One entry of `mappings:` → MappingSpec: fields (types, modes, `from` paths, nested
// RECORDs, renames), table names and their defaults, partitioning, clustering, labels
// and per-mapping scoring. Checks that need every mapping (table collisions) live in
// validate.ts.

import type { SourceRange } from '../model/diagnostic.js';
import { COLUMN_MODES, TYPE_NAMES, canonicalType, type ColumnType } from '../model/schema.js';
import { SYSTEM_COLUMNS, OWNER_LABEL_RESERVED } from './reserved.js';
import { KEY_ROOT, formatFromPath, keyPathProblem, splitFromPath } from './from-path.js';
import { columnNameProblem, snakeCase, suggest, tableNameProblem } from './names.js';
import { join, pathLabel, type Entry, type Reader } from './reader.js';
import { checkScoring, mergeScoring, readScoring, type ScoringOverrides } from './scoring.js';
import type { FieldSpec, MappingSpec, PartitioningSpec, ScoringSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

const MAPPING_KEYS = [
  'kind', 'namespace', 'namespaces', 'table', 'tables', 'description', 'deletion_protection', 'labels',
  'partitioning', 'clustering', 'scoring', 'fields',
] as const;
const FIELD_KEYS = ['name', 'type', 'mode', 'description', 'from', 'renamed_from', 'fields'] as const;
const PARTITION_TYPES = ['HOUR', 'DAY', 'MONTH', 'YEAR'] as const;
const PARTITION_COLUMN_TYPES: readonly ColumnType[] = ['TIMESTAMP', 'DATE', 'DATETIME'];
// BigQuery: clustering columns are top-level, non-repeated, and of these types.
const CLUSTER_COLUMN_TYPES: readonly ColumnType[] = [
  'BIGNUMERIC', 'BOOL', 'DATE', 'DATETIME', 'GEOGRAPHY', 'INT64', 'NUMERIC', 'STRING', 'TIMESTAMP',
];
const MAX_RECORD_DEPTH = 15;
const MAX_KIND_BYTES = 1500;
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
// BigQuery allows 64 labels; mlbridge adds managed-by and mlbridge-deletion-protection, and
// mlbridge-replace while a replacement is being copied.
const MAX_USER_LABELS = 61;
// BigQuery: a column description holds at most 1,024 characters.
const MAX_COLUMN_DESCRIPTION = 1024;

/** A mapping plus where its table names came from, for the cross-mapping checks. */
export interface ReadMapping {
  spec: MappingSpec;
  /** Position to blame for each table: the explicit name, else the kind. */
  tablePos: { current: SourceRange; raw: SourceRange; quarantine: SourceRange };
  /** raw/quarantine names derived from the current table's (a clash there follows from one on current). */
  derived: { raw: boolean; quarantine: boolean };
  kindPos: SourceRange;
}

interface FieldInfo {
  field: FieldSpec;
  /** Path from the entity root (nested fields prefix their parent's path). */
  absolute: string[];
  fromPos: SourceRange;
  path: string;
}

export function readMapping(
  r: Reader,
  node: YNode,
  path: string,
  specScoring: ScoringSpec,
): ReadMapping | undefined {
  const f = r.object(node, path, MAPPING_KEYS, ['kind', 'fields']);
  if (!f) return undefined;
  const kind = r.string(f.kind, join(path, 'kind'), { nonEmpty: true });
  if (kind !== undefined) checkKind(r, kind, join(path, 'kind'), f.kind!.value.pos);
  const namespaces = readNamespaces(r, f.namespace, f.namespaces, path);
  const description = r.string(f.description, join(path, 'description'));
  const deletionProtection = r.boolean(f.deletion_protection, join(path, 'deletion_protection')) ?? true;

  // Table names: explicit, else derived from the kind.
  const kindPos = f.kind?.value.pos ?? node.pos;
  let current = r.string(f.table, join(path, 'table'));
  let currentPos = f.table?.value.pos ?? kindPos;
  if (current !== undefined) checkTableName(r, current, join(path, 'table'), currentPos);
  else if (kind !== undefined) {
    current = snakeCase(kind);
    if (current === '') r.error(`${pathLabel(join(path, 'kind'))}: cannot derive a table name from kind \`${kind}\`; set \`table\``, kindPos);
  }
  let raw = current === undefined ? undefined : `${current}_raw`;
  let quarantine = current === undefined ? undefined : `${current}_quarantine`;
  let rawPos = currentPos;
  let quarantinePos = currentPos;
  if (f.tables) {
    const p = join(path, 'tables');
    const t = r.object(f.tables.value, p, ['raw', 'quarantine']);
    if (t?.raw) {
      const v = r.string(t.raw, join(p, 'raw'));
      if (v !== undefined) { raw = v; rawPos = t.raw.value.pos; checkTableName(r, v, join(p, 'raw'), rawPos); }
    }
    if (t?.quarantine) {
      const v = r.string(t.quarantine, join(p, 'quarantine'));
      if (v !== undefined) { quarantine = v; quarantinePos = t.quarantine.value.pos; checkTableName(r, v, join(p, 'quarantine'), quarantinePos); }
    }
  }

  const labels = readLabels(r, f.labels, join(path, 'labels'));

  // Fields.
  const infos: FieldInfo[] = [];
  const fieldsPath = join(path, 'fields');
  const fieldNodes = r.list(f.fields, fieldsPath);
  if (fieldNodes && fieldNodes.length === 0) r.error(`${pathLabel(fieldsPath)}: a mapping needs at least one field`, f.fields!.value.pos);
  const declared = new Set<string>();
  const fields = fieldNodes ? readFieldList(r, fieldNodes, fieldsPath, [], 1, infos, declared) : [];
  checkPathsThroughScalars(r, infos);
  checkRenames(r, fields, infos);

  const partitioning = f.partitioning ? readPartitioning(r, f.partitioning, join(path, 'partitioning'), fields, declared) : undefined;
  const clustering = f.clustering ? readClustering(r, f.clustering, join(path, 'clustering'), fields, declared) : undefined;

  let overrides: ScoringOverrides | undefined;
  if (f.scoring) overrides = readScoring(r, f.scoring.value, join(path, 'scoring'), true);
  const scoring = mergeScoring(specScoring, overrides);
  checkScoring(r, scoring, overrides, join(path, 'scoring'));
  if (overrides?.required) {
    for (const [i, req] of overrides.required.entries()) {
      if (!fields.some((x) => x.name.toLowerCase() === req.name.toLowerCase())) {
        const hint = suggest(req.name, fields.map((x) => x.name));
        r.error(
          `${pathLabel(join(join(path, 'scoring.required'), i))}: \`${req.name}\` is not a field of this mapping${hint ? `; did you mean \`${hint}\`?` : ''}`,
          req.pos,
        );
      }
    }
  } else {
    // Default: completeness checks every REQUIRED top-level field.
    scoring.required = fields.filter((x) => x.mode === 'REQUIRED').map((x) => x.name);
  }

  if (kind === undefined || current === undefined || raw === undefined || quarantine === undefined) return undefined;
  const spec: MappingSpec = {
    kind,
    tables: { current, raw, quarantine },
    fields,
    labels,
    deletionProtection,
    scoring,
    source: node.pos,
  };
  if (namespaces !== undefined) {
    spec.namespaces = namespaces.names;
    spec.namespaceSources = namespaces.sources;
  }
  if (description !== undefined) spec.description = description;
  if (partitioning) spec.partitioning = partitioning;
  if (clustering) spec.clustering = clustering;
  return {
    spec,
    tablePos: { current: currentPos, raw: rawPos, quarantine: quarantinePos },
    derived: { raw: rawPos === currentPos, quarantine: quarantinePos === currentPos },
    kindPos,
  };
}

/** Datastore's limits on a kind name: not `__`-prefixed, well-formed Unicode, at most 1,500 UTF-8 bytes. */
function checkKind(r: Reader, kind: string, path: string, pos: SourceRange): void {
  if (kind.startsWith('__')) {
    r.error(`${pathLabel(path)}: kinds starting with \`__\` are reserved by Datastore`, pos);
    return;
  }
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(kind);
  if (lone) {
    const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
    r.error(`${pathLabel(path)}: kind \`${kind.replace(lone[0], '\\u' + unit)}\` holds a lone surrogate (\\u${unit}), which is not valid UTF-8; Datastore kind names are UTF-8 text`, pos);
    return;
  }
  const bytes = Buffer.byteLength(kind, 'utf8');
  if (bytes > MAX_KIND_BYTES) r.error(`${pathLabel(path)}: kind is ${bytes} bytes long in UTF-8; Datastore allows at most ${MAX_KIND_BYTES}`, pos);
}

/**
 * `namespaces: [a, b]`, or the older `namespace: a` as a one-element list; absent means
 * every namespace. "" is the default namespace.
 */
function readNamespaces(r: Reader, single: Entry | undefined, list: Entry | undefined, path: string): { names: string[]; sources: SourceRange[] } | undefined {
  if (single && list) {
    r.error(`${pathLabel(path)}: set \`namespaces\` or \`namespace\`, not both`, single.key.pos);
    return undefined;
  }
  if (single) {
    const ns = r.string(single, join(path, 'namespace'));
    if (ns === undefined) return undefined;
    return checkNamespace(r, ns, join(path, 'namespace'), single.value.pos) ? { names: [ns], sources: [single.value.pos] } : undefined;
  }
  if (!list) return undefined;
  const p = join(path, 'namespaces');
  const items = r.list(list, p);
  if (!items) return undefined;
  if (items.length === 0) {
    r.error(`${pathLabel(p)}: list at least one namespace (\`""\` is the default namespace), or leave \`namespaces\` out to read every namespace`, list.value.pos);
    return undefined;
  }
  const names: string[] = [];
  const sources: SourceRange[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const ip = join(p, i);
    const ns = r.string({ key: list.key, value: item }, ip);
    if (ns === undefined || !checkNamespace(r, ns, ip, item.pos)) { ok = false; return; }
    if (names.includes(ns)) { r.error(`${pathLabel(ip)}: namespace ${JSON.stringify(ns)} is listed twice`, item.pos); ok = false; return; }
    names.push(ns);
    sources.push(item.pos);
  });
  return ok ? { names, sources } : undefined;
}

/** Datastore namespace names: at most 100 of `A-Z a-z 0-9 . _ -`; `__…__` names are reserved. */
function checkNamespace(r: Reader, ns: string, path: string, pos: SourceRange): boolean {
  if (!/^[A-Za-z0-9._-]{0,100}$/.test(ns)) {
    r.error(`${pathLabel(path)}: \`${ns}\` is not a Datastore namespace (at most 100 letters, digits, \`.\`, \`_\` or \`-\`; \`""\` is the default namespace)`, pos);
    return false;
  }
  if (/^__.*__$/.test(ns)) {
    r.error(`${pathLabel(path)}: namespace \`${ns}\` is reserved by Datastore`, pos);
    return false;
  }
  return true;
}

function checkTableName(r: Reader, name: string, path: string, pos: SourceRange): void {
  const problem = tableNameProblem(name);
  if (problem) r.error(`${pathLabel(path)}: table name \`${name}\` ${problem}`, pos);
}

function readLabels(r: Reader, e: Entry | undefined, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!e) return out;
  if (e.value.kind !== 'map') {
    r.wrongType(path, 'a mapping of label names to values', e.value);
    return out;
  }
  if (e.value.items.length > MAX_USER_LABELS) {
    r.error(
      `${pathLabel(path)}: at most ${MAX_USER_LABELS} labels are allowed, ${e.value.items.length} given (BigQuery allows 64; mlbridge uses up to 3: managed-by, mlbridge-deletion-protection, mlbridge-replace)`,
      e.value.pos,
    );
  }
  for (const item of e.value.items) {
    const k = item.key.value as string;
    const p = join(path, k);
    if (k === OWNER_LABEL_RESERVED) {
      r.error(`${pathLabel(p)}: the label \`${k}\` is reserved: mlbridge marks the tables it owns with it`, item.key.pos);
      continue;
    }
    if (k.startsWith('mlbridge-')) {
      r.error(`${pathLabel(p)}: label keys starting with \`mlbridge-\` are reserved for mlbridge's own markers`, item.key.pos);
      continue;
    }
    if (!LABEL_KEY.test(k)) {
      r.error(`${pathLabel(p)}: label key \`${k}\` must start with a lowercase letter and hold at most 63 lowercase letters, digits, \`_\` or \`-\``, item.key.pos);
      continue;
    }
    const v = r.string(item, p);
    if (v === undefined) continue;
    if (!LABEL_VALUE.test(v)) {
      r.error(`${pathLabel(p)}: label value \`${v}\` may hold at most 63 lowercase letters, digits, \`_\` or \`-\``, item.value.pos);
      continue;
    }
    out[k] = v;
  }
  return out;
}

function readFieldList(
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
function checkPathsThroughScalars(r: Reader, infos: FieldInfo[]): void {
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

function checkRenames(r: Reader, fields: FieldSpec[], infos: FieldInfo[]): void {
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

/** A top-level column's type; `type` undefined when the field is declared but itself invalid (already reported). */
function topLevelType(fields: FieldSpec[], declared: Set<string>, name: string): { type?: ColumnType; mode?: string } | undefined {
  const lower = name.toLowerCase();
  if (Object.hasOwn(SYSTEM_COLUMNS, lower)) return { type: SYSTEM_COLUMNS[lower]!, mode: 'REQUIRED' };
  const f = fields.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (f) return { type: f.type, mode: f.mode };
  return declared.has(lower) ? {} : undefined;
}

function unknownColumn(r: Reader, path: string, name: string, fields: FieldSpec[], pos: SourceRange): void {
  const hint = suggest(name, [...fields.map((f) => f.name), ...Object.keys(SYSTEM_COLUMNS)]);
  r.error(`${pathLabel(path)}: \`${name}\` is not a top-level column of this mapping${hint ? `; did you mean \`${hint}\`?` : ''}`, pos);
}

function readPartitioning(r: Reader, e: Entry, path: string, fields: FieldSpec[], declared: Set<string>): PartitioningSpec | undefined {
  const p = r.object(e.value, path, ['type', 'field', 'expiration_days', 'require_filter']);
  if (!p) return undefined;
  const type = (p.type ? r.enumeration(p.type, join(path, 'type'), PARTITION_TYPES, 'partitioning type') : 'DAY') as PartitioningSpec['type'] | undefined;
  const field = r.string(p.field, join(path, 'field'), { nonEmpty: true });
  const expirationDays = r.number(p.expiration_days, join(path, 'expiration_days'), { above: 0 });
  const requireFilter = r.boolean(p.require_filter, join(path, 'require_filter'));
  if (field !== undefined) {
    const col = topLevelType(fields, declared, field);
    const pos = p.field!.value.pos;
    const fp = join(path, 'field');
    if (!col) unknownColumn(r, fp, field, fields, pos);
    else if (!col.type) { /* the field itself is reported */ }
    else if (!PARTITION_COLUMN_TYPES.includes(col.type)) {
      r.error(`${pathLabel(fp)}: \`${field}\` is ${col.type}; a partitioning column must be TIMESTAMP, DATE or DATETIME`, pos);
    } else if (col.mode === 'REPEATED') {
      r.error(`${pathLabel(fp)}: \`${field}\` is REPEATED; a partitioning column holds one value`, pos);
    } else if (col.type === 'DATE' && type === 'HOUR') {
      r.error(`${pathLabel(join(path, 'type'))}: a DATE column cannot be partitioned by HOUR`, p.type?.value.pos ?? pos);
    }
  }
  if (type === undefined) return undefined;
  const out: PartitioningSpec = { type };
  if (field !== undefined) out.field = field;
  if (expirationDays !== undefined) out.expirationDays = expirationDays;
  if (requireFilter !== undefined) out.requireFilter = requireFilter;
  return out;
}

function readClustering(r: Reader, e: Entry, path: string, fields: FieldSpec[], declared: Set<string>): string[] | undefined {
  const items = r.list(e, path);
  if (!items) return undefined;
  if (items.length > 4) r.error(`${pathLabel(path)}: at most 4 clustering columns are allowed, got ${items.length}`, e.value.pos);
  if (items.length === 0) r.error(`${pathLabel(path)}: list at least one column, or leave \`clustering\` out`, e.value.pos);
  const out: string[] = [];
  items.forEach((item, i) => {
    const p = join(path, i);
    const name = r.string({ key: e.key, value: item }, p, { nonEmpty: true });
    if (name === undefined) return;
    const col = topLevelType(fields, declared, name);
    if (!col) return unknownColumn(r, p, name, fields, item.pos);
    if (!col.type) return; // the field itself is reported
    if (out.some((x) => x.toLowerCase() === name.toLowerCase())) return r.error(`${pathLabel(p)}: \`${name}\` is listed twice`, item.pos);
    if (col.mode === 'REPEATED') return r.error(`${pathLabel(p)}: \`${name}\` is REPEATED; clustering columns hold one value`, item.pos);
    if (!CLUSTER_COLUMN_TYPES.includes(col.type)) {
      return r.error(`${pathLabel(p)}: \`${name}\` is ${col.type}; BigQuery clusters only by ${CLUSTER_COLUMN_TYPES.join(', ')} columns`, item.pos);
    }
    out.push(name);
  });
  return out;
}
