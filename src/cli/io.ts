// What a command may touch of the outside world. Commands take a CliIO instead of
// reaching for process.* so tests can run them in-process and read what a user would see.

import { Redactor } from '../model/sensitive.js';
import { writeSync } from 'node:fs';

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
  outliveClosedReader(process.stdout, 'stdout');
  outliveClosedReader(process.stderr, 'stderr');
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    // A terminal that reports 0 columns (some CI ptys, `script`) makes ink wrap every
    // character onto its own line: use the plain progress lines there.
    interactive: stdoutTTY && stdinTTY && !noColor && !runsInCi(process.env) && (process.stdout.columns ?? 0) > 0,
    color: stdoutTTY && !noColor,
  };
}

const guarded = new WeakSet<NodeJS.WritableStream>();
/** The first write that failed for another reason than a closed reader, if one did. */
let lostOutput: string | undefined;

/**
 * A reader that went away (`mlbridge reconcile | head -1`) makes the next write fail with
 * EPIPE, which Node raises as an unhandled 'error' event: a stack trace and exit 1 after the
 * work was done. Every command instead finishes what it started (an apply or reconcile must
 * not stop half-way because nobody reads its summary), prints nothing more (the stream is
 * destroyed, later writes are dropped) and exits with its own status, as `export dump` does.
 * Any other write error (`plan --json > plan.json` on a full disk) loses output the reader
 * wanted: the command still finishes, but says so on stderr and exits 1 at the least, so a
 * pipeline never takes a cut-short file for a whole one.
 */
function outliveClosedReader(stream: NodeJS.WritableStream, name: 'stdout' | 'stderr'): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || lostOutput !== undefined) return;
    lostOutput = `${name}: ${e.code ?? e.message}`;
    process.once('exit', (code) => {
      if (code === 0) process.exitCode = 1;
      try {
        writeSync(2, `mlbridge: could not write ${lostOutput}; the output is incomplete\n`);
      } catch {
        // stderr is gone too: the exit status is all that is left
      }
    });
  });
}

/**
 * Whether this environment is a CI run, by the same test ink applies (its `is-in-ci`): `CI` or
 * `CONTINUOUS_INTEGRATION` set to anything but "0" or "false". In CI, ink draws no live frames,
 * only the last one when it stops, so a command that chose the ink views there (`CI=1` on a
 * terminal) would show no progress at all: it takes the plain progress lines instead.
 */
export function runsInCi(env: NodeJS.ProcessEnv): boolean {
  const set = (name: string) => name in env && env[name] !== '0' && env[name] !== 'false';
  return set('CI') || set('CONTINUOUS_INTEGRATION');
}

/** Writes a line to a stream. */
export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

const redactors = new WeakMap<CliIO, Redactor>();

/**
 * From now on, everything written to io.stdout and io.stderr prints these values (the spec's
 * `${secret:…}` values) as `(sensitive)`: plan and apply output in every format, diagnostics,
 * errors, progress and retry lines. One wrapper at the boundary instead of care in each view.
 * The first call replaces io.stdout and io.stderr with wrapped streams.
 */
export function redactOutput(io: CliIO, values: Iterable<string>): void {
  const list = [...values].filter((v) => v !== '');
  if (!list.length) return;
  let redactor = redactors.get(io);
  if (!redactor) {
    redactor = new Redactor();
    redactors.set(io, redactor);
    io.stdout = redactingStream(io.stdout, redactor);
    io.stderr = redactingStream(io.stderr, redactor);
  }
  redactor.add(list);
}

/** The stream with write() redacting; everything else (isTTY, columns, events) is the stream's own. */
function redactingStream<S extends NodeJS.WritableStream>(stream: S, redactor: Redactor): S {
  const write = (chunk: unknown, ...rest: unknown[]): boolean => {
    let out = chunk;
    if (typeof chunk === 'string') out = redactor.redact(chunk);
    else if (chunk instanceof Uint8Array) {
      const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
      const redacted = redactor.redact(text);
      if (redacted !== text) out = redacted;
    }
    return (stream.write as (...a: unknown[]) => boolean)(out, ...rest);
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === 'write') return write;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      // Methods run on the stream itself, and the same function comes back each time.
      if (!bound.has(prop)) bound.set(prop, (v as (...a: unknown[]) => unknown).bind(target));
      return bound.get(prop);
    },
  });
}
