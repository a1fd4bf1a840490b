// uvu with hooks that say why they failed. A `before`, `after` or `after.each` hook that
// throws is printed to stderr (suite name, hook, the error with its stack) and the
// process exits non-zero; uvu itself would drop the error (its runner returns from a
// `finally`) and report only "(0 / N)".
import { inspect } from 'node:util';
import * as uvu from 'uvu';

let hookFailed = false;
process.on('exit', () => {
  if (hookFailed) process.exitCode = 1;
});

function reporting(suiteName, hookName, register) {
  return (handler) =>
    register(async (state) => {
      try {
        await handler(state);
      } catch (e) {
        hookFailed = true;
        const what = hookName === 'after.each' ? 'ran after a test' : hookName === 'before' ? 'ran before its tests, so none of them ran' : 'ran after its tests';
        process.stderr.write(`\n✘ suite "${suiteName}": its \`${hookName}\` hook failed (it ${what}):\n${inspect(e, { depth: 6 })}\n`);
        throw e;
      }
    });
}

export function suite(name = '', state) {
  const s = uvu.suite(name, state);
  const before = reporting(name, 'before', s.before);
  before.each = s.before.each; // a failing before.each already fails its test, with the error shown
  const after = reporting(name, 'after', s.after);
  after.each = reporting(name, 'after.each', s.after.each);
  s.before = before;
  s.after = after;
  return s;
}

export const test = suite();
export const exec = uvu.exec;
