// `${VAR}` and `${VAR:-default}` in string values; `$${` is a literal `${`. Like the
// shell: `:-` also applies when VAR is set but empty. A `$` not followed by `{` is kept.
// `${secret:VAR}` (and `${secret:VAR:-default}`) interpolates the same way and reports the
// value as sensitive: the CLI never prints it and saved plans never hold it in clear.

export interface InterpolationProblem {
  /** Index into the input text where the `${` (or `$${`) starts. */
  index: number;
  /** The variable name (or the bad expression) for locating it in source text. */
  needle: string;
  message: string;
}

export interface InterpolationResult {
  value: string;
  problems: InterpolationProblem[];
  /** True when at least one `${…}` was replaced (the caller may re-resolve the scalar's type). */
  replaced: boolean;
  /** The values `${secret:…}` references put in (empty ones left out). */
  sensitive: string[];
}

const SECRET = 'secret:';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function interpolate(text: string, env: NodeJS.ProcessEnv): InterpolationResult {
  if (!text.includes('${')) return { value: text, problems: [], replaced: false, sensitive: [] };
  let out = '';
  let i = 0;
  let replaced = false;
  const problems: InterpolationProblem[] = [];
  const sensitive: string[] = [];
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      problems.push({ index: i, needle: text.slice(i), message: `unterminated \`\${\` in \`${text}\` (write \`$\${\` for a literal \`\${\`)` });
      out += text.slice(i);
      break;
    }
    const whole = text.slice(i + 2, close);
    const secret = whole.startsWith(SECRET);
    const expr = secret ? whole.slice(SECRET.length) : whole;
    const sep = expr.indexOf(':-');
    const name = sep >= 0 ? expr.slice(0, sep) : expr;
    const fallback = sep >= 0 ? expr.slice(sep + 2) : undefined;
    if (!NAME.test(name)) {
      problems.push({
        index: i,
        needle: `\${${whole}`,
        message: `\`\${${whole}}\` is not a valid reference; use \`\${NAME}\` or \`\${NAME:-default}\` (write \`$\${\` for a literal \`\${\`)`,
      });
    } else {
      const set = env[name];
      const value = set !== undefined && !(fallback !== undefined && set === '') ? set : fallback;
      if (value !== undefined) {
        out += value;
        if (secret && value !== '') sensitive.push(value);
      } else {
        problems.push({
          index: i,
          needle: `\${${secret ? SECRET : ''}${name}`,
          message: `environment variable \`${name}\` is not set (use \`\${${secret ? SECRET : ''}${name}:-default}\` to give a default)`,
        });
      }
      replaced = true;
    }
    i = close + 1;
  }
  return { value: out, problems, replaced, sensitive };
}
