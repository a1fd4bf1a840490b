// The real Pub/Sub emulator pushing to a local serve: what an application publishes arrives
// in the sink; a 503 makes the emulator redeliver until it is written; a message that can
// never succeed is acknowledged. The emulator sends no OIDC token, so this server runs with
// --no-auth (tokens are covered by auth.test.ts).
import { PubSub } from '@google-cloud/pubsub';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type MlbridgeServer } from '../../src/server/app.js';
import { startPubsubEmulator, type PubsubEmulator } from '../support/pubsub-emulator.js';
import { customer, manualReconciler, recordingSink, type RecordingSink } from './fakes.js';

const Emulator = suite('Pub/Sub emulator push into serve');

let emulator: PubsubEmulator;
let server: MlbridgeServer;
let sink: RecordingSink;
let pubsub: PubSub;
let seq = 0;

/** Polls until `ready()` holds; the limit is generous (the emulator redelivers after its ack deadline). */
async function eventually(ready: () => boolean, what: string, limitMs = 90_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pushTopic(): Promise<ReturnType<PubSub['topic']>> {
  const name = `changes-${++seq}`;
  const [topic] = await pubsub.createTopic(name);
  await topic.createSubscription(`serve-${seq}`, { pushConfig: { pushEndpoint: `${baseUrl}/pubsub` }, ackDeadlineSeconds: 10 });
  return topic;
}

let baseUrl = '';

Emulator.before(async () => {
  emulator = await startPubsubEmulator();
  sink = recordingSink();
  server = createServer({ sink, reconciler: manualReconciler(), kinds: ['CustomerProfile'], auth: { mode: 'disabled' }, batch: { maxDelayMs: 20 } });
  baseUrl = await server.listen(0, '127.0.0.1');
  process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no credentials: do not probe for a metadata server
  pubsub = new PubSub({ projectId: emulator.project, apiEndpoint: emulator.host, emulatorMode: true });
});

Emulator.after(async () => {
  await pubsub?.close().catch(() => {});
  await server?.close();
  await emulator?.stop();
});

Emulator('published UPSERT, PATCH and DELETE events arrive as records', async () => {
  const topic = await pushTopic();
  await topic.publishMessage({ json: { operation: 'UPSERT', entity: customer('e1'), version: '10' } });
  await topic.publishMessage({ json: { operation: 'PATCH', entity: { key: customer('e1').key, properties: { visits: { integerValue: '5' } } }, version: '11' } });
  await topic.publishMessage({ json: { operation: 'DELETE', entity: { key: customer('e2').key } } });
  await eventually(() => sink.changes().length >= 3, 'three changes');
  const byVersion = sink.changes().map((c) => c.record).sort((a, b) => String(a.version).localeCompare(String(b.version)));
  assert.equal(byVersion.slice(0, 2).map((r) => [r.entityKey, r.operation, r.data, r.version]), [
    ['CustomerProfile:e1', 'UPSERT', { email: 'e1@example.com', visits: 3 }, '10'],
    ['CustomerProfile:e1', 'PATCH', { visits: 5 }, '11'],
  ]);
  const del = sink.changes().find((c) => c.record.operation === 'DELETE')!;
  const payload = del.payload as { publishTime: string; messageId: string };
  assert.is(del.record.eventTime, payload.publishTime, 'eventTime defaults to publishTime');
  assert.ok(/^\d{16}$/.test(String(del.record.version)), 'version defaults to the publish time in µs');
});

Emulator('a sink failure answers 503 and the emulator redelivers until the change is written', async () => {
  const topic = await pushTopic();
  const before = sink.changes().length;
  sink.failNext(1);
  await topic.publishMessage({ json: { operation: 'UPSERT', entity: customer('retry-me'), version: '1' } });
  await eventually(() => sink.changes().some((c) => c.record.entityKey === 'CustomerProfile:retry-me'), 'the redelivered change');
  assert.is(sink.changes().length, before + 1);
});

Emulator('a message that can never succeed is acknowledged and recorded', async () => {
  const topic = await pushTopic();
  await topic.publishMessage({ data: Buffer.from('this is not a change event') });
  await eventually(() => sink.rejected().length > 0, 'the rejection');
  assert.is(sink.rejected()[0]!.reason, 'message.data: the base64-decoded data is not JSON; expected a change event {operation, entity, version?, eventTime?}');
  assert.is(sink.rejected()[0]!.origin, 'pubsub');
});

Emulator.run();
