// Saved plans (`plan --out FILE`): the Plan as JSON. Reading validates the shape enough
// that apply can trust it; anything else is PLAN_INVALID naming the file.
//
// Sensitive values (the spec's `${secret:…}`) are never written in clear: each becomes a
// marker `(sensitive:<12 hex>)` derived from the value by scrypt, the same in every run, so
// a saved plan can be compared with a fresh plan redacted the same way, and apply (which has
// the values from its own environment) can put them back. scrypt rather than a plain hash:
// guessing a short secret from its marker costs a memory-hard derivation per guess.
//
// The file also carries `checksum`: sha256 of the plan's JSON. A plan file damaged or edited
// after it was saved is PLAN_INVALID before apply looks at any of it (integrity, not
// authenticity: whoever can write the file can recompute it).

import { createHash, scryptSync } from 'node:crypto';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import { Redactor } from '../model/sensitive.js';
import type { Plan } from './plan.js';
import { changeShapeProblem, planPartsProblem } from './plan-shape.js';

const ACTIONS = new Set(['create', 'update', 'replace', 'delete', 'no-op']);
const TYPES = new Set(['dataset', 'table', 'scheduler_job', 'rows']);

export interface PlanFileOptions {
  /** The spec's sensitive values (spec.sensitive): written as markers, read back as values. */
  sensitive?: readonly string[] | undefined;
}

export async function writePlanFile(path: string, plan: Plan, options: PlanFileOptions = {}): Promise<void> {
  const saved = options.sensitive?.length ? redactPlan(plan, options.sensitive) : plan;
  // Through JSON first: the checksum covers exactly what JSON.parse will give back.
  const body = JSON.parse(JSON.stringify(saved)) as Record<string, unknown>;
  // Write then rename so a crash never leaves half a plan behind.
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...body, checksum: planChecksum(body) }, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export function planChecksum(body: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
}

const markers = new Map<string, string>();

/** `(sensitive:` + 12 hex digits derived from the value + `)`; deterministic across runs. */
export function sensitiveMarker(value: string): string {
  let m = markers.get(value);
  if (m === undefined) {
    m = `(sensitive:${scryptSync(value, 'mlbridge-plan-file-v1', 6, { N: 1 << 14, r: 8, p: 1 }).toString('hex')})`;
    markers.set(value, m);
  }
  return m;
}

const MARKER = /\(sensitive:[0-9a-f]{12}\)/g;

/**
 * A copy of the plan with every occurrence of a sensitive value, in any string or object key,
 * replaced by its marker. Idempotent, so a saved plan and a fresh one redacted alike compare equal.
 */
export function redactPlan<T>(plan: T, values: readonly string[]): T {
  // Only the value as is: the plan is data here, JSON-escaping comes after.
  const redactor = new Redactor(values, (v) => [v]);
  if (!redactor.active) return plan;
  return mapStrings(plan, (s) => redactor.redact(s, sensitiveMarker));
}

/** The plan with each marker of a value in `values` put back; throws PLAN_STALE for a marker of no value in `values`. */
export function restorePlan(plan: Plan, values: readonly string[], path: string): Plan {
  const byMarker = new Map(values.filter((v) => v !== '').map((v) => [sensitiveMarker(v), v]));
  let unknown = false;
  const restored = mapStrings(plan, (s) =>
    s.replace(MARKER, (m) => {
      const v = byMarker.get(m);
      if (v === undefined) unknown = true;
      return v ?? m;
    }),
  );
  if (unknown) {
    throw new MlbridgeError(
      'PLAN_STALE',
      `Saved plan is stale: ${path} holds a sensitive value that none of this run's \`\${secret:…}\` values match (it changed since the plan was made)`,
      { resource: path },
    );
  }
  return restored;
}

function mapStrings<T>(v: T, f: (s: string) => string): T {
  if (typeof v === 'string') return f(v) as T;
  if (Array.isArray(v)) return v.map((x: unknown) => mapStrings(x, f)) as T;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    // defineProperty: a key "__proto__" (JSON.parse makes it an own key) stays a plain key.
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, f(k), { value: mapStrings(x, f), enumerable: true, writable: true, configurable: true });
    return out as T;
  }
  return v;
}

export async function readPlanFile(path: string, options: PlanFileOptions = {}): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MlbridgeError('PLAN_INVALID', `Cannot read plan file ${path}: ${errorMessage(e)}`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MlbridgeError('PLAN_INVALID', `${path} is not a plan file: ${errorMessage(e)}`, { cause: e });
  }
  const problem = planProblem(value);
  if (problem) throw new MlbridgeError('PLAN_INVALID', `${path} is not a valid mlbridge plan: ${problem}`);
  const { checksum, ...body } = value as Record<string, unknown>;
  if (checksum !== planChecksum(body)) {
    throw new MlbridgeError(
      'PLAN_INVALID',
      checksum === undefined
        ? `${path} has no checksum: save the plan again with \`mlbridge plan --out FILE\``
        : `${path} was changed after it was saved (its checksum does not match): save the plan again with \`mlbridge plan --out FILE\``,
      { resource: path },
    );
  }
  const plan = body as unknown as Plan;
  return options.sensitive ? restorePlan(plan, options.sensitive, path) : plan;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first thing wrong with a would-be plan, or undefined. */
export function planProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'expected a JSON object';
  if (v.formatVersion === undefined) {
    // The likeliest mix-up: `plan --json > FILE` (the report) instead of `plan --out FILE` (the plan).
    return 'format_version' in v
      ? 'this is `mlbridge plan --json` output; save a plan for apply with `mlbridge plan --out FILE`'
      : 'it has no formatVersion; save a plan for apply with `mlbridge plan --out FILE`';
  }
  if (v.formatVersion !== '1') return `unsupported formatVersion ${JSON.stringify(v.formatVersion)} (expected "1")`;
  if (!isObject(v.target) || typeof v.target.kind !== 'string' || typeof v.target.location !== 'string')
    return 'missing target';
  if (!isObject(v.spec) || !Array.isArray(v.spec.files) || typeof v.spec.hash !== 'string') return 'missing spec hash';
  if (!Array.isArray(v.changes)) return 'missing changes';
  for (const [i, c] of v.changes.entries()) {
    if (!isObject(c)) return `changes[${i}] is not an object`;
    if (!TYPES.has(String(c.type))) return `changes[${i}] has unknown type ${JSON.stringify(c.type)}`;
    if (typeof c.address !== 'string') return `changes[${i}] has no address`;
    if (!ACTIONS.has(String(c.action))) return `changes[${i}] has unknown action ${JSON.stringify(c.action)}`;
    if (!Array.isArray(c.reasons) || typeof c.destructive !== 'boolean') return `changes[${i}] is incomplete`;
    const shape = changeShapeProblem(c, i);
    if (shape) return shape;
  }
  if (!isObject(v.summary)) return 'missing summary';
  if (!isObject(v.fingerprints)) return 'missing fingerprints';
  if (!Array.isArray(v.diagnostics) || !Array.isArray(v.targets)) return 'missing diagnostics or targets';
  return planPartsProblem(v);
}
