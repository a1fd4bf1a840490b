// sha256 as lowercase hex of a string's UTF-8 bytes. crypto.hash (Node ≥ 20.12) does it in
// one call, several times cheaper than createHash().update().digest() for the short texts
// hashed per row; older Node 20 releases take the general path.

import * as crypto from 'node:crypto';

const oneShot = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;

export const sha256Hex: (text: string) => string = oneShot
  ? (text) => oneShot('sha256', text)
  : (text) => crypto.createHash('sha256').update(text).digest('hex');
