// Progress of long row work as `rows-progress` events: throttled (a few per second, so a
// million rows do not mean a million events), with rate and ETA when the total is known.

import type { EventSink } from './events.js';

export interface ProgressMeterOptions {
  address: string;
  phase: 'read' | 'merge';
  total?: number | undefined;
  /** Least time between two events. */
  everyMs?: number;
  clock?: () => number;
}

export class ProgressMeter {
  private rows = 0;
  private readonly started: number;
  private last: number;
  private readonly clock: () => number;

  constructor(
    private readonly onEvent: EventSink,
    private readonly options: ProgressMeterOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.started = this.clock();
    this.last = this.started;
  }

  add(n: number): void {
    this.rows += n;
    const now = this.clock();
    if (now - this.last >= (this.options.everyMs ?? 250)) {
      this.last = now;
      this.emit(now, false);
    }
  }

  done(): void {
    this.emit(this.clock(), true);
  }

  private emit(now: number, done: boolean): void {
    const ms = now - this.started;
    const ratePerSecond = ms > 0 ? Math.round((this.rows * 1000) / ms) : 0;
    const { total } = this.options;
    const left = total !== undefined ? Math.max(0, total - this.rows) : undefined;
    this.onEvent({
      type: 'rows-progress',
      address: this.options.address,
      phase: this.options.phase,
      rows: this.rows,
      ...(total !== undefined ? { total } : {}),
      ratePerSecond,
      ...(left !== undefined && ratePerSecond > 0 ? { etaSeconds: Math.ceil(left / ratePerSecond) } : {}),
      ms,
      done,
    });
  }
}
