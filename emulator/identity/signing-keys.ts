import { createHash, createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject, sign } from 'node:crypto';
import type { EmulatorContext } from '../context.js';
import type { SigningKey } from '../state/model.js';

/**
 * The RSA keys id_tokens are signed with, and the JWKS that publishes them. Like Microsoft's, each key comes with
 * a self-signed X.509 certificate (`x5c`) and `kid` = `x5t` = the certificate's base64url SHA-1 thumbprint
 * (docs/entra.md §1.1). Work accounts'
 * tokens are signed with the `org` key, personal accounts' with the `consumer` key, so that a client can restrict
 * keys by the `issuer` the `common` key set gives each key (docs/entra.md §1.1).
 */

const CERT_SUBJECT = 'accounts.accesscontrol.windows.net';

/** The emulator's signing keys, generated on first use and kept in the world (and so in snapshots). */
export function signingKeysOrCreate(ctx: EmulatorContext): SigningKey[] {
  const keys = ctx.world.signingKeys ?? [];
  for (const audience of ['org', 'consumer'] as const) {
    if (!keys.some((key) => key.audience === audience)) keys.push(createSigningKey(ctx, audience));
  }
  ctx.world.signingKeys = keys;
  return keys;
}

export function signingKeyFor(ctx: EmulatorContext, audience: SigningKey['audience']): SigningKey {
  return signingKeysOrCreate(ctx).find((key) => key.audience === audience)!;
}

export function privateKeyObject(key: SigningKey): KeyObject {
  return createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' });
}

function createSigningKey(ctx: EmulatorContext, audience: SigningKey['audience']): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = ctx.clock.now();
  const certificate = selfSignedCertificate(publicKey, privateKey, now, ctx.random.bytes(16));
  const x5t = createHash('sha1').update(certificate).digest('base64url');
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kid: x5t,
    x5t,
    x5c: certificate.toString('base64'),
    audience,
    publicJwk: { kty: 'RSA', n: String(jwk.n), e: String(jwk.e) },
    privateJwk: Object.fromEntries(
      Object.entries(privateKey.export({ format: 'jwk' })).map(([name, value]) => [name, String(value)]),
    ),
    createdAt: now,
  };
}

// --- a minimal DER writer for one self-signed certificate (RFC 5280) ---------------------------------------------

function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}

const sequence = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));

function integer(value: Buffer): Buffer {
  let bytes = value;
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  return der(0x02, (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [first! * 40 + second!];
  for (const part of rest) {
    const chunk = [part & 0x7f];
    for (let value = part >> 7; value > 0; value >>= 7) chunk.unshift((value & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

function time(epochMs: number): Buffer {
  const iso = new Date(epochMs).toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = new Date(epochMs).getUTCFullYear();
  // UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
  return year < 2050 ? der(0x17, Buffer.from(digits.slice(2))) : der(0x18, Buffer.from(digits));
}

function selfSignedCertificate(publicKey: KeyObject, privateKey: KeyObject, now: number, serial: Buffer): Buffer {
  const sha256WithRsa = sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(CERT_SUBJECT)))));
  const validity = sequence(time(now - 86400_000), time(now + 5 * 365 * 86400_000));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const version = der(0xa0, integer(Buffer.from([2])));
  serial[0] = serial[0]! & 0x7f;
  const tbs = sequence(version, integer(serial), sha256WithRsa, name, validity, name, spki);
  const signature = sign('sha256', tbs, privateKey);
  return sequence(tbs, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
}
