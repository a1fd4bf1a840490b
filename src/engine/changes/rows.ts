// rows.<Kind>: the data of each mapping. Plan streams the source snapshot once for every
// selected mapping, turns each entity into a staged record (record/stage-record.ts) and
// appends it to that mapping's stage in the warehouse (records the source memo knows, by
// the memo's key and hash: record/source-memo.ts); the warehouse computes the
// categories in SQL (warehouse/row-rules.ts). Execute merges what was staged — apply never
// reads the source a second time — and refreshes the learned profile from the same rows.

import { rm } from 'node:fs/promises';
import { addressMatches, rowsAddress } from '../../model/address.js';
import { warningDiag, type Diagnostic } from '../../model/diagnostic.js';
import { MlbridgeError } from '../../model/errors.js';
import type { RowDiffResult } from '../../model/staged.js';
import { emptyColumns, pushRecord, type StagedColumns } from '../../model/staged-columns.js';
import { contentFingerprint, hasFingerprint } from '../../model/content-fingerprint.js';
import { formatTimestampUs } from '../../record/coerce-time.js';
import { ProfileLearner, isCategoricalType, isNumericType, type KindProfile } from '../../record/profile.js';
import { memoSalt } from '../../record/source-memo.js';
import { missedPrints, type PrintSet } from '../../model/print-set.js';
import { collectGarbage } from './collect-garbage.js';
import { stageRecord } from '../../record/stage-record.js';
import { entityToSyncRecord } from '../../record/sync-record.js';
import { canonicalKey } from '../../source/entity.js';
import type { SnapshotSource, SourceEntity, SourceIdentity } from '../../source/snapshot-source.js';
import type { MappingSpec, Spec } from '../../spec/types.js';
import type { Row, RowStage, Warehouse } from '../../warehouse/warehouse.js';
import type { ChangeModule } from '../context.js';
import type { EventSink } from '../events.js';
import { storedProfiles, storeProfile } from '../profiles.js';
import type { RowsChange } from '../plan.js';
import { ProgressMeter } from '../progress.js';
import { stopIfInterrupted } from '../interrupt.js';
import { stageFilesInWorkers, stagingJobs, type StageWorkerSets } from './stage-files.js';
import { NamespacesMet, unmatchedNamespaceWarnings } from './namespace-check.js';
import { createStageDir } from './stage-dir.js';
import { keptRowsWarning } from './kept-rows.js';

/** A mapping's stage, kept from plan to execute within one apply. */
export interface StagedMapping {
  mapping: MappingSpec;
  stage: RowStage;
  /** Learned from the accepted rows while staging (apply only). */
  profile?: KindProfile;
  /**
   * Records were taken from the source memo, not decoded (record/source-memo.ts): the profile
   * is learned from current after the merge instead (apply only).
   */
  profileFromCurrent?: boolean;
}

export interface RowsPlanContext {
  spec: Spec;
  warehouse: Warehouse;
  source: SnapshotSource;
  clock: () => Date;
  onEvent: EventSink;
  /** Stage the mapped rows too (apply) or only keys, hashes and versions (plan). */
  withRows: boolean;
  /** Mappings to plan (after --target). */
  mappings: MappingSpec[];
  /** Threads staging an export (default: one per core, at most 8, at most one per file). */
  jobs?: number;
  /** Aborted on interrupt: staging stops between batches (INTERRUPTED) and its stages are dropped. */
  signal?: AbortSignal;
  /** false: decode every record, the source memo notwithstanding (default: use it where the target keeps one). */
  memo?: boolean;
}

export interface RowsPlan {
  changes: RowsChange[];
  diagnostics: Diagnostic[];
  /** Open stages by kind; the caller closes them (after execute, or right away for a plan). */
  stages: Map<string, StagedMapping>;
}

const APPEND_BATCH = 4096;
const SAMPLES = 5;

/** The namespaces a mapping reads; undefined means every namespace. */
export function mappingNamespaces(m: Pick<MappingSpec, 'namespaces'>): string[] | undefined {
  return m.namespaces && m.namespaces.length ? m.namespaces : undefined;
}

function stalenessWarning(ctx: RowsPlanContext): Diagnostic | undefined {
  const ageSeconds = (ctx.clock().getTime() - ctx.source.snapshotTime.getTime()) / 1000;
  const maxLag = Math.min(...ctx.mappings.map((m) => m.scoring.freshness.maxLagSeconds));
  if (ctx.source.identity.kind !== 'export' || !(ageSeconds > maxLag)) return undefined;
  const hours = (s: number) => (s >= 86400 ? `${(s / 86400).toFixed(1)} days` : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s)} s`);
  return warningDiag(
    `the export ${ctx.source.identity.exportId} was taken ${hours(ageSeconds)} ago, longer than freshness.max_lag (${hours(maxLag)})`,
    undefined,
    "Its records are scored as of the export's own time, so they are not quarantined for its age; the warehouse only catches up to that time. Reconcile from a newer export to be current.",
  );
}

export async function planRows(ctx: RowsPlanContext): Promise<RowsPlan> {
  const { spec, warehouse, source } = ctx;
  const dataset = spec.target.dataset;
  const diagnostics: Diagnostic[] = [];
  const stages = new Map<string, StagedMapping>();
  if (ctx.mappings.length === 0) return { changes: [], diagnostics, stages };
  const stale = stalenessWarning(ctx);
  if (stale) diagnostics.push(stale);
  const profiles = await storedProfiles(warehouse, dataset);
  const now = source.snapshotTime;
  const origin = source.identity.kind === 'export' ? 'export' : 'datastore';
  const buffers = new Map<string, StagedColumns>();
  const learners = new Map<string, ProfileLearner>();
  const met = new NamespacesMet();
  try {
    for (const m of ctx.mappings) {
      stages.set(m.kind, {
        mapping: m,
        stage: await warehouse.openStage({ kind: m.kind, dataset, current: m.tables.current, raw: m.tables.raw, quarantine: m.tables.quarantine }),
      });
      buffers.set(m.kind, emptyColumns(m.kind));
      if (ctx.withRows) learners.set(m.kind, new ProfileLearner(m));
    }
    const kinds = ctx.mappings.map((m) => m.kind);
    const select = ctx.mappings.map((m) => ({ kind: m.kind, ...(mappingNamespaces(m) ? { namespaces: mappingNamespaces(m)! } : {}) }));
    const threads = source.files ? Math.max(1, ctx.jobs ?? stagingJobs(source.expectedCount(kinds))) : 1;
    const tasks = source.files && threads > 1 ? await source.files.split(threads) : [];
    const jobs = Math.min(threads, tasks.length);
    // Staging workers skip the export records the source memo knows (where the target keeps
    // one): a record seen before is not decoded; the stage takes its key and hash from the memo.
    // An apply stages the content of changed records only: current's fingerprints tell
    // staging which records it already holds (where the target can list them, and where the
    // memo does not already tell it of nearly every one). Workers start while these are read.
    const memo = new Map<string, PrintSet>();
    let tookMemo = false;
    const fingerprints = new Map<string, BigInt64Array>();
    const readSets = async (): Promise<StageWorkerSets> => {
      if (source.files && jobs > 1) {
        for (const [kind, sm] of stages) {
          const set = ctx.memo === false ? null : await sm.stage.memoPrints?.(memoSalt(sm.mapping));
          if (set) memo.set(kind, set);
        }
      }
      if (ctx.withRows) {
        for (const [kind, sm] of stages) {
          if (memo.has(kind)) continue;
          const fps = await sm.stage.currentFingerprints?.();
          if (fps && fps.length > 0) fingerprints.set(kind, fps);
        }
      }
      return { fingerprints: [...fingerprints], memo: [...memo] };
    };
    const unchangedIn = (kind: string) => unchangedTest(fingerprints.get(kind));
    const meter = new ProgressMeter(ctx.onEvent, { address: kinds.length === 1 ? rowsAddress(kinds[0]!) : 'rows', phase: 'read', total: source.expectedCount(kinds) });
    const flush = async (kind: string) => {
      const buf = buffers.get(kind)!;
      if (buf.key.length === 0) return;
      buffers.set(kind, emptyColumns(kind));
      await stages.get(kind)!.stage.appendColumns(buf);
    };
    if (source.files && jobs > 1) {
      // The CPU-bound part (decode, coerce, hash, score) on every core; appends here. Where
      // the stages load files themselves, workers write staged files to a folder of this run.
      const loadsFiles = [...stages.values()].every((s) => s.stage.appendFile !== undefined);
      const fileDir = loadsFiles ? await createStageDir() : undefined;
      try {
        await stageFilesInWorkers(
          source.files,
          tasks,
          jobs,
          {
            location: source.files.location,
            env: source.files.env,
            mappings: ctx.mappings,
            profiles: [...profiles],
            snapshotTimeMs: now.getTime(),
            version: source.snapshotVersion,
            origin,
            withRows: ctx.withRows,
            printRecords: ctx.withRows && [...stages.values()].every((s) => s.stage.memoPrints !== undefined),
            ...(fileDir !== undefined ? { fileDir } : {}),
          },
          readSets(),
          {
            append: (columns) => {
              stopIfInterrupted(ctx.signal, ctx.onEvent, 0);
              return stages.get(columns.kind)!.stage.appendColumns(columns);
            },
            appendFile: (kind, file) => {
              stopIfInterrupted(ctx.signal, ctx.onEvent, 0);
              return stages.get(kind)!.stage.appendFile!(file);
            },
            progress: (n) => meter.add(n),
            learned: (perFile) => {
              for (const states of perFile) for (const [kind, state] of states) learners.get(kind)?.merge(state);
            },
            metNamespaces: (namespaces) => met.merge(namespaces),
          },
        );
      } finally {
        if (fileDir !== undefined) await rm(fileDir, { recursive: true, force: true });
      }
      const missed = [...memo].map(([kind, set]) => [kind, missedPrints(set)] as const);
      // The sets (9 bytes per entry, shared with the workers, now gone) are not needed past here.
      tookMemo = memo.size > 0;
      memo.clear();
      for (const [kind, prints] of missed) {
        const sm = stages.get(kind)!;
        const staged = await sm.stage.appendMemoHits!(prints, source.snapshotVersion);
        if (staged > 0 && ctx.withRows) sm.profileFromCurrent = true;
      }
      // By now the workers have ended: their hold on the sets is gone too.
      if (tookMemo) collectGarbage();
    }
    if (!(source.files && jobs > 1)) await readSets();
    for await (const batch of jobs > 1 ? [] : source.read(select, (kind, ns) => met.add(kind, ns))) {
      for (const item of batch) {
        const kind = kindOf(item);
        const sm = stages.get(kind);
        if (!sm) continue;
        met.add(kind, item.entity.key.partitionId.namespaceId ?? '');
        const record = entityToSyncRecord(item.entity, { origin, version: item.version, eventTime: now });
        const learner = learners.get(kind);
        const staged = stageRecord(
          record,
          {
            mapping: sm.mapping,
            now,
            profile: profiles.get(kind) ?? null,
            withRow: ctx.withRows,
            unchanged: unchangedIn(kind),
            ...(learner ? { onAccepted: (row: Row) => learner.add(row) } : {}),
          },
          canonicalKey(item.entity.key),
        );
        const buf = buffers.get(kind)!;
        pushRecord(buf, staged);
        if (buf.key.length >= APPEND_BATCH) await flush(kind);
      }
      meter.add(batch.length);
      stopIfInterrupted(ctx.signal, ctx.onEvent, 0);
    }
    for (const kind of kinds) await flush(kind);
    meter.done();
    const changes: RowsChange[] = [];
    const kept: Diagnostic[] = [];
    let incomplete = 0;
    for (const m of ctx.mappings) {
      const sm = stages.get(m.kind)!;
      const learner = learners.get(m.kind);
      if (learner) sm.profile = learner.finish();
      const diff = await sm.stage.diff({ mode: 'snapshot', snapshotVersion: source.snapshotVersion, samples: SAMPLES });
      changes.push(rowsChange(m, diff, source));
      const warning = keptRowsWarning(m.kind, diff.kept, source.identity);
      if (warning) kept.push(warning);
      incomplete += diff.incomplete ?? 0;
    }
    if (ctx.withRows && tookMemo && incomplete > 0) {
      // Records taken from the memo whose content current no longer holds (serve wrote their
      // keys since, at a version the snapshot beats) must be written, and only decoding gives
      // their content: stage again without the memo. Rare, and the merge then refreshes it.
      await closeStages(stages);
      return planRows({ ...ctx, memo: false });
    }
    diagnostics.push(...unmatchedNamespaceWarnings(ctx.mappings, met, source.identity), ...kept);
    return { changes, diagnostics, stages };
  } catch (e) {
    await closeStages(stages);
    throw e;
  }
}

/** stageRecord's `unchanged` test over a kind's sorted current fingerprints (none: never). */
export function unchangedTest(fingerprints: BigInt64Array | undefined): (key: string, hash: string) => boolean {
  if (!fingerprints) return () => false;
  return (key, hash) => hasFingerprint(fingerprints, contentFingerprint(key, hash));
}

function kindOf(item: SourceEntity): string {
  const path = item.entity.key.path;
  return path[path.length - 1]!.kind;
}

function rowsChange(m: MappingSpec, diff: RowDiffResult, source: SnapshotSource): RowsChange {
  const { counts, samples } = diff;
  const changed = counts.insert + counts.update + counts.delete + counts.quarantine > 0;
  return {
    type: 'rows',
    address: rowsAddress(m.kind),
    kind: m.kind,
    action: changed ? 'update' : 'no-op',
    before: null,
    after: counts,
    reasons: [],
    destructive: false,
    sampleKeys: { insert: samples.insert, update: samples.update, delete: samples.delete, quarantine: samples.quarantine },
    source: source.identity,
    snapshotVersion: source.snapshotVersion,
  };
}

export async function closeStages(stages: Map<string, StagedMapping>): Promise<void> {
  await Promise.allSettled([...stages.values()].map((s) => s.stage.close()));
}

export interface RowsExecuteContext {
  warehouse: Warehouse;
  spec: Spec;
  stages?: Map<string, StagedMapping>;
  clock: () => Date;
  onEvent?: EventSink;
}

/** Merges the staged rows of one mapping and stores the profile learned from them. */
export async function executeRows(change: RowsChange, ctx: RowsExecuteContext): Promise<void> {
  const sm = ctx.stages?.get(change.kind);
  if (!sm) {
    throw new MlbridgeError('APPLY_FAILED', `${change.address}: no staged rows for this change (apply stages them while planning)`, { resource: change.address });
  }
  const now = ctx.clock();
  const ingestTime = formatTimestampUs(BigInt(now.getTime()) * 1000n);
  // One statement (DuckDB: one transaction) merges every staged row: progress is its start and end.
  const meter = ctx.onEvent ? new ProgressMeter(ctx.onEvent, { address: change.address, phase: 'merge', total: sm.stage.staged }) : undefined;
  await sm.stage.merge({
    mode: 'snapshot',
    kind: change.kind,
    snapshotVersion: change.snapshotVersion,
    origin: change.source.kind === 'export' ? 'export' : 'datastore',
    ingestTime,
    ...(sm.stage.memoPrints ? { memoSalt: memoSalt(sm.mapping) } : {}),
    snapshotTime:
      change.source.kind === 'export' ? formatTimestampUs(BigInt(Date.parse(change.source.startTime)) * 1000n) : formatTimestampUs(BigInt(Date.parse(change.source.readTime)) * 1000n),
  });
  meter?.add(sm.stage.staged);
  meter?.done();
  const profile = sm.profileFromCurrent ? await profileOfCurrent(sm) : sm.profile;
  if (profile) await storeProfile(ctx.warehouse, ctx.spec.target.dataset, profile, ingestTime);
}

/**
 * The profile of a mapping's current table, learned in the target: after a merge whose stage
 * took records from the source memo, the rows staging saw are only the changed ones.
 */
async function profileOfCurrent(sm: StagedMapping): Promise<KindProfile> {
  const learner = new ProfileLearner(sm.mapping);
  const columns = sm.mapping.fields.map((f) => ({
    name: f.name,
    repeated: f.mode === 'REPEATED',
    numeric: f.mode !== 'REPEATED' && isNumericType(f.type),
    categorical: f.mode !== 'REPEATED' && isCategoricalType(f.type),
  }));
  learner.merge(await sm.stage.profileState!(columns, learner.maxCardinality));
  return learner.finish();
}

// ---- the rows module: planRows and executeRows as one change type of the engine's list ----

/** The rows.<Kind> changes --target selects (a table target selects no data). */
function selectedMappings(spec: Spec, targets: string[]): MappingSpec[] {
  if (targets.length === 0) return spec.mappings;
  const wanted = targets.map((t) => t.replace(/\.$/, ''));
  return spec.mappings.filter((m) => wanted.some((t) => addressMatches(rowsAddress(m.kind), t)));
}

/**
 * What a saved plan's data must still be: the same export (by id and start time), or the
 * same live database (which never stands still: its counts are re-read at apply).
 */
function sourceFingerprint(s: SourceIdentity): string {
  return s.kind === 'export' ? `export:${s.exportId}@${s.startTime}` : `datastore:${s.project}/${s.database}`;
}

export const rowsChanges: ChangeModule<'rows'> = {
  type: 'rows',
  async plan(ctx) {
    const { spec, source } = ctx;
    const mappings = source ? selectedMappings(spec, ctx.options.targets) : [];
    if (!source || mappings.length === 0) return { changes: [], fingerprints: {}, diagnostics: [] };
    const rows = await ctx.observe(`rows of ${mappings.length === 1 ? mappings[0]!.kind : `${mappings.length} kinds`}`, () =>
      planRows({
        spec,
        warehouse: ctx.warehouse,
        source,
        clock: ctx.clock,
        onEvent: ctx.onEvent,
        withRows: ctx.options.withRows,
        mappings,
        ...(ctx.options.jobs !== undefined ? { jobs: ctx.options.jobs } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      }),
    );
    for (const [kind, staged] of rows.stages) ctx.stages.set(kind, staged);
    const fingerprints: Record<string, string> = {};
    for (const c of rows.changes) fingerprints[c.address] = sourceFingerprint(c.source);
    return { changes: rows.changes, fingerprints, diagnostics: rows.diagnostics };
  },
  async execute(change, ctx) {
    if (change.action === 'no-op') return;
    await executeRows(change, ctx);
  },
};
