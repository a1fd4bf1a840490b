// collectGarbage frees shared buffers the engine let go of (the source memo's print set) now,
// not whenever V8 next collects.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { collectGarbage } from '../../src/engine/changes/collect-garbage.js';

const Collect = suite('a major garbage collection on request');

Collect('frees a shared buffer nothing holds any more', async () => {
  const SIZE = 64e6;
  // Compared with the count while the buffer is held, not with one taken before it: the
  // allocation of 64 MB outside the heap may itself start a collection that frees other
  // buffers, so the count can rise by less than 64 MB (seen on Node 24).
  let set: Uint32Array | undefined = new Uint32Array(new SharedArrayBuffer(SIZE));
  set.fill(7);
  const held = process.memoryUsage().arrayBuffers;
  assert.ok(held >= SIZE, `the buffer is counted while held: ${held} bytes of array buffers`);
  set = undefined;
  collectGarbage();
  // V8 sweeps freed array buffers right after the collection, possibly on another thread.
  const freed = () => process.memoryUsage().arrayBuffers <= held - SIZE;
  for (let i = 0; i < 100 && !freed(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(freed(), `still counted: ${process.memoryUsage().arrayBuffers} bytes of array buffers, ${held} while held`);
});

Collect('gives this process no global gc', () => {
  collectGarbage();
  assert.is((globalThis as { gc?: unknown }).gc, undefined);
});

Collect.run();
