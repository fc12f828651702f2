import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findApprovalHandOff, handleAdminConsentCallback } from '../connect/admin-approval.js';
import { type ConnectEnd, failureFromStored } from '../connect/connect-ends.js';
import {
  bindingCookieName,
  type CallbackAnswer,
  completeCallback,
  isBoundBrowser,
  startAuthorization,
} from '../connect/connect-flow.js';
import { findConnectSession, isSessionExpired, sessionProfile } from '../connect/connect-sessions.js';
import { permissionLines } from '../connect/permission-profiles.js';
import { returnUrlWithStatus } from '../connect/return-url.js';
import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import type { ServiceDeps } from '../services.js';
import { adminConsentResultPage, type ConnectProblem, problemPage, providerChoicePage } from './connect-pages.js';
import { renderEnd } from './connect-views.js';

/**
 * The hosted connect flow (issue 3 items 3–4):
 *
 * - `GET  /connect/:sessionId`              the session's page: provider choice, or where the attempt stands
 * - `POST /connect/:sessionId/start`        → 303 to Microsoft's authorize URL (sets the browser-binding cookie)
 * - `GET  /connect/callback` (POST too)     Microsoft's answer → the outcome page
 * - `GET  /connect/admin-consent/callback`  the IT admin's answer → "Approved" (or why not)
 *
 * CSRF: the start form needs the session id, an unguessable capability only the host app and its user hold, and its
 * only effect is a redirect to Microsoft; the callback is bound to the browser by an HttpOnly SameSite=Lax cookie set
 * at start. Pages are never cached.
 */
export async function registerConnectRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  // An encapsulated scope: its error handler answers with a page (these are browser pages, not the JSON API).
  await app.register(async (scope) => {
    scope.setErrorHandler((error, request, reply) => {
      request.log.error({ err: error }, 'connect page failed');
      return sendProblem(reply, 500, 'internal_error');
    });
    registerRoutes(scope, deps);
  });
}

function registerRoutes(app: FastifyInstance, deps: ServiceDeps): void {
  const secureCookies = deps.config.publicUrl.startsWith('https://');

  app.get<{ Params: { sessionId: string } }>('/connect/:sessionId', async (request, reply) => {
    const session = await findConnectSession(deps.db, request.params.sessionId);
    if (!session) return sendProblem(reply, 404, 'session_not_found');
    return sendHtml(reply, 200, await sessionPage(deps, session, request.cookies));
  });

  app.post<{ Params: { sessionId: string } }>('/connect/:sessionId/start', async (request, reply) => {
    const session = await findConnectSession(deps.db, request.params.sessionId);
    if (!session) return sendProblem(reply, 404, 'session_not_found');
    if (session.status === 'completed') return reply.redirect(`/connect/${session.id}`, 303);
    if (isSessionExpired(session, deps.clock.now())) {
      return sendProblem(reply, 410, 'session_expired', { backUrl: returnUrlWithStatus(session, 'expired') });
    }
    let start: Awaited<ReturnType<typeof startAuthorization>>;
    try {
      start = await startAuthorization(deps, session);
    } catch (error) {
      // Microsoft's metadata could not be fetched (outage, network): nothing was changed; the user may retry.
      request.log.warn({ err: error, connectSessionId: session.id }, 'could not start the Microsoft sign-in');
      return sendProblem(reply, 503, 'microsoft_unavailable', { retryUrl: `/connect/${session.id}` });
    }
    reply.setCookie(bindingCookieName(deps.config.publicUrl, session.id), start.binding, {
      httpOnly: true,
      sameSite: 'lax',
      secure: secureCookies,
      path: '/connect',
      maxAge: Math.max(60, Math.ceil((Number(session.expires_at) - deps.clock.now()) / 1000)),
    });
    return reply.header('cache-control', 'no-store').redirect(start.location, 303);
  });

  const callback = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = callbackParams(request);
    const answer = await completeCallback(deps, params, request.cookies);
    if (answer.kind === 'problem') return sendCallbackProblem(reply, answer);
    if (answer.end.status !== 'failed') {
      // Connected: on to the session's own page (Post/Redirect/Get), so the spent code leaves the address bar and
      // history, and a reload shows "Connected" again instead of replaying the code ("already used"). Failures are
      // shown here: their page has details the session row does not keep (connect-ends.ts failureFromStored).
      return reply.header('cache-control', 'no-store').redirect(`/connect/${answer.session.id}`, 303);
    }
    // The binding cookie stays until the session expires: a replay in this browser is then told "already used".
    return sendHtml(reply, 200, renderEnd(deps, answer.session, answer.end, answer.approval));
  };
  app.get('/connect/callback', callback);
  // `response_mode=form_post` answers arrive as a cross-site POST, which does not carry SameSite=Lax cookies: this
  // flow always asks for `query`, so a POST answer only finishes when it comes from the same site.
  app.post('/connect/callback', callback);

  app.get('/connect/admin-consent/callback', async (request, reply) => {
    const result = await handleAdminConsentCallback(deps, callbackParams(request));
    const status = result.kind === 'granted' ? 200 : result.kind === 'error' ? 200 : 400;
    return sendHtml(reply, status, adminConsentResultPage(result));
  });
}

/**
 * The page of a session as it stands now (also what the user sees coming back to the link later). Which mailbox a
 * completed session connected is shown only to the browser that connected it (its binding cookie), and only while
 * the session lives: the link itself may travel (a shared screen, a forwarded mail, browser history on another
 * person's machine), and whoever holds it learns nothing but that it was used.
 */
async function sessionPage(
  deps: ServiceDeps,
  session: ConnectSessionsTable,
  cookies: Record<string, string | undefined>,
): Promise<string> {
  const expired = isSessionExpired(session, deps.clock.now());
  if (session.status === 'completed' && (expired || !isBoundBrowser(deps, session, cookies))) {
    return problemPage('session_finished');
  }
  if (session.status === 'completed' && session.account_id) {
    const account = await deps.db
      .selectFrom('accounts')
      .select(['id', 'email'])
      .where('id', '=', session.account_id)
      .executeTakeFirst();
    if (account) {
      const end: ConnectEnd = {
        status: session.outcome === 'reconnected' ? 'reconnected' : 'connected',
        accountId: account.id,
        email: account.email,
      };
      return renderEnd(deps, session, end, undefined);
    }
  }
  if (expired) return problemPage('session_expired', { backUrl: returnUrlWithStatus(session, 'expired') });
  // Completed, but its account is gone since (disconnected and deleted): the link has done its job.
  if (session.status === 'completed') return problemPage('session_finished');
  if ((session.status === 'failed' || session.status === 'awaiting_approval') && session.outcome) {
    const failure = failureFromStored(session.outcome, session.expected_email);
    const approval = session.status === 'awaiting_approval' ? await findApprovalHandOff(deps, session) : undefined;
    return renderEnd(deps, session, { status: 'failed', failure }, approval);
  }
  return providerChoicePage({
    sessionId: session.id,
    permissionLines: permissionLines(sessionProfile(session)),
    loginHint: session.login_hint,
    backUrl: returnUrlWithStatus(session, 'cancelled'),
  });
}

function callbackParams(request: FastifyRequest): URLSearchParams {
  const source = request.method === 'POST' ? request.body : request.query;
  const params = new URLSearchParams();
  if (source && typeof source === 'object') {
    for (const [name, value] of Object.entries(source as Record<string, unknown>)) {
      if (typeof value === 'string') params.append(name, value);
      else if (Array.isArray(value)) {
        // A repeated parameter is not something Microsoft sends; keep the first so nothing is silently merged.
        const first = value.find((item): item is string => typeof item === 'string');
        if (first !== undefined) params.append(name, first);
      }
    }
  }
  return params;
}

function sendCallbackProblem(reply: FastifyReply, answer: Extract<CallbackAnswer, { kind: 'problem' }>) {
  const session = answer.session;
  switch (answer.problem) {
    case 'session_expired':
      return sendProblem(reply, 410, 'session_expired', {
        backUrl: session ? returnUrlWithStatus(session, 'expired') : null,
      });
    case 'browser_mismatch':
      // No link back: this browser is not the one the host app sent here.
      return sendProblem(reply, 403, 'browser_mismatch');
    case 'state_used':
      // The user's own page says how the attempt ended (connected, or what to do next).
      return sendProblem(reply, 409, 'state_used', session ? { retryUrl: `/connect/${session.id}` } : {});
    default:
      return sendProblem(reply, 400, answer.problem);
  }
}

function sendProblem(
  reply: FastifyReply,
  status: number,
  problem: ConnectProblem,
  options: { backUrl?: string | null; retryUrl?: string } = {},
) {
  return sendHtml(reply, status, problemPage(problem, options));
}

function sendHtml(reply: FastifyReply, status: number, page: string) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(page);
}
