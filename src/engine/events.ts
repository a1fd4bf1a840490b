// Typed progress events: the engine emits them, views render them. The engine never prints.

import type { Action, ChangeType, PlanSummary } from './plan.js';

export type EngineEvent =
  | { type: 'observe-start'; what: string }
  | { type: 'observe-done'; what: string; ms: number }
  | { type: 'lock-wait'; holder: { id: string; pid: number; host: string; since: string } }
  | { type: 'lock-acquired'; id: string }
  /** Another process holds the DuckDB file (a plan reading it, a serve): the open waits (--lock-timeout). */
  | { type: 'target-busy-wait'; path: string; holder: { process?: string; pid?: number } }
  /** The lock's holder ran on this host and its process is gone (killed): the lock is taken over. */
  | { type: 'lock-takeover'; holder: { id: string; pid: number; host: string; since: string } }
  /** The lock could not be released; the work itself is done. The lock is left behind. */
  | { type: 'lock-release-failed'; id: string; message: string }
  | { type: 'change-start'; address: string; changeType: ChangeType; action: Action }
  | { type: 'change-done'; address: string; changeType: ChangeType; action: Action; ms: number }
  | { type: 'change-failed'; address: string; changeType: ChangeType; action: Action; message: string }
  | { type: 'retry'; resource: string; call: string; attempt: number; delayMs: number; error: string }
  | { type: 'apply-done'; summary: PlanSummary; ms: number }
  /**
   * Long row work (reading the source and staging, merging): rows so far, the total when
   * the source knows it (export metadata), rows/s and the seconds left at that rate.
   * Sent at most a few times a second, and once with `done` at the end.
   */
  | { type: 'rows-progress'; address: string; phase: 'read' | 'merge'; rows: number; total?: number; ratePerSecond: number; etaSeconds?: number; ms: number; done: boolean }
  /** Apply stopped at a safe point on its signal: `done` of `total` changes were applied (total absent: stopped while planning). */
  | { type: 'interrupted'; done: number; total?: number };

export type EventSink = (event: EngineEvent) => void;

export const ignoreEvents: EventSink = () => {};
