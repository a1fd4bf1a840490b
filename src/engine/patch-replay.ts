// PATCHes waiting in quarantine for a row to lay on (patch-history.ts's header): a PATCH of a
// key with no row that leaves a REQUIRED column empty is quarantined, but an older UPSERT may
// still arrive (Pub/Sub push has no ordering), and in-order delivery would have laid the PATCH
// over it. So when a batch brings events for keys that are not in current, the kind's
// quarantine (small) is read for those keys only, and the PATCHes flagged
// `patch_incomplete:` are replayed in version order among the batch's events
// (stage-events.ts). Only for keys that have such PATCHes is raw read too: its DELETEs of the
// key (a DELETE between the row and the PATCH leaves the PATCH without a row, as in order) and
// which of those PATCHes raw already logs (a replayed PATCH is logged once).
//
// Nothing read back is trusted as is: a row must carry the PATCH flags, a version and an
// event_id, its columns must be mapped columns whose values the mapping still accepts, and
// the event_id must be the one the PATCH's own identity gives (record/event-id.ts), so a row
// edited or written by anything else is not replayed. Quarantine rows written before the
// PATCH marking (the record's payload as data) are simply not replayed.

import { isMlbridgeError } from '../model/errors.js';
import { coerceField } from '../record/coerce.js';
import { changeEventId } from '../record/event-id.js';
import { rowHash } from '../record/row.js';
import type { MappingSpec } from '../spec/types.js';
import type { Row, RowValue, Warehouse } from '../warehouse/warehouse.js';
import { columnField } from './patch-columns.js';
import { INCOMPLETE_PREFIX, flagsOf, loggedPatchOf, loggedVersionOf, type LoggedPatch } from './patch-history.js';

/** A quarantined PATCH that may be replayed: its columns coerced again, and whether raw already logs it. */
export interface WaitingPatch extends LoggedPatch {
  key: string;
  /** Raw holds no row with its event_id yet. */
  unlogged: boolean;
}

export interface WaitingPatches {
  /** Per key, its PATCHes waiting in quarantine, oldest first. */
  patches: Map<string, WaitingPatch[]>;
  /** Per key (of those with waiting PATCHes), the versions of the DELETEs raw logs. */
  deletes: Map<string, bigint[]>;
}

const QUARANTINE_COLUMNS = ['event_id', 'operation', 'event_time', 'origin', 'data', 'flags'] as const;
const RAW_COLUMNS = ['event_id', 'operation', 'data'] as const;

/**
 * The PATCHes quarantined for a missing REQUIRED column of these keys (keys not in current),
 * newer than `after` of their key (the oldest event of the batch for it: an older PATCH would
 * again meet no row), validated; and, for the keys that have some, the DELETEs raw logs.
 */
export async function waitingPatches(warehouse: Warehouse, dataset: string, mapping: MappingSpec, after: Map<string, bigint>): Promise<WaitingPatches> {
  const patches = new Map<string, WaitingPatch[]>();
  const deletes = new Map<string, bigint[]>();
  if (after.size === 0) return { patches, deletes };
  const rows = await warehouse.readRowsByKey(dataset, mapping.tables.quarantine, [...after.keys()], QUARANTINE_COLUMNS);
  const seen = new Set<string>();
  for (const row of rows) {
    const key = String(row._key);
    const from = after.get(key);
    if (from === undefined || !flagsOf(row).some((f) => f.startsWith(INCOMPLETE_PREFIX))) continue;
    const p = replayable(row, key, mapping);
    if (!p || p.version <= from || seen.has(p.eventId)) continue;
    seen.add(p.eventId);
    patches.set(key, [...(patches.get(key) ?? []), { ...p, key, unlogged: true }]);
  }
  if (patches.size === 0) return { patches, deletes };
  const logged = new Set<string>();
  for (const row of await warehouse.readRowsByKey(dataset, mapping.tables.raw, [...patches.keys()], RAW_COLUMNS)) {
    if (typeof row.event_id === 'string') logged.add(row.event_id);
    const version = row.operation === 'DELETE' ? loggedVersionOf(row) : null;
    if (version !== null) deletes.set(String(row._key), [...(deletes.get(String(row._key)) ?? []), version]);
  }
  for (const list of patches.values()) {
    for (const p of list) p.unlogged = !logged.has(p.eventId);
    list.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : a.eventId.localeCompare(b.eventId)));
  }
  return { patches, deletes };
}

/** A quarantine row as the PATCH it quarantined, or null when it cannot be trusted to be one. */
function replayable(row: Row, key: string, mapping: MappingSpec): LoggedPatch | null {
  const p = loggedPatchOf(row);
  if (!p || Object.keys(p.columns).length === 0) return null;
  const columns: Record<string, RowValue> = {};
  for (const [name, value] of Object.entries(p.columns)) {
    const field = mapping.fields.find((f) => f.name === name);
    if (!field) return null; // the mapping lost the column since
    try {
      columns[name] = coerceField(value, columnField(field));
    } catch (e) {
      if (isMlbridgeError(e, 'INVALID_ARGUMENT')) return null; // no longer fits its column
      throw e;
    }
  }
  const eventId = changeEventId({ kind: mapping.kind, key, version: p.version.toString(), operation: 'PATCH', contentHash: rowHash(columns) });
  if (eventId !== p.eventId) return null;
  return { version: p.version, eventId, columns, eventTime: p.eventTime ?? null, origin: p.origin ?? null };
}
