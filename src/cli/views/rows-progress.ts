// The words for `rows-progress` events (reading the source and staging, merging), shared by
// the plain log lines and the live ink views so both say the same thing the same way.
// Pure functions of one event.

import type { EngineEvent } from '../../engine/events.js';
import { formatElapsed } from '../duration.js';

export type RowsProgress = Extract<EngineEvent, { type: 'rows-progress' }>;

/** `1,000,000`. */
export const formatCount = (x: number) => x.toLocaleString('en-US');
const n = formatCount;

/** Whole seconds left as a short duration: 7s, 19s, 2m5s. */
function eta(seconds: number): string {
  return seconds < 10 ? `${seconds}s` : formatElapsed(seconds * 1000);
}

/** `120,000 of 1,000,000 rows` (the total only when the source knows it). */
function rowsSoFar(e: RowsProgress): string {
  return `${n(e.rows)}${e.total !== undefined ? ` of ${n(e.total)}` : ''} rows`;
}

/** The live line while work runs: `Reading rows.Order… 120,000 of 1,000,000 rows · 45,000/s · ETA 19s`. */
export function rowsRunningText(e: RowsProgress): string {
  const what = e.phase === 'read' ? `Reading ${e.address}…` : 'merging';
  return [`${what} ${rowsSoFar(e)}`, `${n(e.ratePerSecond)}/s`, ...(e.etaSeconds !== undefined ? [`ETA ${eta(e.etaSeconds)}`] : [])].join(' · ');
}

/** What finished work did: `read 1,000,000 rows in 22s` / `merged 300,000 rows in 3.2s`. */
export function rowsDoneText(e: RowsProgress): string {
  return `${e.phase === 'read' ? 'read' : 'merged'} ${n(e.rows)} rows in ${formatElapsed(e.ms)}`;
}

/** One plain log line: `rows.Order: read 120,000 of 1,000,000 rows (45,000/s, ETA 20s)`. */
export function formatRowsProgress(e: RowsProgress): string {
  if (e.done) return `${e.address}: ${rowsDoneText(e)} (${n(e.ratePerSecond)}/s)`;
  const left = e.etaSeconds !== undefined ? `, ETA ${eta(e.etaSeconds)}` : '';
  return `${e.address}: ${e.phase === 'read' ? 'read' : 'merged'} ${rowsSoFar(e)} (${n(e.ratePerSecond)}/s${left})`;
}

/** The latest event per address, in the order addresses first reported. */
export function withProgress(list: readonly RowsProgress[], e: RowsProgress): RowsProgress[] {
  return list.some((p) => p.address === e.address) ? list.map((p) => (p.address === e.address ? e : p)) : [...list, e];
}
