// event_id: the identity of one change, the same however often it is delivered or re-run.
// Every write path (reconcile from an export or the live API, Eventarc and Pub/Sub events)
// derives it here, so the raw table's dedup on event_id means "one row per distinct change":
//   - a reconcile re-run over the same snapshot computes the same ids (key, snapshot
//     version, operation, content hash) and appends nothing twice;
//   - a redelivered or re-published event carries the same key, version, operation and
//     content, whatever the transport's message id.
// The transport's own id (CloudEvent id, Pub/Sub messageId) is deliberately not an input:
// an application that publishes the same change twice gets two message ids.

import { sha256Hex } from '../model/sha256.js';
import type { SyncOperation } from './sync-record.js';

export interface ChangeIdentity {
  /** The mapping's kind. */
  kind: string;
  /** Canonical `_key` (namespace and ancestors included). */
  key: string;
  /** `_version` as a decimal string. */
  version: string;
  operation: SyncOperation;
  /** `_hash` of the mapped columns for UPSERT, of the carried columns for PATCH; "" for DELETE. */
  contentHash: string;
}

/**
 * The text that is hashed: fields joined by "\n". None can hold a newline (the key is
 * canonical, hence URI-encoded; the kind is URI-encoded here), so the join is unambiguous.
 * Warehouses compute the same id in SQL for the rows they find themselves (orphans a
 * reconcile deletes): see eventIdSql in the adapters, which must stay byte-identical.
 */
export function changeIdentityText(c: ChangeIdentity): string {
  return `${encodeURIComponent(c.kind)}\n${c.key}\n${c.version}\n${c.operation}\n${c.operation === 'DELETE' ? '' : c.contentHash}`;
}

/** 32 hex characters (128 bits of sha256): collision-free for any realistic table. */
export function changeEventId(c: ChangeIdentity): string {
  return sha256Hex(changeIdentityText(c)).slice(0, 32);
}
