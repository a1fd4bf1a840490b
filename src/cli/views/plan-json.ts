// The machine-readable plan (`plan --json`, `show --json`), Terraform's `show -json` shape:
// {"format_version":"1","changes":[…],"summary":{…},"diagnostics":[…]}. Keys are snake_case;
// user-named maps (labels, column sources, fingerprints) keep their keys. Minor versions
// only add keys. A pure function of the Plan.

import { errorDiag, type Diagnostic } from '../../model/diagnostic.js';
import { toJsonShape } from '../../model/json-shape.js';
import { MlbridgeError, errorMessage } from '../../model/errors.js';
import type { Plan, PlanSummary, RowsChange } from '../../engine/plan.js';


export function diagnosticsJson(diags: readonly Diagnostic[]): unknown[] {
  return diags.map((d) => toJsonShape(d));
}

export function planJson(plan: Plan): Record<string, unknown> {
  return {
    format_version: '1',
    mlbridge_version: plan.mlbridgeVersion,
    created_at: plan.createdAt,
    target: toJsonShape(plan.target),
    targets: plan.targets,
    changes: plan.changes.map((c) => (c.type === 'rows' ? rowsJson(c) : toJsonShape(c))),
    summary: plan.summary,
    diagnostics: diagnosticsJson(plan.diagnostics),
  };
}

/** A rows change: `rows` (counts per category, `unchanged` included) and `samples` (keys). */
function rowsJson(c: RowsChange): unknown {
  return {
    ...(toJsonShape(c) as Record<string, unknown>),
    rows: c.after ?? { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 0 },
    samples: c.sampleKeys,
  };
}

/** The document printed when the spec is invalid and no plan could be made. */
export function diagnosticsOnlyJson(diags: readonly Diagnostic[]): Record<string, unknown> {
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0 };
  return { format_version: '1', changes: [], summary, diagnostics: diagnosticsJson(diags) };
}

/**
 * A plan that failed, for `plan --json`: no changes, the error as an error diagnostic (its
 * first line the summary, the rest the detail) and, for scripts, its stable code, resource
 * and structured details under `error` (never the message to parse).
 */
export function failedPlanJson(err: unknown): Record<string, unknown> {
  const [summary = '', ...rest] = errorMessage(err).split('\n');
  const doc = diagnosticsOnlyJson([errorDiag(summary, undefined, rest.length > 0 ? rest.join('\n') : undefined)]);
  const e = err instanceof MlbridgeError ? err : undefined;
  return {
    ...doc,
    error: {
      code: e?.code ?? 'INTERNAL',
      ...(e?.resource !== undefined ? { resource: e.resource } : {}),
      ...(e?.details !== undefined ? { details: toJsonShape(e.details) } : {}),
    },
  };
}

export function renderPlanJson(plan: Plan): string {
  return `${JSON.stringify(planJson(plan))}\n`;
}
