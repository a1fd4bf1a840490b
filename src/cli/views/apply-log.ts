// Plain progress lines from engine events, for logs and non-TTY output (Terraform's
// "x: Creating..." / "Creation complete after 0.1s"). Retries are shown so a slow apply
// explains itself. A pure function of each event.

import type { Action } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import { interruptedMessage } from '../../engine/interrupt.js';
import { formatElapsed } from '../duration.js';
import { formatCount as n, formatRowsProgress } from './rows-progress.js';

const STARTING: Record<Action, string> = {
  create: 'Creating...',
  update: 'Modifying...',
  delete: 'Destroying...',
  replace: 'Replacing...',
  'no-op': 'Checking...',
};

const DONE: Record<Action, string> = {
  create: 'Creation complete',
  update: 'Modifications complete',
  delete: 'Destruction complete',
  replace: 'Replacement complete',
  'no-op': 'Check complete',
};

const FAILED: Record<Action, string> = {
  create: 'Creation failed',
  update: 'Modification failed',
  delete: 'Destruction failed',
  replace: 'Replacement failed',
  'no-op': 'Check failed',
};

export interface FormatOptions {
  /** The exact command that releases a lock, e.g. with the `-c` the user ran apply with. */
  unlockCommand?: (lockId: string) => string;
}

const defaultUnlock = (id: string) => `mlbridge force-unlock ${id}`;

/** One line per event worth showing, or null (observe-done is implied by what follows). */
export function formatEvent(e: EngineEvent, options: FormatOptions = {}): string | null {
  switch (e.type) {
    case 'observe-start':
      return `${e.what}: Refreshing state...`;
    case 'observe-done':
      return null;
    case 'lock-wait':
      return `Waiting for the lock held by ${e.holder.id} (pid ${e.holder.pid} on ${e.holder.host} since ${e.holder.since})...`;
    case 'target-busy-wait':
      return `Waiting for the DuckDB file held by ${e.holder.pid !== undefined ? `${e.holder.process} (PID ${e.holder.pid})` : 'another process'}...`;
    case 'lock-acquired':
      return `Acquired lock ${e.id}.`;
    case 'lock-takeover':
      return `Lock ${e.holder.id} was held by pid ${e.holder.pid} on this host (${e.holder.host}) since ${e.holder.since}; that process is no longer running, so the lock is taken over.`;
    case 'lock-release-failed':
      return (
        `Warning: could not release lock ${e.id}: ${e.message}\n` +
        `The changes stand. An apply on this host takes the lock over; elsewhere, release it with: ${(options.unlockCommand ?? defaultUnlock)(e.id)}`
      );
    case 'interrupted':
      return `\n${interruptedMessage(e.done, e.total)}`;
    case 'change-start':
      return `${e.address}: ${STARTING[e.action]}`;
    case 'change-done':
      return `${e.address}: ${DONE[e.action]} after ${formatElapsed(e.ms)}`;
    case 'change-failed':
      return `${e.address}: ${FAILED[e.action]}: ${e.message}`;
    case 'retry':
      return `${e.resource}: ${e.call} failed (${e.error}); retry ${e.attempt} in ${formatElapsed(e.delayMs)}`;
    case 'apply-done':
      return `\nApply complete! Resources: ${e.summary.add} added, ${e.summary.change} changed, ${e.summary.destroy} destroyed.${rowsDone(e.summary.rows)}`;
    case 'rows-progress':
      return formatRowsProgress(e);
  }
}

function rowsDone(r: { insert: number; update: number; delete: number; quarantine: number } | undefined): string {
  return r ? `\nRows: ${n(r.insert)} inserted, ${n(r.update)} updated, ${n(r.delete)} deleted, ${n(r.quarantine)} quarantined.` : '';
}

/** Plain logs get a progress line every this many ms, not every event. */
const PROGRESS_EVERY_MS = 5000;

/**
 * An event sink writing plain lines; `observe` false hides refresh lines (plan output stays
 * short). A lock wait is reported once per holder, not once per poll.
 */
export function applyLogSink(write: (line: string) => void, options: { observe?: boolean } & FormatOptions = {}): (e: EngineEvent) => void {
  let waitingFor: string | null = null;
  const lastProgress = new Map<string, number>();
  return (e) => {
    if (e.type === 'observe-start' && options.observe === false) return;
    if (e.type === 'rows-progress') {
      // A small read finishes before its first line would be due: say nothing for it. Apply
      // reads and later merges the same address, each phase timed from its own start.
      const key = `${e.phase} ${e.address}`;
      const last = lastProgress.get(key) ?? 0;
      if (e.done ? last === 0 && e.ms < PROGRESS_EVERY_MS : e.ms - last < PROGRESS_EVERY_MS) return;
      lastProgress.set(key, e.ms);
    }
    if (e.type === 'lock-wait') {
      if (waitingFor === e.holder.id) return;
      waitingFor = e.holder.id;
    }
    const line = formatEvent(e, options);
    if (line !== null) write(line);
  };
}

/**
 * What `plan` prints besides the plan when no live view runs: retries, the progress of a
 * long read and a wait for an apply's lock or a held DuckDB file, nothing else (plan's own output is the plan).
 */
export function planLogSink(write: (line: string) => void): (e: EngineEvent) => void {
  const sink = applyLogSink(write);
  return (e) => {
    if (e.type === 'retry' || e.type === 'rows-progress' || e.type === 'lock-wait' || e.type === 'target-busy-wait') sink(e);
  };
}
