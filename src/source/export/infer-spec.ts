// Infers a spec (YAML text, version 1) from shape statistics: one mapping per kind with
// the namespaces it was seen in, each property's BigQuery type and mode, with a comment
// wherever the types varied. Fields are NULLABLE unless asked otherwise: a property every
// sampled entity holds is not one every later entity will hold, and a record without a
// value for a REQUIRED column is quarantined instead of loaded.
import { columnNameProblem, snakeCase, tableNameProblem } from '../../spec/names.js';
import type { GroupStats, PropStats, ValueType } from './profile.js';
import { cmp } from './profile.js';

const BQ_TYPE: Record<Exclude<ValueType, 'null' | 'array'>, string> = {
  boolean: 'BOOL',
  integer: 'INT64',
  double: 'FLOAT64',
  timestamp: 'TIMESTAMP',
  key: 'STRING',
  string: 'STRING',
  blob: 'BYTES',
  geoPoint: 'GEOGRAPHY',
  entity: 'RECORD',
};

interface InferredField {
  name: string;
  from?: string;
  type: string;
  mode: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  comments: string[];
  fields?: InferredField[];
}

const PLAIN = /^[A-Za-z_./][A-Za-z0-9_./-]*$/;
const YAML_WORDS = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

/** A YAML scalar: plain when unambiguous, else double-quoted (JSON escapes are valid YAML). */
export function yamlString(s: string): string {
  return PLAIN.test(s) && !YAML_WORDS.test(s) ? s : JSON.stringify(s);
}

function sanitize(name: string, topLevel: boolean, taken: Set<string>): string {
  let n = name;
  if (columnNameProblem(n, topLevel) !== undefined) {
    n = [...n].map((ch) => (/[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}&%=+:'<>#|]/u.test(ch) ? ch : '_')).join('');
    if (n.length > 280) n = n.slice(0, 280);
    if (!n || columnNameProblem(n, topLevel) !== undefined) n = `p_${n}`;
  }
  let out = n;
  for (let i = 2; taken.has(out.toLowerCase()); i++) out = `${n}_${i}`;
  taken.add(out.toLowerCase());
  return out;
}

const typeLabel = (t: string) => (t === 'mixed' ? 'mixed-type arrays' : (BQ_TYPE[t as keyof typeof BQ_TYPE] ?? t));

function inferFields(props: Map<string, PropStats>, parents: number, topLevel: boolean, depth: number, inferRequired: boolean): InferredField[] {
  const taken = new Set<string>();
  const out: InferredField[] = [];
  for (const prop of [...props.keys()].sort(cmp)) {
    const s = props.get(prop)!;
    const name = sanitize(prop, topLevel, taken);
    const f: InferredField = { name, type: 'STRING', mode: 'NULLABLE', comments: [] };
    if (name !== prop) f.from = prop;
    const repeated = (s.types.array ?? 0) > 0;
    if (repeated && (s.types.array ?? 0) < s.present - (s.types.null ?? 0)) {
      f.comments.push(`${prop}: ${s.present - (s.types.null ?? 0) - (s.types.array ?? 0)} entities held a single value instead of an array (read as one element)`);
    }
    const kinds = Object.entries(s.parentTypes).sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]));
    const total = kinds.reduce((n, [, c]) => n + c, 0);
    if (kinds.length === 0) {
      f.type = 'STRING';
      f.comments.push(`${prop}: only null values or empty arrays seen; STRING chosen`);
    } else if (kinds.length === 1 && kinds[0]![0] !== 'mixed') {
      f.type = BQ_TYPE[kinds[0]![0] as keyof typeof BQ_TYPE];
    } else if (kinds.every(([t]) => t === 'integer' || t === 'double')) {
      f.type = 'FLOAT64';
      const ints = s.parentTypes.integer ?? 0;
      f.comments.push(`${prop}: types vary (INT64 in ${ints}, FLOAT64 in ${s.parentTypes.double ?? 0}); widened to FLOAT64; ${ints} of ${total} entities disagreed`);
    } else {
      f.type = 'JSON';
      const detail = kinds.map(([t, c]) => `${typeLabel(t)} in ${c}`).join(', ');
      const els = Object.entries(s.elementTypes).filter(([t]) => t !== 'null');
      const elDetail = s.parentTypes.mixed ? `; array elements: ${els.map(([t, c]) => `${typeLabel(t)} ${c}`).join(', ')}` : '';
      const top = kinds.find(([t]) => t !== 'mixed')?.[1] ?? 0;
      f.comments.push(`${prop}: types vary (${detail}${elDetail}); JSON chosen; ${total - top} of ${total} entities disagreed with the most common single type`);
    }
    if (f.type === 'RECORD') {
      const sub = depth < 14 ? inferFields(s.children, s.entityValues, false, depth + 1, inferRequired) : [];
      if (sub.length) f.fields = sub;
      else {
        f.type = 'JSON';
        f.comments.push(
          depth < 14 ? `${prop}: embedded entities without properties; JSON chosen (a RECORD needs fields)` : `${prop}: nested too deeply for a RECORD; JSON chosen`,
        );
      }
    }
    if (repeated) f.mode = 'REPEATED';
    else if (inferRequired && s.nonNull === parents && parents > 0) f.mode = 'REQUIRED';
    out.push(f);
  }
  return out;
}

function fieldYaml(f: InferredField, indent: string, lines: string[]): void {
  for (const c of f.comments) lines.push(`${indent}# ${c.replace(/\n/g, ' ')}`);
  lines.push(`${indent}- name: ${yamlString(f.name)}`);
  const ind = `${indent}  `;
  if (f.from !== undefined) lines.push(`${ind}from: [${JSON.stringify(f.from)}]`);
  lines.push(`${ind}type: ${f.type}`);
  lines.push(`${ind}mode: ${f.mode}`);
  if (f.fields) {
    lines.push(`${ind}fields:`);
    for (const sub of f.fields) fieldYaml(sub, `${ind}  `, lines);
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export interface InferSpecOptions {
  target: 'duckdb' | 'bigquery';
  /** What to write under source.export.path (unless `datastore` is given). */
  sourcePath?: string;
  /** A live source instead: written as source.datastore. */
  datastore?: { project: string; namespace?: string; database?: string };
  /** Byte counts are known (exports) and worth printing per kind; default true. */
  bytes?: boolean;
  /** Extra header comment lines (e.g. that the entities were a sample). */
  notes?: string[];
  /** The Google Cloud project the entities came from (default of the BigQuery project). */
  project?: string;
  /** Where the spec came from, for the header comment. */
  origin: string;
  /** Make REQUIRED the properties every sampled entity held (default: every field NULLABLE). */
  inferRequired?: boolean;
}

/** A kind without properties still gets a column of its own: its key path. */
const KEY_PATH_FIELD = '{ name: key_path, type: STRING, from: __key__.path }';

/** YAML text of a spec inferred from per-kind statistics. */
export function inferSpecYaml(groups: GroupStats[], options: InferSpecOptions): string {
  const lines: string[] = [];
  const total = groups.reduce((n, g) => n + g.entities, 0);
  lines.push(`# Generated by \`mlbridge init\` from ${options.origin.replace(/\n/g, ' ')} (${plural(total, 'entity', 'entities')}, ${plural(groups.length, 'kind', 'kinds')}).`);
  for (const n of options.notes ?? []) lines.push(`# ${n.replace(/\n/g, ' ')}`);
  lines.push('# Review the types and modes below before the first apply.');
  if (!options.inferRequired) {
    lines.push('# Every field is NULLABLE: an entity written later may lack a property all of these had (init --infer-required');
    lines.push('# makes those REQUIRED; a record without a value for a REQUIRED column is quarantined, not loaded).');
  }
  lines.push('version: 1');
  lines.push('target:');
  if (options.target === 'bigquery') {
    // GOOGLE_CLOUD_PROJECT wins; else the project the export came from, so the spec
    // validates as written (a project id holds no quote, brace or backslash).
    const fallback = options.project && /^[A-Za-z0-9][A-Za-z0-9.:_-]*$/.test(options.project) ? `:-${options.project}` : '';
    lines.push(`  bigquery: { project: "\${GOOGLE_CLOUD_PROJECT${fallback}}", dataset: analytics, location: US }`);
  }
  else lines.push('  duckdb: { path: ./.data/warehouse.duckdb, dataset: analytics }');
  lines.push('source:');
  if (options.datastore) {
    const ns = options.datastore.namespace !== undefined ? `, namespace: ${JSON.stringify(options.datastore.namespace)}` : '';
    const db = options.datastore.database !== undefined ? `, database: ${yamlString(options.datastore.database)}` : '';
    lines.push(`  datastore: { project: ${yamlString(options.datastore.project)}${ns}${db} }`);
  } else lines.push(`  export: { path: ${yamlString(options.sourcePath ?? '.')} }`);
  if (!groups.length) {
    lines.push('mappings: []');
    return `${lines.join('\n')}\n`;
  }
  lines.push('mappings:');
  const tables = new Set<string>();
  for (const g of [...groups].sort((a, b) => cmp(a.kind, b.kind))) {
    lines.push(`  - kind: ${yamlString(g.kind)}`);
    const nss = [...g.namespaces].sort(cmp);
    lines.push(`    # ${plural(g.entities, 'entity', 'entities')}${options.bytes === false ? '' : `, ${g.bytes} bytes`}`);
    // The namespaces it was seen in ("" is the default one); remove the line to read every namespace.
    if (nss.length) lines.push(`    namespaces: [${nss.map((n) => JSON.stringify(n)).join(', ')}]`);
    let table = snakeCase(g.kind);
    const explicit = !table || tableNameProblem(table) !== undefined || tables.has(table.toLowerCase());
    if (explicit) {
      const base = table && tableNameProblem(table) === undefined ? table : 'kind';
      table = base;
      for (let i = 2; tables.has(table.toLowerCase()); i++) table = `${base}_${i}`;
      lines.push(`    table: ${yamlString(table)}`);
    }
    tables.add(table.toLowerCase());
    const fields = inferFields(g.props, g.entities, true, 0, Boolean(options.inferRequired));
    if (!fields.length) {
      lines.push('    # no properties seen: the key path is mapped so the table has a column; add fields by hand');
      lines.push(`    fields: [${KEY_PATH_FIELD}]`);
      continue;
    }
    lines.push('    fields:');
    for (const f of fields) fieldYaml(f, '      ', lines);
  }
  return `${lines.join('\n')}\n`;
}
