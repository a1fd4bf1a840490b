// The two ports `mlbridge serve` drives. The server decodes, authenticates, batches and
// acknowledges; what a change does to the tables (event_id, scoring, the version-guarded
// merge, raw dedup, quarantine) lives behind ChangeSink, in the engine. Tests plug in fakes.

import type { SyncRecord } from '../record/sync-record.js';

/**
 * One decoded change. record.origin is 'eventarc' or 'pubsub'; record.version is set
 * (decimal string) when the event carries one (Eventarc: EntityResult.version; Pub/Sub: the
 * event's `version`, else the event time in µs); record.eventTime set.
 */
export interface IncomingChange {
  record: SyncRecord;
  /** The original event, JSON-safe, kept in raw/quarantine. */
  payload: unknown;
}

/** A message that can never succeed (bad JSON, unknown kind, undecodable proto): acknowledged AND recorded. */
export interface RejectedMessage {
  /** sha256 of the raw body: redeliveries dedupe. */
  id: string;
  kind?: string;
  origin: 'eventarc' | 'pubsub';
  reason: string;
  payload: string;
  receivedAt: Date;
}

export interface IngestOutcome {
  written: number;
  duplicates: number;
  superseded: number;
  quarantined: number;
  rejected: number;
}

/**
 * Implemented by the engine (src/engine/ingest.ts): computes event_id from the change itself
 * (key, version, operation, content), scores, writes current (version-guarded), raw (dedup by
 * event_id), quarantine. Throws on transient failure (→ 503, the platform redelivers).
 */
export interface ChangeSink {
  write(changes: IncomingChange[], rejected: RejectedMessage[]): Promise<IngestOutcome>;
  close(): Promise<void>;
}

export interface ReconcileSummary {
  id: string;
  kinds: Record<string, { insert: number; update: number; delete: number; quarantine: number; unchanged: number }>;
  durationMs: number;
  changed: boolean;
}

export interface Reconciler {
  reconcile(options: { kinds?: string[]; id: string }): Promise<ReconcileSummary>;
}
