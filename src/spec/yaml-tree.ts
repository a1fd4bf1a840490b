// YAML text → a small tree whose every node knows its file:line:col. js-yaml's AST
// (`eventsToAst`) resolves tags but carries no positions; its event stream carries
// offsets but no resolved values. The AST is a pre-order image of the non-POP events,
// so walking both in lockstep gives each node its tag, value and offset.

import {
  CORE_SCHEMA,
  boolCoreTag,
  eventsToAst,
  floatCoreTag,
  intCoreTag,
  nullCoreTag,
  parseEvents,
  type Event,
  type Node as AstNode,
  type ScalarTagDefinition,
} from 'js-yaml';
import { errorDiag, type Diagnostic, type SourceRange } from '../model/diagnostic.js';

export type ScalarValue = string | number | boolean | null;

export interface YScalar {
  kind: 'scalar';
  value: ScalarValue;
  /** Plain (unquoted, untagged) scalars are re-resolved after `${VAR}` interpolation. */
  plain: boolean;
  pos: SourceRange;
  /** Set when interpolation failed: already reported, so later checks stay quiet. */
  failed?: boolean;
  /** Source offsets of the scalar's text (end-exclusive), -1 when empty. */
  start: number;
  end: number;
}
export interface YSeq {
  kind: 'seq';
  items: YNode[];
  pos: SourceRange;
}
export interface YMap {
  kind: 'map';
  items: Array<{ key: YScalar; value: YNode }>;
  pos: SourceRange;
}
export type YNode = YScalar | YSeq | YMap;

export interface ParsedFile {
  /** The single document's root; undefined for an empty file or on a syntax error. */
  root?: YNode;
  diagnostics: Diagnostic[];
  /** Offset → SourceRange for this file (used for positions inside scalars). */
  at(offset: number): SourceRange;
}

const TAG_PREFIX = 'tag:yaml.org,2002:';
const SCALAR_TAGS: Record<string, ScalarTagDefinition<ScalarValue>> = {
  null: nullCoreTag,
  bool: boolCoreTag,
  int: intCoreTag,
  float: floatCoreTag,
};

/** Resolves a plain scalar's text the way YAML 1.2's core schema does (null, bool, int, float, else string). */
export function resolvePlain(text: string): ScalarValue {
  for (const tag of [nullCoreTag, boolCoreTag, intCoreTag, floatCoreTag] as ScalarTagDefinition<ScalarValue>[]) {
    const v = tag.resolve(text, false, tag.tagName);
    if (typeof v !== 'symbol') return v;
  }
  return text;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

export function parseYamlFile(text: string, file: string): ParsedFile {
  const starts = lineStarts(text);
  const at = (offset: number): SourceRange => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file, line: lo + 1, col: offset - starts[lo]! + 1 };
  };
  const diagnostics: Diagnostic[] = [];
  let events: Event[];
  let docs: ReturnType<typeof eventsToAst>;
  try {
    events = parseEvents(text, { filename: file });
    docs = eventsToAst(events, { source: text, schema: CORE_SCHEMA });
  } catch (e) {
    const err = e as { reason?: string; message?: string; mark?: { line: number; column: number } };
    const pos = err.mark ? { file, line: err.mark.line + 1, col: err.mark.column + 1 } : { file, line: 1, col: 1 };
    // `{ path: ${DIR}/x }` is a YAML error (braces open a flow mapping): say how to write it.
    const line = text.split('\n')[pos.line - 1] ?? '';
    const hint = /\$\{/.test(line) ? 'quote a value that uses ${VAR}, e.g. path: "${DATA_DIR:-./.data}/warehouse.duckdb"' : undefined;
    diagnostics.push(errorDiag(`YAML syntax error: ${err.reason ?? err.message ?? String(e)}`, pos, hint));
    return { diagnostics, at };
  }

  let i = 0;
  let lastOffset = 0;
  const anchors = new Map<string, YNode>();
  const nextEvent = (): Event => {
    while (i < events.length && (events[i]!.type === 1 || events[i]!.type === 6)) i++;
    return events[i++]!;
  };
  const minStart = (...xs: number[]): number => {
    const ok = xs.filter((x) => x >= 0);
    return ok.length ? Math.min(...ok) : -1;
  };

  const build = (node: AstNode): YNode => {
    const ev = nextEvent();
    if (node.kind === 'alias') {
      const target = anchors.get(node.anchor);
      if (target) return target;
      const start = ev.type === 5 ? ev.anchorStart : lastOffset;
      diagnostics.push(errorDiag(`unknown YAML anchor \`*${node.anchor}\``, at(start)));
      return { kind: 'scalar', value: null, plain: false, pos: at(start), start: -1, end: -1 };
    }
    let out: YNode;
    if (node.kind === 'scalar' && ev.type === 4) {
      const quoted = ev.style === 2 || ev.style === 3;
      const textStart = ev.valueStart >= 0 && quoted ? ev.valueStart - 1 : ev.valueStart;
      const start = minStart(ev.anchorStart, ev.tagStart, textStart);
      const pos = at(start >= 0 ? start : lastOffset);
      if (ev.valueEnd >= 0) lastOffset = ev.valueEnd;
      let tag = node.tag;
      if (tag.startsWith('!!')) tag = TAG_PREFIX + tag.slice(2);
      let value: ScalarValue = node.value;
      const short = tag.startsWith(TAG_PREFIX) ? tag.slice(TAG_PREFIX.length) : undefined;
      if (short !== undefined && short !== 'str' && SCALAR_TAGS[short]) {
        const v = SCALAR_TAGS[short]!.resolve(node.value, node.tagged, tag);
        if (typeof v === 'symbol') {
          diagnostics.push(errorDiag(`\`${node.value}\` is not a valid !!${short}`, pos));
          value = null;
        } else value = v;
      } else if (short !== 'str') {
        diagnostics.push(errorDiag(`unsupported YAML tag \`${node.tag}\``, pos));
      }
      out = { kind: 'scalar', value, plain: !node.tagged && ev.style === 1, pos, start: ev.valueStart, end: ev.valueEnd };
    } else if (node.kind === 'sequence' && ev.type === 2) {
      const pos = at(minStart(ev.anchorStart, ev.tagStart, ev.start));
      lastOffset = ev.start;
      const seq: YSeq = { kind: 'seq', items: [], pos };
      if (node.anchor) anchors.set(node.anchor, seq);
      for (const item of node.items) seq.items.push(build(item));
      return seq;
    } else if (node.kind === 'mapping' && ev.type === 3) {
      const pos = at(minStart(ev.anchorStart, ev.tagStart, ev.start));
      lastOffset = ev.start;
      const map: YMap = { kind: 'map', items: [], pos };
      if (node.anchor) anchors.set(node.anchor, map);
      const seen = new Map<string, SourceRange>();
      for (const item of node.items) {
        const key = build(item.key);
        const value = build(item.value);
        if (key.kind !== 'scalar' || key.value === null || typeof key.value === 'object') {
          diagnostics.push(errorDiag('a key must be a plain string', key.pos));
          continue;
        }
        const keyScalar: YScalar = { ...key, value: String(key.value) };
        // An empty value has no text of its own: point at its key instead.
        if (value.kind === 'scalar' && value.start < 0) value.pos = keyScalar.pos;
        const name = keyScalar.value as string;
        const first = seen.get(name);
        if (first) {
          diagnostics.push(errorDiag(`duplicate key \`${name}\` (first at line ${first.line}:${first.col})`, keyScalar.pos));
          continue;
        }
        seen.set(name, keyScalar.pos);
        map.items.push({ key: keyScalar, value });
      }
      return map;
    } else {
      // The AST and the events disagree: js-yaml changed shape. Caught below and reported.
      throw new Error(`AST/event mismatch at event ${i - 1}`);
    }
    if (node.anchor) anchors.set(node.anchor, out);
    return out;
  };

  if (docs.length > 1) {
    // Find the second document's first content offset for the position.
    let d = 0;
    let offset = 0;
    for (const ev of events) {
      if (ev.type === 1) d++;
      if (d === 2 && (ev.type === 3 || ev.type === 2)) { offset = ev.start; break; }
      if (d === 2 && ev.type === 4) { offset = ev.valueStart; break; }
    }
    diagnostics.push(
      errorDiag('a spec file holds one YAML document; put each part in its own file in a folder instead', at(Math.max(0, offset))),
    );
    return { diagnostics, at };
  }
  const contents = docs[0]?.contents ?? null;
  if (!contents) return { diagnostics, at };
  try {
    return { root: build(contents), diagnostics, at };
  } catch (e) {
    // Only reachable if js-yaml's AST and event stream ever disagree; report, never crash.
    diagnostics.push(errorDiag(`cannot read the YAML structure: ${e instanceof Error ? e.message : String(e)}`, at(0)));
    return { diagnostics, at };
  }
}

/** Plain JavaScript data for a tree (what a JSON Schema validator sees). */
export function toPlain(node: YNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const item of node.items) out[item.key.value as string] = toPlain(item.value);
  return out;
}
