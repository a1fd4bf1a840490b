// `mlbridge show PLANFILE [--json]`: print a saved plan without touching the target.

import { resolve } from 'node:path';
import { readPlanFile } from '../../engine/index.js';
import { EXIT, type CliIO } from '../io.js';
import { renderPlanText } from '../views/plan-text.js';
import { renderPlanJson } from '../views/plan-json.js';

export interface ShowOptions {
  planFile: string;
  json: boolean;
  color: boolean;
}

export async function run(options: ShowOptions, io: CliIO): Promise<number> {
  const plan = await readPlanFile(resolve(io.cwd, options.planFile));
  io.stdout.write(options.json ? renderPlanJson(plan) : renderPlanText(plan, { color: options.color && io.color }));
  return EXIT.OK;
}
