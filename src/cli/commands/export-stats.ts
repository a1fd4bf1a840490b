// `mlbridge export stats LOCATION [--json]`: entities and bytes per namespace/kind, and
// every property (nested ones as a.b) with the value types seen and how often.
import type { CliIO } from '../io.js';
import { toJsonShape } from '../../model/json-shape.js';
import { EXIT } from '../io.js';
import { printDiagnostics } from '../context.js';
import type { GroupStats, PropStats } from '../../source/export/profile.js';
import type { ExportProfile } from '../../source/export/profile-export.js';

export interface ExportStatsOptions {
  location: string;
  json: boolean;
  skipCorrupt: boolean;
  exportId?: string;
  /** Threads reading the export's files (default: one per core, at most 8). */
  jobs?: number;
}

interface PropRow {
  name: string;
  present: number;
  types: Record<string, number>;
  elementTypes?: Record<string, number>;
}

function rows(props: Map<string, PropStats>, prefix: string, out: PropRow[]): void {
  for (const name of [...props.keys()].sort()) {
    const s = props.get(name)!;
    const full = prefix ? `${prefix}.${name.includes('.') ? `\`${name}\`` : name}` : name.includes('.') ? `\`${name}\`` : name;
    const row: PropRow = { name: full, present: s.present, types: { ...s.types } as Record<string, number> };
    if (Object.keys(s.elementTypes).length) row.elementTypes = { ...s.elementTypes } as Record<string, number>;
    out.push(row);
    if (s.children.size) rows(s.children, full, out);
  }
}

function typeList(t: Record<string, number>): string {
  return Object.entries(t)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function groupJson(g: GroupStats) {
  const props: PropRow[] = [];
  rows(g.props, '', props);
  return { namespace: g.namespace ?? '', kind: g.kind, entities: g.entities, bytes: g.bytes, properties: props };
}

export async function run(options: ExportStatsOptions, io: CliIO): Promise<number> {
  const { profileExport } = await import('../../source/export/profile-export.js');
  const { CorruptTally, failCommand, rejectJobs } = await import('../export-support.js');
  if (rejectJobs(io, options.jobs)) return EXIT.ERROR;
  const tally = new CorruptTally();
  let profile: ExportProfile;
  try {
    profile = await profileExport(options.location, {
      byNamespace: true,
      skipCorrupt: options.skipCorrupt,
      onCorrupt: tally.add,
      onCorruptOmitted: tally.addOmitted,
      onShortPart: tally.addShort,
      env: io.env,
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(options.exportId !== undefined ? { exportId: options.exportId } : {}),
    });
  } catch (e) {
    tally.report(io);
    return failCommand(io, e);
  }
  // Before the numbers, so they are not read as the newest export's.
  printDiagnostics(io, profile.warnings);
  const groups = profile.groups.map(groupJson);
  const total = { entities: groups.reduce((s, g) => s + g.entities, 0), bytes: groups.reduce((s, g) => s + g.bytes, 0) };
  if (options.json) {
    // snake_case keys, as every JSON mlbridge prints (plan --json, apply --json).
    io.stdout.write(`${JSON.stringify(toJsonShape({ ...total, ...(tally.count ? { skippedRecords: tally.count } : {}), kinds: groups }), null, 2)}\n`);
  } else {
    const lines: string[] = [];
    for (const g of groups) {
      lines.push(`${g.namespace ? `namespace ${JSON.stringify(g.namespace)}` : 'default namespace'}, kind ${g.kind}: ${g.entities} ${g.entities === 1 ? 'entity' : 'entities'}, ${g.bytes} bytes`);
      const width = Math.min(40, Math.max(0, ...g.properties.map((p) => p.name.length)));
      for (const p of g.properties) {
        const el = p.elementTypes ? ` (elements: ${typeList(p.elementTypes)})` : '';
        lines.push(`  ${p.name.padEnd(width)}  ${typeList(p.types)}${el}`);
      }
    }
    lines.push(`total: ${total.entities} entities, ${total.bytes} bytes in ${groups.length} namespace/kind group${groups.length === 1 ? '' : 's'}`);
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  tally.report(io);
  return EXIT.OK;
}
