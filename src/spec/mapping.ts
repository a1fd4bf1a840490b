// One entry of `mappings:` → MappingSpec: kind, namespaces, table names and their
// defaults, and per-mapping scoring; the fields (mapping-fields.ts) and the table
// options — labels, partitioning, clustering (mapping-table.ts) — are read by their own
// modules. Checks that need every mapping (table collisions) live in validate.ts.

import type { SourceRange } from '../model/diagnostic.js';
import { checkPathsThroughScalars, checkRenames, readFieldList, type FieldInfo } from './mapping-fields.js';
import { readClustering, readLabels, readPartitioning } from './mapping-table.js';
import { snakeCase, suggest, tableNameProblem } from './names.js';
import { join, pathLabel, type Entry, type Reader } from './reader.js';
import { checkScoring, mergeScoring, readScoring, type ScoringOverrides } from './scoring.js';
import type { MappingSpec, ScoringSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

const MAPPING_KEYS = [
  'kind', 'namespace', 'namespaces', 'table', 'tables', 'description', 'deletion_protection', 'labels',
  'partitioning', 'clustering', 'scoring', 'fields',
] as const;
const MAX_KIND_BYTES = 1500;

/** A mapping plus where its table names came from, for the cross-mapping checks. */
export interface ReadMapping {
  spec: MappingSpec;
  /** Position to blame for each table: the explicit name, else the kind. */
  tablePos: { current: SourceRange; raw: SourceRange; quarantine: SourceRange };
  /** raw/quarantine names derived from the current table's (a clash there follows from one on current). */
  derived: { raw: boolean; quarantine: boolean };
  kindPos: SourceRange;
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
