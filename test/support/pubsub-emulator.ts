// Starts the real Cloud Pub/Sub emulator for tests, on a free port, in its own process
// group (see emulator-process.ts); stop() kills the group.
import { answersOk, freeLoopbackPort, startEmulatorProcess } from './emulator-process.js';

export interface PubsubEmulator {
  /** 127.0.0.1:PORT (what PUBSUB_EMULATOR_HOST holds). */
  host: string;
  project: string;
  stop(): Promise<void>;
}

export async function startPubsubEmulator(opts: { project?: string; timeoutMs?: number } = {}): Promise<PubsubEmulator> {
  const project = opts.project ?? 'mlbridge-test';
  const host = `127.0.0.1:${await freeLoopbackPort()}`;
  const proc = await startEmulatorProcess({
    label: 'Pub/Sub emulator',
    args: ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${project}`],
    host,
    timeoutMs: opts.timeoutMs ?? Number(process.env.MLBRIDGE_EMULATOR_START_MS ?? 240_000),
    healthy: () => answersOk(host),
  });
  return {
    host,
    project,
    async stop() {
      proc.kill();
    },
  };
}
