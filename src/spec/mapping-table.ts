// A mapping's BigQuery table options: `labels`, `partitioning` and `clustering`, each
// checked against BigQuery's limits and against the mapping's top-level columns.
// Separate from mapping.ts because these only shape the table, not what is read from
// the entity.

import type { SourceRange } from '../model/diagnostic.js';
import type { ColumnType } from '../model/schema.js';
import { SYSTEM_COLUMNS, OWNER_LABEL_RESERVED } from './reserved.js';
import { suggest } from './names.js';
import { join, pathLabel, type Entry, type Reader } from './reader.js';
import type { FieldSpec, PartitioningSpec } from './types.js';

const PARTITION_TYPES = ['HOUR', 'DAY', 'MONTH', 'YEAR'] as const;
const PARTITION_COLUMN_TYPES: readonly ColumnType[] = ['TIMESTAMP', 'DATE', 'DATETIME'];
// BigQuery: clustering columns are top-level, non-repeated, and of these types.
const CLUSTER_COLUMN_TYPES: readonly ColumnType[] = [
  'BIGNUMERIC', 'BOOL', 'DATE', 'DATETIME', 'GEOGRAPHY', 'INT64', 'NUMERIC', 'STRING', 'TIMESTAMP',
];
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
// BigQuery allows 64 labels; mlbridge adds managed-by and mlbridge-deletion-protection, and
// mlbridge-replace while a replacement is being copied.
const MAX_USER_LABELS = 61;

export function readLabels(r: Reader, e: Entry | undefined, path: string): Record<string, string> {
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

export function readPartitioning(r: Reader, e: Entry, path: string, fields: FieldSpec[], declared: Set<string>): PartitioningSpec | undefined {
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

export function readClustering(r: Reader, e: Entry, path: string, fields: FieldSpec[], declared: Set<string>): string[] | undefined {
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
