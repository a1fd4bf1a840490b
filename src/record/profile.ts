// Per-kind profiles of the data already synced, which anomaly scoring compares new
// records against: numeric columns by median and MAD, low-cardinality columns by the
// values seen, every column by its null rate. Learning is pure (rows in, profile out);
// reading and writing the shared `_mlbridge_profiles` table is the engine's
// (engine/profiles.ts).

import type { ColumnType } from '../model/schema.js';
import type { MappingSpec } from '../spec/types.js';
import type { Row } from '../warehouse/warehouse.js';
import { coerceField } from './coerce.js';
import { mulberry32 } from '../model/prng.js';

export { PROFILES_TABLE } from '../spec/defaults.js';
/** Numeric values kept per column to compute median/MAD; beyond it, a seeded reservoir sample. */
export const NUMERIC_SAMPLE_LIMIT = 10_000;
/**
 * A column is categorical only when its values repeat: at most maxCardinality distinct
 * values, each seen this many times on average. Otherwise a unique column (emails, names)
 * of a small table would flag every new value as unseen.
 */
export const MIN_ROWS_PER_CATEGORY = 5;

export interface NumericProfile {
  median: number;
  /** Median absolute deviation from the median (unscaled). */
  mad: number;
  /** Mean absolute deviation from the median: the scale used when MAD is 0. */
  meanAbsDev: number;
  /** Numeric values seen. */
  count: number;
}

export interface FieldProfile {
  type: ColumnType;
  /** Rows seen, nulls included. */
  count: number;
  nulls: number;
  /** nulls / count (0 when count is 0). */
  nullRate: number;
  numeric?: NumericProfile;
  /**
   * Sorted distinct values (as strings) of a STRING/BOOL column with at most maxCardinality
   * of them, each seen MIN_ROWS_PER_CATEGORY times on average.
   */
  values?: string[];
}

export interface KindProfile {
  formatVersion: 1;
  kind: string;
  /** Rows the profile was learned from. */
  sampleCount: number;
  maxCardinality: number;
  /** By column name. */
  fields: Record<string, FieldProfile>;
}

const NUMERIC_TYPES: ReadonlySet<ColumnType> = new Set(['INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC']);
const CATEGORICAL_TYPES: ReadonlySet<ColumnType> = new Set(['STRING', 'BOOL']);

export function isNumericType(t: ColumnType): boolean {
  return NUMERIC_TYPES.has(t);
}
export function isCategoricalType(t: ColumnType): boolean {
  return CATEGORICAL_TYPES.has(t);
}

/** The number a value stands for in a numeric column, or undefined. */
export function numericValue(v: unknown, type: ColumnType): number | undefined {
  try {
    const c = coerceField(v, { name: '_', type, mode: 'NULLABLE' });
    const n = typeof c === 'number' ? c : typeof c === 'string' ? Number(c) : NaN;
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The string a value is compared by in a categorical column, or undefined. */
export function categoryValue(v: unknown, type: ColumnType): string | undefined {
  try {
    const c = coerceField(v, { name: '_', type, mode: 'NULLABLE' });
    return c === null ? undefined : String(c);
  } catch {
    return undefined;
  }
}

export function isNullish(v: unknown, repeated = false): boolean {
  return v === null || v === undefined || (repeated && Array.isArray(v) && v.length === 0);
}


function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function median(sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const mid = n >> 1;
  return n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface FieldAcc {
  type: ColumnType;
  repeated: boolean;
  count: number;
  nulls: number;
  numCount: number;
  sample: number[];
  random: () => number;
  /** undefined once the column has more than maxCardinality distinct values. */
  distinct?: Set<string>;
}

/** A ProfileLearner's state as plain data (see state() and merge()). */
export interface LearnerState {
  rows: number;
  fields: Record<string, { count: number; nulls: number; numCount: number; sample: number[]; distinct?: string[] }>;
}

/** Learns a profile row by row (memory bounded per column), for streams of rows. */
export class ProfileLearner {
  private readonly acc = new Map<string, FieldAcc>();
  private rows = 0;

  constructor(
    private readonly mapping: Pick<MappingSpec, 'kind' | 'fields' | 'scoring'>,
    readonly maxCardinality = mapping.scoring?.anomaly.maxCardinality ?? 50,
  ) {
    for (const f of mapping.fields) {
      const acc: FieldAcc = {
        type: f.type,
        repeated: f.mode === 'REPEATED',
        count: 0,
        nulls: 0,
        numCount: 0,
        sample: [],
        random: mulberry32(hashString(`${mapping.kind}.${f.name}`)),
      };
      if (!acc.repeated && isCategoricalType(f.type)) acc.distinct = new Set();
      this.acc.set(f.name, acc);
    }
  }

  /** Adds one row of the mapping's current table (values by column name). */
  add(row: Row): void {
    this.rows++;
    for (const [name, a] of this.acc) {
      const v = row[name];
      a.count++;
      if (isNullish(v, a.repeated)) {
        a.nulls++;
        continue;
      }
      if (a.repeated) continue;
      if (isNumericType(a.type)) {
        const n = numericValue(v, a.type);
        if (n !== undefined) {
          a.numCount++;
          if (a.sample.length < NUMERIC_SAMPLE_LIMIT) a.sample.push(n);
          else {
            const j = Math.floor(a.random() * a.numCount);
            if (j < NUMERIC_SAMPLE_LIMIT) a.sample[j] = n;
          }
        }
      }
      if (a.distinct) {
        const c = categoryValue(v, a.type);
        if (c !== undefined) {
          a.distinct.add(c);
          if (a.distinct.size > this.maxCardinality) delete a.distinct;
        }
      }
    }
  }

  /**
   * What was learned so far, as plain data (for a worker thread to send): counts, the
   * numeric samples and the distinct values per column.
   */
  state(): LearnerState {
    const fields: LearnerState['fields'] = {};
    for (const [name, a] of this.acc) {
      fields[name] = { count: a.count, nulls: a.nulls, numCount: a.numCount, sample: a.sample, ...(a.distinct ? { distinct: [...a.distinct] } : {}) };
    }
    return { rows: this.rows, fields };
  }

  /**
   * Adds what another learner learned (of other rows). Counts add up, distinct values are
   * united (a column past maxCardinality stays past it), and the numeric samples are pooled
   * and, past NUMERIC_SAMPLE_LIMIT, thinned evenly: deterministic for the same states merged
   * in the same order.
   */
  merge(other: LearnerState): void {
    this.rows += other.rows;
    for (const [name, a] of this.acc) {
      const o = other.fields[name];
      if (!o) continue;
      a.count += o.count;
      a.nulls += o.nulls;
      a.numCount += o.numCount;
      const pooled = a.sample.concat(o.sample);
      if (pooled.length <= NUMERIC_SAMPLE_LIMIT) a.sample = pooled;
      else {
        const step = pooled.length / NUMERIC_SAMPLE_LIMIT;
        a.sample = Array.from({ length: NUMERIC_SAMPLE_LIMIT }, (_, i) => pooled[Math.floor(i * step)]!);
      }
      if (a.distinct) {
        if (!o.distinct) delete a.distinct;
        else {
          for (const v of o.distinct) a.distinct.add(v);
          if (a.distinct.size > this.maxCardinality) delete a.distinct;
        }
      }
    }
  }

  finish(): KindProfile {
    const fields: Record<string, FieldProfile> = {};
    for (const [name, a] of this.acc) {
      const fp: FieldProfile = { type: a.type, count: a.count, nulls: a.nulls, nullRate: a.count ? a.nulls / a.count : 0 };
      if (a.numCount > 0) {
        const sorted = [...a.sample].sort((x, y) => x - y);
        const med = median(sorted);
        const dev = sorted.map((x) => Math.abs(x - med)).sort((x, y) => x - y);
        fp.numeric = {
          median: med,
          mad: median(dev),
          meanAbsDev: dev.reduce((s, x) => s + x, 0) / dev.length,
          count: a.numCount,
        };
      }
      if (a.distinct && a.distinct.size > 0 && a.distinct.size * MIN_ROWS_PER_CATEGORY <= a.count - a.nulls) {
        fp.values = [...a.distinct].sort();
      }
      fields[name] = fp;
    }
    return { formatVersion: 1, kind: this.mapping.kind, sampleCount: this.rows, maxCardinality: this.maxCardinality, fields };
  }
}

/** Learns a mapping's profile from rows of its current table. Deterministic. */
export function learnProfile(rows: Iterable<Row>, mapping: Pick<MappingSpec, 'kind' | 'fields' | 'scoring'>): KindProfile {
  const learner = new ProfileLearner(mapping);
  for (const row of rows) learner.add(row);
  return learner.finish();
}

/** Checks a stored profile's shape; undefined when it is not one this version reads. */
export function parseProfile(value: unknown): KindProfile | undefined {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Partial<KindProfile>;
  if (p.formatVersion !== 1 || typeof p.kind !== 'string' || typeof p.sampleCount !== 'number') return undefined;
  if (typeof p.fields !== 'object' || p.fields === null) return undefined;
  return p as KindProfile;
}
