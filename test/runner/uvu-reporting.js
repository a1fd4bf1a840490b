// uvu with hooks that say why they failed. A `before`, `after` or `after.each` hook that
// throws is printed to stderr (suite name, hook, the error with its stack) and the
// process exits non-zero; uvu itself would drop the error (its runner returns from a
// `finally`) and report only "(0 / N)". A test that throws an error whose `details` is not
// text (MlbridgeError's structured details) would crash uvu's own formatter, which reads
// `details` as an assertion's diff: such an error leaves the test with its details as text.
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

/** The error as uvu can print it: structured `details` become text (see the header). */
function printable(e) {
  if (e !== null && typeof e === 'object' && e.details !== undefined && typeof e.details !== 'string') {
    try {
      e.details = `details: ${inspect(e.details, { depth: 6 })}`;
    } catch {
      // a frozen error: uvu prints what it can
    }
  }
  return e;
}

/** A test registration whose handler's errors reach uvu printable. */
function describing(register) {
  return (testName, handler) =>
    register(testName, async (...args) => {
      try {
        return await handler(...args);
      } catch (e) {
        throw printable(e);
      }
    });
}

export function suite(name = '', state) {
  const u = uvu.suite(name, state);
  const s = Object.assign(describing(u), u); // run, skip, and the hooks replaced below
  s.only = describing(u.only);
  const before = reporting(name, 'before', u.before);
  before.each = u.before.each; // a failing before.each already fails its test, with the error shown
  const after = reporting(name, 'after', u.after);
  after.each = reporting(name, 'after.each', u.after.each);
  s.before = before;
  s.after = after;
  return s;
}

export const test = suite();
export const exec = uvu.exec;
