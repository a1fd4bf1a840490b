// The protobuf data of Datastore-mode Eventarc events: google.events.cloud.datastore.v1.
// EntityEventData (googleapis/google-cloudevents, proto/google/events/cloud/datastore/v1/
// data.proto). The schema is written out here with the published field numbers; the
// imported well-known types (Timestamp, NullValue, google.type.LatLng) are declared locally
// under their own names, which is wire-identical (the wire carries only numbers).
//
// decode → the same gapic-style plain objects src/source/datastore.ts converts (longs as
// strings, oneof names in `valueType` / `idType`), so one converter (entityFromProto) turns
// both live reads and events into the v1 REST Entity.

import protobuf from 'protobufjs';
import { entityFromProto, timestampFromProto } from '../source/datastore.js';
import type { Entity, Key, Value } from '../source/entity.js';
import { parseRfc3339 } from './rest-entity.js';

const SCHEMA = `
syntax = "proto3";
package google.events.cloud.datastore.v1;

message EntityEventData {
  EntityResult value = 1;
  EntityResult old_value = 2;
  PropertyMask update_mask = 3;
}
message PropertyMask { repeated string property_paths = 1; }
message EntityResult {
  Entity entity = 1;
  bytes cursor = 3;
  int64 version = 4;
  Timestamp update_time = 5;
  Timestamp create_time = 6;
}
message PartitionId {
  string project_id = 2;
  string database_id = 3;
  string namespace_id = 4;
}
message Key {
  message PathElement {
    string kind = 1;
    oneof id_type {
      int64 id = 2;
      string name = 3;
    }
  }
  PartitionId partition_id = 1;
  repeated PathElement path = 2;
}
message ArrayValue { repeated Value values = 1; }
message Value {
  oneof value_type {
    NullValue null_value = 11;
    bool boolean_value = 1;
    int64 integer_value = 2;
    double double_value = 3;
    Timestamp timestamp_value = 10;
    Key key_value = 5;
    string string_value = 17;
    bytes blob_value = 18;
    LatLng geo_point_value = 8;
    Entity entity_value = 6;
    ArrayValue array_value = 9;
  }
  int32 meaning = 14;
  bool exclude_from_indexes = 19;
}
message Entity {
  Key key = 1;
  map<string, Value> properties = 3;
}
// google.protobuf.Timestamp, google.protobuf.NullValue, google.type.LatLng
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
enum NullValue { NULL_VALUE = 0; }
message LatLng { double latitude = 1; double longitude = 2; }
`;

const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
const EntityEventData = root.lookupType('google.events.cloud.datastore.v1.EntityEventData');

/** One side of the event (value or old_value) in the REST shape. */
export interface EventEntityResult {
  entity?: Entity;
  /** Decimal string; absent when 0 / not set. */
  version?: string;
  /** RFC 3339. */
  updateTime?: string;
  createTime?: string;
}

export interface EntityEvent {
  value?: EventEntityResult;
  oldValue?: EventEntityResult;
  updateMask?: string[];
}

interface ProtoTimestamp { seconds?: string; nanos?: number }
interface ProtoResult { entity?: Parameters<typeof entityFromProto>[0]; version?: string; updateTime?: ProtoTimestamp; createTime?: ProtoTimestamp }

function resultFromProto(r: ProtoResult | undefined): EventEntityResult | undefined {
  if (!r) return undefined;
  const out: EventEntityResult = {};
  if (r.entity) out.entity = entityFromProto(r.entity);
  if (r.version !== undefined && r.version !== '0') out.version = r.version;
  if (r.updateTime) out.updateTime = timestampFromProto(r.updateTime);
  if (r.createTime) out.createTime = timestampFromProto(r.createTime);
  return out;
}

/** Decodes EntityEventData; throws (protobufjs's error) on bytes that are not one. */
export function decodeEntityEvent(bytes: Uint8Array): EntityEvent {
  const msg = EntityEventData.decode(bytes);
  const o = EntityEventData.toObject(msg, { longs: String, enums: String, bytes: String, oneofs: true, defaults: false }) as {
    value?: ProtoResult;
    oldValue?: ProtoResult;
    updateMask?: { propertyPaths?: string[] };
  };
  const out: EntityEvent = {};
  const value = resultFromProto(o.value);
  const oldValue = resultFromProto(o.oldValue);
  if (value) out.value = value;
  if (oldValue) out.oldValue = oldValue;
  if (o.updateMask?.propertyPaths) out.updateMask = o.updateMask.propertyPaths;
  return out;
}

// ---- REST shape → proto (what Eventarc sends; used by tests, the bench and tooling) ------

function timestampToProto(rfc3339: string): { seconds: string; nanos: number } {
  const t = parseRfc3339(rfc3339);
  if (!t) throw new Error(`not an RFC 3339 timestamp: ${rfc3339}`);
  return { seconds: String(t.seconds), nanos: t.nanos };
}

function keyToProto(k: Key): object {
  const p = k.partitionId;
  return {
    partitionId: { projectId: p.projectId, databaseId: p.databaseId ?? '', namespaceId: p.namespaceId ?? '' },
    path: k.path.map((el) => (el.name !== undefined ? { kind: el.kind, name: el.name } : el.id !== undefined ? { kind: el.kind, id: el.id } : { kind: el.kind })),
  };
}

function valueToProto(v: Value): object {
  const out: Record<string, unknown> = {};
  if (v.meaning) out.meaning = v.meaning;
  if (v.excludeFromIndexes) out.excludeFromIndexes = true;
  if ('nullValue' in v) out.nullValue = 0;
  else if ('booleanValue' in v) out.booleanValue = v.booleanValue;
  else if ('integerValue' in v) out.integerValue = v.integerValue;
  else if ('doubleValue' in v) out.doubleValue = typeof v.doubleValue === 'number' ? v.doubleValue : Number(v.doubleValue);
  else if ('timestampValue' in v) out.timestampValue = timestampToProto(v.timestampValue);
  else if ('keyValue' in v) out.keyValue = keyToProto(v.keyValue);
  else if ('stringValue' in v) out.stringValue = v.stringValue;
  else if ('blobValue' in v) out.blobValue = Buffer.from(v.blobValue, 'base64');
  else if ('geoPointValue' in v) out.geoPointValue = v.geoPointValue;
  else if ('entityValue' in v) out.entityValue = entityToProto(v.entityValue);
  else if ('arrayValue' in v) out.arrayValue = { values: (v.arrayValue.values ?? []).map(valueToProto) };
  return out;
}

function entityToProto(e: { key?: Key; properties?: Record<string, Value> }): object {
  const properties: Record<string, object> = {};
  for (const [name, v] of Object.entries(e.properties ?? {})) properties[name] = valueToProto(v);
  return e.key ? { key: keyToProto(e.key), properties } : { properties };
}

function resultToProto(r: EventEntityResult): object {
  const out: Record<string, unknown> = {};
  if (r.entity) out.entity = entityToProto(r.entity);
  if (r.version !== undefined) out.version = r.version;
  if (r.updateTime) out.updateTime = timestampToProto(r.updateTime);
  if (r.createTime) out.createTime = timestampToProto(r.createTime);
  return out;
}

/** Encodes an event the way Eventarc delivers it (binary content mode's body). */
export function encodeEntityEvent(event: EntityEvent): Uint8Array {
  const o: Record<string, unknown> = {};
  if (event.value) o.value = resultToProto(event.value);
  if (event.oldValue) o.oldValue = resultToProto(event.oldValue);
  if (event.updateMask) o.updateMask = { propertyPaths: event.updateMask };
  return EntityEventData.encode(EntityEventData.fromObject(o)).finish();
}
