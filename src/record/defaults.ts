// Scoring defaults for the record library: the spec's built-in DEFAULT_SCORING (one
// source of truth, src/spec/defaults.ts, which imports nothing heavy), used when neither
// options nor a mapping give a ScoringSpec — e.g. `mlbridge score` without a spec.

import { DEFAULT_SCORING } from '../spec/defaults.js';
import type { ScoringSpec } from '../spec/types.js';

/** Scoring options plus the optional list of columns completeness checks. */
export type ScoringConfig = ScoringSpec & { required?: string[] };

export const RECORD_DEFAULT_SCORING: ScoringConfig = DEFAULT_SCORING;
