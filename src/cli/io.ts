// What a command may touch of the outside world. Commands take a CliIO instead of
// reaching for process.* so tests can run them in-process and read what a user would see.

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Interactive: stdout and stdin are terminals and color/ink are not disabled. */
  interactive: boolean;
  color: boolean;
}

/** Exit statuses shared by every command. */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  /** plan --detailed-exitcode: changes present. */
  CHANGES: 2,
  /** score: the action is quarantine. */
  QUARANTINE: 3,
} as const;

export function processIO(options: { noColor?: boolean } = {}): CliIO {
  const stdoutTTY = Boolean(process.stdout.isTTY);
  const stdinTTY = Boolean(process.stdin.isTTY);
  const noColor = Boolean(options.noColor) || 'NO_COLOR' in process.env || process.env.TERM === 'dumb';
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    // A terminal that reports 0 columns (some CI ptys, `script`) makes ink wrap every
    // character onto its own line: use the plain progress lines there.
    interactive: stdoutTTY && stdinTTY && !noColor && process.env.CI !== 'true' && (process.stdout.columns ?? 0) > 0,
    color: stdoutTTY && !noColor,
  };
}

/** Writes a line to a stream. */
export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}
