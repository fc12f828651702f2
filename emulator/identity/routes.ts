import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findUserByEmail } from '../state/world.js';
import { ERROR_LOOKUP } from './aadsts.js';
import { handleAdminConsent, handleAuthorize } from './authorize.js';
import { signOut } from './browser-session.js';
import { handleInstanceDiscovery, handleKeys, handleOpenIdConfiguration } from './discovery.js';
import { errorLookupPage, signedOutPage } from './pages.js';
import { nonEmptyField, redirectToApp, sendHtml } from './respond.js';
import { handleToken, handleTokenGet } from './token.js';

/**
 * The Microsoft identity platform (v2.0) at `/{tenant}/…` of the emulator's origin: discovery and keys,
 * authorize with its sign-in pages, token, admin consent, logout, and the `/error` lookup that `error_uri` names.
 * @see docs/entra.md §1, docs/conformance.md
 */
export function registerIdentityRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/:tenant/v2.0/.well-known/openid-configuration', (request, reply) =>
    handleOpenIdConfiguration(ctx, request, reply),
  );
  app.get('/:tenant/discovery/v2.0/keys', (request, reply) => handleKeys(ctx, request, reply));
  app.get('/:tenant/discovery/instance', (request, reply) => handleInstanceDiscovery(ctx, request, reply));

  app.get('/:tenant/oauth2/v2.0/authorize', (request, reply) => handleAuthorize(ctx, request, reply));
  app.post('/:tenant/oauth2/v2.0/authorize', (request, reply) => handleAuthorize(ctx, request, reply));

  app.post('/:tenant/oauth2/v2.0/token', (request, reply) => handleToken(ctx, request, reply));
  app.get('/:tenant/oauth2/v2.0/token', (_request, reply) => handleTokenGet(ctx, reply));

  app.get('/:tenant/v2.0/adminconsent', (request, reply) => handleAdminConsent(ctx, request, reply, 'adminConsent'));
  app.post('/:tenant/v2.0/adminconsent', (request, reply) => handleAdminConsent(ctx, request, reply, 'adminConsent'));
  app.get('/:tenant/adminconsent', (request, reply) => handleAdminConsent(ctx, request, reply, 'legacyAdminConsent'));
  app.post('/:tenant/adminconsent', (request, reply) => handleAdminConsent(ctx, request, reply, 'legacyAdminConsent'));

  app.get('/:tenant/oauth2/v2.0/logout', (request, reply) => handleLogout(ctx, request, reply));
  app.post('/:tenant/oauth2/v2.0/logout', (request, reply) => handleLogout(ctx, request, reply));

  app.get('/error', (request, reply) => {
    const raw = nonEmptyField(request.query, 'code');
    const code = raw && /^\d+$/.test(raw) ? Number(raw) : null;
    return sendHtml(reply, 200, errorLookupPage(code, code === null ? null : (ERROR_LOOKUP[code] ?? null)));
  });
}

/**
 * Signs the browser out (every account, or the one `logout_hint` names) and returns to
 * `post_logout_redirect_uri` when an app registered it, else shows "You signed out of your account".
 */
function handleLogout(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const params = request.method === 'POST' ? request.body : request.query;
  const hint = nonEmptyField(params, 'logout_hint');
  signOut(ctx, request, reply, hint ? findUserByEmail(ctx.world, hint)?.id : undefined);
  const target = nonEmptyField(params, 'post_logout_redirect_uri');
  const clientId = nonEmptyField(params, 'client_id')?.toLowerCase();
  const apps = clientId ? [ctx.world.apps[clientId]].filter((app) => app !== undefined) : Object.values(ctx.world.apps);
  if (target && apps.some((app) => app.redirectUris.includes(target))) {
    const state = nonEmptyField(params, 'state');
    return redirectToApp(ctx, reply, { redirectUri: target, responseMode: 'query' }, state ? [['state', state]] : []);
  }
  return sendHtml(reply, 200, signedOutPage());
}
