// The record score: how far a record can be trusted, and what to do with it.
//
//   freshness    = 0.5 ^ (lag / half_life)                    lag = now − eventTime (≥ 0);
//                  an eventTime ahead of now by more than 60 s decays the same way
//   completeness = required columns present and coercible to their declared type
//                  ÷ (required columns checked + optional columns of the wrong type)
//   anomaly      = 1 − min(1, Σ weight of anomaly flags)      (1 without a usable profile)
//   confidence   = weighted mean of the three (weights from the spec), clamped to 0..1
//   action       = ingest if confidence ≥ ingest; quarantine if < quarantine; else defer
//   priority     = high for DELETE (deletions propagate first); low when confidence is
//                  below the quarantine threshold; normal otherwise
//
// Operations: DELETE carries no data (completeness 1, no anomaly checks); PATCH is scored
// on the fields it carries only (absent columns are neither missing nor null).
// Every flag explains itself (see FLAG_WEIGHTS and the README). Scores are rounded to
// 6 decimals so equal inputs give equal outputs on every platform, and boundaries
// compare exactly (confidence exactly at `ingest` ingests).

import type { FieldSpec, MappingSpec } from '../spec/types.js';
import { valueTypeName } from './coerce-error.js';
import { coerceField } from './coerce.js';
import { RECORD_DEFAULT_SCORING, type ScoringConfig } from './defaults.js';
import { fieldValue, hasFieldValue } from './extract.js';
import { categoryValue, isCategoricalType, isNullish, isNumericType, numericValue, type KindProfile } from './profile.js';
import { recordEventTime, type SyncRecord } from './sync-record.js';

export type Priority = 'high' | 'normal' | 'low';
export type RecordAction = 'ingest' | 'defer' | 'quarantine';

export interface RecordScore {
  /** 0..1. */
  confidence: number;
  /** 0..1. */
  freshness: number;
  /** 0..1. */
  completeness: number;
  /** 0..1: 1 means nothing anomalous. */
  anomaly: number;
  /** now − eventTime in seconds (≥ 0); 0 when the record has no eventTime. */
  lagSeconds: number;
  flags: string[];
  priority: Priority;
  action: RecordAction;
}

export interface ScoreOptions {
  /** Default: mapping.scoring, else the built-in defaults. */
  scoring?: ScoringConfig;
  mapping?: Pick<MappingSpec, 'kind' | 'fields' | 'scoring'>;
  profile?: KindProfile | null;
  /** Default: the current time. */
  now?: Date;
  /**
   * The record's mapped columns, already coerced to their types (a reconcile has them):
   * completeness then reads them instead of coercing every column a second time.
   */
  coerced?: Record<string, unknown>;
}

/** How much each anomaly flag takes off the anomaly component. */
/** A column null in at most this share of synced rows counts as "rarely null". */
const RARELY_NULL = 0.05;

export const FLAG_WEIGHTS = { anomaly: 0.5, unseen_value: 0.35, null_rate_shift: 0.25 } as const;
/** An eventTime further ahead of `now` than this is flagged (clock skew). */
export const FUTURE_TOLERANCE_SECONDS = 60;

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
const finiteOr = (x: unknown, d: number) => (typeof x === 'number' && Number.isFinite(x) ? x : d);
const clamp01 = (x: number) => (Number.isNaN(x) ? 0 : Math.min(1, Math.max(0, x)));

/** Seconds as shown in flags: integers plain, fractions to the millisecond. */
function secs(x: number): string {
  return `${Number.isInteger(x) ? x : Number(x.toFixed(3))}s`;
}
/** Rates and z-scores in flags: up to two (z: one) decimals. */
function num(x: number, digits: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return String(Number(x.toFixed(digits)));
}
function shortValue(v: string): string {
  return v.length > 40 ? `${v.slice(0, 37)}...` : v;
}

/** The columns completeness checks: scoring.required, else the mapping's REQUIRED fields. */
function requiredColumns(scoring: ScoringConfig, fields: FieldSpec[] | undefined): string[] {
  if (scoring.required) return scoring.required;
  return (fields ?? []).filter((f) => f.mode === 'REQUIRED').map((f) => f.name);
}

/**
 * The required columns and the fields by name, worked out once per mapping (and scoring)
 * rather than once per record: a reconcile scores every entity of a kind with the same ones.
 */
const completenessCache = new WeakMap<object, { scoring: ScoringConfig; required: Set<string>; byName: Map<string, FieldSpec> }>();
const NO_FIELDS: FieldSpec[] = [];
function completenessColumns(scoring: ScoringConfig, fields: FieldSpec[] | undefined): { required: Set<string>; byName: Map<string, FieldSpec> } {
  const list = fields ?? NO_FIELDS;
  const hit = completenessCache.get(list);
  if (hit && hit.scoring === scoring) return hit;
  const made = { scoring, required: new Set(requiredColumns(scoring, fields)), byName: new Map(list.map((f) => [f.name, f])) };
  completenessCache.set(list, made);
  return made;
}

interface Part {
  value: number;
  flags: string[];
}

function freshnessPart(record: SyncRecord, scoring: ScoringConfig, now: Date): Part & { lag: number } {
  const flags: string[] = [];
  const eventTime = recordEventTime(record);
  if (!eventTime) return { value: 1, lag: 0, flags: ['no_event_time'] };
  const raw = (now.getTime() - eventTime.getTime()) / 1000;
  const ahead = -raw > FUTURE_TOLERANCE_SECONDS ? -raw : 0;
  if (ahead) flags.push(`future_event_time:ahead=${secs(ahead)}`);
  const lag = Math.max(0, raw);
  const halfLife = finiteOr(scoring.freshness?.halfLifeSeconds, RECORD_DEFAULT_SCORING.freshness.halfLifeSeconds);
  const maxLag = finiteOr(scoring.freshness?.maxLagSeconds, RECORD_DEFAULT_SCORING.freshness.maxLagSeconds);
  // A clock ahead by more than the tolerance is trusted no more than one behind by as
  // much: such a record would also carry a future _version that outranks real updates.
  const distance = Math.max(lag, ahead);
  const value = halfLife > 0 ? 0.5 ** (distance / halfLife) : distance > 0 ? 0 : 1;
  if (lag > maxLag) flags.push(`stale:lag=${secs(lag)}>max=${secs(maxLag)}`);
  return { value, lag, flags };
}

function completenessPart(
  record: SyncRecord,
  scoring: ScoringConfig,
  mapping: ScoreOptions['mapping'],
  coerced?: Record<string, unknown>,
): Part & { missing: Set<string> } {
  const missing = new Set<string>();
  if (record.operation === 'DELETE') return { value: 1, flags: [], missing };
  const flags: string[] = [];
  const fields = mapping?.fields;
  const { required, byName } = completenessColumns(scoring, fields);
  if (coerced && record.operation === 'UPSERT' && fields) {
    // Every column coerced: none holds a wrong type; only required ones can be missing.
    let okCoerced = 0;
    for (const name of required) {
      const field = byName.get(name);
      if (!field || !(name in coerced)) return completenessPart(record, scoring, mapping);
      if (isNullish(coerced[name], field.mode === 'REPEATED')) {
        missing.add(name);
        flags.push(`missing_required:${name}`);
      } else okCoerced++;
    }
    return { value: required.size === 0 ? 1 : okCoerced / required.size, flags, missing };
  }
  let checked = 0;
  let ok = 0;
  const check = (name: string, field: FieldSpec | undefined, isRequired: boolean) => {
    const spec = field ?? { name, from: [name] };
    const carried = hasFieldValue(record, spec);
    if (record.operation === 'PATCH' && !carried) return;
    const value = fieldValue(record, spec);
    const empty = isNullish(value, field?.mode === 'REPEATED');
    if (empty) {
      if (!isRequired) return;
      checked++;
      missing.add(name);
      flags.push(`missing_required:${name}`);
      return;
    }
    if (field) {
      try {
        coerceField(value, field);
      } catch {
        checked++;
        const shown = field.mode === 'REPEATED' ? `ARRAY<${field.type}>` : field.type;
        const got = valueTypeName(value);
        flags.push(`wrong_type:${name}=${got === shown ? `${got}(invalid)` : got}!=${shown}`);
        return;
      }
    }
    if (isRequired) {
      checked++;
      ok++;
    }
  };
  for (const name of required) check(name, byName.get(name), true);
  // Optional columns only count when they hold a value the column cannot take.
  for (const f of fields ?? []) if (!required.has(f.name)) check(f.name, f, false);
  return { value: checked === 0 ? 1 : ok / checked, flags, missing };
}

function anomalyPart(
  record: SyncRecord,
  scoring: ScoringConfig,
  mapping: ScoreOptions['mapping'],
  profile: KindProfile | null | undefined,
  missing: Set<string>,
): Part {
  if (record.operation === 'DELETE') return { value: 1, flags: [] };
  if (!profile) return { value: 1, flags: ['no_profile'] };
  const a = scoring.anomaly ?? RECORD_DEFAULT_SCORING.anomaly;
  const minSamples = finiteOr(a.minSamples, RECORD_DEFAULT_SCORING.anomaly.minSamples);
  if (profile.sampleCount < minSamples) {
    return { value: 1, flags: [`profile_too_small:n=${profile.sampleCount}<min=${minSamples}`] };
  }
  const zThreshold = finiteOr(a.zThreshold, RECORD_DEFAULT_SCORING.anomaly.zThreshold);
  const shift = finiteOr(a.nullRateShift, RECORD_DEFAULT_SCORING.anomaly.nullRateShift);
  const flags: string[] = [];
  let weight = 0;
  const columns: Array<Pick<FieldSpec, 'name' | 'from' | 'mode'>> =
    mapping?.fields ?? Object.keys(profile.fields).map((name) => ({ name, from: [name], mode: 'NULLABLE' as const }));
  for (const col of columns) {
    const fp = profile.fields[col.name];
    if (!fp || missing.has(col.name)) continue;
    if (record.operation === 'PATCH' && !hasFieldValue(record, col)) continue;
    const value = fieldValue(record, col);
    if (isNullish(value, col.mode === 'REPEATED')) {
      // One record's null rate is always 1, so any column that is sometimes null would
      // look shifted; only a column that is (almost) never null makes a lone null news.
      if (fp.nullRate <= RARELY_NULL && 1 - fp.nullRate > shift) {
        flags.push(`null_rate_shift:${col.name}=${num(fp.nullRate, 2)}->1`);
        weight += FLAG_WEIGHTS.null_rate_shift;
      }
      continue;
    }
    if (col.mode === 'REPEATED') continue;
    if (fp.numeric && isNumericType(fp.type)) {
      const x = numericValue(value, fp.type);
      if (x !== undefined) {
        const { median, mad, meanAbsDev } = fp.numeric;
        // Robust z: MAD scaled to σ (×1.4826); when MAD is 0, the mean absolute deviation
        // scaled likewise (×1.2533); when both are 0, any other value is infinitely far.
        const scale = mad > 0 ? mad * 1.4826 : meanAbsDev > 0 ? meanAbsDev * 1.2533 : 0;
        const d = x - median;
        const z = scale > 0 ? d / scale : d === 0 ? 0 : d > 0 ? Infinity : -Infinity;
        if (Math.abs(z) > zThreshold) {
          flags.push(`anomaly:${col.name}:z=${num(z, 1)}`);
          weight += FLAG_WEIGHTS.anomaly;
        }
      }
    }
    if (fp.values && isCategoricalType(fp.type)) {
      const c = categoryValue(value, fp.type);
      if (c !== undefined && !fp.values.includes(c)) {
        flags.push(`unseen_value:${col.name}=${shortValue(c)}`);
        weight += FLAG_WEIGHTS.unseen_value;
      }
    }
  }
  return { value: 1 - Math.min(1, weight), flags };
}

/** The effective scoring: options.scoring, else the mapping's, else the built-in defaults. */
export function effectiveScoring(options: ScoreOptions = {}): ScoringConfig {
  return options.scoring ?? (options.mapping?.scoring as ScoringConfig | undefined) ?? RECORD_DEFAULT_SCORING;
}

/** Scores one record. Pure and deterministic for the same record, options and `now`. */
export function scoreRecordFreshness(record: SyncRecord, options: ScoreOptions = {}): RecordScore {
  const scoring = effectiveScoring(options);
  const now = options.now ?? new Date();
  const fresh = freshnessPart(record, scoring, now);
  const complete = completenessPart(record, scoring, options.mapping, options.coerced);
  const anomaly = anomalyPart(record, scoring, options.mapping, options.profile, complete.missing);

  const w = scoring.weights ?? RECORD_DEFAULT_SCORING.weights;
  const wf = Math.max(0, finiteOr(w.freshness, 0));
  const wc = Math.max(0, finiteOr(w.completeness, 0));
  const wa = Math.max(0, finiteOr(w.anomaly, 0));
  const total = wf + wc + wa;
  const freshness = round6(clamp01(fresh.value));
  const completeness = round6(clamp01(complete.value));
  const anomalyScore = round6(clamp01(anomaly.value));
  // Weights are meant to sum to 1; dividing by their sum keeps the score in 0..1 anyway.
  const confidence = total > 0 ? round6(clamp01((wf * freshness + wc * completeness + wa * anomalyScore) / total)) : 0;

  const ingest = finiteOr(scoring.ingest, RECORD_DEFAULT_SCORING.ingest);
  const quarantine = finiteOr(scoring.quarantine, RECORD_DEFAULT_SCORING.quarantine);
  const action: RecordAction = confidence >= ingest ? 'ingest' : confidence < quarantine ? 'quarantine' : 'defer';
  const priority: Priority = record.operation === 'DELETE' ? 'high' : confidence < quarantine ? 'low' : 'normal';
  return {
    confidence,
    freshness,
    completeness,
    anomaly: anomalyScore,
    lagSeconds: round6(fresh.lag),
    flags: [...fresh.flags, ...complete.flags, ...anomaly.flags],
    priority,
    action,
  };
}
