// The engine behind `mlbridge serve` and `mlbridge reconcile`: the ChangeSink and the
// Reconciler (src/server/ports.ts), opened from the spec. Kept apart from serve.ts so tests
// run the commands against in-memory ports, and so the engine modules load only when a
// command really serves.

import type { ChangeSink, Reconciler } from '../../server/ports.js';
import type { Spec } from '../../spec/types.js';
import type { Warehouse } from '../../warehouse/warehouse.js';
import { MlbridgeError, isMlbridgeError } from '../../model/errors.js';
import type { CliIO } from '../io.js';

export interface OpenedPorts {
  sink: ChangeSink;
  reconciler: Reconciler;
  close(): Promise<void>;
}

export type OpenPorts = (spec: Spec, io: CliIO) => Promise<OpenedPorts>;

/**
 * The engine's modules: src/engine/ingest.ts (`createIngestor(spec, warehouse)`) and
 * src/engine/reconcile.ts (`createReconciler(spec, warehouse)`). Looked up at run time by
 * path so this build states plainly which one is missing instead of failing to compile.
 */
interface IngestModule {
  createIngestor(spec: Spec, warehouse: Warehouse): ChangeSink | Promise<ChangeSink>;
}
interface ReconcileModule {
  createReconciler(spec: Spec, warehouse: Warehouse): Reconciler | Promise<Reconciler>;
}

async function engineModule<T>(file: string, exported: string): Promise<T> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(`../../engine/${file}`, import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    mod = {};
  }
  if (typeof mod[exported] !== 'function') {
    throw new MlbridgeError('NO_EXECUTOR', `this build of mlbridge has no ${exported} in src/engine/${file.replace(/\.js$/, '.ts')}: serve and reconcile cannot write rows`, {
      details: { module: `src/engine/${file}`, export: exported },
    });
  }
  return mod as T;
}

export const openEnginePorts: OpenPorts = async (spec, io) => {
  const [{ createIngestor }, { createReconciler }] = await Promise.all([
    engineModule<IngestModule>('ingest.js', 'createIngestor'),
    engineModule<ReconcileModule>('reconcile.js', 'createReconciler'),
  ]);
  const { openWarehouse } = await import('../../warehouse/open.js');
  const warehouse = await openWarehouse(spec.target, { readOnly: false, env: io.env });
  try {
    const sink = await createIngestor(spec, warehouse);
    const reconciler = await createReconciler(spec, warehouse);
    return {
      sink,
      reconciler,
      async close() {
        await warehouse.close();
      },
    };
  } catch (e) {
    await warehouse.close();
    throw isMlbridgeError(e) ? e : new MlbridgeError('TARGET_ERROR', `cannot open the ingest path: ${(e as Error).message}`, { cause: e });
  }
};
