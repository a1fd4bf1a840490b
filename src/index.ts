// The library API: what teams import from their own Cloud Run or Dataflow code.
//   import { SyncRecord, scoreRecordFreshness, buildBigQueryRow } from 'mlbridge';
// Plan/apply programmatically through createPlan/apply with a Warehouse from openWarehouse.

export {
  SyncRecord,
  validateSyncRecord,
  entityToSyncRecord,
  parseEntityKey,
  recordKey,
  SYNC_OPERATIONS,
  type SyncOperation,
  type RecordData,
  type RecordOrigin,
  type EntityRecordOptions,
} from './record/sync-record.js';
export {
  scoreRecordFreshness,
  effectiveScoring,
  FLAG_WEIGHTS,
  type RecordScore,
  type ScoreOptions,
  type Priority,
  type RecordAction,
} from './record/score.js';
export { buildBigQueryRow, canonicalJson, rowHash, SYSTEM_COLUMNS, type BuildRowOptions } from './record/row.js';
export { coerceField, type CoercionField } from './record/coerce.js';
export { learnProfile, ProfileLearner, PROFILES_TABLE, type KindProfile, type FieldProfile, type NumericProfile } from './record/profile.js';
export { ProfileStore, refreshProfiles, type StoredProfile, type RefreshedProfile } from './engine/profiles.js';
export { RECORD_DEFAULT_SCORING as DEFAULT_SCORING, type ScoringConfig } from './record/defaults.js';

export { createPlan, apply, readPlanFile, writePlanFile, forceUnlock } from './engine/index.js';
export type { EngineDeps, ApplyOptions, ApplyResult, Plan, PlanSummary, Change } from './engine/index.js';
export { loadSpec } from './spec/load.js';
export { readExport, type ReadExportOptions, type CorruptRecord } from './source/export/read-export.js';
// The data path: a source snapshot for createPlan/apply (deps.source), the event sink and the
// reconciler `mlbridge serve` runs, for teams that host them in their own service.
export { openSnapshotSource, type SnapshotSource, type SourceIdentity } from './source/snapshot-source.js';
export { createIngestor, type ChangeSink, type IncomingChange, type RejectedMessage, type IngestOutcome } from './engine/ingest.js';
export { createReconciler, type Reconciler, type ReconcileSummary } from './engine/reconcile.js';
export { changeEventId } from './record/event-id.js';
export { openWarehouse } from './warehouse/open.js';

export type { Spec, MappingSpec, FieldSpec, ScoringSpec, TargetSpec } from './spec/types.js';
export type { Entity, Key, Value } from './source/entity.js';
export type { Row, RowValue, Warehouse } from './warehouse/warehouse.js';
export { MlbridgeError, isMlbridgeError, type ErrorCode } from './model/errors.js';
