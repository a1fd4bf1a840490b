// YAML mistakes that come from the spec's own features get a hint on how to write them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanup, problems, TARGET } from './helpers.js';

const Hints = suite('YAML syntax hints');
Hints.after(cleanup);

Hints('an unquoted ${VAR} inside { } is a YAML error that says to quote it', async () => {
  const text = 'version: 1\ntarget:\n  duckdb: { path: ${DB:-./w.duckdb}, dataset: analytics }\nmappings:\n  - kind: A\n    fields: [{ name: a, type: STRING }]\n';
  assert.equal(await problems(text), [
    'spec.yaml:3:20: YAML syntax error: missed comma between flow collection entries\n' +
      '  quote a value that uses ${VAR}, e.g. path: "${DATA_DIR:-./.data}/warehouse.duckdb"',
  ]);
  assert.equal(await problems(text.replace('${DB:-./w.duckdb}', '"${DB:-./w.duckdb}"')), []);
});

Hints('a YAML error on a line without ${VAR} has no such hint', async () => {
  const out = await problems(`version: 1\n${TARGET}mappings: [\n`);
  assert.is(out.length, 1);
  assert.match(out[0]!, 'YAML syntax error');
  assert.not.match(out[0]!, 'quote a value');
});

Hints.run();
