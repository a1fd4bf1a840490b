// The events of one micro-batch of `mlbridge serve` as staged records, for one mapping: each
// change staged by the row model every write path shares (record/stage-record.ts), and then,
// per key in version order, PATCHes resolved into the full rows they amount to, and events
// that arrive older than newer PATCHes laid under them (patch-history.ts). engine/ingest.ts
// merges what this returns.

import { isMlbridgeError } from '../model/errors.js';
import type { StagedRecord } from '../model/staged.js';
import { coerceField, type CoercionField } from '../record/coerce.js';
import { changeEventId } from '../record/event-id.js';
import type { KindProfile } from '../record/profile.js';
import { fillPartitionColumn, mappedColumns, rowHash } from '../record/row.js';
import { stageRecord } from '../record/stage-record.js';
import { recordEventTime, type SyncRecord } from '../record/sync-record.js';
import type { FieldSpec, MappingSpec } from '../spec/types.js';
import type { Row, RowValue, Warehouse } from '../warehouse/warehouse.js';
import { columnsAfter, patchFlags, patchWindow, rawEventData, type PatchWindow } from './patch-history.js';

export interface StageContext {
  now: Date;
  profile: KindProfile | null;
}

/** What a key holds while a batch is resolved: its row's mapped columns (null: no row) and version (null: unknown). */
interface KeyState {
  columns: Record<string, RowValue> | null;
  version: bigint | null;
}

/**
 * The staged records of one mapping's changes (in their order), PATCHes resolved: per key, in version order,
 * from the current row (read once for the batch's UPSERT and PATCH keys) through the batch's
 * own events. An UPSERT or PATCH older than the current row whose newer PATCHes it belongs
 * under (patch-history.ts, read from raw only for such keys) is staged at the current row's
 * version with those PATCHes' columns laid over it; raw still logs it as it came.
 */
export async function stageEvents(warehouse: Warehouse, dataset: string, mapping: MappingSpec, records: SyncRecord[], ctx: StageContext): Promise<StagedRecord[]> {
  const stageCtx = { mapping, now: ctx.now, profile: ctx.profile, withRow: true };
  const items = records.map((record) => ({ record, staged: stageRecord(record, stageCtx) }));
  const accepted = (i: (typeof items)[number]) => i.staged.reason === null && i.record.operation !== 'DELETE';
  const keys = [...new Set(items.filter(accepted).map((i) => i.staged.key))];
  if (keys.length === 0) return items.map(({ staged }) => staged);

  // Every accepted key's version (is an event late?), but the whole row only of the keys a
  // PATCH of the batch is resolved against: a batch of UPSERTs reads two columns of current.
  const patchKeys = new Set(items.filter((i) => accepted(i) && i.record.operation === 'PATCH').map((i) => i.staged.key));
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
  const late = [...new Set(items.filter((i) => accepted(i) && olderThanCurrent(i.staged.key, i.staged.version)).map((i) => i.staged.key))];
  const windows = new Map<string, PatchWindow>();
  if (late.length > 0) {
    const history = new Map<string, Row[]>();
    for (const row of await warehouse.readRowsByKey(dataset, mapping.tables.raw, late, ['event_id', 'operation', 'data', 'flags'])) history.set(String(row._key), [...(history.get(String(row._key)) ?? []), row]);
    for (const key of late) {
      const w = patchWindow(history.get(key) ?? [], stateOf(key).version!);
      if (w) windows.set(key, w);
    }
  }

  const inOrder = items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => compareVersions(a.item.staged.version, b.item.staged.version) || a.index - b.index);
  const resolved = new Map<number, StagedRecord>();
  /** Per key, the staged record laid under its window last (earlier ones go back to what they were). */
  const laidUnder = new Map<string, { index: number; plain: StagedRecord }>();
  for (const { item, index } of inOrder) {
    const { staged, record } = item;
    if (staged.reason !== null) continue; // quarantined: changes nothing
    const key = staged.key;
    const version = BigInt(staged.version);
    const st = stateOf(key);
    const older = st.version !== null && version < st.version;
    if (record.operation === 'DELETE') {
      if (!older) state.set(key, { columns: null, version });
      continue;
    }
    const window = older ? windows.get(key) : undefined;
    const under = window && (window.base === null || version > window.base) ? window : undefined;
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
      if (under && patched.columns && st.columns) {
        // Over the current row, only the columns no newer PATCH of the window carried.
        const later = columnsAfter(under, version);
        const carried = Object.fromEntries(Object.entries(mappedColumns(record, mapping)).filter(([c]) => !(c in later)));
        laid = layUnder(record, plain, st.columns, carried, under, mapping, ctx.now);
      } else if (!older && patched.columns) state.set(key, { columns: patched.columns, version });
    }
    resolved.set(index, plain);
    if (!laid || !under) continue;
    const before = laidUnder.get(key);
    if (before) resolved.set(before.index, before.plain); // a newer event of the batch lies under the window now
    laidUnder.set(key, { index, plain });
    resolved.set(index, laid.staged);
    state.set(key, { columns: laid.columns, version: under.version });
    if (record.operation === 'UPSERT') under.base = version; // the window now stands on this UPSERT
    else {
      under.patches.push({ version, eventId: plain.eventId, columns: mappedColumns(record, mapping) });
      under.patches.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    }
  }
  return items.map(({ staged }, index) => resolved.get(index) ?? staged);
}

function compareVersions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A field addressed by its column name (how current rows hold it), for re-coercion. */
function columnField(f: FieldSpec): CoercionField {
  return { name: f.name, type: f.type, mode: f.mode, from: [f.name], ...(f.fields ? { fields: f.fields.map(columnField) } : {}) };
}

/** The mapped columns of a current row, in the form coercion gives them (what `_hash` covers). */
function columnsOf(row: Row, mapping: MappingSpec): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const f of mapping.fields) out[f.name] = row[f.name] ?? null;
  return out;
}

/**
 * `base` with `over` laid on it, every column in the form coercion gives it (values read
 * back from current or raw are coerced again; `over` is left as is when `overCoerced`); throws INVALID_ARGUMENT naming the column a
 * value does not fit.
 */
function layColumns(base: Record<string, RowValue> | null, over: Record<string, RowValue>, mapping: MappingSpec, overCoerced = false): Record<string, RowValue> {
  const merged: Record<string, RowValue> = {};
  for (const f of mapping.fields) {
    if (f.name in over) merged[f.name] = overCoerced ? over[f.name]! : coerceField(over[f.name] ?? null, columnField(f));
    else merged[f.name] = coerceField(base?.[f.name] ?? null, columnField(f));
  }
  return merged;
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
 * column cannot take (a REQUIRED column the PATCH of a new key leaves empty) is quarantined.
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
    const reason = base.columns
      ? `${mapping.kind} ${staged.key}: PATCH over the current row: column ${column}: ${e.message}`
      : `${mapping.kind} ${staged.key}: PATCH of a key not in the current table leaves column ${column} empty, and it is REQUIRED`;
    return {
      staged: { ...staged, eventId, hash: `q:${rowHash(carried)}`, row: null, data: safeJson(record.data), reason, score: 0, flags: [...staged.flags, `patch_incomplete:${column}`] },
    };
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
