// Runs a test with no Google credentials anywhere Application Default Credentials looks:
// no GOOGLE_APPLICATION_CREDENTIALS, an empty HOME (so no gcloud ADC file), and a metadata
// server that is either switched off or one that resets every connection (the case in which
// gcp-metadata emits a MetadataLookupWarning). google-auth-library reads process.env itself,
// so process.env is changed for the duration and restored afterwards.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NoCredentials {
  /** The empty home folder (pass it as HOME in the env given to the code under test). */
  home: string;
  /** process warnings emitted while `fn` ran, as "Name: message". */
  warnings: string[];
}

export async function withNoCredentials<T>(
  options: { metadataServer: 'off' | 'resetting'; unset?: string[] },
  fn: (c: NoCredentials) => Promise<T>,
): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'mlbridge-nohome-'));
  const saved = { ...process.env };
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  let server: ReturnType<typeof createServer> | undefined;
  for (const name of ['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'METADATA_SERVER_DETECTION', ...(options.unset ?? [])]) {
    delete process.env[name];
  }
  process.env.HOME = home;
  if (options.metadataServer === 'off') {
    process.env.METADATA_SERVER_DETECTION = 'none';
  } else {
    server = createServer((s) => s.resetAndDestroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    process.env.GCE_METADATA_HOST = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  process.on('warning', onWarning);
  try {
    return await fn({ home, warnings });
  } finally {
    process.off('warning', onWarning);
    process.env = saved;
    server?.close();
    rmSync(home, { recursive: true, force: true });
  }
}
