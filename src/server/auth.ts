// Push requests (Eventarc, Pub/Sub, Cloud Scheduler) carry a Google-signed OIDC token in
// `Authorization: Bearer …`. It is verified with google-auth-library: signature against
// Google's certificates (fetched once and cached for as long as Google's Cache-Control
// allows), issuer accounts.google.com, expiry, the configured audience, and an `email` that
// is one of the configured service accounts with `email_verified`.

import { OAuth2Client } from 'google-auth-library';

export const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

export interface AuthConfig {
  /** Accepted `aud` values (the service URL, or what the trigger/subscription sets). */
  audiences: string[];
  /** Accepted `email` claims. */
  serviceAccounts: string[];
}

export type AuthResult = { ok: true; email: string } | { ok: false; reason: string };

export interface TokenVerifier {
  verify(authorization: string | undefined): Promise<AuthResult>;
}

export interface VerifierOptions {
  /**
   * PEM certificates or public keys by key id. Default: Google's, through OAuth2Client's
   * cache. Tests pass their own signing key's.
   */
  certs?: () => Promise<Record<string, string>>;
}

/**
 * google-auth-library's messages can quote the whole token ("Invalid token signature: <jwt>"):
 * keep the first clause only, so no credential reaches a log line or a response.
 */
function reasonOf(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split(/[:,]/)[0]!.trim() || 'invalid token';
}

/** Distinct tokens remembered (Pub/Sub and Eventarc reuse one token for many pushes). */
const CACHE_SIZE = 1000;

export function createTokenVerifier(config: AuthConfig, options: VerifierOptions = {}): TokenVerifier {
  const client = new OAuth2Client();
  // A token that verified stays good until its own expiry: remembering it spares an RSA
  // verification per request. Keyed by the exact token; expiry checked on every use.
  const verified = new Map<string, { email: string; exp: number }>();
  const certs = options.certs ?? (async () => (await client.getFederatedSignonCertsAsync()).certs as Record<string, string>);
  return {
    async verify(authorization) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return { ok: false, reason: authorization ? 'the Authorization header is not `Bearer <token>`' : 'no Authorization header' };
      const known = verified.get(m[1]!);
      if (known && known.exp > Date.now() / 1000) return { ok: true, email: known.email };
      // Outside the try: failing to fetch Google's certificates is not the caller's fault (→ 503).
      const keys = await certs();
      let payload: Record<string, unknown> | undefined;
      try {
        const ticket = await client.verifySignedJwtWithCertsAsync(m[1]!, keys, config.audiences, GOOGLE_ISSUERS);
        payload = ticket.getPayload() as Record<string, unknown> | undefined;
      } catch (e) {
        return { ok: false, reason: reasonOf(e) };
      }
      const email = payload?.email;
      if (typeof email !== 'string') return { ok: false, reason: 'the token has no email claim' };
      if (payload?.email_verified !== true) return { ok: false, reason: `the token's email ${email} is not verified` };
      if (!config.serviceAccounts.includes(email)) return { ok: false, reason: `service account ${email} is not in serve.auth.service_accounts` };
      if (verified.size >= CACHE_SIZE) verified.clear();
      verified.set(m[1]!, { email, exp: Number(payload?.exp) });
      return { ok: true, email };
    },
  };
}
