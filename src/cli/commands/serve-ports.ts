// The engine behind `mlbridge serve` and `mlbridge reconcile`: the ChangeSink and the
// Reconciler (src/server/ports.ts), opened from the spec. Kept apart from serve.ts so tests
// run the commands against in-memory ports, and so the engine modules load only when a
// command really serves.

import type { ChangeSink, Reconciler } from '../../server/ports.js';
import type { Spec } from '../../spec/types.js';
import { MlbridgeError, isMlbridgeError } from '../../model/errors.js';
import type { CliIO } from '../io.js';

export interface OpenedPorts {
  sink: ChangeSink;
  reconciler: Reconciler;
  close(): Promise<void>;
}

export type OpenPorts = (spec: Spec, io: CliIO) => Promise<OpenedPorts>;

export const openEnginePorts: OpenPorts = async (spec, io) => {
  const [{ createIngestor }, { createReconciler }] = await Promise.all([import('../../engine/ingest.js'), import('../../engine/reconcile.js')]);
  const [{ openWarehouse }, { fileInUse }] = await Promise.all([import('../../warehouse/open.js'), import('../../warehouse/duckdb-errors.js')]);
  const warehouse = await openWarehouse(spec.target, { readOnly: false, env: io.env });
  // A DuckDB file another process holds is TARGET_BUSY (serve answers 503, retried later),
  // not a failure: found also where the engine wrapped it (fileInUse reads the causes).
  const busyOr = (e: unknown): never => {
    throw fileInUse(e) ?? e;
  };
  try {
    const ingestor = createIngestor(spec, warehouse);
    const sink: ChangeSink = { write: (changes, rejected) => ingestor.write(changes, rejected).catch(busyOr), close: () => ingestor.close() };
    const reconciling = createReconciler(spec, warehouse, { env: io.env });
    const reconciler: Reconciler = { reconcile: (options) => reconciling.reconcile(options).catch(busyOr) };
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
