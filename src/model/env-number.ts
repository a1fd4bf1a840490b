// Whole-number settings read from the environment (MLBRIDGE_BIGQUERY_TIMEOUT_MS,
// MLBRIDGE_DUCKDB_ROWS_PER_PASS, …). One that is set but is no positive whole number is an
// error naming the variable, never silently the default: a typo in a deployment's
// environment must not quietly change how long mlbridge waits or retries.

import { MlbridgeError } from './errors.js';

/** The variable's value as a positive whole number; undefined when unset; INVALID_ARGUMENT otherwise. */
export function positiveIntegerEnv(env: NodeJS.ProcessEnv, name: string, what: string): number | undefined {
  const set = env[name];
  if (set === undefined) return undefined;
  const n = Number(set);
  if (set.trim() === '' || !Number.isSafeInteger(n) || n <= 0) {
    throw new MlbridgeError('INVALID_ARGUMENT', `${name}: ${JSON.stringify(set)} is not a positive whole number of ${what}`, { details: { variable: name, value: set } });
  }
  return n;
}
