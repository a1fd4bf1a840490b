// `mlbridge apply --auto-approve --json` in a child process (bin/mlbridge.js, as a user runs
// it), with each progress event handed to the test as it arrives: the crash tests kill the
// apply at an event, the lock tests stop it there (SIGSTOP) while it holds the target.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(fileURLToPath(new URL('../../..', import.meta.url)), 'bin', 'mlbridge.js');

export interface ApplyChild {
  child: ChildProcess;
  /** Everything it printed (stdout, then stderr as it came); resolves when it exits. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

/** Starts the apply in `dir`; `onEvent` sees every JSON line of its stdout, in order. */
export function startApply(dir: string, onEvent: (e: Record<string, unknown>, child: ChildProcess) => void): ApplyChild {
  const child = spawn(process.execPath, [BIN, 'apply', '--auto-approve', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      onEvent(e, child);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
  return { child, done };
}
