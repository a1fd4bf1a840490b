// Name rules BigQuery enforces (checked up front so a plan never fails half-way), the
// default table name for a kind, and "did you mean" suggestions.

import { SYSTEM_COLUMNS } from './defaults.js';

/** snake_case for a kind: "CustomerProfile" → "customer_profile", "Order-Item v2" → "order_item_v2". */
export function snakeCase(kind: string): string {
  return kind
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1_$2')
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** Dataset IDs: letters, digits and underscores, at most 1,024 characters. */
export function datasetNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 1024) return `is ${name.length} characters long; at most 1024 are allowed`;
  const bad = [...name].find((ch) => !/[A-Za-z0-9_]/.test(ch));
  if (bad !== undefined) return `contains ${describeChar(bad)}; a dataset name may hold only letters, digits and underscores`;
  return undefined;
}

/** Table IDs: Unicode letters, marks, numbers, connectors, dashes and spaces; at most 1,024 UTF-8 bytes. */
export function tableNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > 1024) return `is ${bytes} bytes long; at most 1024 are allowed`;
  const bad = [...name].find((ch) => !/[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]/u.test(ch));
  if (bad !== undefined) {
    return `contains ${describeChar(bad)}; a table name may hold only letters, marks, numbers, underscores, dashes and spaces`;
  }
  return undefined;
}

const COLUMN_PREFIXES = ['_TABLE_', '_FILE_', '_PARTITION', '_ROW_TIMESTAMP', '__ROOT__', '_COLIDENTIFIER'];

/**
 * Column names per BigQuery's flexible column names: letters, marks, numbers, connector
 * punctuation, dashes, spaces and `& % = + : ' < > # |`; at most 300 characters; not one of
 * the reserved prefixes. `topLevel` also reserves mlbridge's system columns.
 */
export function columnNameProblem(name: string, topLevel: boolean): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 300) return `is ${name.length} characters long; at most 300 are allowed`;
  const bad = [...name].find((ch) => !/[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}&%=+:'<>#|]/u.test(ch));
  if (bad !== undefined) {
    const hint = bad === '.' ? ' (to read a nested property, keep the name simple and use `from: a.b`)' : '';
    return `contains ${describeChar(bad)}, which BigQuery does not allow in a column name${hint}`;
  }
  const upper = name.toUpperCase();
  const prefix = COLUMN_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix) return `starts with \`${prefix}\`, a prefix BigQuery reserves`;
  if (topLevel && Object.hasOwn(SYSTEM_COLUMNS, name.toLowerCase())) {
    return `is a system column mlbridge adds to every table (${Object.keys(SYSTEM_COLUMNS).join(', ')}); choose another name`;
  }
  return undefined;
}

function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return `the control character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return `\`${ch}\``;
}

/** Damerau–Levenshtein distance (optimal string alignment), case-insensitive. */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be a plausible typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestDistance) { best = c; bestDistance = dist; }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : undefined;
}
