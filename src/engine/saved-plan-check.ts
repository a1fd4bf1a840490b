// A saved plan is checked, not trusted: `apply PLANFILE` re-plans from the spec and the
// re-observed target, and every change in the file must equal the change mlbridge plans now
// at the same address, on everything apply acts on or decides by (action, before/after, ops,
// replace spec, destructive, blocked, etags, update masks, a rows change's kind and source…),
// and apply then runs the fresh plan. So an edited
// `destructive: false`, a removed `blocked`, an added op or an added change is refused,
// naming the change and the field, before anything is applied.
//
// The comparison is generic over change types: it compares the changes' JSON, key by key,
// leaving out only the keys listed as display-only for that type (`reasons` for all). A
// new change type is compared in full until someone lists what of it is display-only.

import { MlbridgeError } from '../model/errors.js';
import type { Change, Plan } from './plan.js';

/** Keys every change type has that never drive apply (see Reason in plan.ts). */
const DISPLAY_ONLY_ALWAYS: readonly string[] = ['reasons'];

/**
 * Per change type, further keys that are only shown, never acted on. Everything not listed
 * is compared; a type absent from this table is compared in full.
 */
export const DISPLAY_ONLY_KEYS: Readonly<Record<string, readonly string[]>> = {
  // Apply merges the rows it stages now (the fresh change), so the counts, sample keys and
  // snapshot version in the file are what was shown, not what runs: a live source moves
  // them between plan and apply, and its read time is always later at apply (its project and
  // database are the source; an export's id and start time are). Kind, the rest of the
  // source identity, action and the guards are compared.
  rows: ['before', 'after', 'sampleKeys', 'snapshotVersion', 'source.readTime'],
};

/** Guards first: a mismatch in one of these is what a tampered file is usually about. */
const FIRST_KEYS = ['type', 'action', 'destructive', 'blocked'];

export interface SavedPlanCheckOptions {
  /**
   * Applied to the fresh plan before comparing: the seam for anything the saved file holds
   * in a transformed form (redactPlan replaces sensitive values in plan files, so the fresh
   * plan must be redacted the same way before it can equal the file). Identity by default.
   */
  normalize?: (fresh: Plan) => Plan;
}

export const MISMATCH_PREFIX = 'Saved plan does not match what mlbridge would plan';

/**
 * Throws PLAN_INVALID naming the first change (and field) where `saved` differs from `fresh`,
 * or where a change is in one plan and not the other. Fingerprints and the spec hash are
 * checked separately (staleness); this is about the changes themselves.
 */
export function checkSavedPlan(saved: Plan, fresh: Plan, options: SavedPlanCheckOptions = {}): void {
  const expected = (options.normalize ?? ((p: Plan) => p))(fresh);
  const planned = new Map(expected.changes.map((c) => [c.address, c]));
  const seen = new Set<string>();
  for (const change of saved.changes) {
    const address = String(change.address);
    if (seen.has(address)) refuse(address, 'the plan file has this change twice');
    seen.add(address);
    const mine = planned.get(address);
    if (!mine) refuse(address, `the plan file has ${withArticle(String(change.action))} that mlbridge would not plan`);
    const mismatch = changeMismatch(change, mine);
    if (mismatch) refuse(address, mismatch.message, { field: mismatch.field });
  }
  for (const mine of expected.changes) {
    if (!seen.has(mine.address)) refuse(mine.address, `mlbridge would plan ${withArticle(mine.action)} that the plan file does not have`);
  }
}

const withArticle = (action: string) => `${/^[aeiou]/.test(action) ? 'an' : 'a'} ${action}`;

function refuse(address: string, problem: string, details: Record<string, unknown> = {}): never {
  throw new MlbridgeError('PLAN_INVALID', `${MISMATCH_PREFIX}: ${address}: ${problem}`, {
    resource: address,
    details: { address, ...details },
  });
}

/** Display-only paths below a top-level key (`source.readTime`), compared as absent. */
function skippedPaths(fresh: Change): Set<string> {
  return new Set((DISPLAY_ONLY_KEYS[fresh.type] ?? []).filter((k) => k.includes('.')));
}

function comparedKeys(saved: Change, fresh: Change): string[] {
  const skip = new Set([...DISPLAY_ONLY_ALWAYS, ...(DISPLAY_ONLY_KEYS[fresh.type] ?? [])]);
  const all = new Set([...Object.keys(saved), ...Object.keys(fresh)]);
  const rest = [...all].filter((k) => !skip.has(k) && !FIRST_KEYS.includes(k)).sort();
  return [...FIRST_KEYS.filter((k) => !skip.has(k)), ...rest];
}

const field = (c: Change, key: string): unknown => (c as unknown as Record<string, unknown>)[key];

/** The first compared key that differs and a sentence saying how, or undefined when the change matches. */
export function changeMismatch(saved: Change, fresh: Change): { field: string; message: string } | undefined {
  const skip = skippedPaths(fresh);
  for (const key of comparedKeys(saved, fresh)) {
    const diff = firstDifference(field(saved, key), field(fresh, key), key, skip);
    if (diff) return { field: diff.path, message: mismatchMessage(key, diff, fresh) };
  }
  return undefined;
}

function mismatchMessage(key: string, diff: Difference, fresh: Change): string {
  const { path, a, b } = diff;
  // The two guards say why mlbridge disagrees: the file may not switch them off.
  if (key === 'destructive' && b === true) return `destructive is ${show(a)} in the plan file but the change ${destructiveCause(fresh)}`;
  if (key === 'blocked' && typeof b === 'string') {
    return `blocked is ${a === undefined ? 'missing from' : `${show(a)} in`} the plan file but deletion protection forbids this change`;
  }
  if (a === undefined) return `${path} is missing from the plan file; mlbridge would plan ${show(b)}`;
  if (b === undefined) return `the plan file has ${path} = ${show(a)}, which mlbridge would not plan`;
  return `${path} is ${show(a)} in the plan file but mlbridge would plan ${show(b)}`;
}

/** Why mlbridge counts the fresh change as destructive, from its own (trusted) reasons. */
function destructiveCause(c: Change): string {
  if (c.action === 'delete') return 'deletes it';
  const forcing = c.reasons.filter((r) => r.forcesReplacement || r.rule === 'drop-column');
  const why = (forcing.length > 0 ? forcing : c.reasons).map((r) => r.message).join('; ');
  if (c.action === 'replace') return why ? `replaces it (${why})` : 'replaces it';
  return why || 'drops data';
}

interface Difference {
  path: string;
  a: unknown;
  b: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The first place two JSON values differ, as a path such as `after.columns[6].type`.
 * Absent keys and keys set to undefined are the same (JSON drops undefined).
 */
function firstDifference(a: unknown, b: unknown, path: string, skip: ReadonlySet<string>): Difference | undefined {
  if (skip.has(path)) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`, skip);
      if (d) return d;
    }
    return undefined;
  }
  if (isRecord(a) && isRecord(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], `${path}.${k}`, skip);
      if (d) return d;
    }
    return undefined;
  }
  return canonical(a) === canonical(b) ? undefined : { path, a, b };
}

/** JSON with object keys sorted and undefined members left out. */
function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const MAX_SHOWN = 200;

function show(v: unknown): string {
  if (v === undefined) return 'absent';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}
