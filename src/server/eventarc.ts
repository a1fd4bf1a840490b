// Eventarc → one change. Datastore-mode entity events arrive as CloudEvents, either in
// binary content mode (attributes in ce-* headers, the body is the data: protobuf
// EntityEventData, or its proto3 JSON) or in structured mode (application/cloudevents+json:
// attributes and `data` / `data_base64` in one JSON object).
//
// The change: created/updated/written with a `value` → UPSERT of value.entity at
// value.version, event time value.update_time (else ce-time); deleted, or written without a
// `value` → DELETE of old_value's key, event time ce-time, at the later of old_value.version
// (the last version the entity had) and ce-time in µs: the event carries no version of the
// delete itself, and Datastore's versions are commit times in µs, so the delete's own time
// is its version. At old_value.version alone, a delete lost to every row a snapshot wrote
// after the entity's last write (a snapshot's version is its start time): the row stayed.
// A change whose version comes from a time (such a delete's, when its time is the later; a
// value without a version, versioned by its event time when staged) is rejected into the
// kind's quarantine when that time is too far ahead of its receipt (record/future-version.ts).

import { decodeEntityEvent, type EntityEvent, type EventEntityResult } from './entity-event-proto.js';
import { aboutEntity, changeRecord, entityKind, futureVersionRejection, isRfc3339, partitionOrigin, reject, type Decoded, type RawMessage } from './decoded.js';
import type { EventOrigin } from './ports.js';
import type { Key } from '../source/entity.js';
import { canonicalTimestamp, checkEntity, checkKey, InvalidEvent, isObject } from './rest-entity.js';
import { toTimestamp } from '../record/coerce-time.js';

export const DATASTORE_EVENT_TYPES = ['created', 'updated', 'deleted', 'written'].map((t) => `google.cloud.datastore.entity.v1.${t}`);

export type Headers = Record<string, string | string[] | undefined>;

interface CloudEventAttributes {
  type?: string;
  id?: string;
  source?: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

const isJsonMedia = (m: string): boolean => m === 'application/json' || m.endsWith('+json');

const INT64_MAX = (1n << 63n) - 1n;

/** `google.cloud.datastore.entity.v1.written.withAuthContext` → `written`; undefined for other types. */
function eventVerb(type: string | undefined): string | undefined {
  const m = /^google\.cloud\.datastore\.entity\.v1\.(created|updated|deleted|written)(?:\.withAuthContext)?$/.exec(type ?? '');
  return m?.[1];
}

/** The proto3 JSON form of EntityEventData (what `data` holds in JSON modes). */
function eventFromJson(data: unknown): EntityEvent {
  if (!isObject(data)) throw new InvalidEvent('data: expected the JSON form of EntityEventData, an object');
  const side = (x: unknown, path: string): EventEntityResult | undefined => {
    if (x === undefined || x === null) return undefined;
    if (!isObject(x)) throw new InvalidEvent(`${path}: expected an EntityResult object`);
    const out: EventEntityResult = {};
    if (x.entity !== undefined) out.entity = checkEntity(x.entity, `${path}.entity`, { keyOnly: !isObject(x.entity) || x.entity.properties === undefined });
    if (x.version !== undefined) {
      if (!/^\d+$/.test(String(x.version))) throw new InvalidEvent(`${path}.version: expected a decimal integer`);
      if (String(x.version) !== '0') out.version = String(x.version);
    }
    if (x.updateTime !== undefined) {
      const t = typeof x.updateTime === 'string' ? canonicalTimestamp(x.updateTime) : undefined;
      if (t === undefined) throw new InvalidEvent(`${path}.updateTime: expected an RFC 3339 timestamp`);
      out.updateTime = t;
    }
    return out;
  };
  const out: EntityEvent = {};
  const value = side(data.value, 'data.value');
  const oldValue = side(data.oldValue ?? data.old_value, 'data.oldValue');
  if (value) out.value = value;
  if (oldValue) out.oldValue = oldValue;
  return out;
}

/** Decodes one Eventarc delivery. `kinds`: the spec's mapped kinds (others are rejected). */
export function decodeEventarc(headers: Headers, raw: Omit<RawMessage, 'origin'>, kinds: ReadonlySet<string>): Decoded {
  const attrs: CloudEventAttributes = {};
  const decoded = decodeCloudEvent(headers, { ...raw, origin: 'eventarc' }, kinds, attrs);
  // A rejection keeps the event's time when the CloudEvent gives a valid one.
  if ('rejected' in decoded && isRfc3339(attrs.time)) decoded.rejected.eventTime = attrs.time;
  return decoded;
}

/**
 * The project and database a Datastore CloudEvent names: its `source`
 * (`//datastore.googleapis.com/projects/P/databases/D`), else its entity key's partition.
 */
function eventOrigin(source: unknown, key: Key): EventOrigin {
  const m = typeof source === 'string' ? /^\/\/datastore\.googleapis\.com\/projects\/([^/]+)\/databases\/([^/]+)$/.exec(source) : null;
  if (m) return { project: decodeURIComponent(m[1]!), database: decodeURIComponent(m[2]!) };
  return partitionOrigin(key);
}

/** `attrs` is filled with the CloudEvent's attributes as far as they were read. */
function decodeCloudEvent(headers: Headers, msg: RawMessage, kinds: ReadonlySet<string>, attrs: CloudEventAttributes): Decoded {
  const media = mediaType(header(headers, 'content-type'));
  let event: EntityEvent;
  /** The data being decoded is protobuf (binary mode, or structured mode's data_base64). */
  let protobufData = false;
  try {
    if (media === 'application/cloudevents+json') {
      let ce: unknown;
      try {
        ce = JSON.parse(msg.body.toString('utf8'));
      } catch {
        return reject(msg, 'structured CloudEvent: the body is not JSON');
      }
      if (!isObject(ce)) return reject(msg, 'structured CloudEvent: expected a JSON object');
      Object.assign(attrs, ce as CloudEventAttributes);
      protobufData = typeof ce.data_base64 === 'string';
      if (typeof ce.data_base64 === 'string') event = decodeEntityEvent(Buffer.from(ce.data_base64, 'base64'));
      else if (ce.data !== undefined) event = eventFromJson(ce.data);
      else return reject(msg, 'structured CloudEvent: no `data` or `data_base64`');
    } else {
      for (const a of ['type', 'id', 'source', 'subject', 'time'] as const) {
        const v = header(headers, `ce-${a}`);
        if (v !== undefined) attrs[a] = v;
      }
      if (!attrs.type) return reject(msg, 'not a CloudEvent: no ce-type header (binary mode) and not application/cloudevents+json (structured mode)');
      if (eventVerb(attrs.type) === undefined) return reject(msg, `unsupported event type \`${attrs.type}\`; expected one of ${DATASTORE_EVENT_TYPES.join(', ')}`);
      if (isJsonMedia(media)) {
        let data: unknown;
        try {
          data = JSON.parse(msg.body.toString('utf8'));
        } catch {
          return reject(msg, `${attrs.type}: the body is not JSON (content-type ${media})`);
        }
        event = eventFromJson(data);
      } else {
        protobufData = true;
        event = decodeEntityEvent(msg.body);
      }
    }
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    const what = e instanceof InvalidEvent ? e.message : protobufData ? `undecodable protobuf EntityEventData (${detail})` : `the event data could not be decoded (${detail})`;
    return reject(msg, `${typeof attrs.type === 'string' ? `${attrs.type}: ` : ''}${what}`);
  }

  const verb = eventVerb(attrs.type);
  if (verb === undefined) return reject(msg, `unsupported event type \`${String(attrs.type)}\`; expected one of ${DATASTORE_EVENT_TYPES.join(', ')}`);
  const isDelete = verb === 'deleted' || (verb === 'written' && !event.value?.entity);
  const side = isDelete ? event.oldValue : event.value;
  const entity = side?.entity;
  const sideName = isDelete ? 'old_value' : 'value';
  if (!entity) return reject(msg, `${attrs.type}: no ${sideName}.entity in the event data`);
  try {
    // The JSON form was checked while parsed; protobuf may carry a key without path, kind or id.
    checkKey(entity.key, `${sideName}.entity.key`);
  } catch (e) {
    if (e instanceof InvalidEvent) return reject(msg, `${attrs.type}: ${e.message}`);
    throw e;
  }
  if (side.version !== undefined && !(/^\d{1,19}$/.test(side.version) && BigInt(side.version) <= INT64_MAX)) {
    return reject(msg, `${attrs.type}: ${sideName}.version: expected a positive 64-bit integer, got ${side.version}`, aboutEntity(entity));
  }
  const kind = entityKind(entity);
  if (!kinds.has(kind)) return reject(msg, `kind \`${kind}\` is not mapped in the spec`, aboutEntity(entity));
  const ceTime = isRfc3339(attrs.time) ? attrs.time : undefined;
  const eventTime = (isDelete ? ceTime : side.updateTime ?? ceTime) ?? msg.receivedAt.toISOString();
  const version = isDelete && ceTime !== undefined ? laterVersion(side.version, ceTime) : side.version;
  const fromTime = version === undefined ? eventTime : version !== side.version ? ceTime : undefined;
  if (fromTime !== undefined) {
    const future = futureVersionRejection(msg, aboutEntity(entity), fromTime, version ?? String(timestampMicros(fromTime)));
    if (future) return future;
  }
  const record = changeRecord(entity, {
    origin: 'eventarc',
    operation: isDelete ? 'DELETE' : 'UPSERT',
    eventTime,
    ...(version !== undefined ? { version } : {}),
  });
  const payload = { type: attrs.type, id: attrs.id, source: attrs.source, subject: attrs.subject, time: attrs.time, data: event };
  return { change: { record, payload: JSON.parse(JSON.stringify(payload)) as unknown, from: eventOrigin(attrs.source, entity.key) } };
}

/** The later of a version and a time in µs since the epoch (a time before 1970 counts as 0), as a decimal string. */
function laterVersion(version: string | undefined, time: string): string {
  const us = timestampMicros(time);
  const v = version === undefined ? 0n : BigInt(version);
  return (us > v ? us : v).toString();
}

/** An RFC 3339 time in µs since the epoch (0 before it), its sub-µs digits dropped. */
function timestampMicros(time: string): bigint {
  const canonical = toTimestamp(time, 'ce-time'); // YYYY-MM-DDTHH:MM:SS.ffffffZ
  const ms = BigInt(Date.parse(`${canonical.slice(0, 23)}Z`));
  const us = ms * 1000n + BigInt(canonical.slice(23, 26));
  return us > 0n ? us : 0n;
}
