// Events older than the current row, read against the key's raw history (patch-history.ts):
// the windows of newer PATCHes they belong under, and what a DELETE among them does.
//
// In order, a DELETE between a row and the PATCHes over it leaves those PATCHes nothing to
// lay on: each is a PATCH of a key with no row, and one that leaves a REQUIRED column empty
// is quarantined (stage-events.ts's resolvePatch). So a DELETE arriving after them re-resolves
// the window's PATCHes newer than it over no row; current becomes the row they make, or no
// row, at the window's version. That change is staged under the event_id of the PATCH raw
// logs at that version (an UPSERT of the row, or a DELETE), so raw logs nothing but the DELETE
// itself, as it came; the PATCHes left without a row are quarantined (once: quarantine is
// read for their ids, which only such a DELETE costs).

import { isMlbridgeError } from '../model/errors.js';
import type { StagedRecord } from '../model/staged.js';
import { coerceField } from '../record/coerce.js';
import { fillPartitionColumn, rowHash } from '../record/row.js';
import type { MappingSpec } from '../spec/types.js';
import type { Row, RowValue, Warehouse } from '../warehouse/warehouse.js';
import { columnField, incompletePatchReason, layColumns } from './patch-columns.js';
import { INCOMPLETE_PREFIX, patchFlags, patchWindow, rawEventData, type LoggedPatch, type PatchWindow } from './patch-history.js';

type Origin = 'pubsub' | 'eventarc';

export interface Extra {
  staged: StagedRecord;
  origin: Origin;
  fresh: boolean;
}

/** The origin a row read back logs, as a stage's origin. */
export function originOf(p: { origin?: string | null }): Origin {
  return p.origin === 'eventarc' ? 'eventarc' : 'pubsub';
}

/** The windows of the `late` keys (current's version per key from `currentVersion`), from their raw rows. */
export async function readWindows(warehouse: Warehouse, dataset: string, mapping: MappingSpec, late: string[], currentVersion: (key: string) => bigint): Promise<Map<string, PatchWindow>> {
  const windows = new Map<string, PatchWindow>();
  if (late.length === 0) return windows;
  const history = new Map<string, Row[]>();
  for (const row of await warehouse.readRowsByKey(dataset, mapping.tables.raw, late, ['event_id', 'operation', 'event_time', 'origin', 'data', 'flags'])) {
    history.set(String(row._key), [...(history.get(String(row._key)) ?? []), row]);
  }
  for (const key of late) {
    const w = patchWindow(history.get(key) ?? [], currentVersion(key));
    if (w) windows.set(key, w);
  }
  return windows;
}

/** A PATCH's carried columns coerced again (values read back); columns the mapping no longer has are left out. */
function carriedColumns(p: LoggedPatch, mapping: MappingSpec): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const f of mapping.fields) if (f.name in p.columns) out[f.name] = coerceField(p.columns[f.name] ?? null, columnField(f));
  return out;
}

const eventTimeOf = (p: LoggedPatch, now: Date): Date => (p.eventTime ? new Date(p.eventTime) : now);

/**
 * What the DELETE `del`, older than the window's version and newer than its base, makes of
 * current (see the header): the row (null: none) at the window's version, and the extra
 * records staging it (the change of current under the DELETE's origin, so that it is merged
 * with the DELETE); undefined when a value read back no longer fits its column (the DELETE
 * is then staged as it came and superseded, as before).
 */
export function deleteUnder(del: StagedRecord, delOrigin: Origin, window: PatchWindow, mapping: MappingSpec, now: Date): { columns: Record<string, RowValue> | null; extras: Extra[] } | undefined {
  const deleted = BigInt(del.version);
  let row: Record<string, RowValue> | null = null;
  const extras: Extra[] = [];
  let top: LoggedPatch | undefined;
  for (const p of window.patches) {
    if (p.version <= deleted) continue;
    top = p;
    let carried: Record<string, RowValue>;
    try {
      carried = carriedColumns(p, mapping);
      row = layColumns(row, carried, mapping, true);
    } catch (e) {
      if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
      const column = typeof e.details?.column === 'string' ? e.details.column : undefined;
      if (row !== null || column === undefined || e.details?.found !== 'NULL') return undefined;
      const version = p.version.toString();
      extras.push({
        origin: originOf(p),
        fresh: true,
        staged: {
          key: del.key, version, hash: `q:${rowHash(carried!)}`, operation: 'UPSERT', eventId: p.eventId, eventTime: p.eventTime ?? null, score: 0,
          flags: [...patchFlags(null, Object.keys(carried!)), `${INCOMPLETE_PREFIX}${column}`], row: null, data: rawEventData(carried!, version),
          reason: incompletePatchReason(mapping, del.key, version, column),
        },
      });
    }
  }
  if (!top) return undefined;
  const at = window.version.toString();
  const common = { key: del.key, version: at, eventId: top.eventId, eventTime: top.eventTime ?? null, score: 1, flags: [], data: null, reason: null };
  if (row === null) {
    extras.push({ origin: delOrigin, fresh: false, staged: { ...common, hash: '', operation: 'DELETE', row: null } });
    return { columns: null, extras };
  }
  const filled = { ...row };
  fillPartitionColumn(filled, mapping, eventTimeOf(top, now), 'UPSERT');
  extras.push({ origin: delOrigin, fresh: false, staged: { ...common, hash: rowHash(row), operation: 'UPSERT', row: JSON.stringify(filled) } });
  return { columns: filled, extras };
}

/** `extras` with the quarantined ones the kind's quarantine already holds marked as not fresh (read only when there are any). */
export async function withQuarantineFreshness<T extends Extra>(warehouse: Warehouse, dataset: string, mapping: MappingSpec, extras: T[]): Promise<T[]> {
  const rejected = extras.filter((e) => e.staged.reason !== null);
  if (rejected.length === 0) return extras;
  const held = new Set<string>();
  for (const row of await warehouse.readRowsByKey(dataset, mapping.tables.quarantine, [...new Set(rejected.map((e) => e.staged.key))], ['event_id'])) {
    if (typeof row.event_id === 'string') held.add(row.event_id);
  }
  for (const e of rejected) e.fresh = !held.has(e.staged.eventId);
  return extras;
}
