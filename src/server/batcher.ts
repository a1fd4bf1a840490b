// Micro-batching in front of the ChangeSink. Each push request submits its decoded message
// and waits for the write of the batch that holds it: a 2xx goes out only after sink.write
// resolved, and a sink failure fails every request of that batch (→ 503, redelivered).
//
// Group commit: one batch at a time goes into the sink. While it is written, arriving
// messages queue up and go into the next write as soon as it finishes, so under load batches
// grow by themselves (to `maxBatch`) and the sink sees few large writes, with no timer in the
// way. When the sink is idle, the first message waits at most `maxDelayMs` for others (or
// until `maxBatch` are queued): low-rate streams still get batched a little, and no message
// waits longer than that plus the write in progress.

import type { Decoded } from './decoded.js';
import type { ChangeSink, IncomingChange, IngestOutcome, RejectedMessage, Verdict, Verdicts } from './ports.js';

export interface BatcherOptions {
  /** Messages per sink.write, at most (default 500). */
  maxBatch?: number;
  /** How long a message waits for others while the sink is idle (default 25 ms). */
  maxDelayMs?: number;
  /** Called after each write (for logs and metrics). */
  onBatch?: (info: { size: number; outcome?: IngestOutcome; error?: unknown; durationMs: number }) => void;
}

interface Entry {
  decoded: Decoded;
  enqueuedAt: number;
  resolve: (verdict: Verdict) => void;
  reject: (e: unknown) => void;
}

export class BatcherClosedError extends Error {
  override readonly name = 'BatcherClosedError';
  constructor() {
    super('the server is shutting down');
  }
}

export class MicroBatcher {
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private queue: Entry[] = [];
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly sink: ChangeSink,
    private readonly options: BatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.maxDelayMs = Math.max(0, options.maxDelayMs ?? 25);
  }

  /** Messages waiting for a write (not counting the batch being written). */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Resolves with what became of the message once the batch holding it was written; rejects
   * with the sink's error.
   */
  submit(decoded: Decoded): Promise<Verdict> {
    if (this.closing) return Promise.reject(new BatcherClosedError());
    return new Promise<Verdict>((resolve, reject) => {
      this.queue.push({ decoded, enqueuedAt: Date.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Writes everything queued, waits for it, and refuses new messages. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.queue.length > 0 || this.inFlight) {
      if (this.inFlight) await this.inFlight;
      else this.flush();
    }
    if (this.timer) clearTimeout(this.timer);
  }

  private due(now: number): boolean {
    const oldest = this.queue[0];
    return oldest !== undefined && (this.closing || this.queue.length >= this.maxBatch || now - oldest.enqueuedAt >= this.maxDelayMs);
  }

  /** After a write: whatever queued meanwhile has waited for the sink already; write it now. */
  private afterWrite(): void {
    if (this.queue.length > 0) this.flush();
  }

  private schedule(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const now = Date.now();
    if (this.due(now)) {
      this.flush();
      return;
    }
    if (this.timer) return;
    const wait = this.maxDelayMs - (now - this.queue[0]!.enqueuedAt);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, Math.max(0, wait));
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    const changes: IncomingChange[] = [];
    const rejected: RejectedMessage[] = [];
    for (const e of batch) {
      if ('change' in e.decoded) changes.push(e.decoded.change);
      else rejected.push(e.decoded.rejected);
    }
    const started = Date.now();
    this.inFlight = (async () => {
      try {
        const verdicts: Verdicts = { changes: [], rejected: [] };
        const outcome = await this.sink.write(changes, rejected, verdicts);
        this.options.onBatch?.({ size: batch.length, outcome, durationMs: Date.now() - started });
        // A sink that reports no verdicts: a change was taken, a rejected message rejected.
        let c = 0;
        let r = 0;
        for (const e of batch) {
          if ('change' in e.decoded) e.resolve(verdicts.changes[c++] ?? { status: 'accepted' });
          else e.resolve(verdicts.rejected[r++] ?? { status: 'rejected', id: e.decoded.rejected.id, reason: e.decoded.rejected.reason });
        }
      } catch (error) {
        this.options.onBatch?.({ size: batch.length, error, durationMs: Date.now() - started });
        for (const e of batch) e.reject(error);
      } finally {
        this.inFlight = undefined;
        this.afterWrite();
      }
    })();
  }
}
