// What the command definitions (main.ts, source-commands.ts) share: commander parsers for
// option values, and the wrapper that turns a command's exit code into main's.

import { InvalidArgumentError } from 'commander';

/** Wraps a command's run: its exit code becomes the one main returns. */
export type Action = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

/** `--lock=false` as Terraform spells it: true or false, nothing else. */
export function booleanValue(value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new InvalidArgumentError('expected true or false.');
}

export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number.');
  return n;
}
