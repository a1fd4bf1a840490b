// `mlbridge force-unlock LOCK_ID [-c PATH] [--force]`: release a lock left by a crashed
// apply. Asks for `yes` on a terminal; without one it needs --force.

import { forceUnlock } from '../../engine/index.js';
import { MlbridgeError } from '../../model/errors.js';
import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, openDeps, printDiagnostics } from '../context.js';
import { confirm } from '../prompt.js';

export interface ForceUnlockOptions {
  lockId: string;
  config: string;
  force: boolean;
}

export async function run(options: ForceUnlockOptions, io: CliIO): Promise<number> {
  const { spec, diagnostics } = await loadConfig(options.config, io);
  printDiagnostics(io, diagnostics);
  if (!spec) return EXIT.ERROR;
  if (!options.force) {
    if (!io.stdin.isTTY) {
      throw new MlbridgeError('APPROVAL_REQUIRED', 'force-unlock needs confirmation: run with --force when there is no terminal');
    }
    println(io.stdout, `mlbridge will remove lock ${options.lockId} on the target. Only do this if the apply holding it is no longer running.`);
    if (!(await confirm(io, "Do you really want to force-unlock? Only 'yes' will be accepted:"))) {
      println(io.stdout, '\nForce-unlock cancelled.');
      return EXIT.ERROR;
    }
  }
  const opened = await openDeps(spec, io, { readOnly: false, scheduler: false });
  try {
    await forceUnlock(opened.deps.warehouse, options.lockId);
  } finally {
    await opened.close();
  }
  println(io.stdout, `Lock ${options.lockId} released: the target is unlocked.`);
  return EXIT.OK;
}
