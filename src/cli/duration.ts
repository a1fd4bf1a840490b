// CLI durations (`--lock-timeout 30s`): the same grammar as durations in the spec
// (src/spec/duration.ts: 30s, 5m, 1h30m, 500ms or a number of seconds), in milliseconds.

import { MlbridgeError } from '../model/errors.js';
import { parseDuration } from '../spec/duration.js';

/** Milliseconds for a duration string; throws INVALID_ARGUMENT naming the flag when malformed. */
export function parseDurationMs(text: string, flag = 'duration'): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) {
    throw new MlbridgeError('INVALID_ARGUMENT', `${flag}: "${text}" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)`);
  }
  return Math.round(seconds * 1000);
}

/** Terraform-style elapsed time for progress lines: 0.1s, 12s, 1m2s. */
export function formatElapsed(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const secs = Math.round(ms / 1000);
  if (secs < 60) return `${secs}s`;
  const m = Math.floor(secs / 60);
  return `${m}m${secs % 60}s`;
}
