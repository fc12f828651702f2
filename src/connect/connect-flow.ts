import * as oidc from 'openid-client';
import { upsertConnectedAccount } from '../accounts/upsert-connected-account.js';
import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { GraphError } from '../graph/graph-error.js';
import { raiseAppMisconfiguredAlert, resolveAppMisconfiguredAlerts } from '../health/app-alerts.js';
import { classifyConnectOutcome } from '../health/classify-connect-outcome.js';
import { classifyHealth } from '../health/classify-health.js';
import { type ConnectOutcome, connectOutcomeKey } from '../health/health.js';
import { remediationForConnectOutcome } from '../health/remediation.js';
import {
  type ErrorEvidence,
  evidenceFromNetworkError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
  storableEvidence,
} from '../microsoft/error-evidence.js';
import { routeMicrosoftUrl } from '../microsoft/microsoft-routes.js';
import { isRequestUnanswered } from '../microsoft/oauth-client.js';
import { isPersonalAccountTenant } from '../microsoft/tenants.js';
import { randomToken } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { PlaintextSecret } from '../vault/secret-types.js';
import { type ApprovalHandOff, recordApprovalWait, resolveTenantIdForEmail } from './admin-approval.js';
import type { ConnectEnd, ConnectFailure } from './connect-ends.js';
import { connectEndEvent, storedOutcome } from './connect-ends.js';
import { APPROVAL_WAIT_MS, isSessionExpired, sessionProfile, sha256 } from './connect-sessions.js';
import { missingPermissions, parseGrantedScopes, requestedScopes } from './permission-profiles.js';

/**
 * The Microsoft leg of the connect flow: the authorize redirect (PKCE S256, single-use `state` bound to the
 * browser, `nonce`) and the callback (state checks, the code exchange through openid-client with the id_token
 * verified, identity from the back channel, granted-scope and expected-email checks, then one transaction that stores
 * the account). Every failure becomes a `ConnectEnd` with its page; nothing here throws for Microsoft's answers.
 * @see issue 3 items 3–4; docs/entra.md §1.2–1.6
 *
 * Never logged, rendered or stored in plaintext: the code, tokens, `state`, the PKCE verifier, the client secret.
 * `state` and the browser-binding cookie are stored as SHA-256; the verifier sealed under the session's data key.
 */

type FlowDeps = ServiceDeps;

/**
 * The browser-binding cookie of a session (one per session, so several tabs can connect at once). On https it takes
 * the `__Secure-` prefix: the browser then accepts it only when set Secure from an https page, so nothing on plain
 * http (a network attacker, a sibling site) can plant one. Not `__Host-`: the cookie is scoped to `/connect`.
 * @see docs/standards.md §4
 */
export function bindingCookieName(publicUrl: string, sessionId: string): string {
  return `${publicUrl.startsWith('https://') ? '__Secure-' : ''}mb_connect_${sessionId}`;
}

/** Whether the request comes from the browser that started this session's sign-in (its binding cookie matches). */
export function isBoundBrowser(
  deps: Pick<FlowDeps, 'config'>,
  session: ConnectSessionsTable,
  cookies: Record<string, string | undefined>,
): boolean {
  const binding = cookies[bindingCookieName(deps.config.publicUrl, session.id)];
  return (
    binding !== undefined && session.browser_binding_hash !== null && sha256(binding) === session.browser_binding_hash
  );
}

export interface AuthorizationStart {
  /** Where to send the browser: Microsoft's authorize URL, routed to where Microsoft's host is served. */
  location: string;
  /** The browser-binding cookie value (its SHA-256 is on the session). */
  binding: string;
}

/**
 * Starts (or restarts) the Microsoft sign-in for a session: fresh `state`, `nonce`, PKCE verifier and browser
 * binding, replacing any earlier ones (an older authorize URL of this session then leads nowhere). The caller has
 * checked the session may start (not completed, not expired). Throws when Microsoft's metadata cannot be discovered.
 */
export async function startAuthorization(deps: FlowDeps, session: ConnectSessionsTable): Promise<AuthorizationStart> {
  const config = await deps.microsoft.oauth();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const binding = randomToken(32);
  const now = deps.clock.now();
  await withTransaction(deps.db, async (trx) => {
    const sealed = await deps.vault.seal(trx, session.id, 'code_verifier', PlaintextSecret.from(verifier), {
      createDataKeyIfMissing: true,
    });
    await trx
      .updateTable('connect_sessions')
      .set({
        status: 'started',
        state_hash: sha256(state),
        browser_binding_hash: sha256(binding),
        nonce,
        code_verifier: sealed,
        updated_at: now,
      })
      .where('id', '=', session.id)
      .where('status', '!=', 'completed')
      .execute();
  });
  const parameters: Record<string, string> = {
    redirect_uri: connectCallbackUrl(deps.config.publicUrl),
    scope: requestedScopes(sessionProfile(session)).join(' '),
    response_type: 'code',
    // The code comes back in the query: a top-level GET, so the SameSite=Lax binding cookie travels with it.
    response_mode: 'query',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    // Entra's metadata does not advertise PKCE, yet it works: send it anyway. @see docs/entra.md §1.1
    code_challenge_method: 'S256',
  };
  // `select_account` cannot be combined with `login_hint`. @see docs/entra.md §1.2 Finishing after an approval, the
  // mailbox the host expects is the one waiting: name it, so Microsoft does not ask which account.
  const hint = session.login_hint ?? (session.status === 'awaiting_approval' ? session.expected_email : null);
  if (hint) parameters.login_hint = hint;
  // Finishing after an IT admin approved: the user signed in moments ago and was stopped only by the approval, so
  // Microsoft's session carries on without asking to pick the account again (the "one click" of issue 3).
  else if (session.status !== 'awaiting_approval') parameters.prompt = 'select_account';
  const url = oidc.buildAuthorizationUrl(config, parameters);
  return { location: routeMicrosoftUrl(url.href, deps.microsoft.routes), binding };
}

export function connectCallbackUrl(publicUrl: string): string {
  return `${publicUrl}/connect/callback`;
}

/** Why a callback could not be processed at all (a page, never a crash). */
export type CallbackProblem = 'state_missing' | 'state_unknown' | 'state_used' | 'browser_mismatch' | 'session_expired';

export type CallbackAnswer =
  | { kind: 'problem'; problem: CallbackProblem; session?: ConnectSessionsTable }
  | { kind: 'end'; session: ConnectSessionsTable; end: ConnectEnd; approval?: ApprovalHandOff };

/**
 * `GET /connect/callback` (or a `form_post`): finds the session by the SHA-256 of `state`, checks the browser
 * binding, spends the state (before anything is exchanged, so a replayed callback does nothing), then turns
 * Microsoft's answer into a `ConnectEnd`. `params` are the query (or form) fields; `cookies` the request's cookies.
 */
export async function completeCallback(
  deps: FlowDeps,
  params: URLSearchParams,
  cookies: Record<string, string | undefined>,
): Promise<CallbackAnswer> {
  const state = params.get('state');
  if (!state) return { kind: 'problem', problem: 'state_missing' };
  const stateHash = sha256(state);
  const session = await deps.db
    .selectFrom('connect_sessions')
    .selectAll()
    .where('state_hash', '=', stateHash)
    .executeTakeFirst();
  if (!session) return { kind: 'problem', problem: 'state_unknown' };
  // Login CSRF / code injection: the answer must come back to the browser that started this sign-in. A mismatch
  // leaves the state unspent, so the right browser can still finish.
  if (!isBoundBrowser(deps, session, cookies)) return { kind: 'problem', problem: 'browser_mismatch', session };
  const now = deps.clock.now();
  if (isSessionExpired(session, now)) return { kind: 'problem', problem: 'session_expired', session };
  // Single use: only one request moves the session from `started` to `callback` for this state.
  const claimed = await deps.db
    .updateTable('connect_sessions')
    .set({ status: 'callback', updated_at: now })
    .where('id', '=', session.id)
    .where('state_hash', '=', stateHash)
    .where('status', '=', 'started')
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) return { kind: 'problem', problem: 'state_used', session };
  const current: ConnectSessionsTable = { ...session, status: 'callback', updated_at: now };

  if (params.has('error')) {
    return endWithOutcome(
      deps,
      current,
      classifyConnectOutcome(evidenceFromRedirectError(params, 'authorize_redirect')),
    );
  }
  return exchangeAndStore(deps, current, params, state);
}

async function exchangeAndStore(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  params: URLSearchParams,
  state: string,
): Promise<CallbackAnswer> {
  const redeemed = await redeemCode(deps, session, params, state);
  if ('answer' in redeemed) return redeemed.answer;
  const { tokens } = redeemed;

  // Microsoft accepted this service's credentials: an alert about them is over. @see issue 10 item 1
  await resolveAppMisconfiguredAlerts(deps.db, deps);

  const claims = tokens.claims();
  const tenantId = typeof claims?.tid === 'string' ? claims.tid.toLowerCase() : undefined;
  const objectId = typeof claims?.oid === 'string' ? claims.oid : undefined;
  if (!tenantId || !objectId) {
    return endWithFailure(deps, session, { kind: 'verification_failed' }, 'the id_token has no tid or oid');
  }
  const profile = sessionProfile(session);
  const missing = missingPermissions(profile, { scope: tokens.scope, refreshTokenIssued: !!tokens.refresh_token });
  if (missing.length > 0 || !tokens.refresh_token) {
    // The tokens are dropped here: nothing is stored for a connection that cannot do its job.
    return endWithFailure(deps, session, { kind: 'missing_scopes', missing });
  }

  const mailbox = await mailboxOfToken(deps, session, tokens.access_token, { tenantId, objectId });
  if ('answer' in mailbox) return mailbox.answer;
  const { email } = mailbox;
  if (session.expected_email && session.expected_email.toLowerCase() !== email.toLowerCase()) {
    return endWithFailure(deps, session, {
      kind: 'wrong_account',
      expectedEmail: session.expected_email,
      actualEmail: email,
    });
  }

  const result = await upsertConnectedAccount(deps, {
    organizationId: session.organization_id,
    ownerExternalId: session.owner_external_id,
    permissionProfile: profile,
    grantedScopes: parseGrantedScopes(tokens.scope),
    identity: { tenantId, objectId, email, displayName: mailbox.displayName },
    tokens: {
      accessToken: PlaintextSecret.from(tokens.access_token),
      refreshToken: PlaintextSecret.from(tokens.refresh_token),
      expiresInSeconds: tokens.expires_in ?? 3600,
    },
    connectSessionId: session.id,
  });
  if (result.kind === 'already_connected_elsewhere') {
    return endWithFailure(deps, session, { kind: 'already_connected_elsewhere', email });
  }
  deps.logger.info(
    { connectSessionId: session.id, accountId: result.accountId, outcome: result.kind },
    'connect flow finished: account stored',
  );
  const end: ConnectEnd = { status: result.kind, accountId: result.accountId, email };
  return { kind: 'end', session: { ...session, status: 'completed', outcome: result.kind }, end };
}

type GrantedTokens = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

/**
 * Redeems the authorization code (PKCE verifier, state and nonce checked by openid-client, the id_token verified), or
 * ends the session with what Microsoft's refusal or a failed verification means.
 */
async function redeemCode(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  params: URLSearchParams,
  state: string,
): Promise<{ tokens: GrantedTokens } | { answer: CallbackAnswer }> {
  if (session.code_verifier === null || session.nonce === null) {
    return {
      answer: await endWithFailure(
        deps,
        session,
        { kind: 'verification_failed' },
        'the session holds no PKCE verifier',
      ),
    };
  }
  const verifier = await deps.vault.open(deps.db, session.id, 'code_verifier', session.code_verifier);
  // openid-client takes the redirect URI from this URL (without its query), so it must be exactly ours.
  const currentUrl = new URL(connectCallbackUrl(deps.config.publicUrl));
  for (const [name, value] of params) currentUrl.searchParams.append(name, value);
  try {
    const config = await deps.microsoft.oauth();
    const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
      pkceCodeVerifier: verifier.reveal(),
      expectedState: state,
      expectedNonce: session.nonce,
      idTokenExpected: true,
    });
    return { tokens };
  } catch (error) {
    const failed = await exchangeFailure(error);
    if (failed.kind === 'outcome') return { answer: await endWithOutcome(deps, session, failed.outcome) };
    return { answer: await endWithFailure(deps, session, { kind: 'verification_failed' }, failed.detail) };
  }
}

/**
 * The mailbox the new access token opens, as Graph names it: its address comes from Graph (back channel), never from
 * the browser or the id_token's mutable claims, and it must be the id_token's user. @see docs/entra.md §1.6
 */
async function mailboxOfToken(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  accessToken: string,
  identity: { tenantId: string; objectId: string },
): Promise<{ email: string; displayName: string | null } | { answer: CallbackAnswer }> {
  const graph = deps.graph;
  let me: { id: string; mail?: string | null; userPrincipalName?: string; displayName?: string | null };
  try {
    me = (await graph.getMe(accessToken)).data;
  } catch (error) {
    if (!(error instanceof GraphError)) throw error;
    const health = classifyHealth(error.evidence);
    const outcome: ConnectOutcome =
      health.status === 'degraded'
        ? { outcome: 'try_again', reason: 'temporarily_unavailable', evidence: error.evidence }
        : { outcome: 'unknown', evidence: error.evidence };
    return { answer: await endWithOutcome(deps, session, outcome) };
  }
  // Work accounts: Microsoft makes Graph's user id the oid, so a different one means the token is not the
  // id_token's user. Personal accounts: Graph answers a 16-hex-digit CID that is not the oid (docs/entra.md §1.6), so
  // there is nothing to compare; the identity stays tid + oid from the verified id_token.
  if (!isPersonalAccountTenant(identity.tenantId) && me.id.toLowerCase() !== identity.objectId.toLowerCase()) {
    return {
      answer: await endWithFailure(
        deps,
        session,
        { kind: 'verification_failed' },
        'Graph /me is not the id_token user',
      ),
    };
  }
  // Personal accounts answer `mail: null` and carry the address in `userPrincipalName`. @see docs/entra.md §1.6
  const email = (me.mail || me.userPrincipalName || '').trim();
  if (!email) {
    return { answer: await endWithFailure(deps, session, { kind: 'verification_failed' }, 'Graph /me has no address') };
  }
  return { email, displayName: me.displayName ?? null };
}

type ExchangeFailure = { kind: 'outcome'; outcome: ConnectOutcome } | { kind: 'unverified'; detail: string };

/** What a failed code exchange means: Microsoft's error answer, the network, or an answer that did not verify. */
async function exchangeFailure(error: unknown): Promise<ExchangeFailure> {
  if (error instanceof oidc.ResponseBodyError) {
    const evidence = evidenceFromTokenErrorResponse(error.status, error.cause, error.response.headers);
    return { kind: 'outcome', outcome: classifyConnectOutcome(evidence) };
  }
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    // A 401 with a challenge: the body (if still unread) carries Microsoft's AADSTS error.
    const body = error.response.bodyUsed ? undefined : await error.response.text().catch(() => undefined);
    const evidence = evidenceFromTokenErrorResponse(error.status, body, error.response.headers);
    return { kind: 'outcome', outcome: classifyConnectOutcome(evidence) };
  }
  if (error instanceof oidc.ClientError && error.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
    // A 5xx (oauth4webapi parses error bodies of 4xx only) or a non-JSON answer (a gateway page): read what is there.
    const response = error.cause instanceof Response ? error.cause : undefined;
    const body = response && !response.bodyUsed ? await response.text().catch(() => undefined) : undefined;
    const evidence = evidenceFromTokenErrorResponse(response?.status ?? 502, body, response?.headers);
    const outcome = classifyConnectOutcome(evidence);
    return {
      kind: 'outcome',
      outcome:
        outcome.outcome === 'unknown' && (response?.status ?? 502) >= 500
          ? { outcome: 'try_again', reason: 'temporarily_unavailable', evidence }
          : outcome,
    };
  }
  if (error instanceof TypeError || isRequestUnanswered(error)) {
    return { kind: 'outcome', outcome: classifyConnectOutcome(evidenceFromNetworkError(error)) };
  }
  if (error instanceof oidc.ClientError || error instanceof oidc.AuthorizationResponseError) {
    // id_token signature, issuer, audience, nonce, state or response shape: never accept, never detail to the user.
    return { kind: 'unverified', detail: `${error.name} ${'code' in error ? String(error.code) : ''}`.trim() };
  }
  throw error;
}

/** Ends the attempt with a classified Microsoft answer (approval waits and operator alerts included). */
async function endWithOutcome(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  outcome: ConnectOutcome,
): Promise<CallbackAnswer> {
  const failure: ConnectFailure = { kind: 'outcome', key: connectOutcomeKey(outcome), evidence: outcome.evidence };
  logEnd(deps, session, storedOutcome({ status: 'failed', failure }), outcome.evidence);
  if (outcome.outcome === 'approval_required') {
    // The redirect names no tenant: use the user's domain when the host app told us their address.
    const tenantId = await resolveTenantIdForEmail(deps, session.login_hint ?? session.expected_email);
    const now = deps.clock.now();
    const approval = await withTransaction(deps.db, async (trx) => {
      const handOff = await recordApprovalWait(deps, trx, session, outcome.reason, tenantId);
      await trx
        .updateTable('connect_sessions')
        .set({
          status: 'awaiting_approval',
          outcome: failure.key,
          tenant_id: tenantId ?? session.tenant_id,
          code_verifier: null,
          expires_at: Math.max(Number(session.expires_at), now + APPROVAL_WAIT_MS),
          updated_at: now,
        })
        .where('id', '=', session.id)
        .execute();
      await deps.events.record(trx, connectEndEvent(session, { status: 'failed', failure }));
      return handOff;
    });
    const updated = { ...session, status: 'awaiting_approval', outcome: failure.key };
    return { kind: 'end', session: updated, end: { status: 'failed', failure }, approval };
  }
  if (outcome.outcome === 'app_misconfigured') {
    // Only from the code exchange's answer (back channel): the helper refuses a callback's error. @see issue 10 item 1
    await raiseAppMisconfiguredAlert(deps.db, deps, {
      reason: outcome.reason,
      remediation: remediationForConnectOutcome(outcome),
      evidence: outcome.evidence,
      data: { source: 'connect' },
    });
  }
  return endWithFailure(deps, session, failure);
}

/** Ends the attempt as failed (the user may try again while the session lives); tokens, if any, are not kept. */
async function endWithFailure(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  failure: ConnectFailure,
  detail?: string,
): Promise<CallbackAnswer> {
  const end: ConnectEnd = { status: 'failed', failure };
  const outcome = storedOutcome(end);
  if (failure.kind !== 'outcome') logEnd(deps, session, outcome, undefined, detail);
  await withTransaction(deps.db, async (trx) => {
    const ended = await trx
      .updateTable('connect_sessions')
      .set({ status: 'failed', outcome, code_verifier: null, updated_at: deps.clock.now() })
      .where('id', '=', session.id)
      .where('status', '=', 'callback')
      .executeTakeFirst();
    // Only the callback that ended the attempt reports it (a replayed callback changes nothing).
    if (Number(ended.numUpdatedRows) > 0) await deps.events.record(trx, connectEndEvent(session, end));
  });
  return { kind: 'end', session: { ...session, status: 'failed', outcome }, end };
}

function logEnd(
  deps: FlowDeps,
  session: ConnectSessionsTable,
  outcome: string,
  evidence: ErrorEvidence | undefined,
  detail?: string,
): void {
  deps.logger.info(
    {
      connectSessionId: session.id,
      outcome,
      ...(evidence ? { evidence: storableEvidence(evidence) } : {}),
      ...(detail ? { detail } : {}),
    },
    'connect flow ended without a connection',
  );
}
