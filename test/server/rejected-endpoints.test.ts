// A body that can never succeed is rejected (200) and recorded in _mlbridge_rejected once per
// endpoint it reached: the same bytes pushed to /pubsub and to /eventarc are two rejections
// with two reasons, and neither replaces the other; a redelivery to the same endpoint is the
// same rejection and adds nothing. Through the HTTP app onto a real DuckDB ingestor.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../src/engine/index.js';
import { createIngestor } from '../../src/engine/ingest.js';
import { createServer } from '../../src/server/app.js';
import type { Spec } from '../../src/spec/types.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Row } from '../../src/warehouse/warehouse.js';
import { field, mapping, spec, tempDir, withWarehouse } from '../engine/fixtures/factories.js';
import { manualReconciler } from './fakes.js';

// ---- fakes ----

/** Not JSON, so neither endpoint can decode it. */
const BAD_BODY = Buffer.from('{"message": {"data": ');

let ctx: ReturnType<typeof tempDir>;
let s: Spec;

/** Pushes each [path, body] in turn through serve's app, answers in order, then closes it (which writes what is queued). */
async function push(deliveries: Array<[string, Buffer]>): Promise<Array<{ status: number; body: Record<string, unknown> }>> {
  const warehouse = await openWarehouse(s.target, { readOnly: false });
  const server = createServer({ sink: createIngestor(s, warehouse), reconciler: manualReconciler(), kinds: ['Customer'], auth: { mode: 'disabled' }, batch: { maxDelayMs: 0 } });
  try {
    const out: Array<{ status: number; body: Record<string, unknown> }> = [];
    for (const [url, payload] of deliveries) {
      const res = await server.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
      out.push({ status: res.statusCode, body: res.json() as Record<string, unknown> });
    }
    return out;
  } finally {
    await server.close();
    await warehouse.close();
  }
}

const rejectedRows = () =>
  withWarehouse(s, true, async (w) => {
    const out: Row[] = [];
    for await (const r of w.readRows('analytics', '_mlbridge_rejected')) out.push(r);
    return out.map((r) => ({ origin: r.origin, reason: r.reason, data: r.data })).sort((a, b) => String(a.origin).localeCompare(String(b.origin)));
  });

const Rejected = suite('the same rejected body pushed to two endpoints');
Rejected.before.each(async () => {
  ctx = tempDir('mlbridge-rejected-endpoints-');
  s = spec(ctx.db, [mapping('Customer', [field('email', 'STRING')])]);
  await withWarehouse(s, false, (warehouse) => apply(s, { warehouse }, { skipData: true }));
});
Rejected.after.each(() => ctx.cleanup());

Rejected('is recorded once per endpoint, each with its own reason, and a redelivery to either adds nothing', async () => {
  const answers = await push([
    ['/pubsub', BAD_BODY],
    ['/eventarc', BAD_BODY],
    ['/pubsub', BAD_BODY],
    ['/eventarc', BAD_BODY],
  ]);
  assert.equal(answers.map((a) => [a.status, a.body.status]), [[200, 'rejected'], [200, 'rejected'], [200, 'rejected'], [200, 'rejected']]);
  // Each endpoint names its own rejection; a redelivery names the same one.
  assert.is.not(answers[0]!.body.id, answers[1]!.body.id);
  assert.is(answers[2]!.body.id, answers[0]!.body.id);
  assert.is(answers[3]!.body.id, answers[1]!.body.id);
  const rows = await rejectedRows();
  assert.equal(rows, [
    { origin: 'eventarc', reason: answers[1]!.body.reason, data: BAD_BODY.toString() },
    { origin: 'pubsub', reason: answers[0]!.body.reason, data: BAD_BODY.toString() },
  ]);
  assert.is.not(rows[0]!.reason, rows[1]!.reason);
});

Rejected.run();
