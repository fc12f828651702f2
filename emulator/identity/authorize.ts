import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { AadErrorInput } from '../errors.js';
import type { AppRegistration, SignInFlow } from '../state/model.js';
import { resolveTenantSegment, type TenantSegment } from '../state/world.js';
import { aadsts } from './aadsts.js';
import { createFlow } from './flows.js';
import { appVisibleFrom, directoryName, endpointErrorForApp } from './policy.js';
import { field, nonEmptyField, type RedirectTarget, redirectError, sendErrorPage } from './respond.js';
import { parseScopes } from './scopes.js';
import { handleFlowSubmission, startFlow } from './sign-in-flow.js';

/**
 * `/{tenant}/oauth2/v2.0/authorize` and the admin consent endpoints: request validation in Microsoft's order,
 * then the interactive flow (sign-in-flow.ts). Errors that concern the app or the redirect target itself (unknown
 * tenant or client, redirect URI not registered exactly) are shown on an error page and never redirected; every
 * later error is redirected to the app with `error`, `error_description`, `error_uri` and `state`.
 * @see docs/entra.md §1.2, §1.3, §1.7
 */

const PROMPTS = new Set(['login', 'none', 'consent', 'select_account']);
const RESPONSE_MODES = new Set(['query', 'fragment', 'form_post']);

type Validated =
  | { ok: true; app: AppRegistration; segment: TenantSegment; redirectUri: string }
  | { ok: false; reply: FastifyReply };

/** Tenant, client and redirect URI: the checks whose failures must not be redirected. */
function validateClientAndRedirect(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  params: unknown,
  options: { redirectUriOptional: boolean },
): Validated {
  const tenantParam = (request.params as { tenant: string }).tenant;
  const segment = resolveTenantSegment(ctx.world, tenantParam);
  if (!segment) return { ok: false, reply: sendErrorPage(ctx, reply, aadsts.tenantNotFound(tenantParam)) };
  const clientId = nonEmptyField(params, 'client_id')?.toLowerCase();
  if (!clientId) return { ok: false, reply: sendErrorPage(ctx, reply, aadsts.missingParameter('client_id')) };
  request.emulatorActor = { clientId, userId: null };
  const app = ctx.world.apps[clientId];
  if (!app || !appVisibleFrom(app, segment)) {
    return { ok: false, reply: sendErrorPage(ctx, reply, aadsts.appNotFound(clientId, directoryName(segment))) };
  }
  let redirectUri = nonEmptyField(params, 'redirect_uri');
  if (!redirectUri && options.redirectUriOptional) redirectUri = app.redirectUris[0];
  if (!redirectUri) return { ok: false, reply: sendErrorPage(ctx, reply, aadsts.noReplyAddress()) };
  // Exact match, character for character. @see docs/entra.md §1.2
  if (!app.redirectUris.includes(redirectUri) || !URL.canParse(redirectUri)) {
    return { ok: false, reply: sendErrorPage(ctx, reply, aadsts.redirectUriMismatch(redirectUri, app.clientId)) };
  }
  return { ok: true, app, segment, redirectUri };
}

/** GET (or a POST without a page's `flow` field) to `/{tenant}/oauth2/v2.0/authorize`. */
export async function handleAuthorize(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const params = request.method === 'POST' ? request.body : request.query;
  if (request.method === 'POST' && field(params, 'flow') !== undefined) {
    return handleFlowSubmission(ctx, request, reply, params);
  }
  const checked = validateClientAndRedirect(ctx, request, reply, params, { redirectUriOptional: false });
  if (!checked.ok) return checked.reply;
  const { app, segment, redirectUri } = checked;
  const state = field(params, 'state') ?? null;
  const rawMode = nonEmptyField(params, 'response_mode');
  const responseMode = (rawMode && RESPONSE_MODES.has(rawMode) ? rawMode : 'query') as RedirectTarget['responseMode'];
  const target: RedirectTarget = { redirectUri, responseMode };
  const fail = (input: AadErrorInput) => redirectError(ctx, reply, target, input, { state });
  if (rawMode && !RESPONSE_MODES.has(rawMode)) return fail(aadsts.unsupportedResponseMode(rawMode));

  const responseType = nonEmptyField(params, 'response_type');
  if (!responseType) return fail(aadsts.missingParameter('response_type'));
  // Only the authorization code flow is served; hybrid and implicit need the implicit grant, never enabled here.
  if (responseType.trim() !== 'code') return fail(aadsts.unsupportedResponseType(responseType.trim()));

  const rawScope = nonEmptyField(params, 'scope');
  if (!rawScope) return fail(aadsts.missingParameter('scope'));
  const parsed = parseScopes(ctx, rawScope, app);
  if (!parsed.ok) {
    return fail(
      parsed.reason === 'defaultCombined'
        ? aadsts.defaultScopeCombined(parsed.scope)
        : aadsts.invalidScope(parsed.scope),
    );
  }

  const promptParam = nonEmptyField(params, 'prompt');
  if (promptParam && !PROMPTS.has(promptParam)) return fail(aadsts.invalidParameter('prompt', promptParam));
  const prompt = (promptParam ?? null) as SignInFlow['prompt'];

  const codeChallenge = nonEmptyField(params, 'code_challenge') ?? null;
  const method = nonEmptyField(params, 'code_challenge_method');
  if (method && method !== 'S256' && method !== 'plain') {
    return fail(aadsts.invalidParameter('code_challenge_method', method));
  }
  if (method && !codeChallenge) return fail(aadsts.missingParameter('code_challenge'));
  // RFC 7636 §4.1–4.2: 43 to 128 characters.
  if (codeChallenge && (codeChallenge.length < 43 || codeChallenge.length > 128)) {
    return fail(aadsts.invalidCodeChallenge());
  }

  const endpointError = endpointErrorForApp(app, segment);
  if (endpointError) return fail(endpointError);

  const { id, flow } = createFlow(ctx, {
    kind: 'authorize',
    tenantSegment: (request.params as { tenant: string }).tenant,
    clientId: app.clientId,
    redirectUri,
    responseMode,
    state,
    nonce: field(params, 'nonce') ?? null,
    scopes: parsed.scopes,
    codeChallenge,
    // A challenge without a method is `plain`. @see docs/entra.md §1.2
    codeChallengeMethod: codeChallenge ? ((method ?? 'plain') as 'S256' | 'plain') : null,
    prompt,
    // `select_account` shows the picker whatever the hint says. @see docs/entra.md §1.2
    loginHint: prompt === 'select_account' ? null : (nonEmptyField(params, 'login_hint') ?? null),
  });
  return startFlow(ctx, request, reply, { flow, flowId: id, app, segment });
}

/**
 * `/{tenant}/v2.0/adminconsent` (`scope` required, not on `common`/`consumers`) and the legacy
 * `/{tenant}/adminconsent` (all statically configured permissions, `redirect_uri` optional).
 * @see docs/entra.md §1.7
 */
export async function handleAdminConsent(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: 'adminConsent' | 'legacyAdminConsent',
) {
  const params = request.method === 'POST' ? request.body : request.query;
  if (request.method === 'POST' && field(params, 'flow') !== undefined) {
    return handleFlowSubmission(ctx, request, reply, params);
  }
  const checked = validateClientAndRedirect(ctx, request, reply, params, {
    redirectUriOptional: kind === 'legacyAdminConsent',
  });
  if (!checked.ok) return checked.reply;
  const { app, segment, redirectUri } = checked;
  const state = field(params, 'state') ?? null;
  const target: RedirectTarget = { redirectUri, responseMode: 'query' };
  const fail = (input: AadErrorInput) => redirectError(ctx, reply, target, input, { state, adminConsent: true });

  // Personal accounts cannot consent for an organisation, so the v2 endpoint needs a tenant (or organizations).
  if (segment.kind === 'consumers' || (kind === 'adminConsent' && segment.kind === 'common')) {
    return fail(aadsts.endpointNeedsTenant());
  }
  let scopes = app.requiredScopes;
  if (kind === 'adminConsent') {
    const rawScope = nonEmptyField(params, 'scope');
    if (!rawScope) return fail(aadsts.missingParameter('scope'));
    const parsed = parseScopes(ctx, rawScope, app);
    if (!parsed.ok) {
      return fail(
        parsed.reason === 'defaultCombined'
          ? aadsts.defaultScopeCombined(parsed.scope)
          : aadsts.invalidScope(parsed.scope),
      );
    }
    scopes = parsed.scopes;
  }
  const { id, flow } = createFlow(ctx, {
    kind,
    tenantSegment: (request.params as { tenant: string }).tenant,
    clientId: app.clientId,
    redirectUri,
    responseMode: 'query',
    state,
    nonce: null,
    scopes: [...scopes],
    codeChallenge: null,
    codeChallengeMethod: null,
    prompt: null,
    loginHint: nonEmptyField(params, 'login_hint') ?? null,
  });
  return startFlow(ctx, request, reply, { flow, flowId: id, app, segment });
}
