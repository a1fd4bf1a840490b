import * as assert from 'uvu/assert';
import { isMlbridgeError, type MlbridgeError } from '../../src/model/errors.js';

/** Awaits a promise that must fail with an MlbridgeError, and returns that error. */
export async function rejects(p: Promise<unknown>): Promise<MlbridgeError> {
  try {
    await p;
  } catch (e) {
    if (isMlbridgeError(e)) return e;
    throw e;
  }
  assert.unreachable('expected an MlbridgeError');
  throw new Error('unreachable');
}
