import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF protection for the dashboard's forms: a synchronizer token derived from the secret the browser already holds
 * in an HttpOnly cookie (the session cookie once signed in; a pre-session cookie on the sign-in form, against login
 * CSRF): token = HMAC-SHA256(key = cookie value, "mailbridge dashboard csrf v1").
 *
 * Why this and not @fastify/csrf-protection: the plugin's double-submit mode keeps its own secret cookie and its
 * session mode needs @fastify/session (server-side session storage we do not have). Deriving the token from the
 * session secret binds it to the session without storing anything: it changes at every sign-in, dies with the
 * session, works across processes sharing the database, and a cross-site page can neither read the cookie nor the
 * token (SameSite=Lax additionally keeps the cookie off cross-site POSTs). The server stores only the session's
 * hash, so even a database reader cannot forge tokens.
 * @see docs/standards.md §5
 */
const LABEL = 'mailbridge dashboard csrf v1';

export const CSRF_FIELD = '_csrf';

export function csrfTokenFor(cookieSecret: string): string {
  return createHmac('sha256', cookieSecret).update(LABEL).digest('base64url');
}

export function isCsrfTokenValid(cookieSecret: string | undefined, presented: unknown): boolean {
  if (!cookieSecret || typeof presented !== 'string' || presented.length === 0) return false;
  const expected = Buffer.from(csrfTokenFor(cookieSecret));
  const actual = Buffer.from(presented);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
