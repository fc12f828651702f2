import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';

/**
 * Signed webhooks, Stripe-style. Every delivery carries
 *
 *     Mailbridge-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
 *
 * where `v1` is the lowercase hex HMAC-SHA256, keyed with the webhook secret, of `"<t>.<raw body>"` (the timestamp,
 * a dot, then the exact bytes of the request body). While a secret is being rotated the header carries one `v1`
 * per active secret; a receiver accepts the delivery if any of them matches a secret it knows. Receivers reject
 * timestamps further than the tolerance (default 5 minutes) from their clock, so a captured delivery cannot be
 * replayed later. Unknown schemes (`v0`, `v2`…) are ignored, which leaves room for a future algorithm.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'Mailbridge-Signature';
export const WEBHOOK_SIGNATURE_SCHEME = 'v1';
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** Longer headers are refused before any parsing: a signature header is a few hundred bytes at most. */
const MAX_HEADER_LENGTH = 4096;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * The codes of signing and verifying (src/errors/error-table.ts). The signature failures are what `verifyWebhook`
 * returns and `verifyWebhookOrThrow` throws (status 401) in a receiver.
 */
export const WEBHOOK_SIGNATURE_ERRORS = {
  WEBHOOK_SIGNATURE_MISSING: { status: 401, description: 'The request has no signature header.' },
  WEBHOOK_SIGNATURE_MALFORMED: { status: 401, description: 'The signature header cannot be parsed.' },
  WEBHOOK_SIGNATURE_MISMATCH: { status: 401, description: 'No signature matches the body and a known secret.' },
  WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE: {
    status: 401,
    description: "The signature's timestamp is too far from the receiver's clock (a replay, or a clock off).",
  },
  WEBHOOK_SECRET_INVALID: { status: 500, description: 'A webhook secret must be a non-empty string.' },
  WEBHOOK_TIMESTAMP_INVALID: { status: 500, description: 'A signing timestamp must be whole Unix seconds.' },
} as const satisfies ErrorTable;

export type WebhookSignatureFailureCode = Exclude<
  keyof typeof WEBHOOK_SIGNATURE_ERRORS,
  'WEBHOOK_SECRET_INVALID' | 'WEBHOOK_TIMESTAMP_INVALID'
>;

export type WebhookVerification =
  | { ok: true; timestampSeconds: number }
  | { ok: false; code: WebhookSignatureFailureCode; message: string };

export interface VerifyWebhookOptions {
  /** The receiver's clock, in Unix seconds. */
  nowSeconds: number;
  /** Maximum distance between the signed timestamp and `nowSeconds`, either way. Default 300. */
  toleranceSeconds?: number;
}

type Secrets = string | readonly string[];
type Body = string | Uint8Array;

function secretsOf(secret: Secrets): string[] {
  const list = typeof secret === 'string' ? [secret] : [...secret];
  if (list.length === 0 || list.some((s) => s.length === 0)) {
    throw new AppError('WEBHOOK_SECRET_INVALID', 'a webhook secret must be a non-empty string');
  }
  return list;
}

function hmac(secret: string, timestampSeconds: number, body: Body): Buffer {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest();
}

/**
 * The `Mailbridge-Signature` header value for `body` sent at `timestampSeconds`. With several secrets (rotation),
 * one `v1` entry per secret, in the given order.
 */
export function signWebhook(secret: Secrets, body: Body, timestampSeconds: number): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new AppError('WEBHOOK_TIMESTAMP_INVALID', `timestamp must be whole Unix seconds, got ${timestampSeconds}`);
  }
  const entries = secretsOf(secret).map(
    (s) => `${WEBHOOK_SIGNATURE_SCHEME}=${hmac(s, timestampSeconds, body).toString('hex')}`,
  );
  return [`t=${timestampSeconds}`, ...entries].join(',');
}

function fail(code: WebhookSignatureFailureCode, message: string): WebhookVerification {
  return { ok: false, code, message };
}

function parseHeader(header: string): { timestamp: number; signatures: Buffer[] } | string {
  if (header.length > MAX_HEADER_LENGTH) return 'header is too long';
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return `"${part.trim().slice(0, 20)}" is not a key=value pair`;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return 'more than one timestamp';
      if (!/^\d{1,15}$/.test(value)) return 'the timestamp is not whole Unix seconds';
      timestamp = Number(value);
    } else if (key === WEBHOOK_SIGNATURE_SCHEME) {
      if (!HEX_SHA256.test(value)) return 'a v1 signature is not 64 hex characters';
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined) return 'no timestamp (t=…)';
  if (signatures.length === 0) return 'no v1 signature';
  return { timestamp, signatures };
}

/**
 * Verifies a delivery: the header parses, one of its `v1` signatures matches one of `secret` (compared in constant
 * time), and the timestamp is within the tolerance. The signature is checked before the timestamp, so an
 * out-of-tolerance answer is only ever given for a genuine (replayed or delayed) delivery.
 */
export function verifyWebhook(
  secret: Secrets,
  body: Body,
  header: string | null | undefined,
  options: VerifyWebhookOptions,
): WebhookVerification {
  const secrets = secretsOf(secret);
  if (header === undefined || header === null || header.trim() === '') {
    return fail('WEBHOOK_SIGNATURE_MISSING', `no ${WEBHOOK_SIGNATURE_HEADER} header`);
  }
  const parsed = parseHeader(header);
  if (typeof parsed === 'string') return fail('WEBHOOK_SIGNATURE_MALFORMED', parsed);

  let matched = false;
  for (const s of secrets) {
    const expected = hmac(s, parsed.timestamp, body);
    for (const candidate of parsed.signatures) {
      // Both are 32 bytes (the parser only accepts 64 hex characters), as timingSafeEqual requires.
      // No early exit, so the time taken does not depend on which entry matched.
      if (timingSafeEqual(expected, candidate)) matched = true;
    }
  }
  if (!matched) return fail('WEBHOOK_SIGNATURE_MISMATCH', 'no signature matches the body and a known secret');

  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (Math.abs(options.nowSeconds - parsed.timestamp) > tolerance) {
    return fail(
      'WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE',
      `signed at ${parsed.timestamp}, now ${options.nowSeconds}: more than ${tolerance}s apart`,
    );
  }
  return { ok: true, timestampSeconds: parsed.timestamp };
}

/** `verifyWebhook`, throwing an `AppError` (status 401, the failure's code) instead of returning a failure. */
export function verifyWebhookOrThrow(
  secret: Secrets,
  body: Body,
  header: string | null | undefined,
  options: VerifyWebhookOptions,
): { timestampSeconds: number } {
  const result = verifyWebhook(secret, body, header, options);
  if (!result.ok) throw new AppError(result.code, result.message, { status: 401 });
  return { timestampSeconds: result.timestampSeconds };
}
