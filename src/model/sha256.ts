// sha256 as lowercase hex of a string's UTF-8 bytes. crypto.hash (Node ≥ 20.12) does it in
// one call, several times cheaper than createHash().update().digest() for the short texts
// hashed per row; older Node 20 releases take the general path.

import * as crypto from 'node:crypto';

const oneShot = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;

function hexDigest(algorithm: string): (text: string) => string {
  return oneShot ? (text) => oneShot(algorithm, text) : (text) => crypto.createHash(algorithm).update(text).digest('hex');
}

export const sha256Hex = hexDigest('sha256');
/** md5 as lowercase hex: fingerprints only (model/content-fingerprint.ts), never for integrity. */
export const md5Hex = hexDigest('md5');
