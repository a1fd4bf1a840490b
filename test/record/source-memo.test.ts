// The pieces of the source memo that need no warehouse: the mapping salt (what may change
// without forgetting the memo, and what may not), the record printer, and the shared print
// set staging workers search.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findPrint, missedPrints, printHalves, printSet } from '../../src/model/print-set.js';
import { memoSalt } from '../../src/record/source-memo.js';
import { recordPrinter } from '../../src/source/export/record-print.js';
import type { FieldSpec, MappingSpec } from '../../src/spec/types.js';

// ---- fakes -------------------------------------------------------------------------
function field(name: string, type: FieldSpec['type'], extra: Partial<FieldSpec> = {}): FieldSpec {
  return { name, type, mode: 'NULLABLE', from: [name], ...extra };
}

const mapping: Pick<MappingSpec, 'kind' | 'namespaces' | 'fields'> = {
  kind: 'Order',
  fields: [field('total', 'NUMERIC'), field('status', 'STRING'), field('address', 'RECORD', { fields: [field('city', 'STRING')] })],
};

/** Prints spread over the whole signed range, both halves' edges included, sorted. */
function samplePrints(): BigInt64Array {
  const values = new Set<bigint>([-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n, 0x7fff_ffff_0000_0000n, -0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n]);
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 5000; i++) {
    x = BigInt.asIntN(64, x * 6364136223846793005n + 1442695040888963407n);
    values.add(x);
  }
  return BigInt64Array.from([...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---- the salt ------------------------------------------------------------------------
const Salt = suite('the memo salt of a mapping');

Salt('changes with what decides a record\'s key or content', () => {
  const base = memoSalt(mapping);
  const variants: Pick<MappingSpec, 'kind' | 'namespaces' | 'fields'>[] = [
    { ...mapping, kind: 'Invoice' },
    { ...mapping, namespaces: ['eu'] },
    { ...mapping, fields: [...mapping.fields, field('note', 'STRING')] },
    { ...mapping, fields: [field('total', 'FLOAT64'), ...mapping.fields.slice(1)] },
    { ...mapping, fields: [field('total', 'NUMERIC', { mode: 'REPEATED' }), ...mapping.fields.slice(1)] },
    { ...mapping, fields: [field('total', 'NUMERIC', { from: ['sum'] }), ...mapping.fields.slice(1)] },
    { ...mapping, fields: [...mapping.fields.slice(0, 2), field('address', 'RECORD', { fields: [field('city', 'STRING'), field('zip', 'STRING')] })] },
  ];
  const salts = variants.map(memoSalt);
  assert.ok(salts.every((s) => s !== base), salts.join(' '));
  assert.is(new Set(salts).size, salts.length);
  assert.match(base, /^[0-9a-f]{16}$/);
});

Salt('stays the same for descriptions, YAML positions and the order namespaces are listed in', () => {
  const described = { ...mapping, fields: mapping.fields.map((f) => ({ ...f, description: 'words', source: { file: 'x.yaml', line: 3, column: 5 } })) };
  assert.is(memoSalt(described as unknown as typeof mapping), memoSalt(mapping));
  assert.is(memoSalt({ ...mapping, namespaces: ['eu', ''] }), memoSalt({ ...mapping, namespaces: ['', 'eu'] }));
  assert.is(memoSalt({ ...mapping, namespaces: [] }), memoSalt(mapping));
});

Salt.run();

// ---- the printer ---------------------------------------------------------------------
const Printer = suite('the record printer');

Printer('prints the same bytes the same, wherever they sit in a buffer, and other bytes otherwise', async () => {
  const print = await recordPrinter();
  const bytes = new TextEncoder().encode('an EntityProto, more or less');
  const framed = new Uint8Array(bytes.length + 7);
  framed.set(bytes, 3);
  assert.is(print(framed.subarray(3, 3 + bytes.length)), print(bytes));
  const flipped = bytes.slice();
  flipped[5] = flipped[5]! ^ 1;
  assert.is.not(print(flipped), print(bytes));
  assert.is.not(print(bytes.subarray(0, bytes.length - 1)), print(bytes));
  assert.ok(print(bytes) >= 0n && print(bytes) < 2n ** 64n, 'unsigned 64 bits');
});

Printer.run();

// ---- the print set -------------------------------------------------------------------
const Prints = suite('a print set');

Prints('finds every member, at its index, and nothing else', () => {
  const sorted = samplePrints();
  const set = printSet(sorted);
  for (let i = 0; i < sorted.length; i++) {
    const [high, low] = printHalves(sorted[i]!);
    assert.is(findPrint(set, high, low), i, `member ${sorted[i]}`);
    // Its neighbours are members only when they are in the sample.
    for (const d of [-1n, 1n]) {
      const near = BigInt.asIntN(64, sorted[i]! + d);
      const [h, l] = printHalves(near);
      assert.is(findPrint(set, h, l) >= 0, sorted.includes(near), `neighbour ${near}`);
    }
  }
});

Prints('the unsigned printer values and the signed stored ones are the same members', async () => {
  const print = await recordPrinter();
  const values = ['a', 'b', 'c', 'd'].map((s) => print(new TextEncoder().encode(s)));
  const signed = BigInt64Array.from(values.map((v) => BigInt.asIntN(64, v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  const set = printSet(signed);
  for (const v of values) assert.ok(findPrint(set, ...printHalves(v)) >= 0, `${v}`);
});

Prints('lists the members no one met, as signed values', () => {
  const sorted = samplePrints();
  const set = printSet(sorted);
  const met = new Set<bigint>();
  for (let i = 0; i < sorted.length; i += 3) {
    set.hits[i] = 1;
    met.add(sorted[i]!);
  }
  assert.equal([...missedPrints(set)], [...sorted].filter((p) => !met.has(p)));
});

Prints('an empty set finds nothing; unsorted prints are refused', () => {
  const empty = printSet(new BigInt64Array(0));
  assert.is(findPrint(empty, 0, 0), -1);
  assert.equal([...missedPrints(empty)], []);
  assert.throws(() => printSet(BigInt64Array.from([5n, 3n])), /fingerprints must be sorted: 5 before 3/);
});

Prints.run();
