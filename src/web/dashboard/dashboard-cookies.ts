import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type DashboardSession, resolveDashboardSession } from '../../dashboard-auth/dashboard-sessions.js';
import { randomToken } from '../../platform/ids.js';
import type { ServiceDeps } from '../../services.js';

/** The shape of every cookie value the dashboard sets (`randomToken(32)`): anything else is not ours. */
export const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export interface DashboardCookies {
  session: string;
  preSession: string;
  connect: string;
  /** The known-device cookie (known-devices.ts): outlives sessions and sign-out, so the browser stays known. */
  device: string;
  options(extra?: Partial<CookieSerializeOptions>): CookieSerializeOptions;
}

/**
 * Cookie names and attributes. HttpOnly (no script reads them), SameSite=Lax (not sent on cross-site POSTs, but sent
 * when Microsoft's sign-in sends the browser back with a top-level GET), Path=/. Over https also Secure and the
 * `__Host-` prefix, which makes the browser refuse the cookie unless it is Secure, host-only and Path=/, so no
 * sibling subdomain can plant or shadow it. @see docs/standards.md §4
 */
export function dashboardCookies(publicUrl: string): DashboardCookies {
  const secure = publicUrl.startsWith('https://');
  const prefix = secure ? '__Host-' : '';
  return {
    session: `${prefix}mailbridge_session`,
    preSession: `${prefix}mailbridge_signin`,
    connect: `${prefix}mailbridge_connect`,
    device: `${prefix}mailbridge_device`,
    options: (extra = {}) => ({ httpOnly: true, sameSite: 'lax', secure, path: '/', ...extra }),
  };
}

/** The sign-in form's pre-session secret (its form token derives from it), set when missing or when `forceNew`. */
export function ensurePreSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  cookies: DashboardCookies,
  forceNew = false,
): string {
  const existing = request.cookies[cookies.preSession];
  if (!forceNew && existing && COOKIE_VALUE.test(existing)) return existing;
  const value = randomToken(32);
  reply.setCookie(cookies.preSession, value, cookies.options({ maxAge: 3600 }));
  return value;
}

/** The live session a session cookie names, or undefined (no cookie, not our shape, ended or unknown). */
export async function sessionOfCookie(
  deps: Pick<ServiceDeps, 'db' | 'clock'>,
  token: string | undefined,
): Promise<DashboardSession | undefined> {
  return token && COOKIE_VALUE.test(token) ? await resolveDashboardSession(deps.db, deps.clock, token) : undefined;
}
