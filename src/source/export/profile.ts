// Shape statistics over entities: per group (namespace/kind or kind), entity and byte
// counts and, per property (recursively into embedded entities), the value types seen
// and how often. `export stats` prints them; `init --from-export` infers a schema from them.
import type { Entity, Value } from '../entity.js';

export type ValueType = 'null' | 'boolean' | 'integer' | 'double' | 'timestamp' | 'key' | 'string' | 'blob' | 'geoPoint' | 'entity' | 'array';

export interface PropStats {
  /** Parents (entities or embedded entities) holding the property, null included. */
  present: number;
  /** Parents where the value was neither null nor an empty array. */
  nonNull: number;
  /** Values by type; an array counts once as 'array'. */
  types: Partial<Record<ValueType, number>>;
  /** Array elements by type. */
  elementTypes: Partial<Record<ValueType, number>>;
  /** Per parent: the one type its value(s) had ('mixed' when an array mixed types); nulls and empty arrays not counted. */
  parentTypes: Record<string, number>;
  /** Embedded entity values seen (scalar or as array elements): the denominator for children. */
  entityValues: number;
  children: Map<string, PropStats>;
}

export interface GroupStats {
  namespace?: string;
  kind: string;
  namespaces: Set<string>;
  entities: number;
  bytes: number;
  props: Map<string, PropStats>;
}

export function valueType(v: Value): ValueType {
  if ('stringValue' in v) return 'string';
  if ('integerValue' in v) return 'integer';
  if ('doubleValue' in v) return 'double';
  if ('booleanValue' in v) return 'boolean';
  if ('timestampValue' in v) return 'timestamp';
  if ('nullValue' in v) return 'null';
  if ('entityValue' in v) return 'entity';
  if ('arrayValue' in v) return 'array';
  if ('keyValue' in v) return 'key';
  if ('blobValue' in v) return 'blob';
  return 'geoPoint';
}

function newProp(): PropStats {
  return { present: 0, nonNull: 0, types: {}, elementTypes: {}, parentTypes: {}, entityValues: 0, children: new Map() };
}

function observeProps(props: Record<string, Value> | undefined, into: Map<string, PropStats>, depth: number): void {
  if (!props) return;
  for (const name in props) {
    let s = into.get(name);
    if (!s) into.set(name, (s = newProp()));
    observeValue(props[name]!, s, depth);
  }
}

function observeValue(v: Value, s: PropStats, depth: number): void {
  s.present++;
  const t = valueType(v);
  s.types[t] = (s.types[t] ?? 0) + 1;
  if (t === 'array') {
    const values = (v as { arrayValue: { values?: Value[] } }).arrayValue.values ?? [];
    let one: string | undefined;
    for (const el of values) {
      const et = valueType(el);
      s.elementTypes[et] = (s.elementTypes[et] ?? 0) + 1;
      if (et === 'null') continue;
      one = one === undefined || one === et ? et : 'mixed';
      if (et === 'entity' && depth < 32) {
        s.entityValues++;
        observeProps((el as { entityValue: { properties?: Record<string, Value> } }).entityValue.properties, s.children, depth + 1);
      }
    }
    if (one !== undefined) {
      s.nonNull++;
      s.parentTypes[one] = (s.parentTypes[one] ?? 0) + 1;
    }
    return;
  }
  if (t === 'null') return;
  s.nonNull++;
  s.parentTypes[t] = (s.parentTypes[t] ?? 0) + 1;
  if (t === 'entity' && depth < 32) {
    s.entityValues++;
    observeProps((v as { entityValue: { properties?: Record<string, Value> } }).entityValue.properties, s.children, depth + 1);
  }
}

/** Accumulates GroupStats, grouping entities by a key function. */
export class Profiler {
  readonly groups = new Map<string, GroupStats>();
  constructor(private readonly byNamespace: boolean) {}

  add(e: Entity, bytes: number): void {
    const kind = e.key.path[e.key.path.length - 1]!.kind;
    const ns = e.key.partitionId.namespaceId ?? '';
    const id = this.byNamespace ? `${ns}\u0000${kind}` : kind;
    let g = this.groups.get(id);
    if (!g) {
      g = { kind, namespaces: new Set(), entities: 0, bytes: 0, props: new Map() };
      if (this.byNamespace) g.namespace = ns;
      this.groups.set(id, g);
    }
    g.namespaces.add(ns);
    g.entities++;
    g.bytes += bytes;
    observeProps(e.properties, g.props, 0);
  }

  /** Adds the groups another Profiler (same byNamespace) gathered, e.g. in a worker. */
  merge(groups: Map<string, GroupStats>): void {
    for (const [id, from] of groups) {
      const g = this.groups.get(id);
      if (!g) {
        this.groups.set(id, from);
        continue;
      }
      for (const ns of from.namespaces) g.namespaces.add(ns);
      g.entities += from.entities;
      g.bytes += from.bytes;
      mergeProps(g.props, from.props);
    }
  }

  /** Groups sorted by namespace then kind. */
  sorted(): GroupStats[] {
    return [...this.groups.values()].sort((a, b) => cmp(a.namespace ?? '', b.namespace ?? '') || cmp(a.kind, b.kind));
  }
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const t in from) into[t] = (into[t] ?? 0) + from[t]!;
}

function mergeProps(into: Map<string, PropStats>, from: Map<string, PropStats>): void {
  for (const [name, f] of from) {
    const s = into.get(name);
    if (!s) {
      into.set(name, f);
      continue;
    }
    s.present += f.present;
    s.nonNull += f.nonNull;
    s.entityValues += f.entityValues;
    addCounts(s.types, f.types);
    addCounts(s.elementTypes, f.elementTypes);
    addCounts(s.parentTypes, f.parentTypes);
    mergeProps(s.children, f.children);
  }
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
