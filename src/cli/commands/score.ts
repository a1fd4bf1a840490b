// `mlbridge score`: scores one record the way sync would, and prints why.
// Exit 0, or 3 (EXIT.QUARANTINE) when the action is quarantine, so scripts can gate on it;
// with a mapping, the record is staged as apply and serve stage it (record/stage-record.ts),
// so a value that cannot be coerced to its column type (or a REQUIRED one missing) is
// quarantined here as there, with the same reason, not only scored lower.
// 1 on bad input (bad JSON in --data, unknown operation, spec errors).
// Scoring comes from -c SPEC, else ./mlbridge.yaml when present, else the built-in
// defaults; with a spec, the mapping of --kind and its stored profile (when the target has
// one) are used too.

import { eventTimeProblem } from '../../record/sync-record.js';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errorMessage, isMlbridgeError } from '../../model/errors.js';
import type { MappingSpec, Spec } from '../../spec/types.js';
import { RECORD_DEFAULT_SCORING, type ScoringConfig } from '../../record/defaults.js';
import type { KindProfile } from '../../record/profile.js';
import { scoreRecordFreshness, type RecordScore } from '../../record/score.js';
import { stageRecord } from '../../record/stage-record.js';
import { validateSyncRecord, type SyncRecord } from '../../record/sync-record.js';
import { EXIT, println, type CliIO } from '../io.js';
import { toJsonShape } from '../../model/json-shape.js';

export interface ScoreCommandOptions {
  entityKey: string;
  kind: string;
  operation: string;
  data?: string;
  eventTime?: string;
  config?: string;
  format: 'json' | 'text';
  namespace?: string;
  version?: string;
  /** For tests: the time to score at. */
  now?: Date;
}

const DEFAULT_SPEC_FILE = 'mlbridge.yaml';

class UsageError extends Error {}

async function readData(arg: string | undefined, io: CliIO): Promise<Record<string, unknown> | null> {
  if (arg === undefined) return null;
  let text = arg;
  let what = '--data';
  if (arg.startsWith('@')) {
    const file = resolve(io.cwd, arg.slice(1));
    what = `--data ${arg}`;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
      throw new UsageError(`${what}: cannot read ${file}: ${why}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${errorMessage(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${what} must be a JSON object of the entity's properties`);
  }
  return parsed as Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

interface ScoringContext {
  scoring: ScoringConfig;
  mapping?: MappingSpec;
  profile?: KindProfile | null;
  /** Where the scoring came from, for --format text. */
  from: string;
}

/** The mapping that would sync this record: its kind, and its namespace among the mapping's (none listed: every one). */
function findMapping(spec: Spec, kind: string, namespace: string | undefined): MappingSpec | undefined {
  const ns = namespace ?? '';
  return spec.mappings.find((m) => m.kind === kind && (m.namespaces === undefined || m.namespaces.includes(ns)));
}

/** The stored profile, or null; a target that cannot be read is a warning, not a failure. */
async function storedProfile(spec: Spec, kind: string, io: CliIO): Promise<KindProfile | null> {
  try {
    const { openWarehouse } = await import('../../warehouse/open.js');
    const { ProfileStore } = await import('../../engine/profiles.js');
    const warehouse = await openWarehouse(spec.target, { readOnly: true, env: io.env });
    try {
      return (await new ProfileStore(warehouse, spec.target.dataset).get(kind))?.profile ?? null;
    } finally {
      await warehouse.close();
    }
  } catch (err) {
    println(io.stderr, `warning: could not read the stored profile of ${kind}: ${errorMessage(err)}`);
    return null;
  }
}

async function scoringContext(options: ScoreCommandOptions, io: CliIO): Promise<ScoringContext | number> {
  let config = options.config;
  if (config === undefined && (await exists(resolve(io.cwd, DEFAULT_SPEC_FILE)))) config = DEFAULT_SPEC_FILE;
  if (config === undefined) return { scoring: RECORD_DEFAULT_SCORING, from: 'built-in defaults' };
  const { loadConfig, printDiagnostics } = await import('../context.js');
  const loaded = await loadConfig(config, io);
  printDiagnostics(io, loaded.diagnostics);
  if (!loaded.spec) return EXIT.ERROR;
  const spec = loaded.spec;
  const mapping = findMapping(spec, options.kind, options.namespace);
  if (!mapping) {
    println(io.stderr, `warning: ${config} has no mapping for kind ${options.kind}; using the spec's scoring`);
    return { scoring: spec.scoring, from: `${config} (spec-wide scoring)` };
  }
  const profile = await storedProfile(spec, mapping.kind, io);
  return { scoring: mapping.scoring, mapping, profile, from: `${config} (mapping ${mapping.kind})` };
}

function fmt(x: number): string {
  return x.toFixed(3);
}

/** The score, and the verdict sync gives the record: its reason when sync quarantines it. */
type Verdict = RecordScore & { reason: string | null };

/**
 * Stages the record as sync does when there is a mapping: a record sync quarantines is
 * quarantined here with sync's score, flags (its own first) and reason.
 */
function verdict(record: SyncRecord, score: RecordScore, ctx: ScoringContext, now: Date): Verdict {
  if (!ctx.mapping) return { ...score, reason: null };
  const staged = stageRecord(record, { mapping: ctx.mapping, now, profile: ctx.profile ?? null, withRow: true });
  if (staged.reason === null) return { ...score, reason: null };
  return {
    ...score,
    confidence: staged.score,
    flags: [...new Set([...staged.flags, ...score.flags])],
    priority: 'low',
    action: 'quarantine',
    reason: staged.reason,
  };
}

function textReport(record: SyncRecord, score: Verdict, ctx: ScoringContext): string {
  const s = ctx.scoring;
  const lines = [
    `${record.kind} ${record.entityKey} (${record.operation}): ${score.action.toUpperCase()}, priority ${score.priority}`,
    `  confidence    ${fmt(score.confidence)}   ingest >= ${s.ingest}, quarantine < ${s.quarantine}`,
    `  freshness     ${fmt(score.freshness)}   lag ${score.lagSeconds}s, half-life ${s.freshness.halfLifeSeconds}s, max lag ${s.freshness.maxLagSeconds}s`,
    `  completeness  ${fmt(score.completeness)}`,
    `  anomaly       ${fmt(score.anomaly)}`,
    `  flags         ${score.flags.length ? score.flags.join(', ') : '(none)'}`,
    ...(score.reason === null ? [] : [`  reason        ${score.reason}`]),
    `  scoring       ${ctx.from}`,
  ];
  return lines.join('\n');
}

export async function run(options: ScoreCommandOptions, io: CliIO): Promise<number> {
  try {
    const data = await readData(options.data, io);
    const input: Record<string, unknown> = {
      entityKey: options.entityKey,
      kind: options.kind,
      // Operations are matched case-insensitively on the command line (upsert = UPSERT).
      operation: options.operation.toUpperCase(),
      data: data ?? (options.operation.toUpperCase() === 'DELETE' ? null : {}),
    };
    if (options.eventTime !== undefined) {
      const problem = eventTimeProblem(options.eventTime);
      if (problem) throw new UsageError(`--event-time: ${options.eventTime} is not a valid timestamp: ${problem}`);
      // On the command line epoch milliseconds arrive as text: read digits as a number.
      input.eventTime = /^\d{1,16}$/.test(options.eventTime) ? Number(options.eventTime) : options.eventTime;
    }
    if (options.namespace !== undefined) input.namespace = options.namespace;
    if (options.version !== undefined) input.version = options.version;
    const record = validateSyncRecord(input);

    const ctx = await scoringContext(options, io);
    if (typeof ctx === 'number') return ctx;
    const now = options.now ?? new Date();
    const scored = scoreRecordFreshness(record, {
      scoring: ctx.scoring,
      ...(ctx.mapping ? { mapping: ctx.mapping } : {}),
      ...(ctx.profile ? { profile: ctx.profile } : {}),
      now,
    });
    const score = verdict(record, scored, ctx, now);
    if (options.format === 'text') println(io.stdout, textReport(record, score, ctx));
    else {
      const out = {
        entityKey: record.entityKey,
        kind: record.kind,
        operation: record.operation,
        ...score,
        thresholds: { ingest: ctx.scoring.ingest, quarantine: ctx.scoring.quarantine },
      };
      // snake_case keys, as every JSON mlbridge prints (plan --json, apply --json).
      println(io.stdout, JSON.stringify(toJsonShape(out), null, 2));
    }
    return score.action === 'quarantine' ? EXIT.QUARANTINE : EXIT.OK;
  } catch (err) {
    println(io.stderr, `Error: ${flagMessage(err)}`);
    return EXIT.ERROR;
  }
}

/** Record fields as the command line names them. */
const FLAG_OF: Record<string, string> = {
  entityKey: '--entity-key',
  kind: '--kind',
  operation: '--operation',
  eventTime: '--event-time',
  version: '--version',
  namespace: '--namespace',
};

/** validateSyncRecord names the record field (details.field); people typed a flag. */
function flagMessage(err: unknown): string {
  const field = isMlbridgeError(err, 'INVALID_ARGUMENT') ? err.details?.field : undefined;
  const problem = isMlbridgeError(err) ? err.details?.problem : undefined;
  const flag = typeof field === 'string' && Object.hasOwn(FLAG_OF, field) ? FLAG_OF[field] : undefined;
  return flag && typeof problem === 'string' ? `${flag}: ${problem}` : errorMessage(err);
}
