import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDuration, parseDuration } from '../../src/spec/duration.js';
import { snakeCase, suggest } from '../../src/spec/names.js';

const Durations = suite('Durations');

Durations('units, combinations and plain seconds', () => {
  assert.equal(['30s', '15m', '1h', '2d', '1h30m', '90', 45, '1.5h', '250ms'].map((d) => parseDuration(d)), [30, 900, 3600, 172800, 5400, 90, 45, 5400, 0.25]);
});

Durations('rejects what is not a duration', () => {
  assert.equal(['', 'soon', '1w', '1h2h', '-5s', 'h1', '1 h', -3].map((d) => parseDuration(d)), Array(8).fill(undefined));
});

Durations('formats seconds back', () => {
  assert.equal([0, 90, 5400, 90061].map(formatDuration), ['0s', '1m30s', '1h30m', '1d1h1m1s']);
});

Durations.run();

const Names = suite('Names');

Names('snake_case of kinds', () => {
  assert.equal(['Order-Item v2', 'CustomerProfile', 'HTTPLog', 'order', 'Über Kunde', 'OrderV2'].map(snakeCase), [
    'order_item_v2', 'customer_profile', 'http_log', 'order', 'über_kunde', 'order_v2',
  ]);
});

Names('suggestions only for plausible typos', () => {
  assert.is(suggest('tabel', ['table', 'tables', 'kind']), 'table');
  assert.is(suggest('deletion_protect', ['deletion_protection', 'description']), 'deletion_protection');
  assert.is(suggest('zzzz', ['table', 'kind']), undefined);
});

Names.run();
