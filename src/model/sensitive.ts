// Values the spec marks sensitive (`${secret:VAR}`): they are replaced in text by string
// search at the boundaries where text leaves mlbridge (the CLI's stdout and stderr, saved
// plan files), not in each view, so a new view or error message cannot leak one.
//
// A value also shows up escaped: inside a JSON string (plan --json, apply --json events,
// messages that quote with JSON.stringify) and inside a Markdown code span (backticks become
// quotes). Each of those forms is searched for too.

/** What a sensitive value prints as. */
export const REDACTED = '(sensitive)';

/** The forms a value takes in mlbridge's output: as is, JSON-escaped, in a Markdown code span. */
export function sensitiveForms(value: string): string[] {
  const forms = new Set([value, JSON.stringify(value).slice(1, -1), value.replace(/`/g, "'")]);
  return [...forms].filter((f) => f.length > 0);
}

/** Replaces every form of a set of values in text; the longest match wins where forms overlap. */
export class Redactor {
  private readonly values = new Map<string, string>();
  private pattern: RegExp | undefined;

  constructor(values: Iterable<string> = [], private readonly forms: (value: string) => string[] = sensitiveForms) {
    this.add(values);
  }

  /** Values to redact from now on; empty strings are ignored (there is nothing to hide). */
  add(values: Iterable<string>): void {
    let added = false;
    for (const v of values) {
      if (v === '') continue;
      for (const f of this.forms(v)) {
        if (!this.values.has(f)) {
          this.values.set(f, v);
          added = true;
        }
      }
    }
    if (!added) return;
    const sorted = [...this.values.keys()].sort((a, b) => b.length - a.length);
    this.pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
  }

  get active(): boolean {
    return this.pattern !== undefined;
  }

  /** text with each form of a value replaced by `replacement(value)` (default: `(sensitive)`). */
  redact(text: string, replacement: (value: string) => string = () => REDACTED): string {
    if (!this.pattern) return text;
    return text.replace(this.pattern, (m) => replacement(this.values.get(m)!));
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
