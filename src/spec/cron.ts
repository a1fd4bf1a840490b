// Cloud Scheduler's cron dialect (unix-cron, as its "Configure cron job schedules" page
// describes it), checked before a plan so that apply never fails on a schedule Google
// refuses. Five fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC,
// day of week 0-7 (0 and 7 are Sunday) or SUN-SAT. A field is `*` or a comma-separated
// list of numbers and ranges `a-b`; `*` or a range may be followed by `/step`.
// Extensions other cron flavours accept (Quartz's `L`, `W`, `#`, `?`, `H`; `@daily`
// macros; seconds or year fields) are refused, and so is a step no field can take
// (`*/61` in the minute field), which cron-parser lets through.

export interface CronProblem {
  /** What is wrong, for a diagnostic. */
  message: string;
  /** Offset of the offending field in the expression as given (0 when it is the whole expression). */
  offset: number;
}

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Value the first name stands for. */
  nameBase?: number;
  values: string;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly FieldRule[] = [
  { name: 'minute', min: 0, max: 59, values: '0-59' },
  { name: 'hour', min: 0, max: 23, values: '0-23' },
  { name: 'day-of-month', min: 1, max: 31, values: '1-31' },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1, values: '1-12 or JAN-DEC' },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, nameBase: 0, values: '0-7 (0 and 7 are Sunday) or SUN-SAT' },
];

const EXTENSIONS: Record<string, string> = {
  L: '`L` (last day)',
  W: '`W` (nearest weekday)',
  '#': '`#` (nth weekday of the month)',
  '?': '`?` (no specific value)',
  H: '`H` (hashed value)',
};

/** The problem with a schedule in Cloud Scheduler's dialect, or undefined when it is accepted. */
export function cloudSchedulerCronProblem(expression: string): CronProblem | undefined {
  const fields: { text: string; offset: number }[] = [];
  for (const m of expression.matchAll(/\S+/g)) fields.push({ text: m[0], offset: m.index });
  if (fields.length === 1 && fields[0]!.text.startsWith('@')) {
    return { message: 'Cloud Scheduler does not accept `@` macros; write the five fields (e.g. `0 0 * * *` for @daily)', offset: 0 };
  }
  if (fields.length !== 5) {
    return {
      message: `it has ${fields.length} field${fields.length === 1 ? '' : 's'}; a schedule has 5 (minute hour day-of-month month day-of-week)`,
      offset: 0,
    };
  }
  for (let i = 0; i < 5; i++) {
    const problem = fieldProblem(fields[i]!.text, FIELDS[i]!);
    if (problem) return { message: `${FIELDS[i]!.name} field \`${fields[i]!.text}\`: ${problem}`, offset: fields[i]!.offset };
  }
  return undefined;
}

function fieldProblem(text: string, rule: FieldRule): string | undefined {
  for (const item of text.split(',')) {
    if (item === '') return 'empty list item (a stray `,`)';
    const problem = itemProblem(item, rule);
    if (problem) return problem;
  }
  return undefined;
}

function itemProblem(item: string, rule: FieldRule): string | undefined {
  const slash = item.indexOf('/');
  const base = slash < 0 ? item : item.slice(0, slash);
  if (base !== '*') {
    const dash = base.indexOf('-', 1);
    const parts = dash < 0 ? [base] : [base.slice(0, dash), base.slice(dash + 1)];
    const values: number[] = [];
    for (const p of parts) {
      const v = value(p, rule);
      if (typeof v === 'string') return v;
      values.push(v);
    }
    if (values.length === 2 && values[0]! > values[1]!) return `range \`${base}\` runs backwards; write the smaller value first`;
    if (slash >= 0 && values.length === 1) return `a step follows \`*\` or a range (write \`${base}-${rule.max}${item.slice(slash)}\`)`;
  }
  if (slash < 0) return undefined;
  const stepText = item.slice(slash + 1);
  if (!/^\d+$/.test(stepText)) return `step \`/${stepText}\` is not a whole number`;
  const step = Number(stepText);
  if (step < 1) return 'a step must be at least 1';
  if (step > rule.max) return `step ${step} is larger than the field allows (at most ${rule.max} for the ${rule.name})`;
  return undefined;
}

/** A number or a name within the field's bounds, else the problem. */
function value(text: string, rule: FieldRule): number | string {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < rule.min || n > rule.max) return `${n} is out of range (${rule.values})`;
    return n;
  }
  if (rule.names) {
    const i = rule.names.indexOf(text as never);
    if (i >= 0) return i + rule.nameBase!;
    const upper = rule.names.indexOf(text.toUpperCase() as never);
    if (upper >= 0) return `write \`${text.toUpperCase()}\` in capitals, as Cloud Scheduler expects`;
  }
  if (text === '') return `empty value (expected ${rule.values})`;
  const ext = Object.keys(EXTENSIONS).find((ch) => text.toUpperCase().includes(ch));
  if (ext) return `${EXTENSIONS[ext]} is not part of Cloud Scheduler's cron format`;
  return `\`${text}\` is not a value of this field (${rule.values})`;
}
