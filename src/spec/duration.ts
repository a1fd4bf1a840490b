// Durations in the spec: "30s", "15m", "1h", "2d", combinations such as "1h30m", or a
// plain number of seconds. Deliberately tiny: no months/years (their length varies).

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Seconds for a duration, or undefined when the text is not a duration. Negative numbers are rejected. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  let at = 0;
  const seen = new Set<string>();
  PART.lastIndex = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (!m) return undefined;
    const unit = m[2]!;
    if (seen.has(unit)) return undefined; // "1h2h" is a typo, not a sum
    seen.add(unit);
    total += Number(m[1]) * UNIT_SECONDS[unit]!;
    at = PART.lastIndex;
  }
  return total;
}

/** "1h30m" style text for a number of seconds (for messages and docs). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) { out += `${n}${unit}`; rest -= n * size; }
  }
  if (rest > 0) out += `${Number(rest.toFixed(3))}s`;
  return out;
}
