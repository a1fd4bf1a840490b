import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EngineEvent } from '../../src/engine/events.js';
import { applyLogSink, formatEvent } from '../../src/cli/views/apply-log.js';
import { formatElapsed, parseDurationMs } from '../../src/cli/duration.js';

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
