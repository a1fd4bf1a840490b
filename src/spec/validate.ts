// Positioned YAML trees (one per file) → a typed Spec, or every problem found. Singleton
// blocks (target, source, scoring, reconcile) may appear in one file only; mappings from
// all files are concatenated in file-name order.

import { hasErrors, type Diagnostic, type SourceRange } from '../model/diagnostic.js';
import { DEFAULT_SCORING, PROFILES_TABLE } from './defaults.js';
import { readMapping, type ReadMapping } from './mapping.js';
import { describe, Reader, type Entry } from './reader.js';
import { readReconcile } from './reconcile.js';
import { checkScoring, mergeScoring, readScoring } from './scoring.js';
import { readServe } from './serve.js';
import { readSource, readTarget } from './target-source.js';
import type { Spec, TargetSpec } from './types.js';
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
