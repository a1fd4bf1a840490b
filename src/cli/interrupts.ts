// Signals during a command that changes the target (apply): the first SIGINT, SIGTERM (what
// a cancelled CI job sends) or SIGHUP asks the work to stop at its next safe point through an
// AbortSignal; a second one exits at once. Exit statuses follow the shell's 128 + signal number.

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export const SIGNAL_EXIT: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/** Where signals come from: `process`, or a fake in tests. */
export interface SignalSource {
  on(signal: StopSignal, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: StopSignal, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface SignalWatch {
  /** Aborted on the first signal, with the signal's name as its reason. */
  signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: StopSignal | undefined;
  /** Removes the handlers (the default action of each signal applies again). */
  dispose(): void;
}

export function watchSignals(
  source: SignalSource,
  on: { first: (signal: StopSignal) => void; second: (signal: StopSignal) => void; exit: (code: number) => void },
): SignalWatch {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const handler = (raw: NodeJS.Signals) => {
    const signal = raw as StopSignal;
    if (received === undefined) {
      received = signal;
      on.first(signal);
      controller.abort(signal);
      return;
    }
    // Forced: whatever runs now is cut off. Each change is atomic in the target (a DuckDB
    // transaction, a BigQuery job), so the state stays consistent; the lock is left for takeover.
    on.second(signal);
    on.exit(SIGNAL_EXIT[received]);
  };
  for (const s of STOP_SIGNALS) source.on(s, handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose: () => {
      for (const s of STOP_SIGNALS) source.off(s, handler);
    },
  };
}
