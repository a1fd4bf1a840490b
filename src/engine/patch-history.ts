// What the raw table remembers of a key's PATCHes, so that an event arriving after newer
// PATCHes (Pub/Sub push has no ordering) can be laid under them instead of being lost.
//
// A PATCH is resolved into a full row when it is ingested (engine/ingest.ts), and raw logs that
// row. Since the current row of a key may be such a resolved PATCH, the engine needs to know,
// when an older event arrives, which columns later PATCHes carried. So every UPSERT and PATCH
// raw row `serve` writes keeps its version in `data` (`{"_version": "…", …the row}`, as a
// DELETE's already does), and a PATCH's row is marked in `flags`:
//   patch                 the event was a PATCH (raw's operation stays UPSERT: the row it became)
//   patch_base:<version>  the `_version` of the row it was laid on (absent: laid on no row)
//   patch_column:<name>   one per mapped column it carried; `data` holds the value it carried
// Raw rows written before this (no `_version` in data, no `patch` flag) count as UPSERTs of
// unknown version: they never open a window, so events meeting them are handled as before.
//
// The window of a key whose current row is at version c: walk down from the PATCH logged at
// c through the PATCHes its `patch_base` names, to the full row (or no row) the chain stands
// on, version b; the window's base E is the newest of b and every UPSERT or DELETE logged
// with a version up to c (one may have been laid under the PATCHes since, or deleted the key
// in between). Current is then E's row with the window's PATCHes (those logged in (E, c])
// laid over it in version order. An event older than c but newer than E belongs under them:
// an UPSERT or PATCH is laid under the window's PATCHes; a DELETE makes them PATCHes of no row
// (stage-events.ts), which may leave a REQUIRED column empty and remove the row.
//
// A PATCH of a key with no row that leaves a REQUIRED column empty is quarantined, and its
// quarantine row keeps what a PATCH's raw row keeps (its version and carried columns in
// `data`, the `patch` and `patch_column:` flags) plus `patch_incomplete:<column>`, so that an
// older event giving the key a row later can replay it (patch-replay.ts). Its raw row, once
// replayed, is flagged `patch_replayed`.

import type { Row, RowValue } from '../warehouse/warehouse.js';

export const PATCH_FLAG = 'patch';
const BASE_PREFIX = 'patch_base:';
const COLUMN_PREFIX = 'patch_column:';
/** On a quarantined PATCH of no row: the REQUIRED column it left empty. */
export const INCOMPLETE_PREFIX = 'patch_incomplete:';
/** On the raw row of a PATCH applied from quarantine. */
export const REPLAYED_FLAG = 'patch_replayed';

/** The flags that mark a PATCH's raw row: its base (null: no row) and the columns it carried. */
export function patchFlags(base: string | null, carried: Iterable<string>): string[] {
  return [PATCH_FLAG, ...(base === null ? [] : [`${BASE_PREFIX}${base}`]), ...[...carried].map((c) => `${COLUMN_PREFIX}${c}`)];
}

/** A raw row's `data` for an UPSERT or PATCH event: its row, with its version first. */
export function rawEventData(row: Record<string, RowValue>, version: string): string {
  return JSON.stringify({ _version: version, ...row });
}

export interface LoggedPatch {
  version: bigint;
  eventId: string;
  /** The columns it carried, as raw's data holds them. */
  columns: Record<string, RowValue>;
  /** RFC 3339, when the row read back holds it. */
  eventTime?: string | null;
  /** The row's `origin`, when read back. */
  origin?: string | null;
}

export interface PatchWindow {
  /** E (see the header); null: no row and no delete under the window's PATCHes. */
  base: bigint | null;
  /** The current row's version c. */
  version: bigint;
  /** The PATCHes logged in (E, c], in version order. */
  patches: LoggedPatch[];
}

function versionOf(v: RowValue | undefined): bigint | null {
  return typeof v === 'string' && /^\d{1,19}$/.test(v) ? BigInt(v) : null;
}

function dataOf(row: Row): Record<string, RowValue> | null {
  let d = row.data;
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d) as RowValue;
    } catch {
      return null;
    }
  }
  return d !== null && typeof d === 'object' && !Array.isArray(d) ? d : null;
}

/** The flags of a row read back (REPEATED STRING), only if they are strings. */
export function flagsOf(row: Row): string[] {
  return Array.isArray(row.flags) ? row.flags.filter((f): f is string => typeof f === 'string') : [];
}

/** A raw or quarantine row of `serve` as the PATCH it logs (null: not one, or not readable). */
export function loggedPatchOf(row: Row): (LoggedPatch & { base: bigint | null }) | null {
  const data = dataOf(row);
  const version = versionOf(data?._version);
  const flags = flagsOf(row);
  if (data === null || version === null || row.operation !== 'UPSERT' || !flags.includes(PATCH_FLAG)) return null;
  if (typeof row.event_id !== 'string' || row.event_id === '') return null;
  const base = flags.find((f) => f.startsWith(BASE_PREFIX));
  const columns: Record<string, RowValue> = {};
  for (const f of flags) if (f.startsWith(COLUMN_PREFIX)) columns[f.slice(COLUMN_PREFIX.length)] = data[f.slice(COLUMN_PREFIX.length)] ?? null;
  return {
    version,
    eventId: row.event_id,
    columns,
    base: base ? versionOf(base.slice(BASE_PREFIX.length)) : null,
    eventTime: typeof row.event_time === 'string' ? row.event_time : null,
    origin: typeof row.origin === 'string' ? row.origin : null,
  };
}

/** The version a raw row of `serve` records in its data (null: none, or not readable). */
export function loggedVersionOf(row: Row): bigint | null {
  return versionOf(dataOf(row)?._version);
}

const max = (a: bigint | null, b: bigint | null): bigint | null => (a === null ? b : b === null ? a : a > b ? a : b);

/**
 * The window of PATCHes over a key's current row at `current`, from the key's raw rows; null
 * when the current row is not a PATCH logged with its version (nothing to lay an event under).
 */
export function patchWindow(rawRows: readonly Row[], current: bigint): PatchWindow | null {
  const patches: Array<LoggedPatch & { base: bigint | null }> = [];
  let full: bigint | null = null;
  for (const r of rawRows) {
    const version = versionOf(dataOf(r)?._version);
    if (version === null || version > current) continue;
    const logged = loggedPatchOf(r);
    if (logged) patches.push(logged);
    else if (r.operation === 'UPSERT' || r.operation === 'DELETE') full = max(full, version);
  }
  // Down the chain of bases, from the PATCH at the current version to what it stands on.
  let at: bigint | null = current;
  const visited = new Set<bigint>();
  while (at !== null && !visited.has(at)) {
    const here = patches.filter((p) => p.version === at);
    if (here.length === 0) break;
    visited.add(at);
    const below: bigint | null = here.reduce<bigint | null>((b, p) => max(b, p.base), null);
    if (below !== null && below >= at) break; // not a chain going down: it stands on this version
    at = below;
  }
  if (!visited.has(current)) return null;
  const base = max(at, full);
  if (base !== null && base >= current) return null;
  const inWindow = patches
    .filter((p) => base === null || p.version > base)
    .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : a.eventId.localeCompare(b.eventId)))
    .map(({ base: _base, ...p }) => p);
  return { base, version: current, patches: inWindow };
}

/** The columns the window's PATCHes newer than `version` carried, the newest value of each. */
export function columnsAfter(window: PatchWindow, version: bigint): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const p of window.patches) if (p.version > version) Object.assign(out, p.columns);
  return out;
}
