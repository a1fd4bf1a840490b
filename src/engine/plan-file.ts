// Saved plans (`plan --out FILE`): the Plan as JSON. Reading validates the shape enough
// that apply can trust it; anything else is PLAN_INVALID naming the file.

import { readFile, writeFile, rename } from 'node:fs/promises';
import { MlbridgeError, errorMessage } from '../model/errors.js';
import type { Plan } from './plan.js';

const ACTIONS = new Set(['create', 'update', 'replace', 'delete', 'no-op']);
const TYPES = new Set(['dataset', 'table', 'scheduler_job', 'rows']);

export async function writePlanFile(path: string, plan: Plan): Promise<void> {
  // Write then rename so a crash never leaves half a plan behind.
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function readPlanFile(path: string): Promise<Plan> {
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
  return value as Plan;
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
  }
  if (!isObject(v.summary)) return 'missing summary';
  if (!isObject(v.fingerprints)) return 'missing fingerprints';
  if (!Array.isArray(v.diagnostics) || !Array.isArray(v.targets)) return 'missing diagnostics or targets';
  return undefined;
}
