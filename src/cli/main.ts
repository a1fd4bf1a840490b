// The CLI entry: argv → commander → one command module, imported only when it runs so
// `mlbridge --version` and `validate` start fast (no DuckDB, Google clients or ink here).
// Every MlbridgeError becomes `Error: <message>` on stderr and exit 1, never a stack.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { isMlbridgeError, errorMessage } from '../model/errors.js';
import { formatDiagnostic, type Diagnostic } from '../model/diagnostic.js';
import { EXIT, println, processIO, type CliIO } from './io.js';
import { booleanValue, collect, positiveInt, type Action } from './command-options.js';
import { addSourceCommands } from './source-commands.js';

const DEFAULT_CONFIG = './mlbridge.yaml';

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Terraform's single-dash spelling of long options (`-out=FILE`, `-auto-approve`, `-target X`),
 * which its users type by habit: a token `-name` or `-name=value` whose `--name` is an option
 * of mlbridge reads as `--name`. Commander has no short options of several letters, so no
 * such token meant anything else; after `--` nothing is an option.
 */
export function terraformSpelling(argv: readonly string[], longs: ReadonlySet<string>): string[] {
  let options = true;
  return argv.map((a) => {
    if (a === '--') options = false;
    const m = options ? /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a) : null;
    return m && longs.has(`--${m[1]}`) ? `-${a}` : a;
  });
}

/** Prints an error the one way users see errors: `Error: …`, diagnostics as file:line:col lines. */
export function reportError(err: unknown, io: CliIO): number {
  const diags = (err as { diagnostics?: unknown }).diagnostics;
  if (Array.isArray(diags)) for (const d of diags as Diagnostic[]) println(io.stderr, formatDiagnostic(d));
  if (isMlbridgeError(err)) {
    println(io.stderr, `Error: ${err.message}`);
  } else {
    println(io.stderr, `Error: ${errorMessage(err)}`);
    if (io.env.MLBRIDGE_DEBUG && err instanceof Error && err.stack) println(io.stderr, err.stack);
  }
  return EXIT.ERROR;
}

export async function main(argv: string[], io: CliIO = processIO({ noColor: argv.includes('--no-color') })): Promise<number> {
  let exitCode: number = EXIT.OK;
  const action: Action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      exitCode = await fn(...args);
    };

  const program = new Command();
  program
    .name('mlbridge')
    .description('Keep BigQuery (or DuckDB) in step with Datastore, Terraform-style: validate, plan, apply.')
    .version(version(), '-v, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error:/, 'Error:')),
    })
    .enablePositionalOptions() // `score --version V` is the entity version, not mlbridge's
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run 'mlbridge --help' for usage)");

  const configOption = () => new Option('-c, --config <path>', 'spec file or folder').default(DEFAULT_CONFIG);

  program
    .command('validate')
    .description('check the spec; every problem is printed as file:line:col: message')
    .addOption(configOption())
    .action(
      action(async (o: { config: string }) => (await import('./commands/validate.js')).run({ config: o.config }, io)),
    );

  program
    .command('plan')
    .description('show what apply would change in the target (changes nothing)')
    .addOption(configOption())
    .option('--out <file>', 'save the plan for `mlbridge apply FILE`')
    .option('--json', 'print only JSON: {"format_version":"1","changes":[…],"summary":{…},"diagnostics":[…]}')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown']))
    .option('--detailed-exitcode', 'exit 0 when there are no changes, 2 when there are, 1 on error')
    .option('--target <address>', 'limit the plan to a resource address (repeatable)', collect)
    .option('--skip-data', 'plan schemas and jobs only; do not read the source or compare rows')
    .option('--export-id <id>', 'with an export source: which export in a folder of exports (default: newest)')
    .option('--lock <bool>', 'false: read the target even while an apply holds its lock', booleanValue, true)
    .option('--lock-timeout <duration>', 'wait this long for a running apply to finish (e.g. 30s)', '0s')
    .option('--no-color', 'plain text, no colour or live view')
    .action(
      action(
        async (o: {
          config: string;
          lock: boolean;
          lockTimeout: string;
          out?: string;
          json?: boolean;
          format?: string;
          detailedExitcode?: boolean;
          target?: string[];
          skipData?: boolean;
          exportId?: string;
          color: boolean;
        }) =>
          (await import('./commands/plan.js')).run(
            {
              config: o.config,
              json: Boolean(o.json),
              detailedExitcode: Boolean(o.detailedExitcode),
              target: o.target ?? [],
              skipData: Boolean(o.skipData),
              lock: o.lock,
              lockTimeout: o.lockTimeout,
              color: o.color,
              ...(o.exportId !== undefined ? { exportId: o.exportId } : {}),
              ...(o.out !== undefined ? { out: o.out } : {}),
              ...(o.format !== undefined ? { format: o.format } : {}),
            },
            io,
          ),
      ),
    );

  program
    .command('apply')
    .description('apply the spec (or a saved plan) to the target')
    .argument('[planfile]', 'a plan saved with `mlbridge plan --out FILE`')
    .addOption(configOption())
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--allow-destructive', 'allow dropping columns and replacing or deleting tables')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)', '0s')
    .option('--target <address>', 'limit the apply to a resource address (repeatable)', collect)
    .option('--skip-data', 'apply schemas and jobs only; do not read the source or repair rows')
    .option('--export-id <id>', 'with an export source: which export in a folder of exports (default: newest)')
    .option('--json', 'machine-readable progress, one JSON object per line')
    .option('--no-color', 'plain text, no colour or live view')
    .action(
      action(
        async (
          planFile: string | undefined,
          o: {
            config: string;
            autoApprove?: boolean;
            allowDestructive?: boolean;
            lockTimeout: string;
            target?: string[];
            skipData?: boolean;
            exportId?: string;
            json?: boolean;
            color: boolean;
          },
        ) =>
          (await import('./commands/apply.js')).run(
            {
              config: o.config,
              autoApprove: Boolean(o.autoApprove),
              allowDestructive: Boolean(o.allowDestructive),
              lockTimeout: o.lockTimeout,
              target: o.target ?? [],
              skipData: Boolean(o.skipData),
              json: Boolean(o.json),
              color: o.color,
              ...(o.exportId !== undefined ? { exportId: o.exportId } : {}),
              ...(planFile !== undefined ? { planFile } : {}),
            },
            io,
          ),
      ),
    );

  program
    .command('show')
    .description('print a saved plan')
    .argument('<planfile>', 'a plan saved with `mlbridge plan --out FILE`')
    .option('--json', 'print the plan as JSON')
    .option('--no-color', 'plain text')
    .action(
      action(async (planFile: string, o: { json?: boolean; color: boolean }) =>
        (await import('./commands/show.js')).run({ planFile, json: Boolean(o.json), color: o.color }, io),
      ),
    );

  program
    .command('force-unlock')
    .description('release a lock left behind by an apply that is no longer running')
    .argument('<lock_id>', 'the lock id printed by the failing apply')
    .addOption(configOption())
    .option('--force', 'do not ask for confirmation')
    .action(
      action(async (lockId: string, o: { config: string; force?: boolean }) =>
        (await import('./commands/force-unlock.js')).run({ lockId, config: o.config, force: Boolean(o.force) }, io),
      ),
    );

  addSourceCommands(program, action, io);

  program
    .command('score')
    .description('score one change event: ingest, defer or quarantine (exit 3 on quarantine)')
    .requiredOption('--entity-key <key>', 'the entity key, e.g. CustomerProfile/cust-001')
    .requiredOption('--kind <kind>', 'the entity kind (its mapping)')
    .requiredOption('--operation <op>', 'UPSERT, PATCH or DELETE')
    .option('--data <json>', 'the entity properties as JSON, or @file.json')
    .option('--event-time <time>', 'when the change happened (RFC 3339)')
    .option('--namespace <namespace>', 'the entity namespace')
    .option('--version <version>', 'the entity version')
    .option('-c, --config <path>', 'spec file or folder (default: ./mlbridge.yaml if present)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'text']).default('json'))
    .action(
      action(
        async (o: {
          entityKey: string;
          kind: string;
          operation: string;
          data?: string;
          eventTime?: string;
          namespace?: string;
          version?: string;
          config?: string;
          format: 'json' | 'text';
        }) =>
          (await import('./commands/score.js')).run(
            {
              entityKey: o.entityKey,
              kind: o.kind,
              operation: o.operation,
              format: o.format,
              ...(o.data !== undefined ? { data: o.data } : {}),
              ...(o.eventTime !== undefined ? { eventTime: o.eventTime } : {}),
              ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
              ...(o.version !== undefined ? { version: o.version } : {}),
              ...(o.config !== undefined ? { config: o.config } : {}),
            },
            io,
          ),
      ),
    );

  program
    .command('serve')
    .description('receive Datastore change events (Eventarc, Pub/Sub push) and /reconcile calls over HTTP')
    .addOption(configOption())
    .option('--port <n>', 'port to listen on (default: $PORT, else 8080)', positiveInt)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--no-auth', 'accept requests without an OIDC token (local use only)')
    .option('--max-batch <n>', 'changes per write into the warehouse, at most (default 500)', positiveInt)
    .option('--max-delay <ms>', 'while the warehouse is idle, how long a change waits for others before a write (default 25)', positiveInt)
    .option(
      '--release-after <duration>',
      'DuckDB target: close the file after this long without requests, so apply or plan can open it; reopened on the next request; 0 keeps it open (default: $MLBRIDGE_SERVE_RELEASE_AFTER, else 2s)',
    )
    .action(
      action(async (o: { config: string; port?: number; host: string; auth: boolean; maxBatch?: number; maxDelay?: number; releaseAfter?: string }) =>
        (await import('./commands/serve.js')).run(
          {
            config: o.config,
            host: o.host,
            auth: o.auth,
            ...(o.port !== undefined ? { port: o.port } : {}),
            ...(o.maxBatch !== undefined ? { maxBatch: o.maxBatch } : {}),
            ...(o.maxDelay !== undefined ? { maxDelayMs: o.maxDelay } : {}),
            ...(o.releaseAfter !== undefined ? { releaseAfter: o.releaseAfter } : {}),
          },
          io,
        ),
      ),
    );

  program
    .command('reconcile')
    .description('repair the tables from the source now, as serve\'s /reconcile does (exit 0: nothing to repair, 2: repaired, 1: error)')
    .addOption(configOption())
    .option('--kind <kind>', 'only this kind (repeatable)', collect)
    .option('--json', 'print the summary as JSON')
    .action(
      action(async (o: { config: string; kind?: string[]; json?: boolean }) =>
        (await import('./commands/reconcile.js')).run({ config: o.config, kind: o.kind ?? [], json: Boolean(o.json) }, io),
      ),
    );

  // `--project` the Google Cloud way: it fills GOOGLE_CLOUD_PROJECT for this run, which the
  // spec may interpolate (`${GOOGLE_CLOUD_PROJECT}`) and the Google adapters fall back on.
  for (const cmd of program.commands) {
    if (['validate', 'plan', 'apply', 'force-unlock', 'score', 'serve', 'reconcile'].includes(cmd.name())) {
      cmd.option('--project <id>', 'Google Cloud project (sets GOOGLE_CLOUD_PROJECT for this run)');
    }
  }
  program.hook('preAction', (_program, command) => {
    const project = (command.opts() as { project?: string }).project;
    if (project) io.env = { ...io.env, GOOGLE_CLOUD_PROJECT: project };
  });

  const longs = new Set([program, ...program.commands].flatMap((c) => c.options.map((o) => o.long).filter((l): l is string => l !== undefined)));
  try {
    await program.parseAsync(terraformSpelling(argv, longs), { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.ERROR;
    return reportError(err, io);
  }
}
