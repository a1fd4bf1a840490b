// The TTY views, rendered to a string (no terminal needed).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import type { EngineEvent } from '../../src/engine/events.js';
import { runsInCi } from '../../src/cli/io.js';

// These are the views of a terminal, where ink draws live frames. ink decides once, when it is
// first imported, whether it runs in CI (then it draws only the last frame, on unmount), from
// the same variables `runsInCi` reads; the CLI never picks these views there. So the variables
// go before ink is imported, which is why ink and the views are imported dynamically below.
for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[name];
assert.is(runsInCi(process.env), false);
const { createElement } = await import('react');
const { renderToString } = await import('ink');
const { ApplyProgress, startApplyProgress } = await import('../../src/cli/views/ApplyProgress.js');
const { PlanView, startPlanView } = await import('../../src/cli/views/PlanView.js');

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

type RowsProgress = Extract<EngineEvent, { type: 'rows-progress' }>;

function rowsProgress(fields: Partial<RowsProgress> & Pick<RowsProgress, 'rows' | 'ms'>): RowsProgress {
  return { type: 'rows-progress', address: 'rows.Order', phase: 'read', ratePerSecond: 45_000, done: false, ...fields };
}

/**
 * A terminal 120 columns wide. ink draws at most 30 frames a second, so a test waits for the
 * frame it expects (by output, not by time) before looking at what else is on screen.
 */
function fakeTerminal() {
  let screen = '';
  const stdout = Object.assign(new PassThrough(), { columns: 120, isTTY: false });
  const io = { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {}, cwd: '.', interactive: true, color: false };
  /** The frame on screen now (ink redraws after erasing and resetting the cursor). */
  const last = () => strip(screen.split('\x1b[G').at(-1)!);
  const waiting = new Set<() => void>();
  stdout.on('data', (d) => {
    screen += d;
    for (const check of waiting) check();
  });
  return {
    io,
    all: () => strip(screen),
    last,
    /** The current frame once it shows `text`; fails naming the frame if none does within 10 s. */
    showing(text: string): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!last().includes(text)) return;
          waiting.delete(check);
          clearTimeout(watchdog);
          resolve(last());
        };
        const watchdog = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`no frame showed ${JSON.stringify(text)}; the last was ${JSON.stringify(last())}`));
        }, 10_000);
        waiting.add(check);
        check();
      });
    },
  };
}

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
  const term = fakeTerminal();
  const view = startApplyProgress(term.io);
  view.onEvent({ type: 'change-start', address: 'duckdb_table.analytics.a', changeType: 'table', action: 'create' });
  view.onEvent({ type: 'change-done', address: 'duckdb_table.analytics.a', changeType: 'table', action: 'create', ms: 5 });
  view.onEvent({ type: 'change-start', address: 'duckdb_table.analytics.b', changeType: 'table', action: 'create' });
  view.onEvent({ type: 'interrupted', done: 1, total: 3 });
  view.stop();
  assert.match(term.all(), '✔ duckdb_table.analytics.a: Created after 0.0s');
  // The last frame drawn: the interrupt, and no spinner left for b.
  assert.is(term.last(), '\nInterrupted: 1 of 3 changes applied; run apply again\n');
});

Views('the plan view names what is being read, or the lock it waits for', () => {
  const reading = strip(renderToString(createElement(PlanView, { observing: ['tables in analytics'], observed: 1 }), { columns: 200 }));
  assert.match(reading, 'tables in analytics: Refreshing state…');
  assert.match(reading, '1 observed');
  const waiting = strip(renderToString(createElement(PlanView, { observing: [], observed: 0, lockWait: 'Waiting for the lock held by L1' }), { columns: 200 }));
  assert.match(waiting, 'Waiting for the lock held by L1');
});

Views('the plan view shows rows read so far, of the export total, with rate and ETA', () => {
  const out = strip(
    renderToString(
      createElement(PlanView, { observing: ['rows of Order'], observed: 2, rows: [rowsProgress({ rows: 120_000, total: 1_000_000, etaSeconds: 19, ms: 2_700 })] }),
      { columns: 120 },
    ),
  );
  assert.match(out, 'rows of Order: Refreshing state…');
  assert.match(out, 'Reading rows.Order… 120,000 of 1,000,000 rows · 45,000/s · ETA 19s');
});

Views('without a known total the plan view shows rows and rate only', () => {
  const out = strip(renderToString(createElement(PlanView, { observing: ['rows of Order'], observed: 0, rows: [rowsProgress({ rows: 120_000, ms: 2_700 })] }), { columns: 120 }));
  assert.match(out, /Reading rows\.Order… 120,000 rows · 45,000\/s$/m);
  assert.not.match(out, 'ETA');
});

Views('the live plan view updates the read line per address and replaces it with a done line', async () => {
  const term = fakeTerminal();
  const view = startPlanView(term.io);
  try {
    view.onEvent({ type: 'observe-start', what: 'rows of 2 kinds' });
    view.onEvent(rowsProgress({ address: 'rows', rows: 45_000, total: 300_000, etaSeconds: 6, ms: 1_000 }));
    await term.showing('Reading rows… 45,000 of 300,000 rows · 45,000/s · ETA 6s');
    view.onEvent(rowsProgress({ address: 'rows', rows: 180_000, total: 300_000, etaSeconds: 3, ms: 4_000 }));
    const later = await term.showing('Reading rows… 180,000 of 300,000 rows · 45,000/s · ETA 3s');
    assert.not.match(later, '45,000 of 300,000');
    view.onEvent(rowsProgress({ address: 'rows', rows: 300_000, total: 300_000, ms: 6_700, done: true }));
    const done = await term.showing('✔ rows: read 300,000 rows in 6.7s');
    assert.not.match(done, 'Reading');
    assert.match(done, 'rows of 2 kinds: Refreshing state…'); // diffing the staged rows goes on
  } finally {
    view.stop();
  }
});

Views('a running rows change shows its merge progress, and its finished line the rows merged', async () => {
  const term = fakeTerminal();
  const view = startApplyProgress(term.io);
  try {
    view.onEvent({ type: 'change-start', address: 'rows.Order', changeType: 'rows', action: 'update' });
    await term.showing('rows.Order: Modifying…');
    view.onEvent(rowsProgress({ phase: 'merge', rows: 150_000, total: 300_000, ratePerSecond: 95_000, etaSeconds: 2, ms: 1_600 }));
    await term.showing('rows.Order: Modifying… merging 150,000 of 300,000 rows · 95,000/s · ETA 2s');
    view.onEvent(rowsProgress({ phase: 'merge', rows: 300_000, total: 300_000, ratePerSecond: 95_000, ms: 3_200, done: true }));
    await term.showing('rows.Order: Modifying… merged 300,000 rows in 3.2s');
    view.onEvent({ type: 'change-done', address: 'rows.Order', changeType: 'rows', action: 'update', ms: 3_300 });
    const finished = await term.showing('✔ rows.Order: Modified after 3.3s · merged 300,000 rows in 3.2s');
    assert.not.match(finished, 'Modifying');
  } finally {
    view.stop();
  }
});

Views('the CLI takes the plain progress lines wherever ink would draw only its last frame', () => {
  assert.is(runsInCi({ CI: 'true' }), true);
  assert.is(runsInCi({ CI: '1' }), true);
  assert.is(runsInCi({ CI: '' }), true);
  assert.is(runsInCi({ CONTINUOUS_INTEGRATION: 'yes' }), true);
  assert.is(runsInCi({ CI: 'false' }), false);
  assert.is(runsInCi({ CI: '0' }), false);
  assert.is(runsInCi({}), false);
});

Views.run();
