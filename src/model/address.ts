// Resource addresses, as shown in plans and accepted by --target. Terraform-like: the
// resource type names the target so a plan reads unambiguously.
//   bigquery_dataset.analytics          duckdb_dataset.analytics
//   bigquery_table.analytics.customer   duckdb_table.analytics.customer
//   cloud_scheduler_job.mlbridge-reconcile
//   rows.CustomerProfile

export type TargetKind = 'bigquery' | 'duckdb';
export type ResourceType = 'dataset' | 'table' | 'scheduler_job' | 'rows';

export function datasetAddress(target: TargetKind, dataset: string): string {
  return `${target}_dataset.${dataset}`;
}

export function tableAddress(target: TargetKind, dataset: string, table: string): string {
  return `${target}_table.${dataset}.${table}`;
}

export function schedulerJobAddress(name: string): string {
  return `cloud_scheduler_job.${name}`;
}

export function rowsAddress(kind: string): string {
  return `rows.${kind}`;
}

/** True when `address` is selected by a --target value (exact match or a prefix ending at a dot). */
export function addressMatches(address: string, target: string): boolean {
  return address === target || address.startsWith(`${target}.`);
}
