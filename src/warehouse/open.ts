// Opens the warehouse a spec targets. The adapters are imported on demand so commands
// that never touch a target (validate, --version) never load DuckDB or Google clients.

import type { TargetSpec } from '../spec/types.js';
import type { Warehouse } from './warehouse.js';
import type { BusyWait } from './duckdb-busy-wait.js';

export interface OpenWarehouseOptions {
  /** plan/show: observe only. DuckDB: a missing file stays missing. */
  readOnly: boolean;
  env?: NodeJS.ProcessEnv;
  onRetry?: (i: { resource: string; call: string; attempt: number; delayMs: number; error: string }) => void;
  /**
   * DuckDB: how long opening a file another process holds is retried (plan/apply
   * --lock-timeout); 0 or absent: TARGET_BUSY at once. BigQuery has no such state.
   */
  busyTimeoutMs?: number;
  /** Called once when an open starts waiting for a busy file. */
  onBusyWait?: (wait: BusyWait) => void;
  /** Stops a wait for a busy file (apply's Ctrl-C): INTERRUPTED. */
  signal?: AbortSignal;
}

export async function openWarehouse(target: TargetSpec, options: OpenWarehouseOptions): Promise<Warehouse> {
  if (target.kind === 'duckdb') {
    const { createDuckDbWarehouse } = await import('./duckdb.js');
    return createDuckDbWarehouse(target, options);
  }
  const { createBigQueryWarehouse } = await import('./bigquery.js');
  return createBigQueryWarehouse(target, options);
}
