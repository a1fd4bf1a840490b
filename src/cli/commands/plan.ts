// `mlbridge plan`: observe the target, print what apply would do. Changes nothing.
// Output: text (ink on a TTY), `--json` (only JSON on stdout), or `--format markdown`
// (a PR comment). `--detailed-exitcode`: 0 no changes, 2 changes, 1 error.

import { resolve } from 'node:path';
import { hasChanges, type Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import { createPlan, writePlanFile } from '../../engine/index.js';
import { MlbridgeError } from '../../model/errors.js';
import { hasErrors } from '../../model/diagnostic.js';
import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, openDeps, printDiagnostics } from '../context.js';
import { renderPlanText } from '../views/plan-text.js';
import { planLogSink } from '../views/apply-log.js';
import { diagnosticsOnlyJson, renderPlanJson } from '../views/plan-json.js';
import { renderPlanMarkdown } from '../views/plan-markdown.js';

export interface PlanOptions {
  config: string;
  out?: string;
  json: boolean;
  format?: string;
  detailedExitcode: boolean;
  target: string[];
  skipData: boolean;
  exportId?: string;
  color: boolean;
}

export async function run(options: PlanOptions, io: CliIO): Promise<number> {
  const format = options.json ? 'json' : (options.format ?? 'text');
  if (format !== 'json' && format !== 'text' && format !== 'markdown') {
    throw new MlbridgeError('INVALID_ARGUMENT', `--format: "${format}" is not a plan format (use text or markdown, or --json)`);
  }
  if (options.json && options.format && options.format !== 'json') {
    throw new MlbridgeError('INVALID_ARGUMENT', '--json and --format markdown cannot be used together');
  }
  const { spec, diagnostics } = await loadConfig(options.config, io);
  if (!spec) {
    if (format === 'json') println(io.stdout, JSON.stringify(diagnosticsOnlyJson(diagnostics)));
    else printDiagnostics(io, diagnostics);
    return EXIT.ERROR;
  }
  if (format !== 'json') printDiagnostics(io, diagnostics); // warnings

  const live = format === 'text' && options.color && io.interactive ? (await import('../views/PlanView.js')).startPlanView(io) : null;
  // Without the live view, retries and progress of a long read (a line every 5 s) still show,
  // on stderr: stdout is the plan only, so --json and markdown can be piped.
  const plain = planLogSink((line) => println(io.stderr, line));
  const onEvent = (e: EngineEvent) => (live ? live.onEvent(e) : plain(e));
  let plan: Plan;
  const opened = await openDeps(spec, io, { readOnly: true, onEvent, data: !options.skipData, ...(options.exportId !== undefined ? { exportId: options.exportId } : {}) }).catch((err) => {
    live?.stop();
    throw err;
  });
  try {
    plan = await createPlan(spec, opened.deps, { targets: options.target, onEvent, skipData: options.skipData });
  } catch (err) {
    live?.stop();
    throw err;
  } finally {
    await opened.close();
  }

  if (format === 'json') io.stdout.write(renderPlanJson(plan));
  else if (format === 'markdown') io.stdout.write(renderPlanMarkdown(plan));
  else if (live) live.finish(plan);
  else io.stdout.write(renderPlanText(plan, { color: options.color && io.color }));

  if (options.out) {
    const file = resolve(io.cwd, options.out);
    await writePlanFile(file, plan, { sensitive: spec.sensitive });
    if (format === 'text') {
      println(io.stdout, `\nSaved the plan to: ${options.out}\n\nTo perform exactly these actions, run:\n    mlbridge apply ${options.out}`);
    }
  }
  // A plan that apply would refuse (e.g. a table mlbridge does not own) is an error, as in Terraform.
  if (hasErrors(plan.diagnostics)) return EXIT.ERROR;
  if (options.detailedExitcode) return hasChanges(plan) ? EXIT.CHANGES : EXIT.OK;
  return EXIT.OK;
}
