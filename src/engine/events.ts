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
  | { type: 'apply-done'; summary: PlanSummary; ms: number };

export type EventSink = (event: EngineEvent) => void;

export const ignoreEvents: EventSink = () => {};
