// A CliIO that captures what a user would see, for running main() in-process.
import { PassThrough, Writable } from 'node:stream';
import type { CliIO } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

export interface FakeIO extends CliIO {
  out(): string;
  err(): string;
}

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** Not a terminal unless `tty` is set; `input` is what the user types on stdin. */
export function fakeIO(options: { cwd: string; env?: NodeJS.ProcessEnv; tty?: boolean; input?: string }): FakeIO {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdout.isTTY = Boolean(options.tty);
  stdin.isTTY = Boolean(options.tty);
  if (options.input !== undefined) stdin.end(options.input);
  return {
    stdout,
    stderr,
    stdin,
    env: options.env ?? { PATH: process.env.PATH },
    cwd: options.cwd,
    interactive: false,
    color: false,
    out: () => stdout.text,
    err: () => stderr.text,
  };
}

/** Runs `mlbridge ARGS` in-process in `cwd`, as the CLI does: its exit code and what it printed. */
export async function runCli(cwd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIO({ cwd, ...(env ? { env } : {}) });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}
