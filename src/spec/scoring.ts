// The `scoring` block, at the spec level (defaults) and per mapping (overrides). Each
// level is read as a partial override, merged over the level above, and the merged
// result is checked where that level changed something (so one bad default is reported
// once, not once per mapping).

import type { SourceRange } from '../model/diagnostic.js';
import { join, type Reader } from './reader.js';
import type { ScoringSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

export interface ScoringOverrides {
  ingest?: number;
  quarantine?: number;
  halfLifeSeconds?: number;
  maxLagSeconds?: number;
  zThreshold?: number;
  maxCardinality?: number;
  nullRateShift?: number;
  minSamples?: number;
  weights: Partial<ScoringSpec['weights']>;
  required?: Array<{ name: string; pos: SourceRange }>;
  pos: SourceRange;
  ingestPos?: SourceRange;
  quarantinePos?: SourceRange;
  weightsPos?: SourceRange;
}

const KEYS = ['ingest', 'quarantine', 'freshness', 'anomaly', 'weights'] as const;
const WEIGHT_KEYS = ['freshness', 'completeness', 'anomaly'] as const;

export function readScoring(r: Reader, node: YNode, path: string, allowRequired: boolean): ScoringOverrides | undefined {
  const f = r.object(node, path, allowRequired ? [...KEYS, 'required'] : KEYS);
  if (!f) return undefined;
  const o: ScoringOverrides = { weights: {}, pos: node.pos };
  const unit = { min: 0, max: 1 };
  o.ingest = r.number(f.ingest, join(path, 'ingest'), unit);
  o.quarantine = r.number(f.quarantine, join(path, 'quarantine'), unit);
  if (f.ingest) o.ingestPos = f.ingest.value.pos;
  if (f.quarantine) o.quarantinePos = f.quarantine.value.pos;
  if (f.freshness) {
    const p = join(path, 'freshness');
    const fr = r.object(f.freshness.value, p, ['half_life', 'max_lag']);
    if (fr) {
      o.halfLifeSeconds = r.duration(fr.half_life, join(p, 'half_life'), { above: 0 });
      o.maxLagSeconds = r.duration(fr.max_lag, join(p, 'max_lag'), { above: 0 });
    }
  }
  if (f.anomaly) {
    const p = join(path, 'anomaly');
    const an = r.object(f.anomaly.value, p, ['z_threshold', 'max_cardinality', 'null_rate_shift', 'min_samples']);
    if (an) {
      o.zThreshold = r.number(an.z_threshold, join(p, 'z_threshold'), { above: 0 });
      o.maxCardinality = r.number(an.max_cardinality, join(p, 'max_cardinality'), { integer: true, min: 1 });
      o.nullRateShift = r.number(an.null_rate_shift, join(p, 'null_rate_shift'), unit);
      o.minSamples = r.number(an.min_samples, join(p, 'min_samples'), { integer: true, min: 1 });
    }
  }
  if (f.weights) {
    const p = join(path, 'weights');
    o.weightsPos = f.weights.value.pos;
    const w = r.object(f.weights.value, p, WEIGHT_KEYS);
    if (w) for (const k of WEIGHT_KEYS) {
      const v = r.number(w[k], join(p, k), unit);
      if (v !== undefined) o.weights[k] = v;
    }
  }
  if (f.required) {
    const p = join(path, 'required');
    const items = r.list(f.required, p);
    if (items) {
      o.required = [];
      items.forEach((item, i) => {
        const name = r.string({ key: f.required!.key, value: item }, join(p, i), { nonEmpty: true });
        if (name !== undefined) o.required!.push({ name, pos: item.pos });
      });
    }
  }
  return o;
}

export function mergeScoring(base: ScoringSpec, o: ScoringOverrides | undefined): ScoringSpec {
  if (!o) return structuredClone(base);
  const out: ScoringSpec = {
    ingest: o.ingest ?? base.ingest,
    quarantine: o.quarantine ?? base.quarantine,
    freshness: {
      halfLifeSeconds: o.halfLifeSeconds ?? base.freshness.halfLifeSeconds,
      maxLagSeconds: o.maxLagSeconds ?? base.freshness.maxLagSeconds,
    },
    anomaly: {
      zThreshold: o.zThreshold ?? base.anomaly.zThreshold,
      maxCardinality: o.maxCardinality ?? base.anomaly.maxCardinality,
      nullRateShift: o.nullRateShift ?? base.anomaly.nullRateShift,
      minSamples: o.minSamples ?? base.anomaly.minSamples,
    },
    weights: { ...base.weights, ...o.weights },
    source: o.pos,
  };
  if (o.required) out.required = o.required.map((x) => x.name);
  else if (base.required) out.required = [...base.required];
  return out;
}

/** Cross-field rules of a merged scoring block, reported at the level `o` that changed them. */
export function checkScoring(r: Reader, merged: ScoringSpec, o: ScoringOverrides | undefined, path: string): void {
  if (!o) return;
  if ((o.ingestPos || o.quarantinePos) && merged.quarantine > merged.ingest) {
    r.error(
      `\`${path}\`: quarantine threshold ${merged.quarantine} is above ingest threshold ${merged.ingest}; ` +
        'records below `quarantine` are quarantined, at or above `ingest` ingested, so quarantine must be <= ingest',
      o.quarantinePos ?? o.ingestPos,
    );
  }
  if (o.weightsPos) {
    const { freshness, completeness, anomaly } = merged.weights;
    const sum = freshness + completeness + anomaly;
    if (Math.abs(sum - 1) > 1e-9) {
      r.error(
        `\`${join(path, 'weights')}\`: weights must sum to 1, they sum to ${Number(sum.toFixed(6))} ` +
          `(freshness ${freshness} + completeness ${completeness} + anomaly ${anomaly})`,
        o.weightsPos,
      );
    }
  }
}
