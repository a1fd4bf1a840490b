// Starts the real Cloud Datastore emulator for tests, on a free port, in its own process
// group, so stop() can take down the gcloud wrapper AND the Java server it spawns.
// Each emulator gets its own --data-dir: by default gcloud shares one folder
// (~/.config/gcloud/emulators/datastore) between every emulator of the user, and on a
// machine where it does not exist yet, two emulators starting at once both run
// `cloud_datastore_emulator create` on it and one of them exits (code 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DatastoreEmulator {
  /** 127.0.0.1:PORT */
  host: string;
  project: string;
  stop(): Promise<void>;
}

/** Emulators still running, with their data folders, for the exit hook. */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that crashes must not leave a JVM behind.
  process.on('exit', () => {
    for (const [child, dataDir] of running) {
      killGroup(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a start may take: a JVM starting on two busy cores (other suites, other
 * emulators) has taken over a minute. MLBRIDGE_EMULATOR_START_MS overrides it.
 */
const DEFAULT_START_MS = Number(process.env.MLBRIDGE_EMULATOR_START_MS ?? 240_000);

export async function startDatastoreEmulator(
  opts: { project?: string; timeoutMs?: number } = {},
): Promise<DatastoreEmulator> {
  const project = opts.project ?? 'mlbridge-test';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_START_MS;
  installExitHook();
  const dataDir = await mkdtemp(join(tmpdir(), 'mlbridge-datastore-emulator-'));
  const started = Date.now();
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(
    'gcloud',
    [
      'beta',
      'emulators',
      'datastore',
      'start',
      '--no-store-on-disk',
      `--data-dir=${dataDir}`,
      `--host-port=${host}`,
      `--project=${project}`,
      '--consistency=1.0',
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } },
  );
  running.set(child, dataDir);
  let log = '';
  const onData = (d: Buffer) => {
    log += d.toString();
    if (log.length > 20_000) log = log.slice(-10_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: number | null | undefined;
  const release = () => {
    running.delete(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  child.on('exit', (code) => {
    exited = code;
  });
  child.unref();
  (child.stdout as unknown as { unref?: () => void })?.unref?.();
  (child.stderr as unknown as { unref?: () => void })?.unref?.();

  const tail = () => log.split('\n').slice(-15).join('\n');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) {
      killGroup(child); // the Java server may outlive the gcloud wrapper
      release();
      throw new Error(`Datastore emulator exited (code ${exited}) before becoming healthy on ${host} after ${Date.now() - started} ms. Log tail:\n${tail()}`);
    }
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.ok && body.trim() === 'Ok') break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      killGroup(child);
      release();
      throw new Error(`Datastore emulator did not become healthy on ${host} within ${timeoutMs} ms. Log tail:\n${tail()}`);
    }
    await sleep(250);
  }

  let stopped = false;
  return {
    host,
    project,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await fetch(`http://${host}/shutdown`, { method: 'POST', signal: AbortSignal.timeout(3000) });
      } catch {
        // shutting down anyway
      }
      killGroup(child);
      release();
    },
  };
}
