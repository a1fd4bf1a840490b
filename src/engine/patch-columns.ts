// Rows as columns while serve resolves PATCHes (stage-events.ts): a current row's mapped
// columns, one row's columns laid over another's, each value in the form coercion gives it
// (what `_hash` covers), and the reason a PATCH of no row is quarantined.

import type { FieldSpec, MappingSpec } from '../spec/types.js';
import { coerceField, type CoercionField } from '../record/coerce.js';
import type { Row, RowValue } from '../warehouse/warehouse.js';

/** A field addressed by its column name (how current rows hold it), for re-coercion. */
export function columnField(f: FieldSpec): CoercionField {
  return { name: f.name, type: f.type, mode: f.mode, from: [f.name], ...(f.fields ? { fields: f.fields.map(columnField) } : {}) };
}

/** The mapped columns of a current row, in the form coercion gives them (what `_hash` covers). */
export function columnsOf(row: Row, mapping: MappingSpec): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const f of mapping.fields) out[f.name] = row[f.name] ?? null;
  return out;
}

/**
 * `base` with `over` laid on it, every column in the form coercion gives it (values read
 * back from current or raw are coerced again; `over` is left as is when `overCoerced`); throws INVALID_ARGUMENT naming the column a
 * value does not fit.
 */
export function layColumns(base: Record<string, RowValue> | null, over: Record<string, RowValue>, mapping: MappingSpec, overCoerced = false): Record<string, RowValue> {
  const merged: Record<string, RowValue> = {};
  for (const f of mapping.fields) {
    if (f.name in over) merged[f.name] = overCoerced ? over[f.name]! : coerceField(over[f.name] ?? null, columnField(f));
    else merged[f.name] = coerceField(base?.[f.name] ?? null, columnField(f));
  }
  return merged;
}

/**
 * Why a PATCH of a key with no row is quarantined: the same text whether it arrived in order,
 * or was laid over no row later because an older DELETE arrived after it.
 */
export function incompletePatchReason(mapping: MappingSpec, key: string, version: string, column: string): string {
  return `${mapping.kind} ${key}: PATCH at version ${version} of a key not in the current table leaves column ${column} empty, and it is REQUIRED`;
}
