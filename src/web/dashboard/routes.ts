import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { dashboardOwnerExternalId } from '../../dashboard-auth/dashboard-users.js';
import { AppError } from '../../errors/app-error.js';
import type { ServiceDeps } from '../../services.js';
import { html } from '../html.js';
import type { SignedIn } from './accounts-pages.js';
import { registerAccountPages } from './accounts-routes.js';
import { registerApiKeyPages } from './api-keys-routes.js';
import { registerConnectReturnPage } from './connect-routes.js';
import { CSRF_FIELD, csrfTokenFor, isCsrfTokenValid } from './csrf.js';
import type { DashboardContext, DashboardPageGroup } from './dashboard-context.js';
import { sendHtml } from './dashboard-context.js';
import { dashboardCookies, ensurePreSessionCookie, sessionOfCookie } from './dashboard-cookies.js';
import { formField } from './form-fields.js';
import { notice, renderPage } from './layout.js';
import { registerMessagePages } from './messages-routes.js';
import { registerOutsideMailPage } from './outside-mail-routes.js';
import { registerSettingsPages } from './settings-routes.js';
import { renderSignInPage } from './sign-in-page.js';
import { registerSignInPages, SIGN_IN_URL } from './sign-in-routes.js';
import { registerWebhookEndpointPages } from './webhook-endpoints-routes.js';

/**
 * The dashboard's page groups. Each registers its own routes (under /dashboard) and gets the hooks below: the
 * session, the form token, the HTML error pages. A new group of pages is one more line here.
 */
const PAGE_GROUPS: readonly DashboardPageGroup[] = [
  registerSignInPages,
  registerAccountPages,
  registerConnectReturnPage,
  registerSettingsPages,
  registerMessagePages,
  registerApiKeyPages,
  registerWebhookEndpointPages,
  registerOutsideMailPage,
];

/** Routes that answer without a session. */
const PUBLIC_ROUTES = new Set([SIGN_IN_URL]);

/**
 * Registers the dashboard (/dashboard) with its page groups and those of `features` (pages of features the dashboard
 * does not import, handed over by the composition root: warm-up): server-rendered pages under the app's strict CSP (no script needed), a
 * session cookie checked on every route but sign-in, a form token on every POST (csrf.ts), a per-IP rate limit and a
 * per-email failure counter on sign-in, HTML error pages. Everything lives in its own encapsulated plugin, so its
 * hooks, rate limiter and error handler touch no other route.
 */
export async function registerDashboardRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  features: readonly DashboardPageGroup[] = [],
): Promise<void> {
  await app.register((scope) => dashboardPlugin(scope, deps, [...PAGE_GROUPS, ...features]), { prefix: '/dashboard' });
}

async function dashboardPlugin(
  scope: FastifyInstance,
  deps: ServiceDeps,
  pageGroups: readonly DashboardPageGroup[],
): Promise<void> {
  const cookies = dashboardCookies(deps.config.publicUrl);
  const contexts = new WeakMap<FastifyRequest, DashboardContext>();

  await scope.register(rateLimit, { global: false });

  // Pages show account data: never cached, by the browser or anything between.
  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  scope.addHook('preHandler', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    const token = request.cookies[cookies.session];
    const session = await sessionOfCookie(deps, token);
    if (!token || !session) {
      if (token) reply.clearCookie(cookies.session, cookies.options());
      const next = request.method === 'GET' ? request.url : undefined;
      const query = new URLSearchParams();
      if (next) query.set('next', next);
      if (token) query.set('expired', '1');
      const search = query.size > 0 ? `?${query}` : '';
      return reply.redirect(`${SIGN_IN_URL}${search}`, 303);
    }
    const signedIn: SignedIn = {
      email: session.user.email,
      csrfToken: csrfTokenFor(token),
      ownerExternalId: dashboardOwnerExternalId(session.user.id),
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!isCsrfTokenValid(token, formField(request, CSRF_FIELD))) {
        request.log.warn({ route: request.routeOptions.url }, 'dashboard form rejected: missing or wrong CSRF token');
        return sendHtml(
          reply,
          renderMessagePage(
            signedIn,
            'This form has expired',
            'The page you sent it from belongs to another session or is too old. Go back, reload the page and try again.',
          ),
          403,
        );
      }
    }
    contexts.set(request, { session, organizationId: session.user.organizationId, signedIn });
  });

  scope.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    const status = errorStatus(error);
    const context = contexts.get(request);
    if (status === 429 && request.routeOptions.url === SIGN_IN_URL) {
      const csrfToken = csrfTokenFor(ensurePreSessionCookie(request, reply, cookies));
      return sendHtml(
        reply,
        renderSignInPage({
          csrfToken,
          error: 'Too many sign-in attempts from your network. Wait a minute, then try again.',
        }),
        429,
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
    return sendHtml(reply, renderMessagePage(context?.signedIn, title, text), status);
  });

  scope.setNotFoundHandler(async (request, reply) => {
    // Unknown dashboard paths answer like a missing account: a page, and no hint of what exists.
    const token = request.cookies[cookies.session];
    const session = await sessionOfCookie(deps, token);
    const signedIn =
      token && session
        ? {
            email: session.user.email,
            csrfToken: csrfTokenFor(token),
            ownerExternalId: dashboardOwnerExternalId(session.user.id),
          }
        : undefined;
    return sendHtml(reply, renderMessagePage(signedIn, 'Not found', 'There is nothing here.'), 404);
  });

  const contextOf = (request: FastifyRequest): DashboardContext => {
    const context = contexts.get(request);
    // The preHandler sets it for every non-public route; a route without it is a programming error.
    if (!context) throw new Error(`dashboard route ${request.routeOptions.url} ran without a session`);
    return context;
  };

  for (const registerPages of pageGroups) registerPages(scope, deps, contextOf);
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
