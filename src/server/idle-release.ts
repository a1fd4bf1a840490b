// serve lets go of the target between requests. DuckDB lets one process hold a file open
// for writing, and none write while another reads: a serve that kept the file open forever
// would make every `apply` or `plan` run by hand fail with TARGET_BUSY. So once the last push
// batch or reconcile has finished and nothing else arrived for `afterMs`, the target is
// released (Warehouse.releaseIdle: the DuckDB file closed); the next request reopens it.
//
// Operations are counted, not only timed: a push batch or a reconcile spans many warehouse
// calls (a stage lives on the open connection), so a release must never fall between two of
// them. New work cancels a pending release; a release already queued in the warehouse sees
// the work through `stillIdle` and is skipped.

export interface IdleRelease {
  /** Runs one unit of work (a push batch, a reconcile) with the target held; the idle timer restarts after it. */
  run<T>(op: () => Promise<T>): Promise<T>;
  /** No release any more (serve is stopping: the ports close the target themselves). */
  stop(): void;
}

export interface IdleTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: IdleTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref(); // an idle timer must not keep a stopping process alive
    return t;
  },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/**
 * `release` once no work has run for `afterMs` (0: never). `onError` hears a release that
 * failed (the next operation reopens the target either way).
 */
export function idleRelease(
  release: (stillIdle: () => boolean) => Promise<void>,
  afterMs: number,
  onError: (e: unknown) => void,
  timers: IdleTimers = nodeTimers,
): IdleRelease {
  let active = 0;
  let stopped = false;
  let timer: unknown;
  let releasing: Promise<void> = Promise.resolve();
  const stillIdle = () => active === 0 && !stopped;
  const cancel = () => {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
  };
  const schedule = () => {
    if (afterMs <= 0 || !stillIdle()) return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      releasing = release(stillIdle).catch(onError);
    }, afterMs);
  };
  return {
    async run(op) {
      active++;
      cancel();
      try {
        // A release that already began runs to its end first; one still queued sees `active`.
        await releasing;
        return await op();
      } finally {
        active--;
        schedule();
      }
    },
    stop() {
      stopped = true;
      cancel();
    },
  };
}
