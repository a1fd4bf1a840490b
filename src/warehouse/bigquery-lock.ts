// The BigQuery apply lock: a table `_mlbridge_lock` in the target dataset whose description
// is the LockInfo JSON. tables.insert is atomic, so 409 means someone holds it. Before the
// dataset exists the lock is provisional and becomes the table when the dataset is created.

import { tableAddress } from '../model/address.js';
import { MlbridgeError } from '../model/errors.js';
import { OWNER_LABEL_KEY, OWNER_LABEL_VALUE } from '../model/schema.js';
import type { ObservedDataset } from '../model/schema.js';
import type { LockBackend, LockInfo } from './warehouse.js';
import { UNREADABLE_LOCK_ID, type LockRecord, type StaleLockRemoval } from './lock-info.js';
import { statusOf } from './bigquery-call.js';
import type { BigQueryCalls } from './bigquery-call.js';
import { LOCK_TABLE } from './bigquery-schema.js';

export class BigQueryLock {
  /** A lock taken while the dataset did not exist yet (see backend()). */
  private pendingLock: LockInfo | undefined;

  constructor(
    private readonly api: BigQueryCalls,
    private readonly dataset: string,
    /** Throws when the warehouse was opened read-only. */
    private readonly writable: (what: string) => void,
    private readonly getDataset: (name: string) => Promise<ObservedDataset | null>,
  ) {}

  backend(): LockBackend & StaleLockRemoval {
    const dataset = this.dataset;
    const resource = tableAddress('bigquery', dataset, LOCK_TABLE);
    const read = async (): Promise<{ info: LockRecord; etag?: string } | null> => {
      const t = await this.api.getRawTable(dataset, LOCK_TABLE);
      if (!t) return null;
      try {
        const info = JSON.parse(t.description ?? '') as LockRecord;
        if (typeof info?.id === 'string') return { info, ...(t.etag ? { etag: t.etag } : {}) };
      } catch {
        // fall through: not a lock record
      }
      // Still a held lock, under a fixed id, so that `force-unlock unreadable` can release it.
      return {
        info: {
          id: UNREADABLE_LOCK_ID,
          pid: 0,
          host: 'unknown',
          since: 'unknown',
          operation: 'unknown',
          who: `unreadable lock table ${LOCK_TABLE}`,
          unreadable: `the lock table ${resource} has no readable lock record in its description`,
        },
      };
    };
    return {
      tryAcquire: async (info) => {
        this.writable('lock');
        // The lock table lives in the target dataset. Before the first apply has created it
        // there is nowhere to put it: the lock is provisional and becomes the lock table the
        // moment createDataset makes the dataset (see datasetCreated). Two concurrent first
        // applies cannot both succeed: the second one's datasets.insert fails with 409.
        if (!(await this.getDataset(dataset))) {
          this.pendingLock = info;
          return { acquired: true };
        }
        for (let i = 0; i < 3; i++) {
          if (await this.insertLockTable(info)) return { acquired: true };
          const holder = await read();
          if (holder) return { acquired: false, holder: holder.info };
          // Released between our insert and our read: try again.
        }
        const holder = await read();
        if (holder) return { acquired: false, holder: holder.info };
        throw new MlbridgeError('TARGET_ERROR', `${resource}: could not take the lock (it keeps changing hands)`, { resource });
      },
      release: async (id) => {
        if (this.pendingLock?.id === id) {
          this.pendingLock = undefined;
          return;
        }
        const cur = await read();
        if (!cur || cur.info.id !== id) return;
        await this.api.deleteRaw(resource, dataset, LOCK_TABLE, true);
      },
      current: async () => (await read())?.info ?? null,
      // Takes over a dead holder's lock: deleted only while that holder still has it. (Between
      // this read and the delete only another takeover of the same dead lock can intervene.)
      removeStale: async (stale) => {
        this.writable('lock');
        const cur = await read();
        if (!cur || cur.info.id !== stale.id) return false;
        await this.api.deleteRaw(resource, dataset, LOCK_TABLE, true);
        return true;
      },
    };
  }

  /** After datasets.insert: a provisional lock on the target dataset becomes the lock table. */
  async datasetCreated(name: string): Promise<void> {
    const pending = this.pendingLock;
    if (pending && name === this.dataset) {
      const r = await this.insertLockTable(pending);
      if (r) this.pendingLock = undefined;
    }
  }

  /** tables.insert of the lock table: true when taken, false when someone else holds it (409). */
  private async insertLockTable(info: LockInfo): Promise<boolean> {
    const dataset = this.dataset;
    try {
      await this.api.insertTable(tableAddress('bigquery', dataset, LOCK_TABLE), dataset, {
        tableReference: { projectId: this.api.project, datasetId: dataset, tableId: LOCK_TABLE },
        schema: { fields: [{ name: 'lock', type: 'STRING', mode: 'NULLABLE' }] },
        description: JSON.stringify(info),
        labels: { [OWNER_LABEL_KEY]: OWNER_LABEL_VALUE },
      });
      return true;
    } catch (e) {
      if (statusOf(e) === 409) return false;
      throw e;
    }
  }
}
