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
