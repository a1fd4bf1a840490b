// `mlbridge validate [-c PATH]`: every problem at once as `file:line:col: message`, exit 1.
// Reads only the spec (no target, no network), so it is fast and safe in CI.

import { EXIT, println, type CliIO } from '../io.js';
import { loadConfig, printDiagnostics } from '../context.js';

export interface ValidateOptions {
  config: string;
}

export async function run(options: ValidateOptions, io: CliIO): Promise<number> {
  const { spec, diagnostics } = await loadConfig(options.config, io);
  printDiagnostics(io, diagnostics);
  if (!spec) {
    const n = diagnostics.filter((d) => d.severity === 'error').length;
    println(io.stderr, `\nError: the spec has ${n} problem${n === 1 ? '' : 's'}.`);
    return EXIT.ERROR;
  }
  const target = spec.target.kind === 'duckdb' ? `duckdb ${spec.target.dataset}` : `bigquery ${spec.target.project}.${spec.target.dataset}`;
  const n = spec.mappings.length;
  println(io.stdout, `Success! The spec is valid: ${n} mapping${n === 1 ? '' : 's'}, target ${target}.`);
  return EXIT.OK;
}
