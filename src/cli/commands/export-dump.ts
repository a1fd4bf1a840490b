// `mlbridge export dump LOCATION`: one entity per line, as the Datastore API's lookup returns it.
import type { CliIO } from '../io.js';
import { EXIT } from '../io.js';
import { printDiagnostics } from '../context.js';

export interface ExportDumpOptions {
  location: string;
  kind: string[];
  namespace: string[];
  limit?: number;
  skipCorrupt: boolean;
  exportId?: string;
}

export async function run(options: ExportDumpOptions, io: CliIO): Promise<number> {
  const { readExportBatches } = await import('../../source/export/read-export.js');
  const { entityJson } = await import('../../source/export/lookup-json.js');
  const { skippedExportWarnings } = await import('../../source/export/locate.js');
  const { CorruptTally, failCommand, writeOut, watchClosed } = await import('../export-support.js');
  const tally = new CorruptTally();
  const closed = watchClosed(io.stdout);
  const limit = options.limit ?? Infinity;
  let n = 0;
  try {
    outer: for await (const batch of readExportBatches(options.location, {
      kinds: options.kind,
      namespaces: options.namespace,
      skipCorrupt: options.skipCorrupt,
      // Without --skip-corrupt nothing comes out before the whole selection is checked; with
      // --limit only each file about to be read, so a peek at a large export stays cheap.
      verify: options.limit === undefined ? 'all' : 'file',
      onCorrupt: tally.add,
      onShortPart: tally.addShort,
      onLocated: (located) => printDiagnostics(io, skippedExportWarnings(located)),
      env: io.env,
      ...(options.exportId !== undefined ? { exportId: options.exportId } : {}),
    })) {
      let text = '';
      for (const e of batch.entities) {
        if (n >= limit) {
          if (text) await writeOut(io.stdout, text);
          break outer;
        }
        text += `${entityJson(e)}\n`;
        n++;
      }
      if (text) await writeOut(io.stdout, text);
      if (n >= limit || closed()) break;
    }
  } catch (e) {
    tally.report(io);
    return failCommand(io, e);
  }
  tally.report(io);
  if (n === 0 && limit > 0 && (options.kind.length || options.namespace.length)) {
    // A typo in a filter must not look like an empty export.
    const filters = [...options.kind.map((k) => `--kind ${JSON.stringify(k)}`), ...options.namespace.map((ns) => `--namespace ${JSON.stringify(ns)}`)];
    io.stderr.write(`warning: no entity matched ${filters.join(' ')} (see \`mlbridge export stats\` for the kinds and namespaces present)\n`);
  }
  return EXIT.OK;
}
