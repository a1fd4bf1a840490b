// The events of one micro-batch of `mlbridge serve` as staged records, for one mapping: each
// change staged by the row model every write path shares (record/stage-record.ts), and then,
// per key in version order, PATCHes resolved into the full rows they amount to, events that
// arrive older than newer PATCHes laid under them (patch-history.ts), and PATCHes waiting in
// quarantine for a row replayed over the row an event of the batch gives their key
// (patch-replay.ts). engine/ingest.ts merges what this returns.

import { isMlbridgeError } from '../model/errors.js';
import type { StagedRecord } from '../model/staged.js';
import { changeEventId } from '../record/event-id.js';
import type { KindProfile } from '../record/profile.js';
import { fillPartitionColumn, mappedColumns, rowHash } from '../record/row.js';
import { stageRecord } from '../record/stage-record.js';
import { recordEventTime, type SyncRecord } from '../record/sync-record.js';
import type { MappingSpec } from '../spec/types.js';
import type { RowValue, Warehouse } from '../warehouse/warehouse.js';
import { columnsOf, incompletePatchReason, layColumns } from './patch-columns.js';
import { INCOMPLETE_PREFIX, REPLAYED_FLAG, columnsAfter, patchFlags, rawEventData, type PatchWindow } from './patch-history.js';
import { waitingPatches, type WaitingPatch } from './patch-replay.js';
import { deleteUnder, originOf, readWindows, withQuarantineFreshness, type Extra } from './late-delete.js';

export interface StageContext {
  now: Date;
  profile: KindProfile | null;
}

/**
 * A staged record that is no event of the batch, merged with the batch's own: `origin` is
 * the one raw or quarantine logs it under; `fresh`, that neither raw (accepted) nor
 * quarantine (rejected) holds its event_id yet.
 */
export type ExtraRecord = Extra;

export interface StagedEvents {
  /** One per record, in their order. */
  staged: StagedRecord[];
  /**
   * PATCHes replayed from quarantine (logged in raw the first time), what a DELETE older than
   * current's newer PATCHes makes of current (staged under the id of the PATCH raw logs at
   * current's version, so raw logs nothing more), and the PATCHes it leaves without a row
   * (quarantined). ingest.ts counts the batch's own events only.
   */
  extras: ExtraRecord[];
}

/** What a key holds while a batch is resolved: its row's mapped columns (null: no row) and version (null: unknown). */
interface KeyState {
  columns: Record<string, RowValue> | null;
  version: bigint | null;
}

/** One step of a key's history in version order: an event of the batch, a PATCH waiting in quarantine, a DELETE raw logs. */
type Step = { kind: 'event'; index: number; version: bigint } | { kind: 'replay'; patch: WaitingPatch; version: bigint } | { kind: 'deleted'; key: string; version: bigint };
const RANK = { event: 0, replay: 1, deleted: 2 } as const;

/**
 * The staged records of one mapping's changes (in their order), PATCHes resolved: per key, in version order,
 * from the current row (read once for the batch's keys: their versions, and the whole row of
 * those a PATCH is resolved against) through the batch's own events. An event older than the
 * current row whose newer PATCHes it belongs under (patch-history.ts, read from raw only for
 * such keys) is staged at the current row's version with those PATCHes' columns laid over
 * it, or, a DELETE, makes them PATCHes of no row; raw still logs it as it came. For keys not
 * in current, the PATCHes quarantined for a missing REQUIRED column are replayed among the
 * batch's events (patch-replay.ts).
 */
export async function stageEvents(warehouse: Warehouse, dataset: string, mapping: MappingSpec, records: SyncRecord[], ctx: StageContext): Promise<StagedEvents> {
  const stageCtx = { mapping, now: ctx.now, profile: ctx.profile, withRow: true };
  const items = records.map((record) => ({ record, staged: stageRecord(record, stageCtx) }));
  const live = (i: (typeof items)[number]) => i.staged.reason === null;
  const keys = [...new Set(items.filter(live).map((i) => i.staged.key))];
  if (keys.length === 0) return { staged: items.map(({ staged }) => staged), extras: [] };

  // Every live key's version (is an event late?), but the whole row only of the keys a
  // PATCH of the batch is resolved against: a batch of UPSERTs reads two columns of current.
  const patchKeys = new Set(items.filter((i) => live(i) && i.record.operation === 'PATCH').map((i) => i.staged.key));
  const wholeRows = patchKeys.size > 0 ? await warehouse.readRowsByKey(dataset, mapping.tables.current, [...patchKeys]) : [];
  const versions = await warehouse.readRowsByKey(dataset, mapping.tables.current, keys.filter((k) => !patchKeys.has(k)), ['_version']);
  const state = new Map<string, KeyState>();
  for (const row of wholeRows) state.set(String(row._key), { columns: columnsOf(row, mapping), version: BigInt(String(row._version)) });
  for (const row of versions) state.set(String(row._key), { columns: null, version: BigInt(String(row._version)) });
  const stateOf = (key: string): KeyState => state.get(key) ?? { columns: null, version: null };
  const olderThanCurrent = (key: string, version: string) => {
    const v = stateOf(key).version;
    return v !== null && BigInt(version) < v;
  };
  const late = [...new Set(items.filter((i) => live(i) && olderThanCurrent(i.staged.key, i.staged.version)).map((i) => i.staged.key))];
  const windows = await readWindows(warehouse, dataset, mapping, late, (key) => stateOf(key).version!);

  // Keys not in current: the PATCHes quarantined newer than the batch's oldest event of the key.
  const oldest = new Map<string, bigint>();
  for (const { staged, record } of items) {
    if (staged.reason !== null || record.operation === 'DELETE' || state.has(staged.key)) continue;
    const v = BigInt(staged.version);
    if (!oldest.has(staged.key) || v < oldest.get(staged.key)!) oldest.set(staged.key, v);
  }
  const waiting = await waitingPatches(warehouse, dataset, mapping, oldest);

  const steps: Step[] = items.map((i, index) => ({ kind: 'event' as const, index, version: BigInt(i.staged.version) }));
  for (const list of waiting.patches.values()) for (const patch of list) steps.push({ kind: 'replay', patch, version: patch.version });
  for (const [key, list] of waiting.deletes) for (const version of list) steps.push({ kind: 'deleted', key, version });
  steps.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : RANK[a.kind] - RANK[b.kind] || (a.kind === 'event' && b.kind === 'event' ? a.index - b.index : 0)));

  const resolved = new Map<number, StagedRecord>();
  /** Extras that are a late DELETE's effect (dropped when a newer event of the batch is laid under the window after it). */
  const extras: Array<ExtraRecord & { key: string; underDelete: boolean }> = [];
  /** Per key, the staged record laid under its window last (earlier ones go back to what they were). */
  const laidUnder = new Map<string, { index: number; plain: StagedRecord }>();
  const lay = (key: string, index: number, plain: StagedRecord, staged: StagedRecord) => {
    const before = laidUnder.get(key);
    if (before) resolved.set(before.index, before.plain); // a newer event of the batch lies under the window now
    for (let i = extras.length - 1; i >= 0; i--) if (extras[i]!.key === key && extras[i]!.underDelete) extras.splice(i, 1);
    laidUnder.set(key, { index, plain });
    resolved.set(index, staged);
  };
  /** The PATCH events of the batch (a quarantined PATCH redelivered with its base is not replayed besides). */
  const patchIds = new Set<string>();

  for (const step of steps) {
    if (step.kind === 'deleted') {
      state.set(step.key, { columns: null, version: step.version });
      continue;
    }
    if (step.kind === 'replay') {
      const replayed = replay(step.patch, stateOf(step.patch.key), patchIds, mapping, ctx.now);
      if (!replayed) continue;
      patchIds.add(step.patch.eventId);
      extras.push({ key: step.patch.key, underDelete: false, staged: replayed.staged, origin: originOf(step.patch), fresh: step.patch.unlogged });
      state.set(step.patch.key, { columns: replayed.columns, version: step.version });
      continue;
    }
    const { index } = step;
    const { staged, record } = items[index]!;
    if (staged.reason !== null) continue; // quarantined: changes nothing
    const key = staged.key;
    const version = step.version;
    const st = stateOf(key);
    const older = st.version !== null && version < st.version;
    const window = older ? windows.get(key) : undefined;
    const under = window && (window.base === null || version > window.base) ? window : undefined;
    if (record.operation === 'DELETE') {
      if (!older) state.set(key, { columns: null, version });
      else if (under) {
        const made = deleteUnder(staged, originOf(record), under, mapping, ctx.now);
        if (!made) continue; // a value read back no longer fits: superseded, as before
        lay(key, index, staged, staged);
        for (const extra of made.extras) extras.push({ key, underDelete: true, ...extra });
        state.set(key, { columns: made.columns, version: under.version });
        under.base = version; // the window now stands on this DELETE
      }
      continue;
    }
    let plain: StagedRecord;
    let laid: { staged: StagedRecord; columns: Record<string, RowValue> } | undefined;
    if (record.operation === 'UPSERT') {
      const row = JSON.parse(staged.row!) as Record<string, RowValue>;
      plain = { ...staged, data: rawEventData(row, staged.version) };
      if (under) laid = layUnder(record, plain, mappedColumns(record, mapping), columnsAfter(under, version), under, mapping, ctx.now);
      else if (!older) state.set(key, { columns: row, version });
    } else {
      const patched = resolvePatch(record, staged, st, mapping, ctx.now);
      plain = patched.staged;
      patchIds.add(plain.eventId);
      if (under && patched.columns) {
        // Over the current row, only the columns no newer PATCH of the window carried; over
        // no row (a DELETE of the batch took it), its own columns with theirs laid on them.
        const later = columnsAfter(under, version);
        const carried = mappedColumns(record, mapping);
        laid = st.columns
          ? layUnder(record, plain, st.columns, Object.fromEntries(Object.entries(carried).filter(([c]) => !(c in later))), under, mapping, ctx.now)
          : layUnder(record, plain, carried, later, under, mapping, ctx.now);
      } else if (!older && patched.columns) state.set(key, { columns: patched.columns, version });
    }
    resolved.set(index, plain);
    if (!laid || !under) continue;
    lay(key, index, plain, laid.staged);
    state.set(key, { columns: laid.columns, version: under.version });
    if (record.operation === 'UPSERT') under.base = version; // the window now stands on this UPSERT
    else {
      under.patches.push({ version, eventId: plain.eventId, columns: mappedColumns(record, mapping) });
      under.patches.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    }
  }
  const out = extras.map(({ staged, origin, fresh }) => ({ staged, origin, fresh }));
  return { staged: items.map(({ staged }, index) => resolved.get(index) ?? staged), extras: await withQuarantineFreshness(warehouse, dataset, mapping, out) };
}

/**
 * A PATCH waiting in quarantine laid over the row its key holds at its version, as in-order
 * delivery would have (its raw row marked replayed); undefined while the key has no row (it
 * stays in quarantine), when the batch brings the same PATCH itself, or when the row does not
 * take it.
 */
function replay(p: WaitingPatch, st: KeyState, patchIds: Set<string>, mapping: MappingSpec, now: Date): { staged: StagedRecord; columns: Record<string, RowValue> } | undefined {
  if (st.columns === null || patchIds.has(p.eventId)) return undefined;
  let merged: Record<string, RowValue>;
  try {
    merged = layColumns(st.columns, p.columns, mapping, true);
  } catch (e) {
    if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
    return undefined;
  }
  const row = { ...merged };
  fillPartitionColumn(row, mapping, p.eventTime ? new Date(p.eventTime) : now, 'UPSERT');
  const version = p.version.toString();
  const flags = [...patchFlags(st.version === null ? null : st.version.toString(), Object.keys(p.columns)), REPLAYED_FLAG];
  return {
    staged: { key: p.key, version, hash: rowHash(merged), operation: 'UPSERT', eventId: p.eventId, eventTime: p.eventTime ?? null, score: 1, flags, row: JSON.stringify(row), data: rawEventData(row, version), reason: null },
    columns: row,
  };
}

/**
 * An event staged under a window of newer PATCHes: `base` (its own columns, or the current
 * row's) with `over` laid on it, at the window's version, so the merge replaces the current
 * row (same version, another hash). Its event_id and raw `data` stay the event's own. When a
 * value read back from raw no longer fits its column (the mapping changed), the event is
 * staged as it came and is superseded, as before.
 */
function layUnder(
  record: SyncRecord,
  plain: StagedRecord,
  base: Record<string, RowValue>,
  over: Record<string, RowValue>,
  window: PatchWindow,
  mapping: MappingSpec,
  now: Date,
): { staged: StagedRecord; columns: Record<string, RowValue> } | undefined {
  let merged: Record<string, RowValue>;
  try {
    merged = layColumns(base, over, mapping);
  } catch (e) {
    if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
    return undefined;
  }
  const row = { ...merged };
  fillPartitionColumn(row, mapping, recordEventTime(record) ?? now, 'UPSERT');
  return { staged: { ...plain, version: window.version.toString(), hash: rowHash(merged), row: JSON.stringify(row) }, columns: row };
}

/**
 * A PATCH as the full UPSERT it amounts to: `base` (no columns when the key has no row) with
 * the columns the PATCH carries laid over it; columns neither has are empty. Its event_id is
 * the PATCH's own (operation PATCH, hash of the carried columns), so a redelivery dedups
 * whatever the base is by then; its raw row is marked (patch-history.ts). A merged row a
 * column cannot take (a REQUIRED column the PATCH of a new key leaves empty) is quarantined;
 * a PATCH of no row so, with what a replay needs (patch-replay.ts).
 */
function resolvePatch(record: SyncRecord, staged: StagedRecord, base: KeyState, mapping: MappingSpec, now: Date): { staged: StagedRecord; columns?: Record<string, RowValue> } {
  const carried = mappedColumns(record, mapping);
  const eventId = changeEventId({ kind: mapping.kind, key: staged.key, version: staged.version, operation: 'PATCH', contentHash: rowHash(carried) });
  let merged: Record<string, RowValue>;
  try {
    merged = layColumns(base.columns, carried, mapping, true);
  } catch (e) {
    if (!isMlbridgeError(e, 'INVALID_ARGUMENT')) throw e;
    const column = typeof e.details?.column === 'string' ? e.details.column : '?';
    const quarantined = { ...staged, eventId, hash: `q:${rowHash(carried)}`, row: null, reason: '', score: 0 };
    if (base.columns) {
      const reason = `${mapping.kind} ${staged.key}: PATCH over the current row: column ${column}: ${e.message}`;
      return { staged: { ...quarantined, data: safeJson(record.data), reason, flags: [...staged.flags, `${INCOMPLETE_PREFIX}${column}`] } };
    }
    // Kept as raw would log the PATCH (its version and carried columns), so an older event
    // giving the key a row can replay it (patch-replay.ts).
    const flags = [...staged.flags, ...patchFlags(null, Object.keys(carried)), `${INCOMPLETE_PREFIX}${column}`];
    return { staged: { ...quarantined, data: rawEventData(carried, staged.version), reason: incompletePatchReason(mapping, staged.key, staged.version, column), flags } };
  }
  const hash = rowHash(merged);
  const row = { ...merged };
  fillPartitionColumn(row, mapping, recordEventTime(record) ?? now, 'UPSERT');
  const baseVersion = base.columns && base.version !== null ? base.version.toString() : null;
  const flags = [...staged.flags, ...patchFlags(baseVersion, Object.keys(carried))];
  return { staged: { ...staged, eventId, hash, row: JSON.stringify(row), data: rawEventData(row, staged.version), flags }, columns: row };
}

/** JSON text of any value (bigints as decimal strings), for identities and stored payloads. */
export function safeJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null';
}
