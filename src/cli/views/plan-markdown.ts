// The plan as a pull-request comment (Atlantis / HCP Terraform style): a heading, the
// summary, destructive changes called out in a warning, and the full plan in a
// collapsible diff block. A pure function of the Plan.

import type { Plan, RowsChange } from '../../engine/plan.js';
import { formatDiagnostic } from '../../model/diagnostic.js';
import {
  NO_CHANGES,
  actionPhrase,
  describeChange,
  destructiveChanges,
  destructiveNote,
  renderChangeLines,
  rowsHeadline,
  rowsSourcePhrase,
  rowsSummaryLine,
  summaryLine,
  visibleChanges,
} from './plan-text.js';
import { formatCount } from './rows-progress.js';

/** Moves each line's action symbol to column 0 so GitHub's `diff` highlighting colours it. */
function diffLine(line: string): string {
  const m = /^(\s*)(-\/\+|\+|-|~|!)( .*)?$/.exec(line);
  if (!m) return ` ${line}`;
  const sign = m[2] === '+' ? '+' : m[2] === '-' ? '-' : '!';
  return `${sign}${m[1]!.slice(1)}${m[2]}${m[3] ?? ''}`;
}

function code(s: string): string {
  return `\`${s.replace(/`/g, "'")}\``;
}

export function renderPlanMarkdown(plan: Plan): string {
  const changes = visibleChanges(plan);
  const out: string[] = [];
  out.push(`### mlbridge plan for ${code(plan.target.location)}`, '');
  const failed = plan.diagnostics.some((d) => d.severity === 'error');
  if (changes.length === 0) {
    // With errors the target does not "match the spec": the errors below say why.
    out.push(failed ? '**Errors: apply would refuse this plan.**' : `**${NO_CHANGES}**`);
  } else {
    out.push(`**${summaryLine(plan.summary)}**`, '');
    const rowsLine = rowsSummaryLine(plan.summary);
    if (rowsLine) out.push(`**${rowsLine}**`, '');
    const destructive = destructiveChanges(plan);
    if (destructive.length) {
      out.push('> [!WARNING]');
      out.push(
        `> **${destructive.length} destructive change${destructive.length === 1 ? '' : 's'}** — data or history will be dropped; apply needs \`--allow-destructive\`:`,
      );
      for (const c of destructive) out.push(`> - ${code(c.address)} ${destructiveNote(c).slice(c.address.length + 1)}`);
      out.push('');
    }
    // Reviewers must see that apply will refuse, not only that the change is destructive.
    const blocked = changes.filter((c) => c.blocked);
    if (blocked.length) {
      out.push('> [!CAUTION]');
      out.push(`> **Deletion protection blocks ${blocked.length} change${blocked.length === 1 ? '' : 's'}**; apply will refuse this plan:`);
      for (const c of blocked) out.push(`> - ${c.blocked}`);
      out.push('');
    }
    out.push('| | resource | action |', '|---|---|---|');
    for (const c of changes) {
      const view = describeChange(c);
      const what = c.type === 'rows' ? rowsHeadline(c).slice(c.address.length + 2) : actionPhrase(c.action);
      out.push(`| ${code(view.symbol)} | ${code(c.address)} | ${what}${c.destructive ? ' ⚠️' : ''} |`);
    }
    for (const c of changes.filter((x): x is RowsChange => x.type === 'rows')) out.push('', ...rowsTable(c));
    out.push('', '<details><summary>Show plan</summary>', '', '```diff');
    for (const c of changes) {
      for (const line of renderChangeLines(describeChange(c), { color: false })) out.push(diffLine(line));
      out.push('');
    }
    out.push(summaryLine(plan.summary), ...(rowsLine ? [rowsLine] : []), '```', '', '</details>');
  }
  if (plan.diagnostics.length) {
    out.push('', '```', ...plan.diagnostics.map((d) => formatDiagnostic(d)), '```');
  }
  return `${out.join('\n')}\n`;
}

/** A table per kind: the counts and the sample keys a reviewer can look up. */
function rowsTable(c: RowsChange): string[] {
  const n = c.after ?? { insert: 0, update: 0, delete: 0, quarantine: 0, unchanged: 0 };
  const out = [`**${code(c.address)}** from ${rowsSourcePhrase(c)}`, '', '| rows | count | sample keys |', '|---|---:|---|'];
  for (const k of ['insert', 'update', 'delete', 'quarantine'] as const) {
    out.push(`| ${k} | ${formatCount(n[k])} | ${c.sampleKeys[k].map(code).join(', ')}${n[k] > c.sampleKeys[k].length ? ', …' : ''} |`);
  }
  out.push(`| unchanged | ${formatCount(n.unchanged)} | |`);
  return out;
}
