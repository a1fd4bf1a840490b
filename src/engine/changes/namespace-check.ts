// Namespaces a mapping lists that hold none of its kind: without this a misspelled namespace
// (`namespaces: [eu, us-wset]`) plans fewer rows, or none, and nobody is told. Staging notes
// which namespaces it met each mapped kind in (the entities it staged, those it skipped for
// their namespace, and those the source memo knew: stage-worker.ts), and the plan warns, per
// mapping, of the listed namespaces it never met, naming those the kind is in.

import { warningDiag, type Diagnostic } from '../../model/diagnostic.js';
import type { SourceIdentity } from '../../source/snapshot-source.js';
import type { MappingSpec } from '../../spec/types.js';

/** Per kind, the namespaces ('' = the default) staging met entities of that kind in. */
export class NamespacesMet {
  private readonly byKind = new Map<string, Set<string>>();

  add(kind: string, namespace: string): void {
    let set = this.byKind.get(kind);
    if (!set) this.byKind.set(kind, (set = new Set()));
    set.add(namespace);
  }

  has(kind: string, namespace: string): boolean {
    return this.byKind.get(kind)?.has(namespace) ?? false;
  }

  /** What a worker sends back (structured-clone friendly). */
  entries(): [string, string[]][] {
    return [...this.byKind].map(([kind, set]) => [kind, [...set]]);
  }

  merge(entries: readonly (readonly [string, readonly string[]])[]): void {
    for (const [kind, namespaces] of entries) for (const ns of namespaces) this.add(kind, ns);
  }

  of(kind: string): string[] {
    return [...(this.byKind.get(kind) ?? [])].sort();
  }
}

const shown = (ns: string) => (ns === '' ? '"" (the default namespace)' : JSON.stringify(ns));

function list(names: string[]): string {
  const parts = names.map(shown);
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * One warning per mapping whose `namespaces` lists one that held no entity of its kind.
 * An export is read whole, so `met` also holds the namespaces outside the list; the live API
 * is asked for the listed namespaces only, so there the others are not known.
 */
export function unmatchedNamespaceWarnings(mappings: readonly MappingSpec[], met: NamespacesMet, source: SourceIdentity): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const m of mappings) {
    if (!m.namespaces || m.namespaces.length === 0) continue;
    const missing = m.namespaces.map((ns, i) => ({ ns, at: m.namespaceSources?.[i] })).filter((x) => !met.has(m.kind, x.ns));
    if (missing.length === 0) continue;
    const names = missing.map((x) => x.ns);
    const summary = `rows.${m.kind}: ${names.length === 1 ? 'namespace' : 'namespaces'} ${list(names)} ${names.length === 1 ? 'holds' : 'hold'} no ${m.kind} entity in the source`;
    let where: string;
    if (source.kind === 'export') {
      const present = met.of(m.kind);
      where =
        present.length === 0
          ? `Export ${source.exportId} holds no ${m.kind} entity in any namespace.`
          : `Export ${source.exportId} holds ${m.kind} entities in ${present.length === 1 ? 'namespace' : 'namespaces'} ${list(present)}.`;
    } else {
      const database = source.database === '(default)' ? '' : ` --database ${source.database}`;
      where = `Only the listed namespaces are read from the live Datastore API; \`mlbridge init --from-datastore ${source.project}${database} --kind ${m.kind}\` lists the namespaces ${m.kind} is in.`;
    }
    out.push(warningDiag(summary, missing[0]!.at, `${where} A misspelled namespace reads nothing: correct or remove it in the mapping's \`namespaces\`.`));
  }
  return out;
}
