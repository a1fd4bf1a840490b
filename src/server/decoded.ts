// What a push handler makes of one HTTP body: a change for the sink, or a rejection that is
// acknowledged and recorded. Shared by the Eventarc and Pub/Sub decoders so both build
// records, rejection ids and default versions the same way.

import { createHash } from 'node:crypto';
import { futureVersionReason } from '../record/future-version.js';
import { entityToSyncRecord, type SyncRecord } from '../record/sync-record.js';
import { canonicalKey, type Entity } from '../source/entity.js';
import type { EventOrigin, IncomingChange, RejectedMessage } from './ports.js';
import { parseRfc3339 } from './rest-entity.js';

export type Origin = 'eventarc' | 'pubsub';
export type Decoded = { change: IncomingChange } | { rejected: RejectedMessage };

export interface RawMessage {
  origin: Origin;
  body: Buffer;
  receivedAt: Date;
}

/** Binary bodies (protobuf) are kept as base64; text as is. */
function bodyText(body: Buffer): string {
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body) ? text : `base64:${body.toString('base64')}`;
}

/** What a rejected message names: its kind and, when its key parses, the entity's canonical `_key`. */
export interface RejectedAbout {
  kind?: string;
  key?: string;
}

/**
 * A rejection's id (its `event_id`, on which the rejected rows are deduplicated): the
 * endpoint and the body's bytes. A redelivery to the same endpoint is the same rejection;
 * the same bytes pushed to another endpoint are another one, with its own reason, and must
 * not replace the first. A Pub/Sub push body names its subscription, so two subscriptions'
 * deliveries differ by their bytes already.
 */
function rejectionId(raw: RawMessage): string {
  return createHash('sha256').update(`${raw.origin}\n`).update(raw.body).digest('hex');
}

export function reject(raw: RawMessage, reason: string, about: RejectedAbout = {}): { rejected: RejectedMessage } {
  const rejected: RejectedMessage = {
    id: rejectionId(raw),
    origin: raw.origin,
    reason,
    payload: bodyText(raw.body),
    receivedAt: raw.receivedAt,
  };
  if (about.kind !== undefined) rejected.kind = about.kind;
  if (about.key !== undefined) rejected.key = about.key;
  return { rejected };
}

/**
 * A rejection for an event versioned by its own time (`version`: that time in µs) when the
 * time lies too far ahead of the receipt (record/future-version.ts), else undefined. The
 * rejection lands in the kind's quarantine table: never written to current.
 */
export function futureVersionRejection(raw: RawMessage, about: Required<RejectedAbout>, eventTime: string, version: string): { rejected: RejectedMessage } | undefined {
  const reason = futureVersionReason({ ...about, eventTime, version, receivedAt: raw.receivedAt });
  return reason === undefined ? undefined : reject(raw, reason, about);
}

/** The kind and canonical `_key` of a complete entity key, for a rejection that names them. */
export function aboutEntity(entity: Pick<Entity, 'key'>): Required<RejectedAbout> {
  return { kind: entityKind(entity), key: canonicalKey(entity.key) };
}

/** The project and database an entity key names ('' or absent: not named). */
export function partitionOrigin(key: Pick<Entity, 'key'>['key']): EventOrigin {
  const p = key.partitionId;
  return { ...(p.projectId ? { project: p.projectId } : {}), ...(p.databaseId ? { database: p.databaseId } : {}) };
}

/** The kind of an entity: its key's last path element. */
export function entityKind(entity: Pick<Entity, 'key'>): string {
  return entity.key.path[entity.key.path.length - 1]!.kind;
}

export interface RecordFacts {
  origin: Origin;
  operation: 'UPSERT' | 'PATCH' | 'DELETE';
  /** Decimal string. */
  version?: string;
  /** RFC 3339. */
  eventTime: string;
}

/** The SyncRecord of one change; a DELETE carries the key only. */
export function changeRecord(entity: Entity, facts: RecordFacts): SyncRecord {
  const record = entityToSyncRecord(facts.operation === 'DELETE' ? { key: entity.key, properties: {} } : entity, {
    origin: facts.origin,
    eventTime: facts.eventTime,
    ...(facts.operation === 'PATCH' ? { operation: 'PATCH' as const } : {}),
    ...(facts.version !== undefined ? { version: facts.version } : {}),
  });
  if (facts.operation === 'DELETE') {
    record.operation = 'DELETE';
    record.data = null;
  }
  return record;
}

/** Microseconds since the epoch of an RFC 3339 time, exactly (sub-µs digits dropped); undefined if not one. */
export function rfc3339Micros(time: string): string | undefined {
  const t = parseRfc3339(time);
  if (!t) return undefined;
  const micros = BigInt(t.seconds) * 1_000_000n + BigInt(Math.floor(t.nanos / 1000));
  return micros < 0n ? undefined : micros.toString();
}

/** True for an RFC 3339 timestamp (what eventTime and ce-time must be). */
export function isRfc3339(time: unknown): time is string {
  return typeof time === 'string' && rfc3339Micros(time) !== undefined;
}
