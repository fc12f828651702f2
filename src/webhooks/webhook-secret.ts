import { randomBytes } from 'node:crypto';
import {
  isWebhookSecretLongEnough,
  WEBHOOK_SECRET_MAX_LENGTH,
  WEBHOOK_SECRET_TOO_SHORT_MESSAGE,
} from '../config/webhook-secret-rule.js';
import { AppError } from '../errors/app-error.js';

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
