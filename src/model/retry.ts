// Retries with exponential backoff and full jitter, bounded in attempts and elapsed time.
// Used by every adapter that talks to a Google API; each retry is reported to `onRetry`
// so verbose output can show it.

import { MlbridgeError, errorMessage } from './errors.js';

export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  /** Give up once this much time has passed since the first attempt. */
  maxElapsedMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, maxElapsedMs: 60_000, baseDelayMs: 250, maxDelayMs: 8_000 };

export interface RetryContext {
  /** e.g. "bigquery_table.analytics.customer" */
  resource: string;
  /** e.g. "tables.patch" */
  call: string;
  isRetryable: (err: unknown) => boolean;
  onRetry?: (info: { resource: string; call: string; attempt: number; delayMs: number; error: string }) => void;
  policy?: Partial<RetryPolicy>;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export async function withRetry<T>(fn: () => Promise<T>, ctx: RetryContext): Promise<T> {
  const policy = { ...DEFAULT_RETRY, ...ctx.policy };
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = ctx.random ?? Math.random;
  const now = ctx.now ?? Date.now;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!ctx.isRetryable(err)) throw err;
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(random() * cap);
      const outOfTime = now() - started + delayMs > policy.maxElapsedMs;
      if (attempt >= policy.maxAttempts || outOfTime) {
        throw new MlbridgeError(
          'RETRIES_EXHAUSTED',
          `${ctx.resource}: ${ctx.call} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${errorMessage(err)}`,
          { resource: ctx.resource, cause: err },
        );
      }
      ctx.onRetry?.({ resource: ctx.resource, call: ctx.call, attempt, delayMs, error: errorMessage(err) });
      await sleep(delayMs);
    }
  }
}
