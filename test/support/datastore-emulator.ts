// Starts the real Cloud Datastore emulator for tests, on a free port, in its own process
// group, so stop() can take down the gcloud wrapper AND the Java server it spawns.
// Each emulator gets its own --data-dir: by default gcloud shares one folder
// (~/.config/gcloud/emulators/datastore) between every emulator of the user, and on a
// machine where it does not exist yet, two emulators starting at once both run
// `cloud_datastore_emulator create` on it and one of them exits (code 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { freeLoopbackPort as freePort, killGroup } from './emulator-process.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DatastoreEmulator {
  /** 127.0.0.1:PORT */
  host: string;
  project: string;
  /** The emulator's own data folder (removed by stop()). */
  dataDir: string;
  stop(): Promise<void>;
}

/** Emulators still running, with their data folders, for the exit hook. */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a start may take: a JVM starting on two busy cores (other suites, other
 * emulators) has taken over a minute. MLBRIDGE_EMULATOR_START_MS overrides it.
 */
const DEFAULT_START_MS = Number(process.env.MLBRIDGE_EMULATOR_START_MS ?? 240_000);

/** Starts on another port when the chosen one was taken before the emulator could bind it. */
const BIND_ATTEMPTS = 5;

export async function startDatastoreEmulator(
  opts: { project?: string; timeoutMs?: number } = {},
): Promise<DatastoreEmulator> {
  const project = opts.project ?? 'mlbridge-test';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_START_MS;
  installExitHook();
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const result = await startOnce(project, started, deadline, timeoutMs);
    if (result !== 'port-taken') return result;
    if (attempt === BIND_ATTEMPTS) throw new Error(`Datastore emulator: ${BIND_ATTEMPTS} ports in a row were taken before it could bind them`);
  }
}

async function startOnce(project: string, started: number, deadline: number, timeoutMs: number): Promise<DatastoreEmulator | 'port-taken'> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mlbridge-datastore-emulator-'));
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
  // Printed once our server is listening: a healthy answer before it could come from
  // another process that holds the port.
  let listening = false;
  const onData = (d: Buffer) => {
    log += d.toString();
    if (!listening && log.includes('Dev App Server is now running')) listening = true;
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
  for (;;) {
    if (exited !== undefined) {
      killGroup(child); // the Java server may outlive the gcloud wrapper
      release();
      if (/BindException|Address already in use/.test(log)) return 'port-taken';
      throw new Error(`Datastore emulator exited (code ${exited}) before becoming healthy on ${host} after ${Date.now() - started} ms. Log tail:\n${tail()}`);
    }
    if (listening) {
      try {
        const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2000) });
        const body = await res.text();
        if (res.ok && body.trim() === 'Ok') break;
      } catch {
        // not up yet
      }
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
    dataDir,
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
