// A signal source tests fire by hand, standing in for `process` (apply's SIGINT/SIGTERM/SIGHUP).
import { EventEmitter } from 'node:events';
import type { SignalSource } from '../../src/cli/interrupts.js';

export function fakeSignals(): SignalSource & { fire: (s: 'SIGINT' | 'SIGTERM' | 'SIGHUP') => void } {
  const e = new EventEmitter();
  return { on: (s, l) => e.on(s, l), off: (s, l) => e.off(s, l), fire: (s) => void e.emit(s, s) };
}
