// A gcloud emulator as a child process for tests: started on a free loopback port in its own
// process group (so stopping it takes down the gcloud wrapper AND the Java server it spawns),
// waited on by its health check within a generous limit (never a fixed sleep), and killed
// on process exit if a test crashes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A port that is free now, below the kernel's ephemeral range (32768-60999 on Linux): the
 * emulator binds it seconds after we chose it, and a port from listen(0) is one the kernel
 * also hands out to outgoing connections meanwhile (seen under load: "Address already in use").
 */
export async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', () => resolve(false));
      srv.listen(candidate, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
}

export interface EmulatorProcess {
  /** Kills the whole process group. */
  kill(): void;
}

/**
 * Spawns `gcloud ARGS` and resolves once `healthy()` is true; throws with the log's tail if
 * the process exits first or `timeoutMs` passes.
 */
export async function startEmulatorProcess(options: { label: string; args: string[]; host: string; timeoutMs: number; healthy: () => Promise<boolean> }): Promise<EmulatorProcess> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that crashes must not leave a JVM behind.
    process.on('exit', () => {
      for (const child of running) killGroup(child);
    });
  }
  const child = spawn('gcloud', options.args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  running.add(child);
  let log = '';
  const onData = (d: Buffer) => {
    log += d.toString();
    if (log.length > 20_000) log = log.slice(-10_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
    running.delete(child);
  });
  child.unref();
  (child.stdout as unknown as { unref?: () => void })?.unref?.();
  (child.stderr as unknown as { unref?: () => void })?.unref?.();
  const kill = () => {
    killGroup(child);
    running.delete(child);
  };

  const tail = () => log.split('\n').slice(-15).join('\n');
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (exited !== undefined) throw new Error(`${options.label} exited (code ${exited}) before becoming healthy on ${options.host}. Log tail:\n${tail()}`);
    if (await options.healthy().catch(() => false)) return { kill };
    if (Date.now() > deadline) {
      kill();
      throw new Error(`${options.label} did not become healthy on ${options.host} within ${options.timeoutMs} ms. Log tail:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** GET http://host/ answers "Ok" (both the Datastore and the Pub/Sub emulators). */
export async function answersOk(host: string): Promise<boolean> {
  const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2000) });
  return res.ok && (await res.text()).trim() === 'Ok';
}
