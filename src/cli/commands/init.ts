// `mlbridge init --from-export LOCATION [-o FILE] [--target duckdb|bigquery]`: writes a
// spec with one mapping per kind, types inferred from the export's entities.
import type { CliIO } from '../io.js';
import { EXIT } from '../io.js';

export interface InitOptions {
  fromExport?: string;
  fromDatastore?: string;
  output?: string;
  target?: 'duckdb' | 'bigquery';
  exportId?: string;
}

export async function run(options: InitOptions, io: CliIO): Promise<number> {
  const { failCommand, CorruptTally } = await import('../../source/export/cli-support.js');
  if (options.fromDatastore !== undefined && options.fromExport === undefined) {
    io.stderr.write('Error: init --from-datastore is not available in this version; use --from-export LOCATION with a managed export\n');
    return EXIT.ERROR;
  }
  if (options.fromExport === undefined) {
    io.stderr.write('Error: init needs --from-export LOCATION (a local folder or gs://bucket/prefix holding a Datastore export)\n');
    return EXIT.ERROR;
  }
  if (options.target !== undefined && options.target !== 'duckdb' && options.target !== 'bigquery') {
    io.stderr.write(`Error: --target must be duckdb or bigquery, not ${JSON.stringify(options.target)}\n`);
    return EXIT.ERROR;
  }
  const path = await import('node:path');
  const { writeFile } = await import('node:fs/promises');
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
    io.stderr.write(`wrote ${options.output}: ${profiler.groups.size} mapping${profiler.groups.size === 1 ? '' : 's'}\n`);
  } else {
    io.stdout.write(yaml);
  }
  return EXIT.OK;
}
