// The folder of a run's staged files (stage-files.ts: workers write them, the stage loads
// them). A run removes it when staging ends, but a run killed outright (kill -9, OOM killer)
// cannot: its folder would stay in the temp folder forever. So each folder is named after
// the host and process that own it, and a run creating one first removes those of its host
// whose owner is gone. A folder of a live process is never touched; a reused pid keeps a dead
// run's folder (only until that process ends too), which errs on the safe side. The host is
// in the name because a temp folder can be shared between containers, each with its own
// process ids: a pid that is dead here may be a live run there (a container's hostname is
// its own).


import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'mlbridge-stage-';
/** `mlbridge-stage-<host>-<pid>-XXXXXX`, as mkdtemp completes it. */
const OWNED = /^mlbridge-stage-(.+)-(\d+)-[A-Za-z0-9]{6}$/;

/** This host's name as a folder name holds it (letters, digits, dot and dash). */
export function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
}

/** Whether a process with this id runs (on this machine, in this pid namespace). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the stage folders in `root` whose owning process is no longer alive; returns their names. */
export async function removeStaleStageDirs(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return []; // nothing to clean where nothing can be listed; mkdtemp reports a missing folder
  }
  const host = hostTag();
  const stale = names.filter((name) => {
    const m = OWNED.exec(name);
    if (!m || m[1] !== host) return false;
    const pid = Number(m[2]);
    return pid !== process.pid && !processAlive(pid);
  });
  // Another run may be removing the same folder: force ignores what is already gone.
  await Promise.all(stale.map((name) => rm(join(root, name), { recursive: true, force: true })));
  return stale;
}

/** A new, empty stage folder of this process in the temp folder, after removing dead runs' folders. */
export async function createStageDir(root: string = tmpdir()): Promise<string> {
  await removeStaleStageDirs(root);
  return mkdtemp(join(root, `${PREFIX}${hostTag()}-${process.pid}-`));
}
