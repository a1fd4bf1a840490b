// The learned profiles in the warehouse: the shared `_mlbridge_profiles` table (mapping,
// updated_at, sample_count, profile), one row per mapping. The learning itself is pure
// (record/profile.ts); this module owns every read and write of the table, for apply,
// serve, `score` and library users alike.

import { MlbridgeError } from '../model/errors.js';
import { formatTimestampUs } from '../record/coerce-time.js';
import { ProfileLearner, parseProfile, type KindProfile } from '../record/profile.js';
import type { Spec } from '../spec/types.js';
import type { Row, RowValue, Warehouse } from '../warehouse/warehouse.js';
import { PROFILES_TABLE } from './desired.js';

export interface StoredProfile {
  profile: KindProfile;
  /** RFC 3339. */
  updatedAt: string;
}

/** Reads and writes `_mlbridge_profiles` (mapping, updated_at, sample_count, profile). */
export class ProfileStore {
  constructor(
    private readonly warehouse: Warehouse,
    private readonly dataset: string,
  ) {}

  async exists(): Promise<boolean> {
    return (await this.warehouse.getTable(this.dataset, PROFILES_TABLE)) !== null;
  }

  /** Every stored profile by mapping; empty when the table does not exist yet. */
  async getAll(): Promise<Map<string, StoredProfile>> {
    const out = new Map<string, StoredProfile>();
    if (!(await this.exists())) return out;
    for await (const row of this.warehouse.readRows(this.dataset, PROFILES_TABLE)) {
      const profile = parseProfile(row.profile);
      if (typeof row.mapping === 'string' && profile) {
        out.set(row.mapping, { profile, updatedAt: String(row.updated_at ?? '') });
      }
    }
    return out;
  }

  async get(kind: string): Promise<StoredProfile | null> {
    return (await this.getAll()).get(kind) ?? null;
  }

  async put(profile: KindProfile, updatedAt: Date = new Date()): Promise<void> {
    await this.write(profile, formatTimestampUs(BigInt(updatedAt.getTime()) * 1000n));
  }

  /** Stores a profile with its time already formatted (apply stamps it with its ingest time). */
  async write(profile: KindProfile, updatedAt: string): Promise<void> {
    const row: Row = {
      mapping: profile.kind,
      updated_at: updatedAt,
      sample_count: String(profile.sampleCount),
      profile: JSON.parse(JSON.stringify(profile)) as RowValue,
    };
    await this.warehouse.mergeRows(this.dataset, PROFILES_TABLE, ['mapping'], [row]);
  }
}

/** The stored profiles by mapping, for scoring; empty while the dataset or the table is missing (a first plan). */
export async function storedProfiles(warehouse: Warehouse, dataset: string): Promise<Map<string, KindProfile>> {
  const out = new Map<string, KindProfile>();
  if (!(await warehouse.getDataset(dataset))) return out;
  for (const [mapping, stored] of await new ProfileStore(warehouse, dataset).getAll()) out.set(mapping, stored.profile);
  return out;
}

/** Stores a profile learned while applying; nothing when the table is not there (a --target that left it out). */
export async function storeProfile(warehouse: Warehouse, dataset: string, profile: KindProfile, updatedAt: string): Promise<void> {
  const store = new ProfileStore(warehouse, dataset);
  if (!(await store.exists())) return;
  await store.write(profile, updatedAt);
}

export interface RefreshedProfile {
  kind: string;
  sampleCount: number;
}

/**
 * Learns each mapping's profile from the rows currently in its table and stores it.
 * Mappings whose table does not exist yet are skipped. Called after data is applied.
 */
export async function refreshProfiles(
  warehouse: Warehouse,
  spec: Pick<Spec, 'target' | 'mappings'>,
  options: { now?: Date; kinds?: string[] } = {},
): Promise<RefreshedProfile[]> {
  const dataset = spec.target.dataset;
  const store = new ProfileStore(warehouse, dataset);
  if (!(await store.exists())) {
    throw new MlbridgeError('TARGET_ERROR', `${warehouse.location}: table ${dataset}.${PROFILES_TABLE} does not exist (run apply)`, {
      resource: `${warehouse.kind}_table.${dataset}.${PROFILES_TABLE}`,
    });
  }
  const out: RefreshedProfile[] = [];
  for (const mapping of spec.mappings) {
    if (options.kinds && !options.kinds.includes(mapping.kind)) continue;
    if (!(await warehouse.getTable(dataset, mapping.tables.current))) continue;
    const learner = new ProfileLearner(mapping);
    for await (const row of warehouse.readRows(dataset, mapping.tables.current)) learner.add(row);
    const profile = learner.finish();
    await store.put(profile, options.now ?? new Date());
    out.push({ kind: mapping.kind, sampleCount: profile.sampleCount });
  }
  return out;
}
