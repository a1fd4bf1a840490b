// The commands that read a Datastore source rather than a spec's target: `export dump`,
// `export stats` (a managed export) and `init` (a spec inferred from an export or a live
// Datastore). Each command module is imported only when it runs, as in main.ts.

import type { Command } from 'commander';
import { Option } from 'commander';
import { EXIT, println, type CliIO } from './io.js';
import { collect, positiveInt, type Action } from './command-options.js';
import type { InitOptions } from './commands/init.js'; // type only: init loads on use

/** Adds `export dump`, `export stats` and `init` to the program, in that order. */
export function addSourceCommands(program: Command, action: Action, io: CliIO): void {
  const exportCmd = program.command('export').description('inspect a Datastore managed export');
  exportCmd
    .command('dump')
    .description('print the entities of an export as JSON lines')
    .argument('<location>', 'an export folder, a folder of exports, or gs://bucket/prefix')
    .option('--kind <kind>', 'only this kind (repeatable)', collect)
    .option('--namespace <namespace>', 'only this namespace (repeatable)', collect)
    .option('--limit <n>', 'stop after N entities', positiveInt)
    .option('--skip-corrupt', 'skip corrupt records instead of failing')
    .option('--export-id <id>', 'which export in a folder of exports (default: newest)')
    .action(
      action(
        async (location: string, o: { kind?: string[]; namespace?: string[]; limit?: number; skipCorrupt?: boolean; exportId?: string }) =>
          (await import('./commands/export-dump.js')).run(
            {
              location,
              kind: o.kind ?? [],
              namespace: o.namespace ?? [],
              skipCorrupt: Boolean(o.skipCorrupt),
              ...(o.limit !== undefined ? { limit: o.limit } : {}),
              ...(o.exportId !== undefined ? { exportId: o.exportId } : {}),
            },
            io,
          ),
      ),
    );
  exportCmd
    .command('stats')
    .description('count entities and properties per kind in an export')
    .argument('<location>', 'an export folder, a folder of exports, or gs://bucket/prefix')
    .option('--json', 'print JSON')
    .option('--skip-corrupt', 'skip corrupt records instead of failing')
    .option('--export-id <id>', 'which export in a folder of exports (default: newest)')
    .option('--jobs <n>', 'threads reading the export files (default: one per core, at most 8)', positiveInt)
    .action(
      action(async (location: string, o: { json?: boolean; skipCorrupt?: boolean; exportId?: string; jobs?: number }) =>
        (await import('./commands/export-stats.js')).run(
          {
            location,
            json: Boolean(o.json),
            skipCorrupt: Boolean(o.skipCorrupt),
            ...(o.exportId !== undefined ? { exportId: o.exportId } : {}),
            ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
          },
          io,
        ),
      ),
    );

  program
    .command('init')
    .description('write a starting spec from an export or a live Datastore')
    .option('--from-export <location>', 'infer mappings from a managed export')
    .option('--from-datastore <project>', 'infer mappings from a live Datastore project')
    .option('-o, --output <file>', 'where to write the spec (default: stdout)')
    .addOption(new Option('--target <kind>', 'target warehouse').choices(['duckdb', 'bigquery']))
    .option('--export-id <id>', 'which export in a folder of exports (default: newest)')
    .option('--kind <kind>', 'with --from-datastore: only this kind (repeatable)', collect)
    .option('--namespace <namespace>', 'with --from-datastore: only this namespace (repeatable; "" = default)', collect)
    .option('--limit <n>', 'with --from-datastore: sample at most N entities per kind and namespace (default 10000)', positiveInt)
    .option('--database <id>', 'with --from-datastore: a named database (default: the default database)')
    .option('--jobs <n>', 'with --from-export: threads reading the export files (default: one per core, at most 8)', positiveInt)
    .option('--infer-required', 'make REQUIRED the properties every sampled entity held (default: every field NULLABLE)')
    .action(
      action(
        async (o: InitOptions) => {
          if ((o.fromExport === undefined) === (o.fromDatastore === undefined)) {
            println(io.stderr, 'Error: init needs exactly one of --from-export LOCATION or --from-datastore PROJECT');
            return EXIT.ERROR;
          }
          return (await import('./commands/init.js')).run(
            {
              ...(o.fromExport !== undefined ? { fromExport: o.fromExport } : {}),
              ...(o.fromDatastore !== undefined ? { fromDatastore: o.fromDatastore } : {}),
              ...(o.output !== undefined ? { output: o.output } : {}),
              ...(o.target !== undefined ? { target: o.target } : {}),
              ...(o.exportId !== undefined ? { exportId: o.exportId } : {}),
              ...(o.kind !== undefined ? { kind: o.kind } : {}),
              ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
              ...(o.limit !== undefined ? { limit: o.limit } : {}),
              ...(o.database !== undefined ? { database: o.database } : {}),
              ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
              ...(o.inferRequired ? { inferRequired: true } : {}),
            },
            io,
          );
        },
      ),
    );
}
