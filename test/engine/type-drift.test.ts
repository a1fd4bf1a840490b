// One rule for a STRING column, scalar or REPEATED: a number or a boolean is written as its
// text (nothing is lost), element by element in an array; a value the column's type cannot
// take is type drift, quarantined with a reason naming the property it came from and, in an
// array, the element's index.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Entity, Value } from '../../src/source/entity.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.js';
import { writeExport } from '../support/export-writer.js';
import { fakeIO } from '../cli/fake-io.js';
import { exportSpecYaml } from '../support/export-spec.js';

const str = (s: string): Value => ({ stringValue: s });
const int = (n: number): Value => ({ integerValue: String(n) });
const bool = (b: boolean): Value => ({ booleanValue: b });
const dbl = (n: number): Value => ({ doubleValue: n });
const arr = (values: Value[]): Value => ({ arrayValue: { values } });
const ent = (properties: Record<string, Value>): Value => ({ entityValue: { properties } });
const item = (name: string, properties: Record<string, Value>): Entity => ({ key: { partitionId: { projectId: 'p' }, path: [{ kind: 'Item', name }] }, properties });

const ENTITIES: Entity[] = [
  item('ints', { tag: int(5), tags: arr([str('a'), int(7), int(-3)]) }),
  item('bools', { tag: bool(true), tags: arr([bool(false), str('b')]) }),
  item('double', { tag: dbl(1.5), tags: arr([dbl(2.25)]) }),
  item('strings', { tag: str('x'), tags: arr([str('y')]), points: arr([int(1), int(2)]) }),
  item('bad-point', { tag: str('x'), points: arr([int(1), int(2), str('many')]) }),
  item('bad-zip', { tag: str('x'), lines: arr([ent({ postal: int(1000) }), ent({ postal: str('n/a') })]) }),
];

const SPEC = exportSpecYaml(`  - kind: Item
    fields:
      - { name: tag, type: STRING }
      - { name: tags, type: STRING, mode: REPEATED }
      - { name: scores, type: INT64, mode: REPEATED, from: points }
      - name: lines
        type: RECORD
        mode: REPEATED
        fields:
          - { name: zip, type: INT64, from: postal }
`);

let dir = '';

async function rows(table: string): Promise<Record<string, unknown>[]> {
  const wh = new DuckDbWarehouse(join(dir, 'wh.duckdb'), true);
  try {
    const out: Record<string, unknown>[] = [];
    for await (const r of wh.readRows('w', table)) out.push(r);
    return out.sort((a, b) => String(a._key).localeCompare(String(b._key)));
  } finally {
    await wh.close();
  }
}

const Drift = suite('numbers and booleans in STRING columns, scalar and REPEATED');
Drift.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlbridge-type-drift-'));
  writeFileSync(join(dir, 'mlbridge.yaml'), SPEC);
  await writeExport(join(dir, 'exports'), ENTITIES, { exportId: '2026-11-01T00:00:00_000' });
  const io = fakeIO({ cwd: dir });
  const code = await main(['apply', '--auto-approve'], io);
  assert.is(code, 0, io.err());
  assert.match(io.out(), 'rows.Item: 4 to insert, 2 to quarantine');
});
Drift.after(() => rmSync(dir, { recursive: true, force: true }));

Drift('a scalar STRING column and each element of a REPEATED STRING column take numbers and booleans as their text', async () => {
  assert.equal(
    (await rows('item')).map((r) => [r._key, r.tag, r.tags]),
    [
      ['Item:bools', 'true', ['false', 'b']],
      ['Item:double', '1.5', ['2.25']],
      ['Item:ints', '5', ['a', '7', '-3']],
      ['Item:strings', 'x', ['y']],
    ],
  );
});

Drift('a REPEATED element its type cannot take is quarantined naming the property, through from, and the element index', async () => {
  assert.equal(
    (await rows('item_quarantine')).map((r) => [r._key, r.reason, r.flags]),
    [
      ['Item:bad-point', 'type drift: Item Item:bad-point: property points[2] (column scores[2]): expected INT64, found STRING "many"', ['type_drift:scores[2]']],
      ['Item:bad-zip', 'type drift: Item Item:bad-zip: property lines[1].postal (column lines[1].zip): expected INT64, found STRING "n/a"', ['type_drift:lines[1].zip']],
    ],
  );
});

Drift.run();
