// The two ports `mlbridge serve` drives. The server decodes, authenticates, batches and
// acknowledges; what a change does to the tables (event_id, scoring, the version-guarded
// merge, raw dedup, quarantine) lives behind ChangeSink, in the engine (engine/ingest.ts),
// and a reconcile behind Reconciler (engine/reconcile.ts). Tests plug in fakes.

export type { ChangeSink, EventOrigin, IncomingChange, IngestOutcome, RejectedMessage, Verdict, Verdicts } from '../engine/ingest.js';
export type { ReconcileSummary, Reconciler } from '../engine/reconcile.js';
