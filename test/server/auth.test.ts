// OIDC on every push: tokens signed by a local RSA key stand in for Google's; a request
// without a valid token gets 401 and the sink sees nothing.
import { generateKeyPairSync } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenVerifier } from '../../src/server/auth.js';
import { AUDIENCE, PUSH_SA, bearer, customer, eventarcBinary, manualReconciler, pubsubEnvelope, signToken, testServer } from './fakes.js';

const now = () => Math.floor(Date.now() / 1000);
const upsert = { operation: 'UPSERT', entity: customer('c1') };

async function pushWith(authorization: string | undefined, options: Parameters<typeof testServer>[0] = {}) {
  const { server, sink } = testServer(options);
  const res = await server.app.inject({
    method: 'POST',
    url: '/pubsub',
    headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
    payload: pubsubEnvelope(upsert),
  });
  await server.close();
  return { status: res.statusCode, body: res.json() as { reason?: string; status?: string }, writes: sink.writes.length };
}

const Tokens = suite('OIDC tokens on push requests');

Tokens('a valid token from the configured service account is accepted', async () => {
  const r = await pushWith(bearer());
  assert.equal([r.status, r.body.status, r.writes], [200, 'accepted', 1]);
});

Tokens('a missing token is 401 and nothing is written', async () => {
  const r = await pushWith(undefined);
  assert.equal([r.status, r.body.reason, r.writes], [401, 'no Authorization header', 0]);
});

Tokens('an expired token is 401', async () => {
  const r = await pushWith(bearer({ iat: now() - 7200, exp: now() - 3600 }));
  assert.equal([r.status, r.body.reason, r.writes], [401, 'Token used too late', 0]);
});

Tokens('a token for another audience is 401', async () => {
  const r = await pushWith(bearer({ aud: 'https://someone-else.a.run.app' }));
  assert.equal([r.status, r.body.reason, r.writes], [401, 'Wrong recipient', 0]);
});

Tokens('a token from another issuer is 401', async () => {
  const r = await pushWith(bearer({ iss: 'https://evil.example.com' }));
  assert.equal([r.status, r.body.reason, r.writes], [401, 'Invalid issuer', 0]);
});

Tokens('a token of a service account not in serve.auth is 401 naming it', async () => {
  const r = await pushWith(bearer({ email: 'intruder@other.iam.gserviceaccount.com' }));
  assert.equal([r.status, r.body.reason, r.writes], [401, 'service account intruder@other.iam.gserviceaccount.com is not in serve.auth.service_accounts', 0]);
});

Tokens('a token with an unverified email is 401', async () => {
  const r = await pushWith(bearer({ email_verified: false }));
  assert.is(r.status, 401);
  assert.is(r.writes, 0);
});

Tokens('a token signed by another key is 401 and the reason does not quote the token', async () => {
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const token = signToken({}, { privateKey: other });
  const r = await pushWith(`Bearer ${token}`);
  assert.equal([r.status, r.body.reason, r.writes], [401, 'Invalid token signature', 0]);
  assert.not.ok(JSON.stringify(r.body).includes(token.split('.')[2]!));
});

Tokens('when Google\'s certificates cannot be fetched the push gets 503 saying so, and nothing is written', async () => {
  const verifier = createTokenVerifier({ audiences: [AUDIENCE], serviceAccounts: [PUSH_SA] }, {
    certs: async () => {
      throw new Error('Failed to retrieve verification certificates: getaddrinfo ENOTFOUND www.googleapis.com');
    },
  });
  const r = await pushWith(bearer(), { auth: { mode: 'verify', verifier } });
  assert.equal([r.status, r.body.reason, r.writes], [503, 'cannot verify tokens right now (Failed to retrieve verification certificates: getaddrinfo ENOTFOUND www.googleapis.com)', 0]);
});

Tokens('Eventarc and /reconcile need a token too', async () => {
  const reconciler = manualReconciler();
  const { server, sink } = testServer({ reconciler });
  const ev = eventarcBinary('created', { value: { entity: customer('x'), version: '1' } });
  delete ev.headers.authorization;
  const a = await server.app.inject({ method: 'POST', url: '/eventarc', headers: ev.headers, payload: ev.body });
  const b = await server.app.inject({ method: 'POST', url: '/reconcile' });
  assert.equal([a.statusCode, b.statusCode, sink.writes.length, reconciler.calls.length], [401, 401, 0, 0]);
  await server.close();
});

const Modes = suite('serve without serve.auth, and with --no-auth');

Modes('without serve.auth every push is 401 while /healthz answers', async () => {
  const { server, sink } = testServer({ auth: { mode: 'unconfigured' } });
  const health = await server.app.inject({ method: 'GET', url: '/healthz' });
  const push = await server.app.inject({ method: 'POST', url: '/pubsub', headers: { authorization: bearer(), 'content-type': 'application/json' }, payload: pubsubEnvelope(upsert) });
  assert.equal([health.statusCode, health.json()], [200, { status: 'ok' }]);
  assert.equal([push.statusCode, push.json().reason], [401, 'serve.auth is not configured on this server']);
  assert.is(sink.writes.length, 0);
  await server.close();
});

Modes('--no-auth accepts a push without a token', async () => {
  const r = await pushWith(undefined, { auth: { mode: 'disabled' } });
  assert.equal([r.status, r.writes], [200, 1]);
});

Tokens.run();
Modes.run();
