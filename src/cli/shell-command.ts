// Commands mlbridge prints for the user to run next (after `plan --out`, to release a lock):
// each must work when pasted into the shell it was typed in, so the spec is named when it is
// not the default one, and words a shell would split or expand are quoted.

const DEFAULT_CONFIGS = new Set(['./mlbridge.yaml', 'mlbridge.yaml']);

/** `s` as one shell word: as is when it holds nothing a shell treats specially, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** ` -c CONFIG` for a spec other than ./mlbridge.yaml (as the user typed it), else ''. */
function configArg(config: string): string {
  return DEFAULT_CONFIGS.has(config) ? '' : ` -c ${shellWord(config)}`;
}

/** The exact command that releases lock `id` for the spec at `config` (as the user typed it). */
export function forceUnlockCommand(id: string, config: string): string {
  return `mlbridge force-unlock ${shellWord(id)}${configArg(config)}`;
}

/**
 * The exact command that applies the plan saved at `planFile`: apply reads the spec again
 * (-c), and the export the plan was made from when --export-id picked one (else it reads the
 * folder's newest and refuses the plan as stale). Targets are in the plan itself.
 */
export function applyPlanCommand(planFile: string, config: string, exportId?: string): string {
  return `mlbridge apply${configArg(config)}${exportId !== undefined ? ` --export-id ${shellWord(exportId)}` : ''} ${shellWord(planFile)}`;
}
