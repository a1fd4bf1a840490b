// entityJson prints an entity as the emulator's lookup does. Most entities go through
// JSON.stringify on objects rebuilt in lookup's order; property names a JS object cannot
// keep in order (array indexes, "__proto__") take the hand-built path. Both must print the
// same text as lookup (the round trips in export-emulator.test.ts check real exports).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entity, Value } from '../../src/source/entity.js';
import { entityJson, hashMapOrder } from '../../src/source/export/lookup-json.js';

const key = { partitionId: { projectId: 'p' }, path: [{ kind: 'K', name: 'x' }] };
const KEY = '{"key":{"partitionId":{"projectId":"p"},"path":[{"kind":"K","name":"x"}]}';

function entity(props: [string, Value][]): Entity {
  const properties: Record<string, Value> = {};
  for (const [n, v] of props) Object.defineProperty(properties, n, { value: v, enumerable: true, writable: true, configurable: true });
  return { key, properties };
}

const Json = suite('entityJson prints what lookup prints');

Json('property maps come out in Java HashMap order, zero coordinates and empty maps left out', () => {
  const e = entity([
    ['n', { entityValue: { properties: { y: { booleanValue: true }, x: { arrayValue: { values: [{ geoPointValue: { latitude: 1, longitude: 0 } }] } } } } } as Value],
    ['b', { stringValue: 'B', excludeFromIndexes: true } as Value],
    ['e', { arrayValue: {} } as Value],
    ['a', { geoPointValue: { latitude: 0, longitude: 2.5 } } as Value],
    ['m', { entityValue: { properties: {} } } as Value],
  ]);
  assert.is(
    entityJson(e),
    `${KEY},"properties":{"a":{"geoPointValue":{"longitude":2.5}},"b":{"stringValue":"B","excludeFromIndexes":true},"e":{"arrayValue":{}},"m":{"entityValue":{}},"n":{"entityValue":{"properties":{"x":{"arrayValue":{"values":[{"geoPointValue":{"latitude":1}}]}},"y":{"booleanValue":true}}}}}}`,
  );
});

Json('names that are array indexes or __proto__ keep HashMap order too', () => {
  const e = entity([
    ['10', { integerValue: '10' } as Value],
    ['b', { stringValue: 'B' } as Value],
    ['a', { meaning: 22, blobValue: 'AA==' } as Value],
    ['__proto__', { entityValue: { properties: { z: { nullValue: null }, 7: { booleanValue: true } } } } as Value],
  ]);
  assert.equal(hashMapOrder(['10', 'b', 'a', '__proto__']), ['a', '__proto__', 'b', '10']);
  assert.is(
    entityJson(e),
    `${KEY},"properties":{"a":{"meaning":22,"blobValue":"AA=="},"__proto__":{"entityValue":{"properties":{"7":{"booleanValue":true},"z":{"nullValue":null}}}},"b":{"stringValue":"B"},"10":{"integerValue":"10"}}}`,
  );
  // An index-like name nested in an otherwise plain entity sends the whole entity the slow way.
  const nested = entity([['b', { entityValue: { properties: { 3: { integerValue: '3' }, 12: { integerValue: '12' } } } } as Value]]);
  // A JS object would print "3" before "12"; HashMap order is the other way round.
  assert.equal(hashMapOrder(['3', '12']), ['12', '3']);
  assert.is(entityJson(nested), `${KEY},"properties":{"b":{"entityValue":{"properties":{"12":{"integerValue":"12"},"3":{"integerValue":"3"}}}}}}`);
});

Json('an entity without properties prints its key alone', () => {
  assert.is(entityJson({ key, properties: {} }), `${KEY}}`);
});

Json.run();
