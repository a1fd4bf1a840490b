// The Datastore emulator harness on a machine that never ran one: two emulators started at
// once (as two suites do) both come up, each on its own port and data folder. They used to
// share gcloud's one data folder, and on a fresh machine one of them died creating it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDatastoreEmulator, type DatastoreEmulator } from '../support/datastore-emulator.js';

const Harness = suite('Datastore emulator harness');

Harness('two emulators started at once with a fresh gcloud configuration are both healthy, and leave nothing behind', async () => {
  const config = mkdtempSync(join(tmpdir(), 'mlbridge-gcloud-config-'));
  const before = process.env.CLOUDSDK_CONFIG;
  process.env.CLOUDSDK_CONFIG = config; // no emulators/datastore folder in it yet
  let emus: DatastoreEmulator[] = [];
  try {
    const results = await Promise.allSettled([startDatastoreEmulator({ project: 'harness-a' }), startDatastoreEmulator({ project: 'harness-b' })]);
    emus = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')), ['ok', 'ok']);
    assert.is.not(emus[0]!.host, emus[1]!.host);
    assert.is.not(emus[0]!.dataDir, emus[1]!.dataDir);
    for (const emu of emus) {
      const res = await fetch(`http://${emu.host}/v1/projects/${emu.project}:runQuery`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: { kind: [{ name: 'Nothing' }] } }),
      });
      assert.is(res.status, 200, await res.text());
    }
    assert.is(existsSync(join(config, 'emulators', 'datastore')), false, 'gcloud\'s shared data folder is not used');
  } finally {
    for (const emu of emus) await emu.stop();
    if (before === undefined) delete process.env.CLOUDSDK_CONFIG;
    else process.env.CLOUDSDK_CONFIG = before;
    rmSync(config, { recursive: true, force: true });
  }
  assert.equal(emus.filter((e) => existsSync(e.dataDir)).map((e) => e.dataDir), [], 'each emulator\'s data folder is removed when it stops');
});

Harness.run();
