// The spec most CLI and engine tests of an export source start from: a DuckDB target at
// ./wh.duckdb (dataset w), the export folder ./exports, and freshness that never quarantines
// a fixture export for its age. Tests append their mappings.

/** `mlbridge.yaml` text reading ./exports into ./wh.duckdb, followed by `mappings` (YAML list items). */
export function exportSpecYaml(mappings: string): string {
  return `version: 1
target:
  duckdb: { path: ./wh.duckdb, dataset: w }
source:
  export: { path: ./exports }
scoring:
  freshness: { half_life: 15m, max_lag: 3650d }
mappings:
${mappings}`;
}
