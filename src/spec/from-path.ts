// `from:` paths into an entity's properties. Text form: segments joined by dots, a
// segment holding a dot written in backticks (a.`b.c`); or a YAML list of segments.
// The root `__key__` reads the entity key: __key__.name|id|kind|namespace|path.

export const KEY_ROOT = '__key__';
export const KEY_MEMBERS = ['name', 'id', 'kind', 'namespace', 'path'] as const;

/** Splits a dotted path; returns a problem text for an empty segment or an unterminated backtick. */
export function splitFromPath(text: string): { segments: string[] } | { problem: string } {
  if (text.trim() === '') return { problem: 'must not be empty' };
  const segments: string[] = [];
  let i = 0;
  while (true) {
    let seg = '';
    if (text[i] === '`') {
      const close = text.indexOf('`', i + 1);
      if (close < 0) return { problem: `unterminated backtick in \`${text}\`` };
      seg = text.slice(i + 1, close);
      i = close + 1;
      if (i < text.length && text[i] !== '.') return { problem: `expected \`.\` after the backticked segment in \`${text}\`` };
    } else {
      const dot = text.indexOf('.', i);
      const end = dot < 0 ? text.length : dot;
      seg = text.slice(i, end);
      if (seg.includes('`')) return { problem: `a backtick may only quote a whole segment in \`${text}\`` };
      i = end;
    }
    if (seg === '') return { problem: `\`${text}\` has an empty segment` };
    segments.push(seg);
    if (i >= text.length) break;
    i++; // skip the dot
    if (i >= text.length) return { problem: `\`${text}\` has an empty segment` };
  }
  return { segments };
}

/** Problem with a `__key__` path, or undefined when the path does not start at `__key__` or is fine. */
export function keyPathProblem(segments: readonly string[]): string | undefined {
  if (segments[0] !== KEY_ROOT) return undefined;
  const members = KEY_MEMBERS.map((m) => `\`${KEY_ROOT}.${m}\``).join(', ');
  if (segments.length === 1) return `\`${KEY_ROOT}\` needs a member: one of ${members}`;
  if (segments.length > 2 || !(KEY_MEMBERS as readonly string[]).includes(segments[1]!)) {
    return `\`${formatFromPath(segments)}\` is not a key member; expected one of ${members}`;
  }
  return undefined;
}

/** The display form of a split path (backticks where a segment holds a dot). */
export function formatFromPath(segments: readonly string[]): string {
  return segments.map((s) => (s.includes('.') ? `\`${s}\`` : s)).join('.');
}
