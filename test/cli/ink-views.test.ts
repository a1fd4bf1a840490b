// The TTY views, rendered to a string (no terminal needed).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createElement } from 'react';
import { renderToString } from 'ink';
import { ApplyProgress } from '../../src/cli/views/ApplyProgress.js';
import { PlanView } from '../../src/cli/views/PlanView.js';

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const Views = suite('ink views');

Views('apply progress shows finished, failed and running changes and the summary', () => {
  const out = strip(
    renderToString(
      createElement(ApplyProgress, {
        lines: [
          { kind: 'done', address: 'duckdb_table.analytics.a', action: 'create', ms: 120 },
          { kind: 'note', text: 'bigquery_table.a.b: tables.patch failed (HTTP 503); retry 1 in 0.3s' },
          { kind: 'failed', address: 'duckdb_table.analytics.b', action: 'update', message: 'boom' },
        ],
        running: [{ address: 'duckdb_table.analytics.c', action: 'replace' }],
        summary: { add: 1, change: 0, destroy: 0 },
      }),
      { columns: 200 },
    ),
  );
  assert.match(out, '✔ duckdb_table.analytics.a: Created after 0.1s');
  assert.match(out, 'retry 1 in 0.3s');
  assert.match(out, '✘ duckdb_table.analytics.b: Modifying failed: boom');
  assert.match(out, 'duckdb_table.analytics.c: Replacing…');
  assert.match(out, 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');
});

Views('apply progress says how far an interrupted apply got, and shows nothing as still running', async () => {
  const { startApplyProgress } = await import('../../src/cli/views/ApplyProgress.js');
  const { PassThrough } = await import('node:stream');
  let screen = '';
  const stdout = Object.assign(new PassThrough(), { columns: 200, isTTY: false });
  stdout.on('data', (d) => (screen += d));
  const io = { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {}, cwd: '.', interactive: true, color: false };
  const view = startApplyProgress(io);
  view.onEvent({ type: 'change-start', address: 'duckdb_table.analytics.a', changeType: 'table', action: 'create' });
  view.onEvent({ type: 'change-done', address: 'duckdb_table.analytics.a', changeType: 'table', action: 'create', ms: 5 });
  view.onEvent({ type: 'change-start', address: 'duckdb_table.analytics.b', changeType: 'table', action: 'create' });
  view.onEvent({ type: 'interrupted', done: 1, total: 3 });
  view.stop();
  assert.match(strip(screen), '✔ duckdb_table.analytics.a: Created after 0.0s');
  // The last frame drawn (after ink's cursor reset): the interrupt, and no spinner left for b.
  assert.is(strip(screen.split('\x1b[G').at(-1)!), '\nInterrupted: 1 of 3 changes applied; run apply again\n');
});

Views('the plan view names what is being read, or the lock it waits for', () => {
  const reading = strip(renderToString(createElement(PlanView, { observing: ['tables in analytics'], observed: 1 }), { columns: 200 }));
  assert.match(reading, 'tables in analytics: Refreshing state…');
  assert.match(reading, '1 observed');
  const waiting = strip(renderToString(createElement(PlanView, { observing: [], observed: 0, lockWait: 'Waiting for the lock held by L1' }), { columns: 200 }));
  assert.match(waiting, 'Waiting for the lock held by L1');
});

Views.run();
