// A real warehouse with some of its methods replaced, for tests that make one call fail,
// wait or misbehave while everything else reaches the real target.
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export function overrideWarehouse(real: Warehouse, over: Partial<Warehouse>): Warehouse {
  return new Proxy(real, {
    get: (target, prop) => {
      if (prop in over) return over[prop as keyof Warehouse];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The real warehouse, except that releasing its lock fails with `message` (the lock stays). */
export function lockReleaseFails(real: Warehouse, message: string): Warehouse {
  const lock = () => {
    const b = real.lock();
    return { tryAcquire: b.tryAcquire.bind(b), current: b.current.bind(b), release: () => Promise.reject(new Error(message)) };
  };
  return overrideWarehouse(real, { lock });
}
