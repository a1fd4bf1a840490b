// `target:` and `source:` — where the rows go (a DuckDB file or a BigQuery dataset) and
// where they come from (a managed export folder or gs:// prefix, or a live Datastore).
// Each block sets exactly one kind; names are checked as the target will check them.

import { basename, isAbsolute, resolve } from 'node:path';
import { DEFAULT_BIGQUERY_LOCATION, MEMO_SCHEMA } from './defaults.js';
import { datasetNameProblem } from './names.js';
import { join, pathLabel, type Reader, type Entry } from './reader.js';
import type { SourceSpec, TargetSpec } from './types.js';
import type { SpecFile } from './validate.js';

const PROJECT_ID = /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const GCS_URL = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](?:\/.*)?$/;
const DUCKDB_RESERVED_SCHEMAS = ['pg_catalog', 'temp', 'system'];

function exactlyOne(r: Reader, e: Entry, path: string, choices: readonly string[]): Entry | undefined {
  const f = r.object(e.value, path, choices);
  if (!f) return undefined;
  const present = choices.filter((c) => f[c]);
  if (present.length === 0) {
    const unknown = e.value.kind === 'map' && e.value.items.length > 0;
    if (!unknown) r.error(`\`${path}\`: set one of ${choices.map((c) => `\`${c}\``).join(' or ')}`, e.value.kind === 'scalar' && e.value.start < 0 ? e.key.pos : e.value.pos);
    return undefined;
  }
  if (present.length > 1) {
    r.error(`\`${path}\`: set exactly one of ${choices.map((c) => `\`${c}\``).join(' or ')}, not both`, f[present[1]!]!.key.pos);
    return undefined;
  }
  return f[present[0]!];
}

export function readTarget(r: Reader, e: Entry, file: SpecFile): TargetSpec | undefined {
  const which = exactlyOne(r, e, 'target', ['duckdb', 'bigquery']);
  if (!which) return undefined;
  const kind = which.key.value as 'duckdb' | 'bigquery';
  const path = `target.${kind}`;
  if (kind === 'duckdb') {
    const f = r.object(which.value, path, ['path', 'dataset'], ['path', 'dataset']);
    if (!f) return undefined;
    const p = r.string(f.path, join(path, 'path'), { nonEmpty: true });
    const dataset = readDataset(r, f.dataset, join(path, 'dataset'));
    if (p === undefined || dataset === undefined) return undefined;
    if (!checkReservedDataset(r, 'duckdb', dataset, f.dataset!, p)) return undefined;
    return { kind: 'duckdb', path: isAbsolute(p) ? p : resolve(file.dir, p), dataset, source: e.key.pos };
  }
  const f = r.object(which.value, path, ['project', 'dataset', 'location'], ['project', 'dataset']);
  if (!f) return undefined;
  const project = readProject(r, f.project, join(path, 'project'));
  const dataset = readDataset(r, f.dataset, join(path, 'dataset'));
  const location = f.location ? r.string(f.location, join(path, 'location'), { nonEmpty: true }) : DEFAULT_BIGQUERY_LOCATION;
  if (project === undefined || dataset === undefined || location === undefined) return undefined;
  if (!checkReservedDataset(r, 'bigquery', dataset, f.dataset!)) return undefined;
  return { kind: 'bigquery', project, dataset, location, source: e.key.pos };
}

function readDataset(r: Reader, e: Entry | undefined, path: string): string | undefined {
  const name = r.string(e, path);
  if (name === undefined || !e) return undefined;
  const problem = datasetNameProblem(name);
  if (problem) {
    r.error(`${pathLabel(path)}: dataset name \`${name}\` ${problem}`, e.value.pos);
    return undefined;
  }
  return name;
}

/**
 * Dataset names the target keeps for itself, which pass the name rules and fail only in
 * apply: DuckDB's system schemas and catalogs (`information_schema`, `pg_catalog`, `temp`,
 * `system`, and the catalog DuckDB names after the file: `warehouse` for
 * ./warehouse.duckdb) and BigQuery's `INFORMATION_SCHEMA`. Case-insensitive, as both are.
 */
function checkReservedDataset(r: Reader, target: 'duckdb' | 'bigquery', name: string, e: Entry, duckdbPath?: string): boolean {
  const lower = name.toLowerCase();
  const path = `target.${target}.dataset`;
  if (lower === 'information_schema') {
    r.error(`${pathLabel(path)}: dataset name \`${name}\` is reserved: ${target === 'duckdb' ? 'DuckDB' : 'BigQuery'} keeps its metadata views under INFORMATION_SCHEMA`, e.value.pos);
    return false;
  }
  if (target !== 'duckdb') return true;
  if (lower === MEMO_SCHEMA) {
    r.error(`${pathLabel(path)}: dataset name \`${name}\` is reserved: mlbridge keeps its source memo in a schema of that name; choose another`, e.value.pos);
    return false;
  }
  if (DUCKDB_RESERVED_SCHEMAS.includes(lower)) {
    r.error(`${pathLabel(path)}: dataset name \`${name}\` is reserved: DuckDB has a built-in ${lower === 'pg_catalog' ? 'schema' : 'catalog'} of that name; choose another`, e.value.pos);
    return false;
  }
  const catalog = duckdbPath !== undefined ? basename(duckdbPath).split('.')[0]!.toLowerCase() : '';
  if (catalog && lower === catalog) {
    r.error(
      `${pathLabel(path)}: dataset name \`${name}\` is also the name DuckDB gives the database file \`${basename(duckdbPath!)}\`, so every reference to it would be ambiguous; rename the file or choose another dataset`,
      e.value.pos,
    );
    return false;
  }
  return true;
}

export function readProject(r: Reader, e: Entry | undefined, path: string): string | undefined {
  const id = r.string(e, path, { nonEmpty: true });
  if (id === undefined || !e) return undefined;
  if (!PROJECT_ID.test(id)) {
    r.error(
      `${pathLabel(path)}: \`${id}\` is not a Google Cloud project ID (6 to 30 lowercase letters, digits or hyphens, starting with a letter)`,
      e.value.pos,
    );
    return undefined;
  }
  return id;
}

/**
 * The Datastore source's project. The emulator takes any project id (tests and local
 * setups use ids like `p`), so one that is not a Google Cloud project ID is a warning
 * here, not an error: `init --from-datastore p` writes a spec its own validate accepts.
 */
function readDatastoreProject(r: Reader, e: Entry | undefined, path: string): string | undefined {
  const id = r.string(e, path, { nonEmpty: true });
  if (id === undefined || !e) return undefined;
  if (!PROJECT_ID.test(id)) {
    if (/[\s/]/.test(id)) {
      r.error(`${pathLabel(path)}: \`${id}\` is not a project id (no spaces or slashes)`, e.value.pos);
      return undefined;
    }
    r.warning(
      `${pathLabel(path)}: \`${id}\` is not a Google Cloud project ID (6 to 30 lowercase letters, digits or hyphens, starting with a letter); only the Datastore emulator accepts it`,
      e.value.pos,
    );
  }
  return id;
}

export function readSource(r: Reader, e: Entry, file: SpecFile): SourceSpec | undefined {
  const which = exactlyOne(r, e, 'source', ['export', 'datastore']);
  if (!which) return undefined;
  const kind = which.key.value as 'export' | 'datastore';
  const path = `source.${kind}`;
  if (kind === 'export') {
    const f = r.object(which.value, path, ['path'], ['path']);
    const p = r.string(f?.path, join(path, 'path'), { nonEmpty: true });
    if (p === undefined) return undefined;
    if (p.startsWith('gs://')) {
      if (!GCS_URL.test(p)) {
        r.error(`\`${path}.path\`: \`${p}\` is not a gs://bucket/prefix URL`, f!.path!.value.pos);
        return undefined;
      }
      return { kind: 'export', path: p.replace(/\/+$/, ''), source: e.key.pos };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
      r.error(`\`${path}.path\`: only local folders and gs:// URLs are supported, got \`${p}\``, f!.path!.value.pos);
      return undefined;
    }
    return { kind: 'export', path: isAbsolute(p) ? p : resolve(file.dir, p), source: e.key.pos };
  }
  const f = r.object(which.value, path, ['project', 'namespace', 'database'], ['project']);
  if (!f) return undefined;
  const project = readDatastoreProject(r, f.project, join(path, 'project'));
  const namespace = r.string(f.namespace, join(path, 'namespace'));
  const databaseId = r.string(f.database, join(path, 'database'));
  if (project === undefined) return undefined;
  const out: SourceSpec = { kind: 'datastore', project, source: e.key.pos };
  if (namespace !== undefined) out.namespace = namespace;
  if (databaseId !== undefined) out.databaseId = databaseId;
  return out;
}
