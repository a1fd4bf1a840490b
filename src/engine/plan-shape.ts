// The shape of a saved plan's changes, checked field by field before apply or show reads
// any of it: a plan file is input, and a damaged one (even with a matching checksum) must be
// PLAN_INVALID naming the field, never a TypeError deep in a view or an executor.

type Check = (v: unknown, at: string) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const str: Check = (v, at) => (typeof v === 'string' ? undefined : `${at} is not a string`);
const num: Check = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `${at} is not a number`);
const bool: Check = (v, at) => (typeof v === 'boolean' ? undefined : `${at} is not true or false`);
const optional =
  (check: Check): Check =>
  (v, at) =>
    v === undefined ? undefined : check(v, at);
const nullable =
  (check: Check): Check =>
  (v, at) =>
    v === null ? undefined : check(v, at);
const oneOf =
  (...values: string[]): Check =>
  (v, at) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${at} is not one of ${values.join(', ')}`;
const arrayOf =
  (check: Check): Check =>
  (v, at) => {
    if (!Array.isArray(v)) return `${at} is not a list`;
    for (const [i, x] of v.entries()) {
      const p = check(x, `${at}[${i}]`);
      if (p) return p;
    }
    return undefined;
  };
const recordOf =
  (check: Check): Check =>
  (v, at) => {
    if (!isObject(v)) return `${at} is not an object`;
    for (const [k, x] of Object.entries(v)) {
      const p = check(x, `${at}.${k}`);
      if (p) return p;
    }
    return undefined;
  };
const obj =
  (fields: Record<string, Check>): Check =>
  (v, at) => {
    if (!isObject(v)) return `${at} is not an object`;
    for (const [k, check] of Object.entries(fields)) {
      const p = check(v[k], `${at}.${k}`);
      if (p) return p;
    }
    return undefined;
  };

const column: Check = (v, at) =>
  obj({ name: str, type: str, mode: oneOf('NULLABLE', 'REQUIRED', 'REPEATED'), description: optional(str), fields: optional(arrayOf(column)) })(v, at);

const labels = recordOf(str);
const path = arrayOf(str);

const table = obj({
  dataset: str,
  name: str,
  columns: arrayOf(column),
  partitioning: optional(obj({ type: oneOf('HOUR', 'DAY', 'MONTH', 'YEAR'), field: optional(str), expirationDays: optional(num), requireFilter: optional(bool) })),
  clustering: optional(arrayOf(str)),
  labels,
  description: optional(str),
  deletionProtection: bool,
});

const OPS: Record<string, Check> = {
  add_column: obj({ parent: path, column }),
  relax_column: obj({ path }),
  rename_column: obj({ from: str, to: str }),
  drop_column: obj({ name: str }),
  widen_column: obj({ path, from: str, to: str }),
  set_column_description: obj({ path, description: optional(str) }),
  set_description: obj({ description: optional(str) }),
  set_labels: obj({ labels }),
  set_clustering: obj({ clustering: optional(arrayOf(str)) }),
  set_deletion_protection: obj({ enabled: bool }),
};

const tableOp: Check = (v, at) => {
  if (!isObject(v) || typeof v.op !== 'string' || !(v.op in OPS)) return `${at} is not a table operation`;
  return OPS[v.op]!(v, at);
};

const counts = obj({ insert: num, update: num, delete: num, quarantine: num });

const BY_TYPE: Record<string, Record<string, Check>> = {
  dataset: { before: nullable(obj({ name: str, location: optional(str), labels, description: optional(str) })) },
  table: { before: nullable(table), after: nullable(table), ops: optional(arrayOf(tableOp)), replace: optional(obj({ columnSources: recordOf(optional(str)) })), observedEtag: optional(str) },
  scheduler_job: {
    before: nullable(
      obj({
        project: str,
        region: str,
        name: str,
        description: optional(str),
        schedule: str,
        timeZone: str,
        uri: str,
        httpMethod: str,
        body: optional(str),
        oidc: optional(obj({ serviceAccountEmail: str, audience: str })),
        attemptDeadlineSeconds: num,
        retry: obj({ count: num, minBackoffSeconds: num, maxBackoffSeconds: num }),
        state: oneOf('ENABLED', 'PAUSED'),
      }),
    ),
    updateMask: optional(arrayOf(str)),
    stateChange: optional(oneOf('pause', 'resume')),
  },
  rows: {
    kind: str,
    before: nullable(counts),
    after: nullable(counts),
    sampleKeys: obj({ insert: arrayOf(str), update: arrayOf(str), delete: arrayOf(str), quarantine: arrayOf(str) }),
  },
};
// `after` has the shape of `before` for datasets and scheduler jobs.
BY_TYPE.dataset!.after = BY_TYPE.dataset!.before!;
BY_TYPE.scheduler_job!.after = BY_TYPE.scheduler_job!.before!;

const reason = obj({ path: optional(str), rule: str, message: str, forcesReplacement: optional(bool) });

/** The first thing wrong with changes[i] (type, address and action already checked), or undefined. */
export function changeShapeProblem(c: Record<string, unknown>, i: number): string | undefined {
  const at = `changes[${i}]`;
  return (
    obj({ reasons: arrayOf(reason), destructive: bool, blocked: optional(str), ...BY_TYPE[String(c.type)] })(c, at) ??
    (c.action !== 'delete' && c.action !== 'no-op' && c.after === null ? `${at}.after is missing for a ${String(c.action)}` : undefined)
  );
}

const diagnostic = obj({
  severity: oneOf('error', 'warning'),
  summary: str,
  detail: optional(str),
  source: optional(obj({ file: str, line: num, col: num, offset: optional(num) })),
});

/** The first thing wrong with the plan's other parts (summary, diagnostics, fingerprints, targets), or undefined. */
export function planPartsProblem(v: Record<string, unknown>): string | undefined {
  return obj({
    createdAt: str,
    mlbridgeVersion: str,
    summary: obj({ add: num, change: num, destroy: num }),
    diagnostics: arrayOf(diagnostic),
    fingerprints: recordOf(str),
    targets: arrayOf(str),
  })(v, 'plan');
}
