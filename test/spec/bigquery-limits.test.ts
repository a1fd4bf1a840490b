// BigQuery's label and column-description limits, checked when the spec is read: a table
// holds at most 64 labels and mlbridge adds up to 3 of its own; a column description holds
// at most 1,024 characters.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TARGET, cleanup, problems } from './helpers.js';

const labels = (n: number) => Array.from({ length: n }, (_, i) => `      l${i}: v`).join('\n');
const withLabels = (n: number) => `${TARGET}mappings:\n  - kind: Order\n    labels:\n${labels(n)}\n    fields: [{ name: id, type: STRING }]\n`;
const withDescription = (chars: number) =>
  `${TARGET}mappings:\n  - kind: Order\n    fields:\n      - name: id\n        type: STRING\n        description: ${'d'.repeat(chars)}\n`;

const Limits = suite('BigQuery limits in the spec');
Limits.after(cleanup);

Limits('61 labels are accepted: with the three mlbridge adds during a replace that is BigQuery\'s 64', async () => {
  assert.equal(await problems(withLabels(61)), []);
});

Limits('62 labels are refused, naming the limit and the labels mlbridge adds', async () => {
  assert.equal(await problems(withLabels(62)), [
    'spec.yaml:6:7: `mappings[0].labels`: at most 61 labels are allowed, 62 given (BigQuery allows 64; mlbridge uses up to 3: managed-by, mlbridge-deletion-protection, mlbridge-replace)',
  ]);
});

Limits('label keys starting with mlbridge- are reserved', async () => {
  const yaml = `${TARGET}mappings:\n  - kind: Order\n    labels: { mlbridge-replace: copied }\n    fields: [{ name: id, type: STRING }]\n`;
  assert.equal(await problems(yaml), ['spec.yaml:5:15: `mappings[0].labels.mlbridge-replace`: label keys starting with `mlbridge-` are reserved for mlbridge\'s own markers']);
});

Limits('a column description of 1,024 characters is accepted and one of 1,025 is refused with its length', async () => {
  assert.equal(await problems(withDescription(1024)), []);
  assert.equal(await problems(withDescription(1025)), [
    'spec.yaml:8:22: `mappings[0].fields[0].description`: a column description holds at most 1024 characters (BigQuery\'s limit); this one has 1025',
  ]);
});

Limits.run();
