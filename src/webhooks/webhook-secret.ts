import { randomBytes } from 'node:crypto';
import { AppError } from '../errors/app-error.js';

/**
 * Webhook signing secrets, wherever they come from (WEBHOOK_SECRET, an endpoint's API or dashboard form): at least
 * 32 characters, and the one message that says how to make one. A secret mailbridge generates is 32 random bytes in
 * hex (64 characters), the same as `openssl rand -hex 32`.
 */
export const WEBHOOK_SECRET_MIN_LENGTH = 32;
export const WEBHOOK_SECRET_MAX_LENGTH = 256;

/** The one message for a secret too short, after the name of what was given (`WEBHOOK_SECRET`, `secret`). */
export const WEBHOOK_SECRET_TOO_SHORT_MESSAGE = `is shorter than ${WEBHOOK_SECRET_MIN_LENGTH} characters; make one with \`openssl rand -hex 32\``;

/** Whether a (trimmed) secret is long enough to sign with. */
export function isWebhookSecretLongEnough(secret: string): boolean {
  return secret.trim().length >= WEBHOOK_SECRET_MIN_LENGTH;
}

/** A given secret, trimmed, or WEBHOOK_SECRET_TOO_SHORT / WEBHOOK_SECRET_TOO_LONG (400) naming the field. */
export function acceptWebhookSecretOrThrow(secret: string, field = 'secret'): string {
  const trimmed = secret.trim();
  if (!isWebhookSecretLongEnough(trimmed)) {
    throw new AppError('WEBHOOK_SECRET_TOO_SHORT', `${field} ${WEBHOOK_SECRET_TOO_SHORT_MESSAGE}.`, {
      status: 400,
      details: { issues: [{ location: 'body', field, code: 'too_short' }] },
    });
  }
  if (trimmed.length > WEBHOOK_SECRET_MAX_LENGTH) {
    throw new AppError('WEBHOOK_SECRET_TOO_LONG', `${field} is longer than ${WEBHOOK_SECRET_MAX_LENGTH} characters.`, {
      status: 400,
      details: { issues: [{ location: 'body', field, code: 'too_long' }] },
    });
  }
  return trimmed;
}

/** A new signing secret: 32 random bytes, hex. */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString('hex');
}
