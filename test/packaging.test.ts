// What a user of a clone or of the package relies on: the Node versions package.json
// promises, the license it names, and the `mlbridge` command from a clone (npx).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; license: string; engines: { node: string } };

const Packaging = suite('package metadata and running from a clone');

Packaging('engines states the real minimum: 20.3, the first Node with AbortSignal.any, which the Cloud Scheduler client uses', () => {
  assert.is(pkg.engines.node, '>=20.3.0');
  assert.type((AbortSignal as unknown as { any?: unknown }).any, 'function');
  const source = readFileSync(join(root, 'src', 'scheduler', 'client.ts'), 'utf8');
  assert.ok(source.includes('AbortSignal.any('), 'the reason for the minimum is still in the code');
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  assert.ok(major > 20 || (major === 20 && minor >= 3), `running on ${process.versions.node}`);
});

Packaging('LICENSE holds the full Apache License 2.0 that package.json names', () => {
  assert.is(pkg.license, 'Apache-2.0');
  const text = readFileSync(join(root, 'LICENSE'), 'utf8');
  assert.match(text, /^\s+Apache License\n\s+Version 2\.0, January 2004\n\s+http:\/\/www\.apache\.org\/licenses\/\n/);
  for (const section of ['1. Definitions.', '2. Grant of Copyright License.', '3. Grant of Patent License.', '4. Redistribution.', '9. Accepting Warranty or Additional Liability.', 'END OF TERMS AND CONDITIONS', 'APPENDIX: How to apply the Apache License to your work.']) {
    assert.ok(text.includes(section), section);
  }
  assert.is(text.split('\n').length, 203);
});

Packaging('npx mlbridge runs the command from a clone, as the README says', () => {
  assert.ok(readFileSync(join(root, 'README.md'), 'utf8').includes('npx mlbridge'));
  const r = spawnSync('npx', ['--no-install', 'mlbridge', '--version'], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), pkg.version);
});

Packaging.run();
