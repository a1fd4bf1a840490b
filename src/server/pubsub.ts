// Pub/Sub push → one change. The body is the push envelope
//   {"message": {"data": base64, "attributes": {…}, "messageId": "…", "publishTime": "…"}, "subscription": "…"}
// and `data` is the change event an application publishes (README, "serve"):
//   {"operation": "UPSERT" | "PATCH" | "DELETE", "entity": {"key": …, "properties": …},
//    "version": "123", "eventTime": "2026-…Z"}
// with the entity in the Datastore v1 REST form. A DELETE needs only the key; a PATCH carries
// only the properties it changes. `version` defaults to the event time in µs, `eventTime` to
// the message's publishTime. An event versioned by its time is rejected into the kind's
// quarantine when that time is too far ahead of its receipt (record/future-version.ts).

import { aboutEntity, changeRecord, futureVersionRejection, isRfc3339, partitionOrigin, reject, rfc3339Micros, type Decoded, type RawMessage, type RejectedAbout } from './decoded.js';
import { checkEntity, checkKey, InvalidEvent, isObject } from './rest-entity.js';

const OPERATIONS = ['UPSERT', 'PATCH', 'DELETE'] as const;
type Operation = (typeof OPERATIONS)[number];
const INT64_MAX = (1n << 63n) - 1n;

export function decodePubsub(raw: Omit<RawMessage, 'origin'>, kinds: ReadonlySet<string>): Decoded {
  const msg: RawMessage = { ...raw, origin: 'pubsub' };
  let envelope: unknown;
  try {
    envelope = JSON.parse(msg.body.toString('utf8'));
  } catch {
    return reject(msg, 'the push body is not JSON');
  }
  if (!isObject(envelope) || !isObject(envelope.message)) return reject(msg, 'not a Pub/Sub push envelope: no `message` object');
  const message = envelope.message;
  if (typeof message.data !== 'string' || message.data === '') return reject(msg, 'message.data: missing (the change event, base64-encoded JSON)');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(message.data.replace(/\s+/g, ''))) return reject(msg, 'message.data: not base64 (Pub/Sub push sends the message data base64-encoded)');
  let event: unknown;
  try {
    event = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8'));
  } catch {
    return reject(msg, 'message.data: the base64-decoded data is not JSON; expected a change event {operation, entity, version?, eventTime?}');
  }
  try {
    if (!isObject(event)) throw new InvalidEvent('event: expected a JSON object {operation, entity, version?, eventTime?}');
    const operation = event.operation;
    if (typeof operation !== 'string' || !(OPERATIONS as readonly string[]).includes(operation)) {
      throw new InvalidEvent(`operation: expected UPSERT, PATCH or DELETE, got ${JSON.stringify(operation) ?? 'nothing'}`);
    }
    const op = operation as Operation;
    const entity = checkEntity(event.entity, 'entity', { keyOnly: op === 'DELETE' });
    const about = aboutEntity(entity);
    if (!kinds.has(about.kind)) return reject(msg, `kind \`${about.kind}\` is not mapped in the spec`, about);

    let eventTime: string;
    if (event.eventTime !== undefined) {
      if (!isRfc3339(event.eventTime)) {
        const why = typeof event.eventTime === 'string' && /^\d{4}-/.test(event.eventTime) && event.eventTime < '1970' ? 'an RFC 3339 timestamp from 1970 on' : 'an RFC 3339 timestamp';
        throw new InvalidEvent(`eventTime: expected ${why}, got ${JSON.stringify(event.eventTime)}`);
      }
      eventTime = event.eventTime;
    } else eventTime = isRfc3339(message.publishTime) ? message.publishTime : msg.receivedAt.toISOString();

    let version: string;
    if (event.version !== undefined) {
      const v = event.version;
      const ok = (typeof v === 'string' && /^\d{1,19}$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
      if (!ok || BigInt(v as string | number) > INT64_MAX) {
        throw new InvalidEvent(`version: expected a non-negative integer (a decimal string), got ${JSON.stringify(v)}`);
      }
      version = BigInt(v).toString();
    } else {
      version = rfc3339Micros(eventTime)!;
      const future = futureVersionRejection(msg, about, eventTime, version);
      if (future) return future;
    }

    const record = changeRecord(entity, { origin: 'pubsub', operation: op, version, eventTime });
    const payload = {
      messageId: message.messageId,
      publishTime: message.publishTime,
      attributes: message.attributes,
      subscription: envelope.subscription,
      event,
    };
    return { change: { record, payload: JSON.parse(JSON.stringify(payload)) as unknown, from: partitionOrigin(entity.key) } };
  } catch (e) {
    if (e instanceof InvalidEvent) return reject(msg, e.message, isObject(event) ? aboutEvent(event) : {});
    throw e;
  }
}

/**
 * The kind a malformed event names, and its key when that is complete (so a rejection can be
 * found by kind and by `_key`, whatever else is wrong with the event).
 */
function aboutEvent(event: Record<string, unknown>): RejectedAbout {
  const key = isObject(event.entity) ? event.entity.key : undefined;
  try {
    return aboutEntity({ key: checkKey(key, 'entity.key') });
  } catch (e) {
    if (!(e instanceof InvalidEvent)) throw e;
  }
  const path = isObject(key) ? key.path : undefined;
  const last = Array.isArray(path) ? path[path.length - 1] : undefined;
  return isObject(last) && typeof last.kind === 'string' ? { kind: last.kind } : {};
}
