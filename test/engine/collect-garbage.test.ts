// collectGarbage frees shared buffers the engine let go of (the source memo's print set) now,
// not whenever V8 next collects.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { collectGarbage } from '../../src/engine/changes/collect-garbage.js';

const Collect = suite('a major garbage collection on request');

Collect('frees a shared buffer nothing holds any more', async () => {
  const before = process.memoryUsage().arrayBuffers;
  let set: Uint32Array | undefined = new Uint32Array(new SharedArrayBuffer(64e6));
  set.fill(7);
  assert.ok(process.memoryUsage().arrayBuffers >= before + 64e6, 'the buffer is counted while held');
  set = undefined;
  collectGarbage();
  // V8 sweeps freed array buffers right after the collection, possibly on another thread.
  for (let i = 0; i < 100 && process.memoryUsage().arrayBuffers >= before + 64e6; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(process.memoryUsage().arrayBuffers < before + 64e6, `still counted: ${process.memoryUsage().arrayBuffers} bytes of array buffers`);
});

Collect('gives this process no global gc', () => {
  collectGarbage();
  assert.is((globalThis as { gc?: unknown }).gc, undefined);
});

Collect.run();
