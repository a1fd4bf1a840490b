// `mlbridge init --from-export LOCATION | --from-datastore PROJECT [-o FILE] [--target duckdb|bigquery]`:
// writes a spec with one mapping per kind, types inferred from the entities (the same
// profiling and inference for both sources).
import type { CliIO } from '../io.js';
import { EXIT } from '../io.js';

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
}

/** Live reads cost money per entity: init samples this many per kind unless --limit says otherwise. */
export const DEFAULT_DATASTORE_SAMPLE = 10_000;

export async function run(options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand, CorruptTally } = await import('../../source/export/cli-support.js');
  if (options.target !== undefined && options.target !== 'duckdb' && options.target !== 'bigquery') {
    io.stderr.write(`Error: --target must be duckdb or bigquery, not ${JSON.stringify(options.target)}\n`);
    return EXIT.ERROR;
  }
  if (options.fromDatastore !== undefined && options.fromExport === undefined) return fromDatastore(options.fromDatastore, options, io);
  if (options.fromExport === undefined) {
    io.stderr.write('Error: init needs --from-export LOCATION (a local folder or gs://bucket/prefix holding a Datastore export) or --from-datastore PROJECT\n');
    return EXIT.ERROR;
  }
  if (options.kind?.length || options.namespace?.length || options.limit !== undefined) {
    io.stderr.write('Error: --kind, --namespace and --limit apply to --from-datastore only\n');
    return EXIT.ERROR;
  }
  const path = await import('node:path');
  const { locateExport } = await import('../../source/export/locate.js');
  const { readLocatedBatches } = await import('../../source/export/read-export.js');
  const { Profiler } = await import('../../source/export/profile.js');
  const { inferSpecYaml } = await import('../../source/export/infer-spec.js');

  const location = options.fromExport;
  const isGcs = location.startsWith('gs://');
  const profiler = new Profiler(false);
  const tally = new CorruptTally();
  let exportId: string | undefined;
  // The export's own project: the default of the BigQuery target's project.
  let project: string | undefined;
  try {
    const located = await locateExport(isGcs ? location : path.resolve(io.cwd, location), {
      env: io.env,
      ...(options.exportId !== undefined ? { exportId: options.exportId } : {}),
    });
    exportId = located.exportId;
    for await (const batch of readLocatedBatches(located, { onShortPart: tally.addShort })) {
      project ??= batch.entities[0]?.key.partitionId.projectId;
      for (let i = 0; i < batch.entities.length; i++) profiler.add(batch.entities[i]!, batch.sizes[i]!);
    }
  } catch (e) {
    return failCommand(io, e);
  }
  tally.report(io);
  // Relative source paths resolve against the spec file's folder.
  let sourcePath = location;
  if (!isGcs) {
    const abs = path.resolve(io.cwd, location);
    const specDir = options.output !== undefined ? path.dirname(path.resolve(io.cwd, options.output)) : io.cwd;
    const rel = path.relative(specDir, abs) || '.';
    sourcePath = rel.startsWith('..') && path.isAbsolute(location) ? abs : rel.startsWith('.') ? rel : `./${rel}`;
  }
  const yaml = inferSpecYaml(profiler.sorted(), {
    target: options.target ?? 'duckdb',
    sourcePath,
    ...(project ? { project } : {}),
    origin: `export ${exportId ?? ''} at ${location}`.replace('export  at', 'export at'),
  });
  return writeSpec(yaml, profiler.groups.size, options, io);
}

async function fromDatastore(project: string, options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand } = await import('../../source/export/cli-support.js');
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
    for await (const e of readDatastore({ project, namespaces, kinds, env: io.env, limit })) {
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
    datastore: { project, ...(namespaces.length === 1 ? { namespace: namespaces[0]! } : {}) },
    project,
    bytes: false,
    notes: [
      `Sampled at most ${limit} entities per kind in each namespace (--limit; live reads are billed per entity)` +
        `${sampled ? '; some kinds hold more, so rare properties or types may be missing' : ''}.`,
    ],
    origin: `Datastore project ${project}${emulator}`,
  });
  return writeSpec(yaml, profiler.groups.size, options, io);
}

async function writeSpec(yaml: string, mappings: number, options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand } = await import('../../source/export/cli-support.js');
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
