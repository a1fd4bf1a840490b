// The dataset change, and how a target matches table names. A dataset is only ever created
// or used as it is (the Warehouse interface has no dataset update, and a dataset mlbridge
// did not create, or one holding other tables, is simply used) — except for its location:
// BigQuery cannot move a dataset, so a different location is a replacement, shown as
// Terraform shows it (`location = "EU" -> "US" # forces replacement`) and refused by apply,
// since replacing the dataset would delete every table in it.

import type { TargetKind } from '../model/address.js';
import type { DatasetSchema, ObservedDataset } from '../model/schema.js';
import type { DatasetChange } from './plan.js';

/** BigQuery location names are case-insensitive ("EU" = "eu", "europe-west1" = "EUROPE-WEST1"). */
const sameLocation = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function diffDataset(address: string, desired: DatasetSchema, observed: ObservedDataset | null): DatasetChange {
  if (!observed) return { type: 'dataset', address, action: 'create', before: null, after: desired, reasons: [], destructive: false };
  const before: DatasetSchema = {
    name: observed.name,
    labels: observed.labels,
    ...(observed.location !== undefined ? { location: observed.location } : {}),
    ...(observed.description !== undefined ? { description: observed.description } : {}),
  };
  const change: DatasetChange = { type: 'dataset', address, action: 'no-op', before, after: desired, reasons: [], destructive: false };
  if (observed.location === undefined || desired.location === undefined || sameLocation(observed.location, desired.location)) return change;
  const blocked =
    `${address} is in location ${observed.location} but the spec asks for ${desired.location}; BigQuery cannot move a dataset, ` +
    `and replacing it would delete every table in it. Set target.location to ${observed.location} to keep using this dataset, ` +
    `or set target.dataset to a new name to create one in ${desired.location} (copy the tables over first if you need their data)`;
  return {
    ...change,
    action: 'replace',
    destructive: true,
    reasons: [
      { path: 'location', rule: 'dataset-location', message: `location ${observed.location} → ${desired.location}: BigQuery cannot move a dataset`, forcesReplacement: true },
      { path: 'location', rule: 'dataset-location-refused', message: blocked },
    ],
    blocked,
  };
}

/**
 * The key a target identifies a table by: BigQuery table names are case-sensitive
 * (`Customer` and `customer` are two tables); DuckDB's identifiers are not.
 */
export function tableKey(kind: TargetKind, name: string): string {
  return kind === 'bigquery' ? name : name.toLowerCase();
}
