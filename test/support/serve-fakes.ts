// Runs the in-repo BigQuery and Cloud Scheduler fakes as standalone servers, so a person can
// try the CLI's BigQuery target without a Google Cloud project:
//
//   npx tsc -p tsconfig.json && node dist/test/support/serve-fakes.js [--project demo-project] [--location US]
//
// It prints one line on stdout, `export BIGQUERY_EMULATOR_HOST=… CLOUD_SCHEDULER_EMULATOR_HOST=…`,
// to paste into another shell, and the fault-injection control API on stderr. It runs until
// SIGINT/SIGTERM, then stops both fakes. State lives in memory only.

import { startBigQueryFake } from './bigquery-fake.js';
import { startSchedulerFake } from './scheduler-fake.js';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('usage: node dist/test/support/serve-fakes.js [--project ID] [--location LOC]\n');
    return;
  }
  const project = option(args, '--project') ?? 'demo-project';
  const location = option(args, '--location') ?? 'US';
  const bigquery = await startBigQueryFake({ project, location });
  const scheduler = await startSchedulerFake();
  const bqHost = bigquery.endpoint.replace(/^https?:\/\//, '');

  process.stdout.write(`export BIGQUERY_EMULATOR_HOST=${bqHost} CLOUD_SCHEDULER_EMULATOR_HOST=${scheduler.host}\n`);
  process.stderr.write(
    [
      `BigQuery fake (project ${project}, default location ${location}) on http://${bqHost}`,
      `Cloud Scheduler fake on http://${scheduler.host}`,
      'Inject faults (the next N calls of that API method fail):',
      `  curl -s -X POST http://${bqHost}/__fake/fail -d '{"call":"tables.patch","reason":"rateLimitExceeded","times":3}'`,
      `  curl -s -X POST http://${scheduler.host}/__fake/fail -d '{"call":"jobs.patch","status":503,"times":2}'`,
      '  (also "reason", "message", "hang": true; DELETE /__fake/fail clears; GET /__fake/calls lists calls)',
      'Ctrl-C stops both.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping the fakes\n`);
    Promise.allSettled([bigquery.stop(), scheduler.stop()]).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  process.stderr.write(`serve-fakes: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
