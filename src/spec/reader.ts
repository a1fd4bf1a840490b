// Typed reads from the positioned YAML tree. Every read that fails records a diagnostic
// at the offending key or value and returns undefined, so validation carries on and all
// problems are reported together.

import { errorDiag, warningDiag, type Diagnostic, type SourceRange } from '../model/diagnostic.js';
import { parseDuration } from './duration.js';
import { suggest } from './names.js';
import type { YMap, YNode, YScalar } from './yaml-tree.js';

export interface Entry {
  key: YScalar;
  value: YNode;
}
export type Fields = Record<string, Entry | undefined>;

export function describe(node: YNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null) return 'null (an empty value)';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return 'a number';
}

/** `mappings[0].fields` + `name` → `mappings[0].fields.name` (root path is ''). */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function label(path: string): string {
  return path ? `\`${path}\`` : 'the spec';
}

function oneOf(words: readonly string[]): string {
  const q = words.map((w) => `\`${w}\``);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

function failed(n: YNode): boolean {
  return n.kind === 'scalar' && n.failed === true;
}

export class Reader {
  readonly diagnostics: Diagnostic[] = [];

  warning(message: string, pos: SourceRange | undefined): void {
    this.diagnostics.push(warningDiag(message, pos));
  }

  error(message: string, pos: SourceRange | undefined): void {
    this.diagnostics.push(errorDiag(message, pos));
  }

  wrongType(path: string, expected: string, node: YNode): void {
    this.error(`${label(path)}: expected ${expected}, got ${describe(node)}`, node.pos);
  }

  /** A mapping with known keys; unknown keys get a "did you mean" hint. */
  object(node: YNode, path: string, allowed: readonly string[], required: readonly string[] = []): Fields | undefined {
    if (node.kind !== 'map') {
      this.wrongType(path, 'a mapping', node);
      return undefined;
    }
    const out: Fields = {};
    for (const item of node.items) {
      const k = item.key.value as string;
      if (!allowed.includes(k)) {
        this.unknownKey(k, path, allowed, item.key.pos);
        continue;
      }
      out[k] = item;
    }
    for (const k of required) if (!out[k] && !node.items.some((i) => i.key.value === k)) this.missing(node, path, k);
    return out;
  }

  unknownKey(k: string, path: string, allowed: readonly string[], pos: SourceRange): void {
    const where = path ? ` in \`${path}\`` : ' at the top level';
    const hint = suggest(k, allowed);
    this.error(
      `unknown key \`${k}\`${where}; ${hint ? `did you mean \`${hint}\`?` : `expected ${oneOf(allowed)}`}`,
      pos,
    );
  }

  missing(node: YMap, path: string, key: string): void {
    this.error(`${label(path)} is missing required key \`${key}\``, node.pos);
  }

  string(e: Entry | undefined, path: string, opts: { nonEmpty?: boolean } = {}): string | undefined {
    if (!e || failed(e.value)) return undefined;
    const n = e.value;
    if (n.kind !== 'scalar' || typeof n.value !== 'string') {
      const hint = n.kind === 'scalar' && (typeof n.value === 'number' || typeof n.value === 'boolean') ? ' (quote it to make it a string)' : '';
      this.error(`${label(path)}: expected a string, got ${describe(n)}${hint}`, n.pos);
      return undefined;
    }
    if (opts.nonEmpty && n.value.trim() === '') {
      this.error(`${label(path)}: must not be empty`, n.pos);
      return undefined;
    }
    return n.value;
  }

  number(e: Entry | undefined, path: string, opts: { min?: number; max?: number; integer?: boolean; above?: number } = {}): number | undefined {
    if (!e || failed(e.value)) return undefined;
    const n = e.value;
    if (n.kind !== 'scalar' || typeof n.value !== 'number') {
      this.wrongType(path, opts.integer ? 'an integer' : 'a number', n);
      return undefined;
    }
    const v = n.value;
    if (!Number.isFinite(v)) return this.bad(path, `must be a finite number, got ${v}`, n);
    if (opts.integer && !Number.isInteger(v)) return this.bad(path, `expected an integer, got ${v}`, n);
    if (opts.min !== undefined && opts.max !== undefined && (v < opts.min || v > opts.max)) {
      return this.bad(path, `must be between ${opts.min} and ${opts.max}, got ${v}`, n);
    }
    if (opts.min !== undefined && v < opts.min) return this.bad(path, `must be at least ${opts.min}, got ${v}`, n);
    if (opts.max !== undefined && v > opts.max) return this.bad(path, `must be at most ${opts.max}, got ${v}`, n);
    if (opts.above !== undefined && v <= opts.above) return this.bad(path, `must be greater than ${opts.above}, got ${v}`, n);
    return v;
  }

  boolean(e: Entry | undefined, path: string): boolean | undefined {
    if (!e || failed(e.value)) return undefined;
    const n = e.value;
    if (n.kind !== 'scalar' || typeof n.value !== 'boolean') {
      this.wrongType(path, 'true or false', n);
      return undefined;
    }
    return n.value;
  }

  list(e: Entry | undefined, path: string): YNode[] | undefined {
    if (!e) return undefined;
    if (e.value.kind !== 'seq') {
      this.wrongType(path, 'a list', e.value);
      return undefined;
    }
    return e.value.items;
  }

  /** A duration ("30s", "15m", "1h", "2d", "1h30m" or seconds), in seconds. */
  duration(e: Entry | undefined, path: string, opts: { min?: number; max?: number; above?: number } = {}): number | undefined {
    if (!e || failed(e.value)) return undefined;
    const n = e.value;
    if (n.kind !== 'scalar' || (typeof n.value !== 'string' && typeof n.value !== 'number')) {
      this.wrongType(path, 'a duration such as 30s, 15m, 1h, 2d or a number of seconds', n);
      return undefined;
    }
    const secs = parseDuration(n.value);
    if (secs === undefined) {
      return this.bad(path, `\`${n.value}\` is not a duration; use e.g. 30s, 15m, 1h, 2d, 1h30m or a number of seconds`, n);
    }
    if (opts.min !== undefined && secs < opts.min) return this.bad(path, `must be at least ${opts.min}s, got ${n.value}`, n);
    if (opts.max !== undefined && secs > opts.max) return this.bad(path, `must be at most ${opts.max}s, got ${n.value}`, n);
    if (opts.above !== undefined && secs <= opts.above) return this.bad(path, `must be longer than ${opts.above}s, got ${n.value}`, n);
    return secs;
  }

  /** A string from a fixed set, compared case-insensitively; returns the canonical (upper-case) spelling. */
  enumeration(e: Entry | undefined, path: string, values: readonly string[], what: string): string | undefined {
    const s = this.string(e, path);
    if (s === undefined || !e) return undefined;
    const hit = values.find((v) => v.toLowerCase() === s.toLowerCase());
    if (hit) return hit;
    const hint = suggest(s, values);
    this.error(`${label(path)}: unknown ${what} \`${s}\`; ${hint ? `did you mean \`${hint}\`?` : `expected ${oneOf(values)}`}`, e.value.pos);
    return undefined;
  }

  private bad(path: string, message: string, n: YNode): undefined {
    this.error(`${label(path)}: ${message}`, n.pos);
    return undefined;
  }
}

export { label as pathLabel, oneOf };
