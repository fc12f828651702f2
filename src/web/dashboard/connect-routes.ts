import type { FastifyInstance, FastifyReply } from 'fastify';
import { createConnectSession } from '../../connect/connect-sessions.js';
import type { PermissionProfile } from '../../connect/permission-profiles.js';
import type { ServiceDeps } from '../../services.js';
import { ensureDashboardReturnUrlAllowed, findConnectOutcome } from './connect-return.js';
import type { DashboardContextOf } from './dashboard-context.js';
import { dashboardCookies } from './dashboard-cookies.js';

/** What a dashboard user starts a connection for: whose account, which permissions, which address to suggest. */
export interface DashboardConnectStart {
  organizationId: string;
  ownerExternalId: string;
  permissionProfile: PermissionProfile;
  loginHint: string | undefined;
}

/**
 * Hands the browser to the hosted connect flow, which sends it back to `/dashboard/connect-return` when it ends (the
 * dashboard's return URL is allow-listed for its organisation on the way).
 */
export async function startConnect(
  deps: ServiceDeps,
  reply: FastifyReply,
  start: DashboardConnectStart,
): Promise<FastifyReply> {
  const cookies = dashboardCookies(deps.config.publicUrl);
  const returnUrl = await ensureDashboardReturnUrlAllowed(deps, start.organizationId);
  const session = await createConnectSession(deps, { ...start, returnUrl });
  // Remembers which attempt this browser started, so the return page can tell how it ended whatever the
  // connect flow appends to the return URL. The id is the session's capability: HttpOnly, this site only.
  reply.setCookie(cookies.connect, session.id, cookies.options({ maxAge: 7 * 24 * 3600 }));
  return reply.redirect(session.url, 303);
}

/**
 * `GET /dashboard/connect-return`: where the connect flow sends the browser back; forwards to the accounts page with
 * the attempt's outcome (connect-return.ts reads it from the cookie `startConnect` set, or the returned query).
 */
export function registerConnectReturnPage(
  scope: FastifyInstance,
  deps: ServiceDeps,
  contextOf: DashboardContextOf,
): void {
  const cookies = dashboardCookies(deps.config.publicUrl);

  scope.get('/connect-return', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const fromCookie = request.cookies[cookies.connect];
    reply.clearCookie(cookies.connect, cookies.options());
    const sessionId = await findConnectOutcome(
      deps.db,
      organizationId,
      fromCookie,
      request.query as Record<string, unknown>,
    );
    return reply.redirect(sessionId ? `/dashboard?connect=${encodeURIComponent(sessionId)}` : '/dashboard', 303);
  });
}
