// Typed progress events: the engine emits them, views render them. The engine never prints.

import type { Action, ChangeType, PlanSummary } from './plan.js';

export type EngineEvent =
  | { type: 'observe-start'; what: string }
  | { type: 'observe-done'; what: string; ms: number }
  | { type: 'lock-wait'; holder: { id: string; pid: number; host: string; since: string } }
  | { type: 'lock-acquired'; id: string }
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
  | { type: 'rows-progress'; address: string; phase: 'read' | 'merge'; rows: number; total?: number; ratePerSecond: number; etaSeconds?: number; ms: number; done: boolean };

export type EventSink = (event: EngineEvent) => void;

export const ignoreEvents: EventSink = () => {};
