import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeenFilter } from '../../src/warehouse/seen-filter.js';

// ---- fakes ----

/** Event-id-like strings: 32 hex digits, distinct per (prefix, i). */
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i.toString(16).padStart(8, '0')}${'0'.repeat(23)}`.slice(0, 32));

const Suite = suite('the summary of what a raw table logged (SeenFilter)');

Suite('every value added is reported as maybe present, also after the filter grew past its first capacity', () => {
  const f = new SeenFilter(1000);
  const added = ids('a', 100_000);
  for (const v of added) f.add(v);
  assert.ok(added.every((v) => f.mayHave(v)));
  assert.ok(f.bytes > 100_000 * 2, 'it grew to hold them');
});

Suite('values never added are almost always reported absent (under 1 in 10,000)', () => {
  const f = new SeenFilter();
  for (const v of ids('a', 100_000)) f.add(v);
  const falsePositives = ids('b', 100_000).filter((v) => f.mayHave(v)).length;
  assert.ok(falsePositives < 10, `${falsePositives} false positives`);
});

Suite('an empty filter reports nothing present', () => {
  const f = new SeenFilter();
  assert.is(['', 'x', 'Customer:c1'].some((v) => f.mayHave(v)), false);
});

Suite.run();
