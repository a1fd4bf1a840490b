// Fakes for the serve suites: an in-memory ChangeSink that records every write (and can be
// told to fail), a Reconciler the test releases by hand, OIDC tokens signed with a local
// RSA key whose public half is injected as the "Google" certificates, and event builders.

import { generateKeyPairSync, sign } from 'node:crypto';
import type { ChangeSink, IncomingChange, IngestOutcome, Reconciler, ReconcileSummary, RejectedMessage } from '../../src/server/ports.js';
import type { Entity } from '../../src/source/entity.js';
import { createServer, type MlbridgeServer, type ServerAuth } from '../../src/server/app.js';
import { createTokenVerifier } from '../../src/server/auth.js';
import { encodeEntityEvent, type EntityEvent } from '../../src/server/entity-event-proto.js';

export interface RecordingSink extends ChangeSink {
  writes: Array<{ changes: IncomingChange[]; rejected: RejectedMessage[] }>;
  changes(): IncomingChange[];
  rejected(): RejectedMessage[];
  /** The next `n` writes throw (a transient failure). */
  failNext(n: number): void;
  closed: boolean;
}

export function recordingSink(): RecordingSink {
  let failures = 0;
  const sink: RecordingSink = {
    writes: [],
    closed: false,
    changes: () => sink.writes.flatMap((w) => w.changes),
    rejected: () => sink.writes.flatMap((w) => w.rejected),
    failNext(n) {
      failures = n;
    },
    async write(changes, rejected): Promise<IngestOutcome> {
      if (failures > 0) {
        failures--;
        throw new Error('warehouse unavailable (injected)');
      }
      sink.writes.push({ changes: [...changes], rejected: [...rejected] });
      return { written: changes.length, duplicates: 0, superseded: 0, quarantined: 0, rejected: rejected.length };
    },
    async close() {
      sink.closed = true;
    },
  };
  return sink;
}

export interface ManualReconciler extends Reconciler {
  calls: Array<{ kinds?: string[]; id: string }>;
  /** Resolves the running reconcile with this summary (`changed` as given). */
  finish(changed: boolean): void;
  /** Resolves once a reconcile has started. */
  started(): Promise<void>;
}

export function manualReconciler(): ManualReconciler {
  let release: ((changed: boolean) => void) | undefined;
  let onStart: (() => void) | undefined;
  let startedPromise = new Promise<void>((r) => (onStart = r));
  const r: ManualReconciler = {
    calls: [],
    finish(changed) {
      release?.(changed);
    },
    started: () => startedPromise,
    async reconcile(options): Promise<ReconcileSummary> {
      r.calls.push(options);
      const changed = await new Promise<boolean>((resolve) => {
        release = resolve;
        onStart?.();
      });
      startedPromise = new Promise<void>((res) => (onStart = res));
      const kinds = Object.fromEntries((options.kinds ?? ['CustomerProfile']).map((k) => [k, { insert: changed ? 1 : 0, update: 0, delete: 0, quarantine: 0, unchanged: 5 }]));
      return { id: options.id, kinds, resources: [], durationMs: 12, changed };
    },
  };
  return r;
}

// ---- OIDC tokens -------------------------------------------------------------------------

export const AUDIENCE = 'https://mlbridge-test.a.run.app';
export const PUSH_SA = 'push@mlbridge-test.iam.gserviceaccount.com';
const KEY_ID = 'local-test-key';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** What the verifier is given instead of Google's certificates. */
const PUBLIC_PEM = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
export const TEST_CERTS = async (): Promise<Record<string, string>> => ({ [KEY_ID]: PUBLIC_PEM });

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function signToken(claims: Record<string, unknown> = {}, options: { privateKey?: typeof keys.privateKey } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', kid: KEY_ID, typ: 'JWT' };
  const payload = { iss: 'https://accounts.google.com', aud: AUDIENCE, email: PUSH_SA, email_verified: true, sub: '1234', iat: now, exp: now + 3600, ...claims };
  const signed = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('RSA-SHA256', Buffer.from(signed), options.privateKey ?? keys.privateKey);
  return `${signed}.${b64url(signature)}`;
}

export const bearer = (claims: Record<string, unknown> = {}): string => `Bearer ${signToken(claims)}`;

export const verifyAuth = (): ServerAuth => ({
  mode: 'verify',
  verifier: createTokenVerifier({ audiences: [AUDIENCE], serviceAccounts: [PUSH_SA] }, { certs: TEST_CERTS }),
});

export function testServer(options: { sink?: RecordingSink; reconciler?: Reconciler; auth?: ServerAuth; maxDelayMs?: number; kinds?: string[] } = {}): {
  server: MlbridgeServer;
  sink: RecordingSink;
} {
  const sink = options.sink ?? recordingSink();
  const server = createServer({
    sink,
    reconciler: options.reconciler ?? manualReconciler(),
    kinds: options.kinds ?? ['CustomerProfile', 'Order'],
    auth: options.auth ?? verifyAuth(),
    batch: { maxDelayMs: options.maxDelayMs ?? 5 },
  });
  return { server, sink };
}

// ---- events -------------------------------------------------------------------------------

export function customer(name: string, properties: Entity['properties'] = {}, namespace?: string): Entity {
  return {
    key: { partitionId: { projectId: 'mlbridge-test', ...(namespace ? { namespaceId: namespace } : {}) }, path: [{ kind: 'CustomerProfile', name }] },
    properties: { email: { stringValue: `${name}@example.com` }, visits: { integerValue: '3' }, ...properties },
  };
}

export function eventarcBinary(type: string, event: EntityEvent, extra: Record<string, string> = {}): { headers: Record<string, string>; body: Buffer } {
  return {
    headers: {
      'content-type': 'application/protobuf',
      'ce-specversion': '1.0',
      'ce-type': `google.cloud.datastore.entity.v1.${type}`,
      'ce-id': `evt-${Math.random().toString(36).slice(2)}`,
      'ce-source': '//datastore.googleapis.com/projects/mlbridge-test/databases/(default)',
      'ce-subject': 'documents/CustomerProfile/x',
      'ce-time': '2026-03-01T10:00:00.123456Z',
      authorization: bearer(),
      ...extra,
    },
    body: Buffer.from(encodeEntityEvent(event)),
  };
}

export function pubsubEnvelope(event: unknown, options: { messageId?: string; publishTime?: string; raw?: string } = {}): Buffer {
  const data = options.raw ?? Buffer.from(JSON.stringify(event)).toString('base64');
  return Buffer.from(
    JSON.stringify({
      message: { data, attributes: { origin: 'app' }, messageId: options.messageId ?? '101', publishTime: options.publishTime ?? '2026-03-01T10:00:00.250Z' },
      subscription: 'projects/mlbridge-test/subscriptions/mlbridge',
    }),
  );
}
