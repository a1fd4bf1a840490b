// `serve:` — settings of `mlbridge serve`:
//
//   serve:
//     auth:
//       audience: https://mlbridge-abc123-uc.a.run.app     # or a list of audiences
//       service_accounts: [eventarc-trigger@my-project.iam.gserviceaccount.com]
//
// Without `serve.auth`, serve refuses every push (secure by default); see README "serve".

import type { Reader, Entry } from './reader.js';
import type { ServeAuthSpec, ServeSpec } from './types.js';
import type { YNode } from './yaml-tree.js';

const SERVICE_ACCOUNT = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** A string or a non-empty list of strings, each checked by `check` (returns a problem or undefined). */
function stringOrList(r: Reader, e: Entry, path: string, check: (s: string) => string | undefined): string[] | undefined {
  const items: Array<{ node: YNode; at: string }> =
    e.value.kind === 'seq' ? e.value.items.map((node, i) => ({ node, at: `${path}[${i}]` })) : [{ node: e.value, at: path }];
  if (e.value.kind === 'seq' && items.length === 0) {
    r.error(`\`${path}\`: must list at least one value`, e.value.pos);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  for (const { node, at } of items) {
    const s = r.string({ key: e.key, value: node }, at, { nonEmpty: true });
    if (s === undefined) { ok = false; continue; }
    const problem = check(s.trim());
    if (problem) { r.error(`\`${at}\`: ${problem}`, node.pos); ok = false; continue; }
    out.push(s.trim());
  }
  return ok ? out : undefined;
}

function readAuth(r: Reader, e: Entry): ServeAuthSpec | undefined {
  const f = r.object(e.value, 'serve.auth', ['audience', 'service_accounts'], ['audience', 'service_accounts']);
  if (!f || !f.audience || !f.service_accounts) return undefined;
  const audiences = stringOrList(r, f.audience, 'serve.auth.audience', () => undefined);
  const serviceAccounts = stringOrList(r, f.service_accounts, 'serve.auth.service_accounts', (s) =>
    SERVICE_ACCOUNT.test(s) ? undefined : `\`${s}\` is not a service account email (name@project.iam.gserviceaccount.com)`,
  );
  if (!audiences || !serviceAccounts) return undefined;
  return { audiences, serviceAccounts, source: e.key.pos };
}

export function readServe(r: Reader, e: Entry): ServeSpec | undefined {
  const f = r.object(e.value, 'serve', ['auth']);
  if (!f) return undefined;
  const out: ServeSpec = { source: e.key.pos };
  if (f.auth) {
    const auth = readAuth(r, f.auth);
    if (!auth) return undefined;
    out.auth = auth;
  }
  return out;
}
