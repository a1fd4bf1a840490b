// The key convention of every JSON document mlbridge prints (plan --json, apply --json,
// export stats --json, score, reconcile --json and serve's /reconcile answer): snake_case,
// as Terraform's JSON output; maps keyed by data keep their keys.

/**
 * Keys whose values are maps keyed by data, not schema: named by the user (labels, column
 * sources), by Datastore value type (`export stats`' `types`: `geoPoint` stays as named) or
 * by kind (a reconcile's `kinds`: `CustomerProfile`). A list under such a key is shaped as usual.
 */
const USER_MAPS = new Set(['labels', 'columnSources', 'fingerprints', 'sampleKeys', 'types', 'elementTypes', 'kinds']);

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Recursively snake_cases object keys, leaving user maps' keys alone. */
export function toJsonShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toJsonShape);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (USER_MAPS.has(k) && v && typeof v === 'object' && !Array.isArray(v)) {
      out[snake(k)] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([kk, vv]) => [kk, toJsonShape(vv)]));
    } else {
      out[snake(k)] = toJsonShape(v);
    }
  }
  return out;
}
