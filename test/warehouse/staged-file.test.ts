// The staged files workers write for DuckDB's read_json (model/staged-file.ts): one UTF-8 line
// per staged record, collected in a growing buffer, read back by DuckDB value for value.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { STAGED_FILE_FIELDS, StagedFileBuffer, stagedFileLine } from '../../src/model/staged-file.js';
import type { StagedRecord } from '../../src/model/staged.js';
import { tempDir } from '../engine/fixtures/factories.js';

// ---- fakes ----

/** An accepted record whose row carries `text` (quotes, backslashes, newlines, any script). */
function staged(i: number, text: string): StagedRecord {
  const row = JSON.stringify({ name: text, n: String(i) });
  return { key: `Item#${i}`, version: '1796006467406000', hash: `h${i}`, operation: 'UPSERT', eventId: `e${i}`, eventTime: '2026-11-01T00:00:00.000000Z', score: 0.5, flags: ['no_profile'], row, data: null, reason: null, sourcePrint: String(-i) };
}

const TEXTS = ['plain', 'é and ü', '日本語のテキスト', 'emoji 🚀 and "quotes" and \\ backslash', 'line\nbreak\ttab', ''];

const Files = suite('a staged file buffer');

let ctx: ReturnType<typeof tempDir>;
Files.before.each(() => {
  ctx = tempDir('mlbridge-staged-file-');
});
Files.after.each(() => ctx.cleanup());

Files('holds one line per record, as stagedFileLine writes it, in UTF-8, past its first size', () => {
  const b = new StagedFileBuffer(64);
  const records = Array.from({ length: 300 }, (_, i) => staged(i, TEXTS[i % TEXTS.length]!));
  for (const r of records) b.push(r);
  assert.is(b.rows, 300);
  const text = b.contents().toString('utf8');
  assert.is(b.bytes, Buffer.byteLength(text));
  assert.equal(text.split('\n'), [...records.map(stagedFileLine), '']);
});

Files('reads back through read_json value for value', async () => {
  const b = new StagedFileBuffer(64);
  const records = TEXTS.map((t, i) => staged(i, t));
  for (const r of records) b.push(r);
  const path = join(ctx.dir, 'staged.ndjson');
  writeFileSync(path, b.contents());
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const columns = `{${Object.entries(STAGED_FILE_FIELDS).map(([f, [, type]]) => `'${f}': '${type}'`).join(', ')}}`;
    const read = await c.runAndReadAll(`SELECT k, r FROM read_json('${path}', format = 'newline_delimited', records = true, columns = ${columns}) ORDER BY k`);
    assert.equal(
      read.getRows().map(([k, r]) => [k, JSON.parse(String(r)).name]),
      records.map((r, i) => [r.key, TEXTS[i]]).sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
  } finally {
    c.closeSync();
    db.closeSync();
  }
});

Files.run();
