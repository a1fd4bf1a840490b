// `mlbridge init --from-export LOCATION | --from-datastore PROJECT [-o FILE] [--target duckdb|bigquery]`:
// writes a spec with one mapping per kind, types inferred from the entities (the same
// profiling and inference for both sources), fields NULLABLE unless --infer-required.
import type { CliIO } from '../io.js';
import { EXIT } from '../io.js';
import { printDiagnostics } from '../context.js';

export interface InitOptions {
  fromExport?: string;
  fromDatastore?: string;
  output?: string;
  target?: 'duckdb' | 'bigquery';
  exportId?: string;
  /** --from-datastore only: kinds / namespaces to read (default: all, via metadata queries). */
  kind?: string[];
  namespace?: string[];
  /** --from-datastore only: entities sampled per kind in each namespace. */
  limit?: number;
  /** --from-datastore only: a named database (default: the project's default database). */
  database?: string;
  /** --from-export only: threads reading the export's files (default: one per core, at most 8). */
  jobs?: number;
  /** Make REQUIRED the properties every sampled entity held (default: every field NULLABLE). */
  inferRequired?: boolean;
}

/** Live reads cost money per entity: init samples this many per kind unless --limit says otherwise. */
export const DEFAULT_DATASTORE_SAMPLE = 10_000;

export async function run(options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand, CorruptTally, rejectJobs } = await import('../export-support.js');
  if (options.target !== undefined && options.target !== 'duckdb' && options.target !== 'bigquery') {
    io.stderr.write(`Error: --target must be duckdb or bigquery, not ${JSON.stringify(options.target)}\n`);
    return EXIT.ERROR;
  }
  if (options.fromDatastore !== undefined && options.fromExport === undefined) {
    if (options.jobs !== undefined) {
      io.stderr.write('Error: --jobs applies to --from-export only\n');
      return EXIT.ERROR;
    }
    return fromDatastore(options.fromDatastore, options, io);
  }
  if (options.fromExport === undefined) {
    io.stderr.write('Error: init needs --from-export LOCATION (a local folder or gs://bucket/prefix holding a Datastore export) or --from-datastore PROJECT\n');
    return EXIT.ERROR;
  }
  if (options.kind?.length || options.namespace?.length || options.limit !== undefined || options.database !== undefined) {
    io.stderr.write('Error: --kind, --namespace, --limit and --database apply to --from-datastore only\n');
    return EXIT.ERROR;
  }
  if (rejectJobs(io, options.jobs)) return EXIT.ERROR;
  const path = await import('node:path');
  const { profileExport } = await import('../../source/export/profile-export.js');
  const { inferSpecYaml } = await import('../../source/export/infer-spec.js');

  const location = options.fromExport;
  const isGcs = location.startsWith('gs://');
  const tally = new CorruptTally();
  let profile: Awaited<ReturnType<typeof profileExport>>;
  try {
    profile = await profileExport(isGcs ? location : path.resolve(io.cwd, location), {
      byNamespace: false,
      onShortPart: tally.addShort,
      env: io.env,
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(options.exportId !== undefined ? { exportId: options.exportId } : {}),
    });
  } catch (e) {
    return failCommand(io, e);
  }
  tally.report(io);
  printDiagnostics(io, profile.warnings);
  // Relative source paths resolve against the spec file's folder.
  let sourcePath = location;
  if (!isGcs) {
    const abs = path.resolve(io.cwd, location);
    const specDir = options.output !== undefined ? path.dirname(path.resolve(io.cwd, options.output)) : io.cwd;
    const rel = path.relative(specDir, abs) || '.';
    sourcePath = rel.startsWith('..') && path.isAbsolute(location) ? abs : rel.startsWith('.') ? rel : `./${rel}`;
  }
  // The export's own project: the default of the BigQuery target's project.
  const { project, exportId } = profile;
  const yaml = inferSpecYaml(profile.groups, {
    target: options.target ?? 'duckdb',
    sourcePath,
    ...(project ? { project } : {}),
    origin: `export ${exportId ?? ''} at ${location}`.replace('export  at', 'export at'),
    ...(options.inferRequired ? { inferRequired: true } : {}),
  });
  return writeSpec(yaml, profile.groups.length, options, io);
}

async function fromDatastore(project: string, options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand } = await import('../export-support.js');
  if (!project.trim()) {
    io.stderr.write('Error: --from-datastore needs a Google Cloud project id\n');
    return EXIT.ERROR;
  }
  const limit = options.limit ?? DEFAULT_DATASTORE_SAMPLE;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    io.stderr.write(`Error: --limit must be a positive whole number, not ${JSON.stringify(String(options.limit))}\n`);
    return EXIT.ERROR;
  }
  const { readDatastore } = await import('../../source/datastore.js');
  const { Profiler } = await import('../../source/export/profile.js');
  const { inferSpecYaml } = await import('../../source/export/infer-spec.js');
  const profiler = new Profiler(false);
  const namespaces = options.namespace ?? [];
  const kinds = options.kind ?? [];
  const perQuery = new Map<string, number>();
  try {
    for await (const e of readDatastore({ project, namespaces, kinds, env: io.env, limit, ...(options.database ? { databaseId: options.database } : {}) })) {
      profiler.add(e, 0);
      const id = `${e.key.partitionId.namespaceId ?? ''}\u0000${e.key.path[e.key.path.length - 1]!.kind}`;
      perQuery.set(id, (perQuery.get(id) ?? 0) + 1);
    }
  } catch (e) {
    return failCommand(io, e);
  }
  // A kind that filled its sample probably holds more.
  const sampled = [...perQuery.values()].some((n) => n >= limit);
  const emulator = io.env.DATASTORE_EMULATOR_HOST ? ` (emulator at ${io.env.DATASTORE_EMULATOR_HOST})` : '';
  const yaml = inferSpecYaml(profiler.sorted(), {
    target: options.target ?? 'duckdb',
    // One namespace asked for: the source reads just that one; otherwise every namespace.
    datastore: { project, ...(namespaces.length === 1 ? { namespace: namespaces[0]! } : {}), ...(options.database ? { database: options.database } : {}) },
    project,
    bytes: false,
    notes: [
      `Sampled at most ${limit} entities per kind in each namespace (--limit; live reads are billed per entity)` +
        `${sampled ? '; some kinds hold more, so rare properties or types may be missing' : ''}.`,
    ],
    origin: `Datastore project ${project}${options.database ? `, database ${options.database}` : ''}${emulator}`,
    ...(options.inferRequired ? { inferRequired: true } : {}),
  });
  return writeSpec(yaml, profiler.groups.size, options, io);
}

async function writeSpec(yaml: string, mappings: number, options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand } = await import('../export-support.js');
  const path = await import('node:path');
  const { writeFile } = await import('node:fs/promises');
  if (options.output !== undefined && options.output !== '-') {
    const out = path.resolve(io.cwd, options.output);
    try {
      // Never overwrite: the file may be a spec someone has edited since.
      await writeFile(out, yaml, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        io.stderr.write(`Error: ${options.output} already exists; init does not overwrite a spec (remove it, or pick another -o FILE)\n`);
        return EXIT.ERROR;
      }
      return failCommand(io, e);
    }
    io.stderr.write(`wrote ${options.output}: ${mappings} mapping${mappings === 1 ? '' : 's'}\n`);
  } else {
    io.stdout.write(yaml);
  }
  return EXIT.OK;
}
