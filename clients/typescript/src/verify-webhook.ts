import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verifies a mailbridge webhook delivery: `Mailbridge-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each
 * `v1` is the HMAC-SHA256, keyed with an endpoint secret, of `"<t>.<raw body>"`. During a secret rotation's overlap
 * mailbridge sends one `v1` per secret (the new one first), so pass every secret you currently accept: the delivery
 * verifies if any `v1` matches any of them. The timestamp must be within `toleranceSeconds` (default 300) of your
 * clock, so a captured delivery cannot be replayed later. Pass the raw body exactly as received (not re-serialised
 * JSON).
 */
export type WebhookVerification =
  | { ok: true; timestampSeconds: number }
  | {
      ok: false;
      code: 'SIGNATURE_MISSING' | 'SIGNATURE_MALFORMED' | 'SIGNATURE_MISMATCH' | 'TIMESTAMP_OUT_OF_TOLERANCE';
      message: string;
    };

export interface VerifyWebhookOptions {
  /** Your clock in Unix seconds (default: now). */
  nowSeconds?: number;
  /** Accepted distance between the signed timestamp and your clock, either way (default 300). */
  toleranceSeconds?: number;
}

export const SIGNATURE_HEADER = 'mailbridge-signature';
const MAX_HEADER_LENGTH = 4096;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function signatureHeader(headers: HeaderSource): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(SIGNATURE_HEADER) ?? undefined;
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (name.toLowerCase() === SIGNATURE_HEADER) return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}

function parse(header: string): { timestamp: number; signatures: Buffer[] } | string {
  if (header.length > MAX_HEADER_LENGTH) return 'header is too long';
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return 'not a list of key=value pairs';
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,15}$/.test(value))
        return 'the timestamp is missing, repeated or not whole seconds';
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) return 'a v1 signature is not 64 hex characters';
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined) return 'no timestamp (t=…)';
  if (signatures.length === 0) return 'no v1 signature';
  return { timestamp, signatures };
}

export function verifyWebhook(
  secrets: string | readonly string[],
  headers: HeaderSource,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): WebhookVerification {
  const keys = typeof secrets === 'string' ? [secrets] : [...secrets];
  if (keys.length === 0 || keys.some((key) => key.length === 0)) throw new Error('pass at least one non-empty secret');
  const header = signatureHeader(headers);
  if (header === undefined || header.trim() === '') {
    return { ok: false, code: 'SIGNATURE_MISSING', message: 'no Mailbridge-Signature header' };
  }
  const parsed = parse(header);
  if (typeof parsed === 'string') return { ok: false, code: 'SIGNATURE_MALFORMED', message: parsed };
  let matched = false;
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(`${parsed.timestamp}.`).update(body).digest();
    // Every pair is compared (no early exit), so the time taken does not say which matched.
    for (const candidate of parsed.signatures) if (timingSafeEqual(expected, candidate)) matched = true;
  }
  if (!matched) return { ok: false, code: 'SIGNATURE_MISMATCH', message: 'no v1 signature matches a given secret' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - parsed.timestamp) > tolerance) {
    return {
      ok: false,
      code: 'TIMESTAMP_OUT_OF_TOLERANCE',
      message: `signed at ${parsed.timestamp}, now ${now}: more than ${tolerance}s apart`,
    };
  }
  return { ok: true, timestampSeconds: parsed.timestamp };
}
