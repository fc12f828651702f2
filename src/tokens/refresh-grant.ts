import * as oidc from 'openid-client';
import {
  type ErrorEvidence,
  evidenceFromNetworkError,
  evidenceFromTokenErrorResponse,
  humanDescription,
} from '../microsoft/error-evidence.js';
import { isRequestUnanswered } from '../microsoft/oauth-client.js';
import type { MicrosoftConnection } from '../services.js';
import { PlaintextSecret } from '../vault/secret-types.js';

/** What the token endpoint answered to a refresh: new tokens, or the evidence of why not. Never throws for Microsoft. */
export type RefreshGrantOutcome =
  | {
      ok: true;
      accessToken: PlaintextSecret;
      /** Microsoft rotates it on every refresh (the old one stays valid until it expires). @see docs/entra.md §1.5 */
      refreshToken: PlaintextSecret | undefined;
      expiresInSeconds: number | undefined;
      scope: string | undefined;
    }
  | { ok: false; evidence: ErrorEvidence };

function isResponse(value: unknown): value is Response {
  return typeof Response !== 'undefined' && value instanceof Response;
}

/** The error's HTTP response, for errors that openid-client raises about one (wrapped or not). */
function responseOf(error: unknown): Response | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { response?: unknown; cause?: unknown };
  if (isResponse(record.response)) return record.response;
  if (isResponse(record.cause)) return record.cause;
  return undefined;
}

/**
 * Turns what openid-client threw into evidence: `ResponseBodyError` (an OAuth error body: `.cause` is the parsed JSON),
 * a `WWW-Authenticate` challenge or a non-conform answer (a proxy's 502 page, a 503 without JSON: the body is still
 * unread on `.response`), or a failure below HTTP (fetch's `TypeError`, the request timeout).
 */
async function evidenceFromGrantError(error: unknown): Promise<ErrorEvidence> {
  if (error instanceof oidc.ResponseBodyError) {
    return evidenceFromTokenErrorResponse(error.status, error.cause, error.response.headers);
  }
  const response = responseOf(error);
  if (response !== undefined) {
    let body: string | undefined;
    try {
      body = response.bodyUsed ? undefined : await response.text();
    } catch {
      // The body could not be read (connection cut mid-body): the status and headers are still evidence.
      body = undefined;
    }
    return evidenceFromTokenErrorResponse(response.status, body, response.headers);
  }
  if (isRequestUnanswered(error)) return evidenceFromNetworkError(error);
  if (error instanceof oidc.ClientError) {
    // Microsoft answered 200 but openid-client refused the answer (an id_token that does not verify, a body that
    // is not a token response). Nothing we classify: kept as unknown evidence and tried again later.
    return {
      source: 'token_endpoint',
      errorCodes: [],
      requestSent: 'yes',
      ...(error.code === undefined ? {} : { error: `client:${error.code}` }),
      ...(humanDescription(error.message) === undefined ? {} : { description: humanDescription(error.message) }),
    };
  }
  return evidenceFromNetworkError(error);
}

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH_RESOURCE = 'https://graph.microsoft.com';

/**
 * The `scope` of a refresh: `offline_access` and the account's granted Graph permissions, in full
 * (`https://graph.microsoft.com/Mail.Send`). Equal to what was consented, as Microsoft allows (docs/entra.md §1.4).
 * Without `openid` Microsoft sends no id_token: the identity was bound at connect (tid + oid), and a refresh has no
 * nonce to check one against. Undefined (no `scope` sent) when the granted scopes are unknown.
 */
export function refreshScopeParameter(grantedScopes: readonly string[]): string | undefined {
  const graph = grantedScopes
    .filter((scope) => !OIDC_SCOPES.has(scope.toLowerCase()))
    .map((scope) => (scope.includes('/') ? scope : `${GRAPH_RESOURCE}/${scope}`));
  return graph.length === 0 ? undefined : ['offline_access', ...graph].join(' ');
}

/**
 * One `refresh_token` grant at Microsoft through openid-client (which builds the request and checks the response).
 * @see docs/entra.md §1.4 (refresh_token grant), docs/engineering.md §7
 */
export async function redeemRefreshToken(
  microsoft: Pick<MicrosoftConnection, 'oauth'>,
  refreshToken: PlaintextSecret,
  options: { scope?: string | undefined } = {},
): Promise<RefreshGrantOutcome> {
  let config: oidc.Configuration;
  try {
    config = await microsoft.oauth();
  } catch (error) {
    // Discovery failed: Microsoft (or the way to it) is unreachable, which is transient.
    return { ok: false, evidence: await evidenceFromGrantError(error) };
  }
  try {
    const parameters = options.scope === undefined ? undefined : { scope: options.scope };
    const response = await oidc.refreshTokenGrant(config, refreshToken.reveal(), parameters);
    return {
      ok: true,
      accessToken: PlaintextSecret.from(response.access_token),
      refreshToken: response.refresh_token === undefined ? undefined : PlaintextSecret.from(response.refresh_token),
      // The field as Microsoft sent it: `expiresIn()` counts down in real time from when the response was parsed,
      // and our expiry already starts at the request time (lifecycle-policy.ts), so it would subtract twice.
      expiresInSeconds: response.expires_in,
      scope: response.scope,
    };
  } catch (error) {
    return { ok: false, evidence: await evidenceFromGrantError(error) };
  }
}
