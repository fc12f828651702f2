import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with a random 96-bit IV and a full 128-bit tag, the parameters NIST SP 800-38D recommends. Random IVs
 * are safe here because each key encrypts far fewer than 2^32 messages (a data key seals one account's few fields;
 * a key-ring key wraps one data key per subject). @see NIST SP 800-38D §8.3
 */
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export interface GcmParts {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function encryptAesGcm(key: Buffer, plaintext: Buffer, aad: Buffer): GcmParts {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/** Throws (Node's own error) when the tag does not authenticate the ciphertext, IV and AAD under `key`. */
export function decryptAesGcmOrThrow(key: Buffer, parts: GcmParts, aad: Buffer): Buffer {
  if (parts.iv.length !== IV_BYTES) throw new Error(`IV must be ${IV_BYTES} bytes, got ${parts.iv.length}`);
  // A shorter tag would be accepted by Node and weaken authentication: insist on the full 16 bytes.
  if (parts.tag.length !== TAG_BYTES) throw new Error(`tag must be ${TAG_BYTES} bytes, got ${parts.tag.length}`);
  const decipher = createDecipheriv('aes-256-gcm', key, parts.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(parts.tag);
  return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64url decoding: Node's decoder skips characters it does not know, which would hide tampering. */
export function decodeBase64UrlOrThrow(text: string): Buffer {
  if (!BASE64URL.test(text)) throw new Error('not base64url');
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new Error('not canonical base64url');
  return bytes;
}
