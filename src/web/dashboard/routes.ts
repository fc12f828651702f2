import type { CookieSerializeOptions } from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findAccountForOrgOrThrow, listAccounts, toAccountView } from '../../accounts/account-view.js';
import { disconnectAccount } from '../../accounts/disconnect-account.js';
import { createConnectSession } from '../../connect/connect-sessions.js';
import { isPermissionProfile, type PermissionProfile } from '../../connect/permission-profiles.js';
import {
  type DashboardSession,
  deleteDashboardSession,
  resolveDashboardSession,
  SESSION_MAX_MS,
} from '../../dashboard-auth/dashboard-sessions.js';
import { dashboardOwnerExternalId } from '../../dashboard-auth/dashboard-users.js';
import { KNOWN_DEVICE_MS } from '../../dashboard-auth/known-devices.js';
import { AppError } from '../../errors/app-error.js';
import { toEventView } from '../../events/event-recorder.js';
import { type EmailProvider, ensureOwner, SENDING_STATUSES, setOwnerEmailProvider } from '../../owners/owners.js';
import { randomToken } from '../../platform/ids.js';
import type { ServiceDeps } from '../../services.js';
import { html } from '../html.js';
import {
  type PageNotice,
  renderAccountPage,
  renderAccountsPage,
  renderAddAccountPage,
  renderDisconnectConfirmPage,
  type SignedIn,
} from './accounts-pages.js';
import { registerApiKeyPages } from './api-keys-routes.js';
import { connectSessionNotice, ensureDashboardReturnUrlAllowed, findConnectOutcome } from './connect-return.js';
import { CSRF_FIELD, csrfTokenFor, isCsrfTokenValid } from './csrf.js';
import { formField } from './form-fields.js';
import { notice, renderPage } from './layout.js';
import { registerMessagePages } from './messages-routes.js';
import type { DashboardPageGroup } from './page-groups.js';
import { listPendingConnections } from './pending-connections.js';
import { renderCommunicationSettingsPage } from './settings-page.js';
import { signInWithPassword } from './sign-in.js';
import { renderSignInPage } from './sign-in-page.js';

/** Sign-in attempts per client IP (all addresses together) per minute; the per-email counter is the other half. */
export const SIGN_IN_RATE_LIMIT = { max: 10, timeWindowMs: 60_000 } as const;

const ACCOUNT_LIST_LIMIT = 200;
/** The account page shows the latest events (listEvents pages oldest-first for the API, so it is not used here). */
const TIMELINE_LIMIT = 100;
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

interface SignedInContext {
  session: DashboardSession;
  signedIn: SignedIn;
  organizationId: string;
}

/**
 * Registers the dashboard (/dashboard): server-rendered pages under the app's strict CSP (no script needed), a
 * session cookie checked on every route but sign-in, a form token on every POST (csrf.ts), a per-IP rate limit and a
 * per-email failure counter on sign-in, HTML error pages. Everything lives in its own encapsulated plugin, so its
 * hooks, rate limiter and error handler touch no other route.
 */
export async function registerDashboardRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  pageGroups: readonly DashboardPageGroup[] = [],
): Promise<void> {
  await app.register((scope) => dashboardPlugin(scope, deps, pageGroups), { prefix: '/dashboard' });
}

async function dashboardPlugin(
  scope: FastifyInstance,
  deps: ServiceDeps,
  pageGroups: readonly DashboardPageGroup[],
): Promise<void> {
  const { db, clock } = deps;
  const cookies = dashboardCookies(deps.config.publicUrl);
  const contexts = new WeakMap<FastifyRequest, SignedInContext>();
  const publicRoutes = new Set(['/dashboard/sign-in']);

  await scope.register(rateLimit, { global: false });

  // Pages show account data: never cached, by the browser or anything between.
  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  scope.addHook('preHandler', async (request, reply) => {
    if (publicRoutes.has(request.routeOptions.url ?? '')) return;
    const token = request.cookies[cookies.session];
    const session = token && COOKIE_VALUE.test(token) ? await resolveDashboardSession(db, clock, token) : undefined;
    if (!token || !session) {
      if (token) reply.clearCookie(cookies.session, cookies.options());
      const next = request.method === 'GET' ? request.url : undefined;
      const query = new URLSearchParams();
      if (next) query.set('next', next);
      if (token) query.set('expired', '1');
      const search = query.size > 0 ? `?${query}` : '';
      return reply.redirect(`/dashboard/sign-in${search}`, 303);
    }
    const csrfToken = csrfTokenFor(token);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!isCsrfTokenValid(token, formField(request, CSRF_FIELD))) {
        request.log.warn({ route: request.routeOptions.url }, 'dashboard form rejected: missing or wrong CSRF token');
        return reply
          .code(403)
          .type('text/html; charset=utf-8')
          .send(
            renderMessagePage(
              { email: session.user.email, csrfToken, ownerExternalId: dashboardOwnerExternalId(session.user.id) },
              'This form has expired',
              'The page you sent it from belongs to another session or is too old. Go back, reload the page and try again.',
            ),
          );
      }
    }
    contexts.set(request, {
      session,
      organizationId: session.user.organizationId,
      signedIn: {
        email: session.user.email,
        csrfToken,
        ownerExternalId: dashboardOwnerExternalId(session.user.id),
      },
    });
  });

  scope.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    const status = errorStatus(error);
    const context = contexts.get(request);
    if (status === 429 && request.routeOptions.url === '/dashboard/sign-in') {
      const csrfToken = csrfTokenFor(ensurePreSessionCookie(request, reply, cookies));
      return reply
        .code(429)
        .type('text/html; charset=utf-8')
        .send(
          renderSignInPage({
            csrfToken,
            error: 'Too many sign-in attempts from your network. Wait a minute, then try again.',
          }),
        );
    }
    if (status >= 500) request.log.error({ err: error }, 'dashboard request failed');
    const title = status === 404 ? 'Not found' : status >= 500 ? 'Something went wrong' : 'That did not work';
    const text =
      status >= 500
        ? 'Something went wrong on our side. Try again; if it keeps happening, the log has the details.'
        : error instanceof AppError
          ? error.message
          : status === 404
            ? 'There is nothing here.'
            : 'The request was not understood.';
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(renderMessagePage(context?.signedIn, title, text));
  });

  scope.setNotFoundHandler(async (request, reply) => {
    // Unknown dashboard paths answer like a missing account: a page, and no hint of what exists.
    const token = request.cookies[cookies.session];
    const session = token && COOKIE_VALUE.test(token) ? await resolveDashboardSession(db, clock, token) : undefined;
    const signedIn =
      token && session
        ? {
            email: session.user.email,
            csrfToken: csrfTokenFor(token),
            ownerExternalId: dashboardOwnerExternalId(session.user.id),
          }
        : undefined;
    return reply
      .code(404)
      .type('text/html; charset=utf-8')
      .send(renderMessagePage(signedIn, 'Not found', 'There is nothing here.'));
  });

  const ctx = (request: FastifyRequest): SignedInContext => {
    const context = contexts.get(request);
    // The preHandler sets it for every non-public route; a route without it is a programming error.
    if (!context) throw new Error(`dashboard route ${request.routeOptions.url} ran without a session`);
    return context;
  };
  const sendHtml = (reply: FastifyReply, body: string, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').send(body);

  // ----- Sign-in and sign-out -----------------------------------------------------------------------------------

  scope.get('/sign-in', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const token = request.cookies[cookies.session];
    if (token && COOKIE_VALUE.test(token) && (await resolveDashboardSession(db, clock, token))) {
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
    await deleteDashboardSession(db, ctx(request).session.idHash);
    reply.clearCookie(cookies.session, cookies.options());
    return reply.redirect('/dashboard/sign-in?signed_out=1', 303);
  });

  // ----- Accounts ------------------------------------------------------------------------------------------------

  scope.get('/', async (request, reply) => {
    const { signedIn, organizationId } = ctx(request);
    const query = request.query as Record<string, string | undefined>;
    const page = await listAccounts(db, organizationId, { limit: ACCOUNT_LIST_LIMIT });
    const now = clock.now();
    return sendHtml(
      reply,
      renderAccountsPage({
        signedIn,
        accounts: page.data.map((row) => toAccountView(row, now)),
        pending: await listPendingConnections(deps, organizationId, signedIn.ownerExternalId),
        more: page.nextCursor !== null,
        notice: await connectSessionNotice(db, organizationId, query['connect']),
      }),
    );
  });

  scope.get('/accounts/new', async (request, reply) =>
    sendHtml(reply, renderAddAccountPage({ signedIn: ctx(request).signedIn })),
  );

  scope.post('/accounts/new', async (request, reply) => {
    const { signedIn, organizationId } = ctx(request);
    // The provider is chosen on the connect flow's first page; Microsoft is the one there is.
    const provider = formField(request, 'provider') ?? 'microsoft';
    const profile = formField(request, 'profile');
    if (provider !== 'microsoft' || !isPermissionProfile(profile)) {
      return sendHtml(
        reply,
        renderAddAccountPage({ signedIn, error: 'Choose what the mailbox will be used for.' }),
        400,
      );
    }
    return startConnect(reply, organizationId, signedIn.ownerExternalId, profile, undefined);
  });

  scope.get('/connect-return', async (request, reply) => {
    const { organizationId } = ctx(request);
    const fromCookie = request.cookies[cookies.connect];
    reply.clearCookie(cookies.connect, cookies.options());
    const sessionId = await findConnectOutcome(
      db,
      organizationId,
      fromCookie,
      request.query as Record<string, unknown>,
    );
    return reply.redirect(sessionId ? `/dashboard?connect=${encodeURIComponent(sessionId)}` : '/dashboard', 303);
  });

  scope.get('/accounts/:id', async (request, reply) => {
    const { signedIn, organizationId } = ctx(request);
    const { id } = request.params as { id: string };
    const query = request.query as Record<string, string | undefined>;
    const account = toAccountView(await findAccountForOrgOrThrow(db, organizationId, id), clock.now());
    const events = await db
      .selectFrom('events')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('account_id', '=', account.id)
      .orderBy('id', 'desc')
      .limit(TIMELINE_LIMIT)
      .execute();
    const pageNotice: PageNotice | undefined =
      query['disconnected'] !== undefined && account.status === 'disconnected'
        ? {
            kind: 'info',
            text: `Disconnected ${account.email}.`,
            detail: 'Its tokens and their encryption key were deleted; mailbridge can no longer use this mailbox.',
          }
        : await connectSessionNotice(db, organizationId, query['connect']);
    return sendHtml(
      reply,
      renderAccountPage({ signedIn, account, events: events.map(toEventView), notice: pageNotice }),
    );
  });

  scope.post('/accounts/:id/reconnect', async (request, reply) => {
    const { organizationId } = ctx(request);
    const { id } = request.params as { id: string };
    const account = await findAccountForOrgOrThrow(db, organizationId, id);
    // The account's own profile, or the warm-up profile when the user asks for it (incremental consent).
    const profile: PermissionProfile =
      formField(request, 'profile') === 'warmup'
        ? 'warmup'
        : isPermissionProfile(account.permission_profile)
          ? account.permission_profile
          : 'send';
    // The same owner as before, so the connect flow updates this account (same tid+oid) instead of another owner's.
    return startConnect(reply, organizationId, account.owner_external_id, profile, account.email);
  });

  scope.get('/accounts/:id/disconnect', async (request, reply) => {
    const { signedIn, organizationId } = ctx(request);
    const { id } = request.params as { id: string };
    const account = toAccountView(await findAccountForOrgOrThrow(db, organizationId, id), clock.now());
    if (account.status === 'disconnected') return reply.redirect(`/dashboard/accounts/${account.id}`, 303);
    return sendHtml(reply, renderDisconnectConfirmPage({ signedIn, account }));
  });

  scope.post('/accounts/:id/disconnect', async (request, reply) => {
    const { organizationId } = ctx(request);
    const { id } = request.params as { id: string };
    const account = await disconnectAccount(deps, organizationId, id);
    return reply.redirect(`/dashboard/accounts/${encodeURIComponent(account.id)}?disconnected=1`, 303);
  });

  // ----- Settings → Communication --------------------------------------------------------------------------------

  scope.get('/settings', async (_request, reply) => reply.redirect('/dashboard/settings/communication', 303));

  const communicationPage = async (
    context: SignedInContext,
    pageNotice: PageNotice | undefined,
    chosen?: EmailProvider,
  ): Promise<string> => {
    const owner = await ensureOwner(db, clock, context.organizationId, context.signedIn.ownerExternalId);
    const accounts = await listAccounts(db, context.organizationId, {
      ownerExternalId: context.signedIn.ownerExternalId,
      limit: ACCOUNT_LIST_LIMIT,
    });
    const sending = accounts.data
      .filter((row) => row.provider === 'microsoft' && (SENDING_STATUSES as readonly string[]).includes(row.status))
      .map((row) => row.email);
    return renderCommunicationSettingsPage({
      signedIn: context.signedIn,
      provider: chosen ?? owner.email_provider,
      sendingAccounts: sending,
      defaultSender: deps.config.smtp?.from,
      notice: pageNotice,
    });
  };

  scope.get('/settings/communication', async (request, reply) => {
    const context = ctx(request);
    const query = request.query as Record<string, string | undefined>;
    const saved = query['saved'] !== undefined ? { kind: 'info' as const, text: 'Saved.' } : undefined;
    return sendHtml(reply, await communicationPage(context, saved));
  });

  scope.post('/settings/communication', async (request, reply) => {
    const context = ctx(request);
    const provider = formField(request, 'provider');
    const channel = formField(request, 'channel');
    if ((provider !== 'microsoft' && provider !== 'default') || (channel !== undefined && channel !== 'email')) {
      return sendHtml(
        reply,
        await communicationPage(context, { kind: 'error', text: 'Choose an email provider.' }),
        400,
      );
    }
    try {
      await setOwnerEmailProvider(deps, context.organizationId, context.signedIn.ownerExternalId, provider);
    } catch (error) {
      if (error instanceof AppError && error.code === 'OWNER_NO_CONNECTED_ACCOUNT') {
        return sendHtml(
          reply,
          await communicationPage(context, {
            kind: 'error',
            text: 'Personal Outlook needs a connected Microsoft account.',
            detail: 'Add an email account first, then choose Personal Outlook.',
          }),
          409,
        );
      }
      throw error;
    }
    return reply.redirect('/dashboard/settings/communication?saved=1', 303);
  });

  // ----- Messages (issue 4 item 7: messages-routes.ts) ---------------------------------------------------------

  registerMessagePages(scope, deps, ctx);

  // ----- Settings → API keys (api-keys-routes.ts) ----------------------------------------------------------------

  registerApiKeyPages(scope, deps, ctx);

  // ----- Feature pages (page-groups.ts: warm-up) -----------------------------------------------------------------

  for (const register of pageGroups) register(scope, deps, ctx);

  // ----- Connect hand-off ----------------------------------------------------------------------------------------

  async function startConnect(
    reply: FastifyReply,
    organizationId: string,
    ownerExternalId: string,
    permissionProfile: PermissionProfile,
    loginHint: string | undefined,
  ): Promise<FastifyReply> {
    const returnUrl = await ensureDashboardReturnUrlAllowed(deps, organizationId);
    const session = await createConnectSession(deps, {
      organizationId,
      ownerExternalId,
      permissionProfile,
      returnUrl,
      loginHint,
    });
    // Remembers which attempt this browser started, so the return page can tell how it ended whatever the
    // connect flow appends to the return URL. The id is the session's capability: HttpOnly, this site only.
    reply.setCookie(cookies.connect, session.id, cookies.options({ maxAge: 7 * 24 * 3600 }));
    return reply.redirect(session.url, 303);
  }
}

// ----- helpers ---------------------------------------------------------------------------------------------------

interface DashboardCookies {
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
 * sibling subdomain can plant or shadow it. @see RFC 6265bis §4.1.3.2
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

function ensurePreSessionCookie(
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

function stringField(request: FastifyRequest, name: string, maxLength: number): string | undefined {
  const value = formField(request, name);
  return value === undefined ? undefined : value.slice(0, maxLength);
}

/** Only our own dashboard paths: no scheme, no `//host`, no backslash tricks (no open redirect after sign-in). */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  if (!/^\/dashboard(?:[/?#]|$)/.test(value)) return undefined;
  if (value.includes('\\') || value.includes('//') || hasControlCharacter(value)) return undefined;
  if (value.startsWith('/dashboard/sign-in')) return undefined;
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

function errorStatus(error: FastifyError | AppError): number {
  if (error instanceof AppError) return error.status;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

function renderMessagePage(signedIn: SignedIn | undefined, title: string, text: string): string {
  return renderPage(
    { title, signedIn, narrow: !signedIn },
    html`<div class="card">
  <h1 id="message-title">${title}</h1>
  ${notice(text, 'error', 'message')}
  <p><a href="/dashboard">Back to the dashboard</a></p>
</div>`,
  );
}
