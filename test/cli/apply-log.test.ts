import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EngineEvent } from '../../src/engine/events.js';
import { applyLogSink, formatEvent, planLogSink } from '../../src/cli/views/apply-log.js';
import { formatElapsed, parseDurationMs } from '../../src/cli/duration.js';

type RowsProgress = Extract<EngineEvent, { type: 'rows-progress' }>;

/** A read of `total` rows at 45,000 rows/s, as the engine reports it at `ms`. */
function reading(ms: number, options: { address?: string; total?: number; phase?: 'read' | 'merge'; done?: boolean } = {}): RowsProgress {
  const rows = Math.round((45_000 * ms) / 1000);
  const { total, address = 'rows.Order', phase = 'read', done = false } = options;
  return {
    type: 'rows-progress',
    address,
    phase,
    rows,
    ...(total !== undefined ? { total } : {}),
    ratePerSecond: 45_000,
    ...(total !== undefined ? { etaSeconds: Math.ceil((total - rows) / 45_000) } : {}),
    ms,
    done,
  };
}

/** The events of one read, every 250 ms as the engine's meter sends them, then `done`. */
function readEvents(untilMs: number, options: { address?: string; total?: number; phase?: 'read' | 'merge' } = {}): RowsProgress[] {
  const events: RowsProgress[] = [];
  for (let ms = 250; ms < untilMs; ms += 250) events.push(reading(ms, options));
  events.push(reading(untilMs, { ...options, done: true }));
  return events;
}

const Log = suite('apply log');

Log('shows each change starting and completing with its elapsed time', () => {
  const lines: string[] = [];
  const sink = applyLogSink((l) => lines.push(l));
  const events: EngineEvent[] = [
    { type: 'change-start', address: 'duckdb_table.analytics.x', changeType: 'table', action: 'create' },
    { type: 'change-done', address: 'duckdb_table.analytics.x', changeType: 'table', action: 'create', ms: 120 },
    { type: 'change-start', address: 'duckdb_table.analytics.y', changeType: 'table', action: 'replace' },
    { type: 'change-failed', address: 'duckdb_table.analytics.y', changeType: 'table', action: 'replace', message: 'boom' },
    { type: 'apply-done', summary: { add: 1, change: 0, destroy: 0 }, ms: 300 },
  ];
  events.forEach(sink);
  assert.equal(lines, [
    'duckdb_table.analytics.x: Creating...',
    'duckdb_table.analytics.x: Creation complete after 0.1s',
    'duckdb_table.analytics.y: Replacing...',
    'duckdb_table.analytics.y: Replacement failed: boom',
    '\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.',
  ]);
});

Log('makes retries and lock waits visible', () => {
  assert.is(
    formatEvent({ type: 'retry', resource: 'bigquery_table.a.b', call: 'tables.patch', attempt: 2, delayMs: 1500, error: 'HTTP 503' }),
    'bigquery_table.a.b: tables.patch failed (HTTP 503); retry 2 in 1.5s',
  );
  assert.is(
    formatEvent({ type: 'lock-wait', holder: { id: 'L1', pid: 42, host: 'ci-7', since: '2026-11-23T21:00:00Z' } }),
    'Waiting for the lock held by L1 (pid 42 on ci-7 since 2026-11-23T21:00:00Z)...',
  );
  assert.is(
    formatEvent({ type: 'target-busy-wait', path: '/srv/wh.duckdb', holder: { process: '/usr/bin/node', pid: 42 } }),
    'Waiting for the DuckDB file held by /usr/bin/node (PID 42)...',
  );
  // DuckDB does not always name the holder (e.g. on a file system without lock owners).
  assert.is(formatEvent({ type: 'target-busy-wait', path: '/srv/wh.duckdb', holder: {} }), 'Waiting for the DuckDB file held by another process...');
});

Log('says when a dead holder\'s lock is taken over, when the release failed, and how far an interrupted apply got', () => {
  assert.is(
    formatEvent({ type: 'lock-takeover', holder: { id: 'L1', pid: 42, host: 'ci-7', since: '2026-11-23T21:00:00Z' } }),
    'Lock L1 was held by pid 42 on this host (ci-7) since 2026-11-23T21:00:00Z; that process is no longer running, so the lock is taken over.',
  );
  assert.is(
    formatEvent({ type: 'lock-release-failed', id: 'L2', message: 'EIO' }, { unlockCommand: (id) => `mlbridge force-unlock ${id} -c prod.yaml` }),
    'Warning: could not release lock L2: EIO\nThe changes stand. An apply on this host takes the lock over; elsewhere, release it with: mlbridge force-unlock L2 -c prod.yaml',
  );
  assert.is(formatEvent({ type: 'interrupted', done: 5, total: 12 }), '\nInterrupted: 5 of 12 changes applied; run apply again');
  assert.is(formatEvent({ type: 'interrupted', done: 0 }), '\nInterrupted before any change was applied; run apply again');
});

Log('reports a lock wait once per holder, not once per poll', () => {
  const lines: string[] = [];
  const sink = applyLogSink((l) => lines.push(l));
  const wait: EngineEvent = { type: 'lock-wait', holder: { id: 'L1', pid: 42, host: 'ci-7', since: '2026-11-23T21:00:00Z' } };
  sink(wait);
  sink(wait);
  sink({ ...wait, holder: { ...wait.holder, id: 'L2' } });
  assert.is(lines.length, 2);
});

Log('hides refresh lines when asked to', () => {
  const lines: string[] = [];
  applyLogSink((l) => lines.push(l), { observe: false })({ type: 'observe-start', what: 'duckdb_dataset.analytics' });
  assert.equal(lines, []);
});

Log('describes row progress with the total and ETA when the export says how many rows there are', () => {
  assert.is(formatEvent(reading(2_000, { total: 1_000_000 })), 'rows.Order: read 90,000 of 1,000,000 rows (45,000/s, ETA 21s)');
  assert.is(formatEvent(reading(20_000, { total: 1_000_000 })), 'rows.Order: read 900,000 of 1,000,000 rows (45,000/s, ETA 3s)');
  assert.is(formatEvent(reading(2_000)), 'rows.Order: read 90,000 rows (45,000/s)');
  assert.is(formatEvent(reading(22_100, { total: 1_000_000, done: true })), 'rows.Order: read 994,500 rows in 22s (45,000/s)');
  assert.is(formatEvent(reading(3_200, { phase: 'merge', done: true })), 'rows.Order: merged 144,000 rows in 3.2s (45,000/s)');
});

Log('prints a line for a long read every 5 seconds and once when it is done', () => {
  const lines: string[] = [];
  const sink = applyLogSink((l) => lines.push(l));
  readEvents(12_100, { total: 600_000 }).forEach(sink);
  assert.equal(lines, [
    'rows.Order: read 225,000 of 600,000 rows (45,000/s, ETA 9s)',
    'rows.Order: read 450,000 of 600,000 rows (45,000/s, ETA 4s)',
    'rows.Order: read 544,500 rows in 12s (45,000/s)',
  ]);
});

Log('says nothing about a read that finishes within 5 seconds', () => {
  const lines: string[] = [];
  const sink = applyLogSink((l) => lines.push(l));
  readEvents(4_900).forEach(sink);
  assert.equal(lines, []);
});

Log('times each address and each phase on its own', () => {
  const lines: string[] = [];
  const sink = applyLogSink((l) => lines.push(l));
  // Apply reads rows.Order while planning, then merges the same address: the merge's clock
  // starts at 0 again and its first 5 seconds must still be reported.
  const events = [...readEvents(10_000), ...readEvents(6_000, { address: 'rows.Customer' }), ...readEvents(5_100, { phase: 'merge' })];
  events.forEach(sink);
  assert.equal(lines, [
    'rows.Order: read 225,000 rows (45,000/s)',
    'rows.Order: read 450,000 rows in 10s (45,000/s)',
    'rows.Customer: read 225,000 rows (45,000/s)',
    'rows.Customer: read 270,000 rows in 6.0s (45,000/s)',
    'rows.Order: merged 225,000 rows (45,000/s)',
    'rows.Order: merged 229,500 rows in 5.1s (45,000/s)',
  ]);
});

Log('gives plan only retries and the progress of a long read, never refresh or change lines', () => {
  const lines: string[] = [];
  const sink = planLogSink((l) => lines.push(l));
  sink({ type: 'observe-start', what: 'rows of Order' });
  readEvents(5_500).forEach(sink);
  sink({ type: 'observe-done', what: 'rows of Order', ms: 5_600 });
  sink({ type: 'retry', resource: 'bigquery_table.a.b', call: 'tables.get', attempt: 1, delayMs: 300, error: 'HTTP 503' });
  assert.equal(lines, [
    'rows.Order: read 225,000 rows (45,000/s)',
    'rows.Order: read 247,500 rows in 5.5s (45,000/s)',
    'bigquery_table.a.b: tables.get failed (HTTP 503); retry 1 in 0.3s',
  ]);
});

Log.run();

const Duration = suite('cli durations');

Duration('reads --lock-timeout values in milliseconds', () => {
  assert.is(parseDurationMs('30s'), 30_000);
  assert.is(parseDurationMs('1m30s'), 90_000);
  assert.is(parseDurationMs('0'), 0);
  assert.is(parseDurationMs('250ms'), 250);
});

Duration('rejects what is not a duration, naming the flag', () => {
  try {
    parseDurationMs('soon', '--lock-timeout');
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).message, '--lock-timeout: "soon" is not a duration (use e.g. 30s, 5m, 1h30m or a number of seconds)');
  }
});

Duration('formats elapsed time like Terraform', () => {
  assert.is(formatElapsed(120), '0.1s');
  assert.is(formatElapsed(12_400), '12s');
  assert.is(formatElapsed(62_000), '1m2s');
});

Duration.run();
