// `mlbridge reconcile [-c SPEC] [--kind K]... [--json]`: what Cloud Scheduler's call to
// serve's /reconcile does, from a terminal or cron. Never asks anything.
// Exit 0: nothing changed; 2: rows were repaired or a table's schema changed; 1: error.

import { randomUUID } from 'node:crypto';
import { reconcileOutcome, type ReconcileSummary } from '../../engine/reconcile.js';
import { loadConfig, printDiagnostics } from '../context.js';
import { EXIT, println, type CliIO } from '../io.js';
import { toJsonShape } from '../../model/json-shape.js';
import { openEnginePorts, type OpenPorts } from './serve-ports.js';

export interface ReconcileOptions {
  config: string;
  kind: string[];
  json: boolean;
}

const RESOURCE_VERB: Record<ReconcileSummary['resources'][number]['action'], string> = {
  create: 'created',
  update: 'updated in place',
  replace: 'replaced',
  delete: 'destroyed',
};

function summaryText(s: ReconcileSummary): string[] {
  const lines = [`Reconcile ${s.id} finished in ${(s.durationMs / 1000).toFixed(1)}s: ${reconcileOutcome(s)}.`];
  for (const r of s.resources) lines.push(`  ${r.address}: ${RESOURCE_VERB[r.action]}`);
  for (const [kind, c] of Object.entries(s.kinds)) {
    lines.push(`  ${kind}: ${c.insert} inserted, ${c.update} updated, ${c.delete} deleted, ${c.quarantine} quarantined, ${c.unchanged} unchanged`);
  }
  for (const w of s.warnings ?? []) lines.push(`warning: ${w}`);
  return lines;
}

export async function run(options: ReconcileOptions, io: CliIO, openPorts: OpenPorts = openEnginePorts): Promise<number> {
  const { spec, diagnostics } = await loadConfig(options.config, io);
  printDiagnostics(io, diagnostics);
  if (!spec) return EXIT.ERROR;
  const mapped = new Set(spec.mappings.map((m) => m.kind));
  const unknown = options.kind.filter((k) => !mapped.has(k));
  if (unknown.length) {
    println(io.stderr, `Error: kind ${unknown.map((k) => `\`${k}\``).join(', ')} is not mapped in the spec (mapped: ${[...mapped].join(', ') || 'none'})`);
    return EXIT.ERROR;
  }
  const ports = await openPorts(spec, io);
  let summary: ReconcileSummary;
  try {
    summary = await ports.reconciler.reconcile({ id: randomUUID(), ...(options.kind.length ? { kinds: options.kind } : {}) });
  } finally {
    await ports.sink.close().finally(() => ports.close());
  }
  if (options.json) println(io.stdout, JSON.stringify(toJsonShape(summary)));
  else for (const line of summaryText(summary)) println(io.stdout, line);
  return summary.changed ? EXIT.CHANGES : EXIT.OK;
}
