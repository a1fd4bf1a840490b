// Positioned YAML trees (one per file) → a typed Spec, or every problem found. Singleton
// blocks (target, source, scoring, reconcile) may appear in one file only; mappings from
// all files are concatenated in file-name order.

import { basename, isAbsolute, resolve } from 'node:path';
import { hasErrors, type Diagnostic, type SourceRange } from '../model/diagnostic.js';
import {
  DEFAULT_ATTEMPT_DEADLINE_SECONDS, DEFAULT_BIGQUERY_LOCATION, DEFAULT_JOB_NAME, DEFAULT_RETRY,
  DEFAULT_SCORING, DEFAULT_TIME_ZONE, MEMO_SCHEMA, PROFILES_TABLE,
} from './defaults.js';
import { readMapping, type ReadMapping } from './mapping.js';
import { datasetNameProblem, suggest } from './names.js';
import { describe, join, pathLabel, Reader, type Entry } from './reader.js';
import { checkScoring, mergeScoring, readScoring } from './scoring.js';
import { readServe } from './serve.js';
import { cloudSchedulerCronProblem } from './cron.js';
import type { ReconcileSpec, SourceSpec, Spec, TargetSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

export interface SpecFile {
  /** Path as shown in diagnostics. */
  display: string;
  /** Absolute path. */
  abs: string;
  /** Absolute folder that relative paths in this file resolve against. */
  dir: string;
  root?: YNode;
  /** The file did not parse; it is reported already and may have held any key. */
  broken?: boolean;
}

const TOP_KEYS = ['version', 'target', 'source', 'scoring', 'reconcile', 'serve', 'mappings'] as const;
const SINGLETONS = ['target', 'source', 'scoring', 'reconcile', 'serve'] as const;
const PROJECT_ID = /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const GCS_URL = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](?:\/.*)?$/;
const JOB_NAME = /^[A-Za-z0-9_-]{1,500}$/;
const REGION = /^[a-z]+(?:-[a-z]+)+\d+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DUCKDB_RESERVED_SCHEMAS = ['pg_catalog', 'temp', 'system'];

function where(pos: SourceRange): string {
  return `${pos.file}:${pos.line}:${pos.col}`;
}

export function validateSpec(files: SpecFile[]): { spec?: Spec; diagnostics: Diagnostic[] } {
  const r = new Reader();
  const singles: Partial<Record<(typeof SINGLETONS)[number], { entry: Entry; file: SpecFile }>> = {};
  const mappingNodes: Array<{ node: YNode; path: string; file: SpecFile }> = [];

  for (const file of files) {
    const root = file.root;
    if (!root) continue;
    if (root.kind !== 'map') {
      r.error(`expected a mapping at the top of the file, got ${describe(root)}`, root.pos);
      file.broken = true;
      continue;
    }
    const top = r.object(root, '', TOP_KEYS);
    if (!top) continue;
    const version = r.number(top.version, 'version');
    if (version !== undefined && version !== 1) {
      r.error(`\`version\`: unsupported spec version ${version}; this mlbridge reads version 1`, top.version!.value.pos);
    }
    for (const k of SINGLETONS) {
      const e = top[k];
      if (!e) continue;
      const first = singles[k];
      if (first) {
        r.error(`\`${k}\` is already set at ${where(first.entry.key.pos)}; set it in one file only`, e.key.pos);
        continue;
      }
      singles[k] = { entry: e, file };
    }
    const list = r.list(top.mappings, 'mappings');
    list?.forEach((node, i) => mappingNodes.push({ node, path: `mappings[${i}]`, file }));
  }

  // Spec-wide scoring first: mappings overlay it.
  const scoringOverrides = singles.scoring ? readScoring(r, singles.scoring.entry.value, 'scoring', false) : undefined;
  const scoring = mergeScoring(DEFAULT_SCORING, scoringOverrides);
  if (!scoringOverrides) delete scoring.source;
  checkScoring(r, scoring, scoringOverrides, 'scoring');

  let target: TargetSpec | undefined;
  if (singles.target) target = readTarget(r, singles.target.entry, singles.target.file);
  else if (files.length > 0 && !files.some((f) => f.broken)) {
    const first = files.find((f) => f.root) ?? files[0]!;
    r.error('the spec is missing required key `target`', first.root?.pos ?? { file: first.display, line: 1, col: 1 });
  }
  const source = singles.source ? readSource(r, singles.source.entry, singles.source.file) : undefined;
  const reconcile = singles.reconcile ? readReconcile(r, singles.reconcile.entry) : undefined;
  const serve = singles.serve ? readServe(r, singles.serve.entry) : undefined;

  const mappings: ReadMapping[] = [];
  for (const m of mappingNodes) {
    const read = readMapping(r, m.node, m.path, scoring);
    if (read) mappings.push(read);
  }
  checkMappingsTogether(r, mappings);

  const diagnostics = r.diagnostics;
  if (hasErrors(diagnostics) || !target) return { diagnostics };
  const spec: Spec = {
    version: 1,
    target,
    mappings: mappings.map((m) => m.spec),
    scoring,
    files: files.map((f) => f.abs),
  };
  if (source) spec.source = source;
  if (reconcile) spec.reconcile = reconcile;
  if (serve) spec.serve = serve;
  return { spec, diagnostics };
}

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

function readTarget(r: Reader, e: Entry, file: SpecFile): TargetSpec | undefined {
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

function readProject(r: Reader, e: Entry | undefined, path: string): string | undefined {
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

function readSource(r: Reader, e: Entry, file: SpecFile): SourceSpec | undefined {
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

const RECONCILE_KEYS = [
  'schedule', 'time_zone', 'url', 'service_account', 'audience', 'job_name', 'project', 'region', 'paused',
  'description', 'attempt_deadline', 'retry',
] as const;

function readReconcile(r: Reader, e: Entry): ReconcileSpec | undefined {
  const path = 'reconcile';
  const f = r.object(e.value, path, RECONCILE_KEYS, ['schedule', 'url']);
  if (!f) return undefined;
  let ok = true;
  const schedule = readSchedule(r, f.schedule);
  if (schedule === undefined) ok = false;

  let timeZone = DEFAULT_TIME_ZONE;
  if (f.time_zone) {
    const tz = r.string(f.time_zone, 'reconcile.time_zone', { nonEmpty: true });
    if (tz === undefined) ok = false;
    else if (!isTimeZone(tz)) {
      const hint = suggest(tz, timeZones());
      r.error(`\`reconcile.time_zone\`: unknown time zone \`${tz}\`${hint ? `; did you mean \`${hint}\`?` : ' (use an IANA name such as Europe/Paris)'}`, f.time_zone.value.pos);
      ok = false;
    } else timeZone = tz;
  }

  const url = readUrl(r, f.url, 'reconcile.url');
  const audience = f.audience ? r.string(f.audience, 'reconcile.audience', { nonEmpty: true }) : undefined;
  let serviceAccount: string | undefined;
  if (f.service_account) {
    serviceAccount = r.string(f.service_account, 'reconcile.service_account', { nonEmpty: true });
    if (serviceAccount !== undefined && !EMAIL.test(serviceAccount)) {
      r.error(`\`reconcile.service_account\`: \`${serviceAccount}\` is not a service account email`, f.service_account.value.pos);
      ok = false;
    }
  }
  let jobName = DEFAULT_JOB_NAME;
  if (f.job_name) {
    const j = r.string(f.job_name, 'reconcile.job_name', { nonEmpty: true });
    if (j !== undefined && !JOB_NAME.test(j)) {
      r.error(`\`reconcile.job_name\`: \`${j}\` may hold only letters, digits, \`_\` and \`-\` (at most 500)`, f.job_name.value.pos);
      ok = false;
    } else if (j === undefined) ok = false;
    else jobName = j;
  }
  const project = f.project ? readProject(r, f.project, 'reconcile.project') : undefined;
  if (f.project && project === undefined) ok = false;
  let region: string | undefined;
  if (f.region) {
    region = r.string(f.region, 'reconcile.region', { nonEmpty: true });
    if (region !== undefined && !REGION.test(region)) {
      r.error(`\`reconcile.region\`: \`${region}\` is not a Google Cloud region such as us-central1`, f.region.value.pos);
      ok = false;
    }
  }
  const paused = f.paused ? r.boolean(f.paused, 'reconcile.paused') : false;
  const description = r.string(f.description, 'reconcile.description');
  const attemptDeadlineSeconds = f.attempt_deadline
    ? r.duration(f.attempt_deadline, 'reconcile.attempt_deadline', { min: 15, max: 1800 })
    : DEFAULT_ATTEMPT_DEADLINE_SECONDS;

  const retry = { ...DEFAULT_RETRY };
  if (f.retry) {
    const rt = r.object(f.retry.value, 'reconcile.retry', ['count', 'min_backoff', 'max_backoff']);
    if (rt) {
      const count = r.number(rt.count, 'reconcile.retry.count', { integer: true, min: 0, max: 5 });
      const min = r.duration(rt.min_backoff, 'reconcile.retry.min_backoff');
      const max = r.duration(rt.max_backoff, 'reconcile.retry.max_backoff');
      if (count !== undefined) retry.count = count;
      if (min !== undefined) retry.minBackoffSeconds = min;
      if (max !== undefined) retry.maxBackoffSeconds = max;
      if (retry.minBackoffSeconds > retry.maxBackoffSeconds) {
        r.error('`reconcile.retry`: `min_backoff` must not be longer than `max_backoff`', (rt.min_backoff ?? rt.max_backoff ?? f.retry).value.pos);
        ok = false;
      }
    } else ok = false;
  }

  if (!ok || schedule === undefined || url === undefined || paused === undefined || attemptDeadlineSeconds === undefined) return undefined;
  const out: ReconcileSpec = { schedule, timeZone, url, jobName, paused, attemptDeadlineSeconds, retry, source: e.key.pos };
  if (serviceAccount !== undefined) out.serviceAccount = serviceAccount;
  if (audience !== undefined) out.audience = audience;
  if (region !== undefined) out.region = region;
  if (project !== undefined) out.project = project;
  if (description !== undefined) out.description = description;
  return out;
}

/**
 * `reconcile.schedule` in Cloud Scheduler's cron dialect (cron.ts), trimmed. A problem is
 * reported at the offending field inside the scalar when the text shows it verbatim.
 */
function readSchedule(r: Reader, e: Entry | undefined): string | undefined {
  const schedule = r.string(e, 'reconcile.schedule', { nonEmpty: true });
  if (schedule === undefined || !e) return undefined;
  const problem = cloudSchedulerCronProblem(schedule);
  if (!problem) return schedule.trim();
  const node = e.value;
  let pos = node.pos;
  if (node.kind === 'scalar' && problem.offset > 0 && !schedule.includes('\n')) {
    // The scalar's raw text (inside any quotes) equals its value: no escapes to count.
    const verbatim = node.end - node.start === schedule.length;
    if (verbatim) pos = { ...pos, col: pos.col + (node.plain ? 0 : 1) + problem.offset };
  }
  r.error(`\`reconcile.schedule\`: \`${schedule}\` is not a valid Cloud Scheduler schedule: ${problem.message}`, pos);
  return undefined;
}

function readUrl(r: Reader, e: Entry | undefined, path: string): string | undefined {
  const s = r.string(e, path, { nonEmpty: true });
  if (s === undefined || !e) return undefined;
  let u: URL | undefined;
  try { u = new URL(s); } catch { u = undefined; }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
    r.error(`\`${path}\`: \`${s}\` is not an http(s) URL`, e.value.pos);
    return undefined;
  }
  return s;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
}

/** Each kind once; each table name (current, raw, quarantine) used once across the spec. */
function checkMappingsTogether(r: Reader, mappings: ReadMapping[]): void {
  const kinds = new Map<string, ReadMapping>();
  for (const m of mappings) {
    const first = kinds.get(m.spec.kind);
    if (first) {
      r.error(`kind \`${m.spec.kind}\` is mapped twice (first at ${where(first.kindPos)}); each kind maps to one set of tables`, m.kindPos);
    } else kinds.set(m.spec.kind, m);
  }
  const roles = ['current', 'raw', 'quarantine'] as const;
  const tables = new Map<string, { m: ReadMapping; role: (typeof roles)[number] }>();
  for (const m of mappings) {
    if (kinds.get(m.spec.kind) !== m) continue; // already reported as a duplicate kind
    let currentClashed = false;
    for (const role of roles) {
      if (role !== 'current' && currentClashed && m.derived[role]) continue;
      const name = m.spec.tables[role];
      const pos = m.tablePos[role];
      const lower = name.toLowerCase();
      if (lower === PROFILES_TABLE) {
        r.error(`table name \`${name}\` is reserved: mlbridge keeps scoring profiles in it`, pos);
        continue;
      }
      const first = tables.get(lower);
      if (!first) {
        tables.set(lower, { m, role });
        continue;
      }
      if (role === 'current') currentClashed = true;
      if (first.m === m) {
        r.error(`kind \`${m.spec.kind}\` uses table \`${name}\` as both its ${first.role} and its ${role} table`, pos);
      } else {
        r.error(
          `two mappings write table \`${name}\`: kind \`${first.m.spec.kind}\` (${first.role} table, at ${where(first.m.tablePos[first.role])}) ` +
            `and kind \`${m.spec.kind}\` (${role} table); give one of them another \`table\``,
          pos,
        );
      }
    }
  }
}
