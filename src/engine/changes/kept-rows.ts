// Rows the version guard keeps although the source differs (row-rules.ts, rule
// newer-in-target): the target's row has a higher `_version` than the source's record, so a
// reconcile writes nothing, by design (a row written by a newer event or snapshot survives
// an older snapshot). That is right when the target really is newer, and silent data loss
// when the versions are not comparable: the Datastore emulator counts entity versions from
// 1, so rows loaded from an export (versioned by the export's start time in µs) stay newer
// than any later emulator read. Either way the plan says so, one warning per mapping. Kept
// rows are not changes: they leave `plan --detailed-exitcode` at 0.

import { rowsAddress } from '../../model/address.js';
import { warningDiag, type Diagnostic } from '../../model/diagnostic.js';
import type { KeptRows } from '../../model/staged.js';
import type { SourceIdentity } from '../../source/snapshot-source.js';

/**
 * Below this, a version cannot be a commit time in µs (1e15 µs is September 2001, before
 * Datastore existed): such versions are counters, as the emulator's are.
 */
export const PLAUSIBLE_MICROS = 1_000_000_000_000_000n;

/** The warning for a mapping's kept rows, or undefined when there are none. */
export function keptRowsWarning(kind: string, kept: KeptRows | undefined, source: SourceIdentity): Diagnostic | undefined {
  if (!kept || kept.count === 0) return undefined;
  const rows = kept.count === 1 ? '1 row differs' : `${kept.count} rows differ`;
  const versions = kept.first ? ` (_version ${kept.first.targetVersion} in the target, ${kept.first.sourceVersion} in the source)` : '';
  const samples = kept.samples.length > 0 ? `, e.g. ${kept.samples.join(', ')}` : '';
  const theRow = kept.count === 1 ? "the target's row is newer" : "the target's rows are newer";
  const summary = `${rowsAddress(kind)}: ${rows} from the source but ${kept.count === 1 ? 'is' : 'are'} kept: ${theRow}${versions}${samples}`;
  const general =
    'The version guard never lets a snapshot overwrite a row with a higher _version (one written by serve or by a newer snapshot), so apply leaves these rows as they are.';
  return warningDiag(summary, undefined, counterVersions(kept, source) ? `${general} ${emulatorHint(kept)}` : general);
}

/**
 * A live read whose versions are far below any µs commit time, against rows versioned in µs
 * (an export's start time, an event's time): the versions are not comparable.
 */
function counterVersions(kept: KeptRows, source: SourceIdentity): boolean {
  if (source.kind !== 'datastore' || kept.sourceMax === undefined || kept.targetMin === undefined) return false;
  return BigInt(kept.sourceMax) < PLAUSIBLE_MICROS && BigInt(kept.targetMin) >= PLAUSIBLE_MICROS;
}

function emulatorHint(kept: KeptRows): string {
  return (
    `Here the source's versions (at most ${kept.sourceMax}) are not commit times in µs, while the target's are (at least ${kept.targetMin}): ` +
    "the Datastore emulator counts entity versions from 1, so rows loaded from an export (versioned by the export's start time in µs) stay newer than any emulator read. " +
    'Load this kind from one source only (the emulator, or exports), or rebuild the table from this source: empty it and apply again.'
  );
}
