import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { type AadErrorInput, sendAadError } from '../errors.js';
import { applyFaultBeforeHandler, dropConnection, takeFault } from '../faults.js';
import type { AppRegistration, AuthorizationCode, RefreshTokenRecord, User } from '../state/model.js';
import { findRefreshToken, issueAccessToken, issueRefreshToken } from '../state/tokens.js';
import { digest, resolveTenantSegment, type TenantSegment } from '../state/world.js';
import { aadsts } from './aadsts.js';
import { clientInfo, issueIdToken } from './id-token.js';
import { appVisibleFrom, canonicalSegment, directoryName, grantedScopes, refuseUser } from './policy.js';
import { field, nonEmptyField } from './respond.js';
import { hasScope, missingScopes, parseScopes, tokenResponseScopes, unionScopes } from './scopes.js';

/**
 * `POST /{tenant}/oauth2/v2.0/token`: the `authorization_code` and `refresh_token` grants, client authentication
 * by `client_secret` in the body or HTTP Basic, and Microsoft's errors for each way this goes wrong.
 * @see docs/entra.md §1.4, §1.5, §2
 */

type Failure = { error: AadErrorInput; status?: number };

function isFailure(value: unknown): value is Failure {
  return typeof value === 'object' && value !== null && 'error' in value && !('app' in value);
}

/** The form body, or nothing when the request was not form-encoded (Microsoft reads no other body). */
function formBody(request: FastifyRequest): Record<string, unknown> {
  const type = request.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return {};
  return (request.body as Record<string, unknown> | undefined) ?? {};
}

/** RFC 6749 §2.3.1: Basic credentials are form-url-encoded before base64. */
function formUrlDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

function basicCredentials(request: FastifyRequest): { clientId: string; secret: string } | null | 'malformed' {
  const header = request.headers.authorization;
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  const clientId = formUrlDecode(decoded.slice(0, colon));
  const secret = formUrlDecode(decoded.slice(colon + 1));
  return clientId === null || secret === null ? 'malformed' : { clientId, secret };
}

function sameSecret(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

/** Finds and authenticates the client: 700016, 700025, 7000218, 7000215, 7000222. */
function authenticateClient(
  ctx: EmulatorContext,
  request: FastifyRequest,
  body: Record<string, unknown>,
  segment: TenantSegment,
): { app: AppRegistration } | Failure {
  const basic = basicCredentials(request);
  if (basic === 'malformed') return { error: aadsts.secretInvalid(nonEmptyField(body, 'client_id') ?? '') };
  const bodyClientId = nonEmptyField(body, 'client_id');
  if (basic && bodyClientId && bodyClientId.toLowerCase() !== basic.clientId.toLowerCase()) {
    return { error: aadsts.clientIdConflict() };
  }
  const clientId = (basic?.clientId ?? bodyClientId)?.toLowerCase();
  if (!clientId) return { error: aadsts.missingParameter('client_id') };
  request.emulatorActor = { clientId, userId: request.emulatorActor?.userId ?? null };
  const app = ctx.world.apps[clientId];
  if (!app || !appVisibleFrom(app, segment)) return { error: aadsts.appNotFound(clientId, directoryName(segment)) };
  const secret = basic?.secret ?? field(body, 'client_secret');
  const assertion = nonEmptyField(body, 'client_assertion');
  if (app.publicClient) {
    if (secret !== undefined || assertion) return { error: aadsts.publicClientWithSecret() };
    return { app };
  }
  if (assertion && secret === undefined) return { error: aadsts.assertionInvalid() };
  if (secret === undefined || secret === '') return { error: aadsts.secretMissing() };
  const match = app.secrets.find((candidate) => sameSecret(candidate.value, secret));
  if (!match) return { error: aadsts.secretInvalid(app.clientId) };
  if (match.expiresAt <= ctx.clock.now()) return { error: aadsts.secretExpired(app.clientId) };
  return { app };
}

/** The user a grant is for, without validating it: lets faults target one mailbox's token requests. */
function grantUserId(ctx: EmulatorContext, body: Record<string, unknown>): string | null {
  const grantType = field(body, 'grant_type');
  if (grantType === 'authorization_code') {
    const code = nonEmptyField(body, 'code');
    return code ? (ctx.world.codes[digest(code)]?.userId ?? null) : null;
  }
  if (grantType === 'refresh_token') {
    const token = nonEmptyField(body, 'refresh_token');
    return token ? (findRefreshToken(ctx, token)?.userId ?? null) : null;
  }
  return null;
}

export async function handleToken(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  const body = formBody(request);
  const userId = grantUserId(ctx, body);
  request.emulatorActor = { clientId: nonEmptyField(body, 'client_id')?.toLowerCase() ?? null, userId };
  const fault = takeFault(ctx, 'token', userId);
  if (fault && (await applyFaultBeforeHandler(ctx, request, reply, fault, 'identity')) === 'answered') return reply;

  const result = await tokenResponse(ctx, request, body);
  if (isFailure(result)) return sendAadError(ctx, reply, result.error, result.status);
  reply.code(200).header('cache-control', 'no-store, no-cache').header('pragma', 'no-cache');
  if (fault?.kind === 'timeoutAfterAccept') {
    // The tokens were issued (the grant is spent), but the client never hears of it.
    dropConnection(ctx, request, reply);
    return reply;
  }
  return reply.send(result);
}

async function tokenResponse(
  ctx: EmulatorContext,
  request: FastifyRequest,
  body: Record<string, unknown>,
): Promise<Record<string, unknown> | Failure> {
  const tenantParam = (request.params as { tenant: string }).tenant;
  const segment = resolveTenantSegment(ctx.world, tenantParam);
  if (!segment) return { error: aadsts.tenantNotFound(tenantParam, 'invalid_request') };
  const grantType = nonEmptyField(body, 'grant_type');
  if (!grantType) return { error: aadsts.missingParameter('grant_type') };
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    return { error: aadsts.unsupportedGrantType(grantType) };
  }
  const client = authenticateClient(ctx, request, body, segment);
  if (isFailure(client)) return client;
  const { app } = client;
  return grantType === 'authorization_code'
    ? redeemCode(ctx, request, body, app, segment)
    : redeemRefreshToken(ctx, request, body, app, segment);
}

/** PKCE: S256 or plain. @see RFC 7636 §4.6 */
function verifierMatches(code: AuthorizationCode, verifier: string): boolean {
  const expected =
    code.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  return expected === code.codeChallenge;
}

/** Checks on the user that apply to every grant: gone, disabled, blocked by Conditional Access. */
function userProblem(user: User | undefined, segment: TenantSegment): Failure | null {
  if (!user) return { error: aadsts.userNotFound(directoryName(segment)) };
  if (user.disabled) return { error: aadsts.userDisabled() };
  if (user.conditionalAccessBlocked) {
    return { error: { ...aadsts.conditionalAccessBlocked(), claims: policyClaims('block', user) } };
  }
  return null;
}

async function redeemCode(
  ctx: EmulatorContext,
  request: FastifyRequest,
  body: Record<string, unknown>,
  app: AppRegistration,
  segment: TenantSegment,
): Promise<Record<string, unknown> | Failure> {
  const value = nonEmptyField(body, 'code');
  if (!value) return { error: aadsts.missingParameter('code') };
  const code = ctx.world.codes[digest(value)];
  if (!code) return { error: aadsts.codeInvalid('The code is malformed or was not issued by this service.') };
  if (code.clientId !== app.clientId)
    return { error: aadsts.codeInvalid('The code was issued to a different client.') };
  if (code.redeemed) return { error: aadsts.codeRedeemed() };
  if (code.expiresAt <= ctx.clock.now()) return { error: aadsts.codeExpired() };
  if (code.tenantSegment !== canonicalSegment(segment)) return { error: aadsts.codeOtherTenant() };
  const redirectUri = nonEmptyField(body, 'redirect_uri');
  if (!redirectUri) return { error: aadsts.missingParameter('redirect_uri') };
  if (redirectUri !== code.redirectUri) {
    return {
      error: aadsts.codeInvalid(
        "The 'redirect_uri' must exactly match the redirect URI used to obtain the authorization code.",
      ),
    };
  }
  if (code.codeChallenge !== null) {
    const verifier = nonEmptyField(body, 'code_verifier');
    if (!verifier || !verifierMatches(code, verifier)) return { error: aadsts.pkceMismatch() };
  }
  const user = ctx.world.users[code.userId];
  request.emulatorActor = { clientId: app.clientId, userId: code.userId };
  const problem = userProblem(user, segment);
  if (problem) return problem;
  if (user!.tokensValidFrom > code.issuedAt) {
    return { error: aadsts.grantRevoked(code.issuedAt, user!.tokensValidFrom) };
  }
  code.redeemed = true;
  return successBody(ctx, body, {
    app,
    user: user!,
    scopes: code.scopes,
    nonce: code.nonce,
    sessionId: code.sessionId,
    refreshScopes: code.scopes,
  });
}

async function redeemRefreshToken(
  ctx: EmulatorContext,
  request: FastifyRequest,
  body: Record<string, unknown>,
  app: AppRegistration,
  segment: TenantSegment,
): Promise<Record<string, unknown> | Failure> {
  const value = nonEmptyField(body, 'refresh_token');
  if (!value) return { error: aadsts.missingParameter('refresh_token') };
  const record: RefreshTokenRecord | undefined = findRefreshToken(ctx, value);
  if (!record) return { error: aadsts.badRefreshToken() };
  if (record.clientId !== app.clientId) return { error: aadsts.refreshTokenOtherClient() };
  request.emulatorActor = { clientId: app.clientId, userId: record.userId };
  const now = ctx.clock.now();
  const user = ctx.world.users[record.userId];
  // Revoked by the user's or an admin's action (password change, revoke sessions). @see docs/entra.md §1.5
  if (record.revoked) return { error: aadsts.grantRevoked(record.issuedAt, user?.tokensValidFrom ?? now) };
  if (record.expiresAt <= now) {
    return { error: aadsts.refreshTokenInactive(record.issuedAt, ctx.settings.refreshTokenInactivitySeconds) };
  }
  const problem = userProblem(user, segment);
  if (problem) return problem;
  if (user!.tokensValidFrom > record.issuedAt) {
    return { error: aadsts.grantRevoked(record.issuedAt, user!.tokensValidFrom) };
  }
  const refusal = refuseUser(ctx, segment, app, user!);
  if (refusal) {
    const input = refusal.show === 'errorPage' ? refusal.input : aadsts.userNotFound(directoryName(segment));
    return { error: { ...input, error: 'invalid_grant' } };
  }
  if (user!.mfaRequiredFrom !== null && user!.mfaRequiredFrom > record.issuedAt) {
    return { error: { ...aadsts.mfaRequired(), claims: policyClaims('mfa', user!) } };
  }
  // A refresh token works for any scope the app holds consent for, not only those it was issued with.
  // @see docs/entra.md §1.4
  let scopes = record.scopes;
  const rawScope = nonEmptyField(body, 'scope');
  if (rawScope) {
    const parsed = parseScopes(ctx, rawScope, app);
    if (!parsed.ok) {
      return {
        error:
          parsed.reason === 'defaultCombined'
            ? aadsts.defaultScopeCombined(parsed.scope)
            : aadsts.invalidScope(parsed.scope),
      };
    }
    scopes = parsed.scopes;
  }
  // Consent revoked (or never given for a newly asked scope): AADSTS65001 with suberror consent_required.
  const granted = grantedScopes(ctx, user!, app.clientId);
  if (missingScopes(scopes, granted).length > 0) return { error: aadsts.consentRevoked(app) };
  record.redemptions = (record.redemptions ?? 0) + 1;
  return successBody(ctx, body, {
    app,
    user: user!,
    scopes,
    nonce: null,
    sessionId: record.sessionId,
    // The grant keeps everything it had; the new refresh token starts a fresh 90-day window.
    refreshScopes: hasScope(record.scopes, 'offline_access') ? unionScopes(record.scopes, scopes) : [],
  });
}

/**
 * The claims challenge that names the Conditional Access policy (`capolids`), as Microsoft sends with 50076 and
 * 53003 ([OBS] docs/entra.md §1.4). The policy id is fixed per tenant, so a client sees the same one every time.
 */
function policyClaims(policy: 'mfa' | 'block', user: User): string {
  const hex = createHash('sha256').update(`capolicy|${policy}|${user.tenantId}`).digest('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return JSON.stringify({ access_token: { capolids: { essential: true, values: [id] } } });
}

/**
 * `token_type`, `scope`, `expires_in`, `ext_expires_in`, `access_token`, then `refresh_token` (only with
 * `offline_access`), `id_token` (only with `openid`) and `client_info` (only when `client_info=1`).
 */
async function successBody(
  ctx: EmulatorContext,
  body: Record<string, unknown>,
  grant: {
    app: AppRegistration;
    user: User;
    scopes: string[];
    nonce: string | null;
    sessionId: string;
    /** Scopes the new refresh token carries; it is only issued when they include `offline_access`. */
    refreshScopes: string[];
  },
): Promise<Record<string, unknown>> {
  const { app, user, scopes } = grant;
  const responseScopes = tokenResponseScopes(scopes);
  const access = issueAccessToken(ctx, { clientId: app.clientId, userId: user.id, scopes: responseScopes });
  const out: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: responseScopes.join(' '),
    expires_in: access.expiresIn,
    // [OBS] equal to expires_in in practice. @see docs/entra.md §1.4
    ext_expires_in: access.expiresIn,
    access_token: access.token,
  };
  if (hasScope(grant.refreshScopes, 'offline_access')) {
    out.refresh_token = issueRefreshToken(ctx, {
      clientId: app.clientId,
      userId: user.id,
      scopes: grant.refreshScopes,
      sessionId: grant.sessionId,
    }).token;
  }
  if (hasScope(scopes, 'openid')) {
    out.id_token = await issueIdToken(ctx, {
      user,
      clientId: app.clientId,
      scopes,
      nonce: grant.nonce,
      sessionId: grant.sessionId,
    });
  }
  if (field(body, 'client_info') === '1') out.client_info = clientInfo(user);
  return out;
}

/** `GET …/token`: Microsoft's answer to the wrong verb (AADSTS900561). */
export function handleTokenGet(ctx: EmulatorContext, reply: FastifyReply) {
  return sendAadError(ctx, reply, aadsts.getNotAllowed());
}
