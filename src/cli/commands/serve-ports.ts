// The engine behind `mlbridge serve` and `mlbridge reconcile`: the ChangeSink and the
// Reconciler (src/server/ports.ts), opened from the spec. Kept apart from serve.ts so tests
// run the commands against in-memory ports, and so the engine modules load only when a
// command really serves.

import type { ChangeSink, Reconciler } from '../../server/ports.js';
import type { Spec } from '../../spec/types.js';
import { MlbridgeError, errorMessage, isMlbridgeError } from '../../model/errors.js';
import type { Warehouse } from '../../warehouse/warehouse.js';
import type { IdleRelease } from '../../server/idle-release.js';
import { println, type CliIO } from '../io.js';

export interface OpenedPorts {
  sink: ChangeSink;
  reconciler: Reconciler;
  close(): Promise<void>;
}

export interface PortOptions {
  /**
   * serve: release the target (close the DuckDB file) once no push batch or reconcile has run
   * for this long, so another process may open it; 0 (the default): keep it open.
   */
  releaseAfterMs?: number;
}

export type OpenPorts = (spec: Spec, io: CliIO, options?: PortOptions) => Promise<OpenedPorts>;

export const openEnginePorts: OpenPorts = async (spec, io, options = {}) => {
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
    // Once released, the target may change under serve: the profiles are read again after.
    const idle = await releaseWhenIdle(warehouse, options.releaseAfterMs ?? 0, io, () => ingestor.forgetTarget());
    const sink: ChangeSink = {
      write: (changes, rejected, verdicts) => idle.run(() => ingestor.write(changes, rejected, verdicts)).catch(busyOr),
      close: () => ingestor.close(),
    };
    const reconciling = createReconciler(spec, warehouse, { env: io.env });
    const reconciler: Reconciler = { reconcile: (o) => idle.run(() => reconciling.reconcile(o)).catch(busyOr) };
    return {
      sink,
      reconciler,
      async close() {
        idle.stop();
        await warehouse.close();
      },
    };
  } catch (e) {
    await warehouse.close();
    throw isMlbridgeError(e) ? e : new MlbridgeError('TARGET_ERROR', `cannot open the ingest path: ${(e as Error).message}`, { cause: e });
  }
};

/** The target released after `afterMs` without work, when it holds anything to release (DuckDB). */
async function releaseWhenIdle(warehouse: Warehouse, afterMs: number, io: CliIO, released: () => void): Promise<IdleRelease> {
  const { idleRelease } = await import('../../server/idle-release.js');
  if (!warehouse.releaseIdle || afterMs <= 0) return { run: (op) => op(), stop: () => {} };
  return idleRelease(
    async (stillIdle) => {
      await warehouse.releaseIdle!(stillIdle);
      released();
    },
    afterMs,
    // The next request reopens the target either way; the failure is worth a line, not a crash.
    (e) => println(io.stderr, `warning: could not release ${warehouse.location} while idle: ${errorMessage(e)}`),
  );
}
