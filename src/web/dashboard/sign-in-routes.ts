import type { FastifyInstance, FastifyRequest } from 'fastify';
import { deleteDashboardSession, SESSION_MAX_MS } from '../../dashboard-auth/dashboard-sessions.js';
import { KNOWN_DEVICE_MS } from '../../dashboard-auth/known-devices.js';
import type { ServiceDeps } from '../../services.js';
import { CSRF_FIELD, csrfTokenFor, isCsrfTokenValid } from './csrf.js';
import { type DashboardContextOf, sendHtml } from './dashboard-context.js';
import { COOKIE_VALUE, dashboardCookies, ensurePreSessionCookie, sessionOfCookie } from './dashboard-cookies.js';
import { formField } from './form-fields.js';
import { signInWithPassword } from './sign-in.js';
import { renderSignInPage } from './sign-in-page.js';

/** The one dashboard page that needs no session. */
export const SIGN_IN_URL = '/dashboard/sign-in';

/** Sign-in attempts per client IP (all addresses together) per minute; the per-email counter is the other half. */
export const SIGN_IN_RATE_LIMIT = { max: 10, timeWindowMs: 60_000 } as const;

/**
 * Sign-in and sign-out: `GET|POST /dashboard/sign-in` (public, rate-limited per client IP, its form token bound to a
 * pre-session cookie against login CSRF) and `POST /dashboard/sign-out`.
 */
export function registerSignInPages(scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf): void {
  const cookies = dashboardCookies(deps.config.publicUrl);

  scope.get('/sign-in', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    if (await sessionOfCookie(deps, request.cookies[cookies.session])) {
      return reply.redirect(safeNext(query['next']) ?? '/dashboard', 303);
    }
    const preSession = ensurePreSessionCookie(request, reply, cookies);
    return sendHtml(
      reply,
      renderSignInPage({
        csrfToken: csrfTokenFor(preSession),
        next: safeNext(query['next']),
        info:
          query['signed_out'] !== undefined
            ? 'You are signed out.'
            : query['expired'] !== undefined
              ? 'Your session ended. Sign in again.'
              : undefined,
      }),
    );
  });

  scope.post(
    '/sign-in',
    { config: { rateLimit: { max: SIGN_IN_RATE_LIMIT.max, timeWindow: SIGN_IN_RATE_LIMIT.timeWindowMs } } },
    async (request, reply) => {
      const preSession = request.cookies[cookies.preSession];
      const email = stringField(request, 'email', 320) ?? '';
      const next = safeNext(formField(request, 'next'));
      if (
        !preSession ||
        !COOKIE_VALUE.test(preSession) ||
        !isCsrfTokenValid(preSession, formField(request, CSRF_FIELD))
      ) {
        // No or stale pre-session cookie (cookies blocked, or the form came from elsewhere): a fresh form.
        const fresh = ensurePreSessionCookie(request, reply, cookies, true);
        return sendHtml(
          reply,
          renderSignInPage({
            csrfToken: csrfTokenFor(fresh),
            email,
            next,
            error: 'Your sign-in form expired. Please sign in again (your browser must accept cookies).',
          }),
          403,
        );
      }
      const password = stringField(request, 'password', 1024) ?? '';
      const result = await signInWithPassword(deps, email, password, request.cookies[cookies.device]);
      if (!result.ok) {
        return sendHtml(
          reply,
          renderSignInPage({ csrfToken: csrfTokenFor(preSession), email, next, error: result.message }),
          result.locked ? 429 : 401,
        );
      }
      // A new session id at every sign-in (no fixation), and the pre-session secret is spent.
      reply.setCookie(cookies.session, result.session.token, cookies.options({ maxAge: SESSION_MAX_MS / 1000 }));
      reply.setCookie(cookies.device, result.device.token, cookies.options({ maxAge: KNOWN_DEVICE_MS / 1000 }));
      reply.clearCookie(cookies.preSession, cookies.options());
      return reply.redirect(next ?? '/dashboard', 303);
    },
  );

  scope.post('/sign-out', async (request, reply) => {
    await deleteDashboardSession(deps.db, contextOf(request).session.idHash);
    reply.clearCookie(cookies.session, cookies.options());
    return reply.redirect(`${SIGN_IN_URL}?signed_out=1`, 303);
  });
}

function stringField(request: FastifyRequest, name: string, maxLength: number): string | undefined {
  const value = formField(request, name);
  return value === undefined ? undefined : value.slice(0, maxLength);
}

/** Only our own dashboard paths: no scheme, no `//host`, no backslash tricks (no open redirect after sign-in). */
function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  if (!/^\/dashboard(?:[/?#]|$)/.test(value)) return undefined;
  if (value.includes('\\') || value.includes('//') || hasControlCharacter(value)) return undefined;
  if (value.startsWith(SIGN_IN_URL)) return undefined;
  return value;
}

/** C0 controls and DEL (a regex literal for them trips Biome's noControlCharactersInRegex). */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
