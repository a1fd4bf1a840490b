// Starts the real Cloud Pub/Sub emulator for tests, on a free port, in its own process
// group, so stop() takes down the gcloud wrapper AND the Java server it spawns. Waits on
// the emulator's health endpoint (generous limit), never on a fixed sleep.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface PubsubEmulator {
  /** 127.0.0.1:PORT (what PUBSUB_EMULATOR_HOST holds). */
  host: string;
  project: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// A test that crashes must not leave a JVM behind.
process.on('exit', () => {
  for (const child of running) killGroup(child);
});

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPubsubEmulator(opts: { project?: string; timeoutMs?: number } = {}): Promise<PubsubEmulator> {
  const project = opts.project ?? 'mlbridge-test';
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const host = `127.0.0.1:${await freeLoopbackPort()}`;
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${project}`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
  });
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

  const tail = () => log.split('\n').slice(-15).join('\n');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) throw new Error(`Pub/Sub emulator exited (code ${exited}) before becoming healthy on ${host}. Log tail:\n${tail()}`);
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.text()).trim() === 'Ok') break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      killGroup(child);
      running.delete(child);
      throw new Error(`Pub/Sub emulator did not become healthy on ${host} within ${timeoutMs} ms. Log tail:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  let stopped = false;
  return {
    host,
    project,
    async stop() {
      if (stopped) return;
      stopped = true;
      killGroup(child);
      running.delete(child);
    },
  };
}
