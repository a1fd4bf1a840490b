// Diagnostics describe problems in user input (specs, flags, data files). They are
// accumulated and shown together, never thrown one at a time (Terraform's tfdiags).

export type Severity = 'error' | 'warning';

export interface SourceRange {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
  /** Byte offset into the file, for binary inputs (exports) where lines mean nothing. */
  offset?: number;
}

export interface Diagnostic {
  severity: Severity;
  summary: string;
  detail?: string;
  source?: SourceRange;
}

export function errorDiag(summary: string, source?: SourceRange, detail?: string): Diagnostic {
  return { severity: 'error', summary, ...(detail ? { detail } : {}), ...(source ? { source } : {}) };
}

export function warningDiag(summary: string, source?: SourceRange, detail?: string): Diagnostic {
  return { severity: 'warning', summary, ...(detail ? { detail } : {}), ...(source ? { source } : {}) };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** `file:line:col: message` — the one-line form editors and CI logs understand. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.source
    ? d.source.offset !== undefined && d.source.line === 0
      ? `${d.source.file}: byte offset ${d.source.offset}: `
      : `${d.source.file}:${d.source.line}:${d.source.col}: `
    : '';
  const sev = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}${sev}${d.summary}${d.detail ? `\n  ${d.detail.replace(/\n/g, '\n  ')}` : ''}`;
}

/** Orders diagnostics by file then position so output is stable. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return [...diags].sort((a, b) => {
    const fa = a.source?.file ?? '';
    const fb = b.source?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.source?.line ?? 0) - (b.source?.line ?? 0) || (a.source?.col ?? 0) - (b.source?.col ?? 0);
  });
}
