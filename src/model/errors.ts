// Operational failures (I/O, APIs, locks, corrupt data) are typed errors with a stable
// `code`; the CLI prints `message` (never a stack) and maps the code to an exit status.
// User-input problems are Diagnostics instead (see diagnostic.ts).

export type ErrorCode =
  | 'SPEC_INVALID' // carries diagnostics
  | 'LOCK_HELD'
  | 'LOCK_NOT_FOUND'
  | 'PLAN_STALE'
  | 'PLAN_INVALID'
  | 'DESTRUCTIVE_REFUSED'
  | 'APPROVAL_REQUIRED'
  | 'APPLY_FAILED'
  | 'NO_EXECUTOR'
  | 'TARGET_ERROR' // the warehouse rejected or failed a call; names the resource
  | 'TARGET_BUSY' // another process holds the target open (a DuckDB file): transient, retry later; details name the holder
  | 'SCHEDULER_ERROR'
  | 'CREDENTIALS_MISSING'
  | 'EXPORT_CORRUPT' // names file and byte offset
  | 'EXPORT_NOT_FOUND'
  | 'SOURCE_ERROR'
  | 'INVALID_ARGUMENT'
  | 'RETRIES_EXHAUSTED'
  | 'INTERRUPTED'; // a signal stopped the work at a safe point

export class MlbridgeError extends Error {
  readonly code: ErrorCode;
  /** The resource the failure is about, e.g. "bigquery_table.analytics.customer_profile". */
  readonly resource?: string;
  override readonly cause?: unknown;
  /**
   * Structured facts about the failure (a lock's id and holder, the fields a spec lacks, the
   * entity key): callers read these, never the message text.
   */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { resource?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'MlbridgeError';
    this.code = code;
    if (options.resource !== undefined) this.resource = options.resource;
    if (options.cause !== undefined) this.cause = options.cause;
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isMlbridgeError(e: unknown, code?: ErrorCode): e is MlbridgeError {
  return e instanceof MlbridgeError && (code === undefined || e.code === code);
}

/** A message for any thrown value, without a stack trace. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
