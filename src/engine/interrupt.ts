// Interrupts: a caller (the CLI on SIGINT/SIGTERM/SIGHUP, a library user with any
// AbortController) aborts ApplyOptions.signal and apply stops at its next safe point:
// between changes, never inside one (a table swap or a MERGE runs to its end; row
// executors may stop between batches). The lock is released as on any other stop, and
// the caller is told how far it got, by an event and by an INTERRUPTED error.

import { MlbridgeError, isMlbridgeError } from '../model/errors.js';
import type { EventSink } from './events.js';

/** "Interrupted: 5 of 12 changes applied; run apply again" (total unknown: before planning ended). */
export function interruptedMessage(done: number, total?: number): string {
  if (total === undefined) return 'Interrupted before any change was applied; run apply again';
  return `Interrupted: ${done} of ${total} change${total === 1 ? '' : 's'} applied; run apply again`;
}

/**
 * `onEvent` for one apply, passing its first `interrupted` event only: planning stops at
 * several safe points that each report the interrupt (a row batch, a staging worker's
 * append, the lock wait), and the INTERRUPTED error they throw passes apply's own safe
 * points on its way out; the user is told once.
 */
export function interruptToldOnce(onEvent: EventSink): EventSink {
  let told = false;
  return (e) => {
    if (e.type === 'interrupted') {
      if (told) return;
      told = true;
    }
    onEvent(e);
  };
}

/** Emits the `interrupted` event and returns the INTERRUPTED error to throw. */
export function interrupted(signal: AbortSignal, onEvent: EventSink, done: number, total?: number): MlbridgeError {
  onEvent({ type: 'interrupted', done, ...(total !== undefined ? { total } : {}) });
  const reason: unknown = signal.reason;
  return new MlbridgeError('INTERRUPTED', interruptedMessage(done, total), {
    details: { done, ...(total !== undefined ? { total } : {}), ...(typeof reason === 'string' ? { signal: reason } : {}) },
  });
}

/** At a safe point: throws INTERRUPTED (after the event) when the signal was aborted. */
export function stopIfInterrupted(signal: AbortSignal | undefined, onEvent: EventSink, done: number, total?: number): void {
  if (signal?.aborted) throw interrupted(signal, onEvent, done, total);
}

/** An executor that stopped on the signal (between batches) ends the apply as an interrupt, not a failure. */
export function stoppedBySignal(e: unknown, signal: AbortSignal | undefined): signal is AbortSignal {
  return Boolean(signal?.aborted) && (isMlbridgeError(e, 'INTERRUPTED') || (e instanceof Error && e.name === 'AbortError'));
}
