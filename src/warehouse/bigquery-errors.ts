// Google API failures as the BigQuery adapter sees them: one normalised error (HTTP status,
// BigQuery reason, message) and the rule for which of them are worth retrying.

/** A Google API failure, normalised: HTTP status, BigQuery reason, message. */
export class BigQueryCallError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly reason: string | undefined,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'BigQueryCallError';
  }
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_REASONS = new Set(['rateLimitExceeded', 'backendError', 'internalError']);

export function toCallError(e: unknown): BigQueryCallError {
  if (e instanceof BigQueryCallError) return e;
  const x = (e ?? {}) as { code?: unknown; errors?: Array<{ reason?: string; message?: string }>; message?: string; type?: string };
  const status = typeof x.code === 'number' ? x.code : undefined;
  const first = Array.isArray(x.errors) ? x.errors[0] : undefined;
  const reason = first?.reason;
  const raw = (first?.message || x.message || String(e)).trim();
  const timedOut =
    x.type === 'request-timeout' || x.code === 'ETIMEDOUT' || x.code === 'ESOCKETTIMEDOUT' || /network timeout|timed? ?out/i.test(raw);
  const parts = [reason ? `reason: ${reason}` : '', status ? `HTTP ${status}` : ''].filter(Boolean);
  const message = timedOut && !status ? (raw.startsWith('request timed out') ? raw : `request timed out (${raw})`) : parts.length ? `${raw} (${parts.join(', ')})` : raw;
  return new BigQueryCallError(message, status, reason, timedOut);
}

export function isRetryableBigQueryError(e: unknown): boolean {
  if (!(e instanceof BigQueryCallError)) return false;
  if (e.status !== undefined && RETRYABLE_STATUS.has(e.status)) return true;
  if (e.reason !== undefined && RETRYABLE_REASONS.has(e.reason)) return true;
  return e.timedOut || /ECONNRESET|socket hang up/.test(e.message);
}
