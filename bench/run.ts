// `npm run bench`: runs every compiled benchmark (dist/bench/*.bench.js) in turn, each in
// its own process so one benchmark's warm caches do not flatter the next.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n== ${f.replace(/\.js$/, '')} ==\n`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`${f} exited ${r.status}\n`);
  }
}
if (files.length === 0) process.stdout.write('no benchmarks found in dist/bench\n');
process.exit(failed ? 1 : 0);
