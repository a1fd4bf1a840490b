// A major garbage collection, asked for where the engine has just let go of large shared
// buffers. The source memo's print set (9 bytes per entry: 45 MB at 5M, in SharedArrayBuffers
// the staging workers searched) is freed only when V8 collects the objects holding it, and
// with the JavaScript heap nearly idle while DuckDB works it may not collect them for the rest
// of the reconcile: the 5M plan's DuckDB joins then peaked with the set still held. Measured
// with process.memoryUsage().arrayBuffers: 45 MB through the whole diff, 0 after this.
//
// Node exposes gc() only under --expose-gc; setting the flag at run time and taking gc from a
// fresh context is the documented way to reach it without restarting the process.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
