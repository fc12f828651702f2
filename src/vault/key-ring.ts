import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { decryptAesGcmOrThrow, encryptAesGcm, type GcmParts, KEY_BYTES } from './aes-gcm.js';
import { MAKE_KEY_HINT, VaultError } from './vault-error.js';

export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const URL_BASE64 = /^[A-Za-z0-9_-]+$/;
// The check value is an HMAC of this constant under the key: it identifies the key without revealing it (HMAC is
// a PRF, so the output says nothing about the key), and unlike a hash of the key it cannot be brute-forced
// offline faster than the key itself.
const CHECK_VALUE_LABEL = 'mailbridge/vault/key-check/v1';

/**
 * The operator's master keys (MAILBRIDGE_KEYS): the first is active and wraps new data keys, the others stay to
 * unwrap data keys written before a rotation. Raw key bytes never leave this object: it wraps and unwraps itself.
 */
export class KeyRing {
  readonly #keys: Map<string, Buffer>;
  readonly activeKeyId: string;
  readonly keyIds: readonly string[];

  private constructor(entries: ReadonlyArray<{ id: string; key: Buffer }>) {
    this.#keys = new Map(entries.map((entry) => [entry.id, Buffer.from(entry.key)]));
    this.keyIds = Object.freeze(entries.map((entry) => entry.id));
    this.activeKeyId = entries[0]!.id;
    Object.freeze(this);
  }

  /** Builds a ring from already-decoded keys; throws VAULT_KEY_RING_INVALID on the first problem list. */
  static fromKeysOrThrow(entries: ReadonlyArray<{ id: string; key: Buffer }>): KeyRing {
    const problems = entries.length === 0 ? ['the key ring is empty'] : [];
    const seen = new Set<string>();
    for (const [index, entry] of entries.entries()) {
      if (!KEY_ID_PATTERN.test(entry.id)) problems.push(`key #${index + 1}: id must be 1-32 of A-Z a-z 0-9 _ -`);
      if (seen.has(entry.id)) problems.push(`key id "${entry.id}" appears twice`);
      seen.add(entry.id);
      if (entry.key.length !== KEY_BYTES) {
        problems.push(`key "${entry.id}" is ${entry.key.length} bytes; keys must be exactly ${KEY_BYTES} bytes`);
      }
    }
    if (problems.length > 0) throw keyRingInvalid('MAILBRIDGE_KEYS', problems);
    return new KeyRing(entries);
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** HMAC-SHA256 of a constant under the key, base64url: stored per key id to recognise the key later. */
  checkValue(keyId: string): string {
    return createHmac('sha256', this.#keyOrThrow(keyId)).update(CHECK_VALUE_LABEL).digest('base64url');
  }

  /** Whether `checkValue` is the check value of this ring's key `keyId` (constant time). */
  matchesCheckValue(keyId: string, checkValue: string): boolean {
    const expected = Buffer.from(this.checkValue(keyId));
    const actual = Buffer.from(checkValue);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  wrap(keyId: string, plaintext: Buffer, aad: Buffer): GcmParts {
    return encryptAesGcm(this.#keyOrThrow(keyId), plaintext, aad);
  }

  /** Throws Node's decryption error when the parts do not authenticate; callers wrap it with their context. */
  unwrapOrThrow(keyId: string, parts: GcmParts, aad: Buffer): Buffer {
    return decryptAesGcmOrThrow(this.#keyOrThrow(keyId), parts, aad);
  }

  #keyOrThrow(keyId: string): Buffer {
    const key = this.#keys.get(keyId);
    if (!key) {
      throw new VaultError('VAULT_KEY_UNKNOWN', `key id "${keyId}" is not in the key ring (MAILBRIDGE_KEYS)`, {
        details: { keyId },
      });
    }
    return key;
  }

  toString(): string {
    return `KeyRing(active=${this.activeKeyId}, ids=${this.keyIds.join(',')})`;
  }

  toJSON(): { activeKeyId: string; keyIds: readonly string[] } {
    return { activeKeyId: this.activeKeyId, keyIds: this.keyIds };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export type KeyRingParse = { ok: true; keyRing: KeyRing } | { ok: false; problems: string[] };

/**
 * Parses key ring text `id:base64[,id:base64…]` (standard or URL-safe base64 of exactly 32 bytes). Problems name
 * keys by position and id, never by value. Empty entries (a trailing comma) are ignored.
 */
export function parseKeyRing(text: string): KeyRingParse {
  const problems: string[] = [];
  const entries: Array<{ id: string; key: Buffer }> = [];
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) return { ok: false, problems: ['no keys given'] };
  const seenIds = new Set<string>();
  const seenKeys = new Map<string, string>();
  for (const [index, part] of parts.entries()) {
    const label = `key #${index + 1}`;
    const colon = part.indexOf(':');
    if (colon < 0) {
      problems.push(`${label} is not in the form <id>:<base64 key>`);
      continue;
    }
    const id = part.slice(0, colon).trim();
    const encoded = part.slice(colon + 1).trim();
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(`${label}: the id must be 1-32 characters of A-Z a-z 0-9 _ -`);
      continue;
    }
    if (seenIds.has(id)) {
      problems.push(`${label}: the id "${id}" appears twice`);
      continue;
    }
    seenIds.add(id);
    const key = decodeKey(encoded);
    if (!key) {
      problems.push(`${label} ("${id}"): the key is not valid base64`);
      continue;
    }
    if (key.length !== KEY_BYTES) {
      problems.push(`${label} ("${id}"): the key is ${key.length} bytes; it must be exactly ${KEY_BYTES} bytes`);
      continue;
    }
    const fingerprint = key.toString('hex');
    const twin = seenKeys.get(fingerprint);
    if (twin !== undefined) {
      problems.push(`${label} ("${id}") is the same key as "${twin}": each id needs its own key`);
      continue;
    }
    seenKeys.set(fingerprint, id);
    entries.push({ id, key });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, keyRing: KeyRing.fromKeysOrThrow(entries) };
}

export function parseKeyRingOrThrow(text: string, source = 'MAILBRIDGE_KEYS'): KeyRing {
  const parsed = parseKeyRing(text);
  if (!parsed.ok) throw keyRingInvalid(source, parsed.problems);
  return parsed.keyRing;
}

/** A fresh ring text with one random key, in the form MAILBRIDGE_KEYS expects. */
export function generateKeyRingText(keyId: string): string {
  if (!KEY_ID_PATTERN.test(keyId)) throw new Error(`invalid key id "${keyId}"`);
  return `${keyId}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

function decodeKey(encoded: string): Buffer | undefined {
  if (STANDARD_BASE64.test(encoded)) {
    const key = Buffer.from(encoded, 'base64');
    // Re-encode to reject text Node's lenient decoder would silently truncate.
    return key.toString('base64').replace(/=+$/, '') === encoded.replace(/=+$/, '') ? key : undefined;
  }
  if (URL_BASE64.test(encoded)) {
    const key = Buffer.from(encoded, 'base64url');
    return key.toString('base64url') === encoded ? key : undefined;
  }
  return undefined;
}

function keyRingInvalid(source: string, problems: string[]): VaultError {
  return new VaultError(
    'VAULT_KEY_RING_INVALID',
    `${source} is not a usable key ring:\n${problems.map((problem) => `  - ${problem}`).join('\n')}\n${MAKE_KEY_HINT}`,
    { details: { source, problems } },
  );
}
