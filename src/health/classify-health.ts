import { AADSTS, GRAPH_CODE } from '../microsoft/aadsts-codes.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import {
  ADMIN_APPROVAL_BY_CODE,
  appMisconfiguredReason,
  DEFAULT_RETRY_AFTER_MS,
  firstMatch,
  GRAPH_DETAIL_HEALTH,
  MAILBOX_UNUSABLE_BY_CODE,
  MAILBOX_UNUSABLE_BY_GRAPH_CODE,
  MISSING_SCOPE_GRAPH_CODES,
  RECONNECT_BY_CODE,
  RECONNECT_BY_SUBERROR,
  REQUEST_LEVEL_GRAPH_CODES,
  SENDING_LIMIT_GRAPH_CODES,
  transientIdentityReason,
} from './code-tables.js';
import type { DegradedReason, Health } from './health.js';

export interface ClassifyHealthContext {
  /**
   * True when the Graph call that failed used an access token obtained by a refresh just before it. Only then does
   * a 401 `InvalidAuthenticationToken` mean the connection is broken (`token_invalid`); before, it means "refresh
   * once and repeat" (`degraded: access_token_rejected`). @see docs/graph.md §3.2, issue 3 item 6
   */
  afterFreshRefresh?: boolean;
}

function degraded(reason: DegradedReason, evidence: ErrorEvidence): Health {
  return {
    status: 'degraded',
    reason,
    retryAfterMs: evidence.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS[reason],
    evidence,
  };
}

/**
 * Classifies what Microsoft said about a long-lived connection into a `Health`. Pure, no I/O.
 *
 * App-level statuses come from the codes the evidence's channel can carry (`appMisconfiguredReason`): a redirect
 * cannot say anything about the app's credentials. Token-endpoint evidence is read as the answer to a refresh (the
 * connect flow's code exchange goes through `classifyConnectOutcome`). Redirect evidence is read as the authorize /
 * admin-consent callback, where 65001 means an admin must approve. Only structured fields are read: `error`,
 * `errorCodes`, `suberror`, `httpStatus`, `graphCode`, `graphDetail` (an exact recorded message), `networkCode`;
 * never description text. Anything unrecognised is `unknown` with its evidence, never `reconnect_required`.
 * @see docs/entra.md §2 (classification rule), docs/graph.md §3.2; docs/engineering.md §3
 */
export function classifyHealth(evidence: ErrorEvidence, context: ClassifyHealthContext = {}): Health {
  switch (evidence.source) {
    case 'network':
      return degraded('network', evidence);
    case 'graph':
      return classifyGraph(evidence, context);
    case 'token_endpoint':
    case 'authorize_redirect':
    case 'admin_consent_redirect':
      return classifyIdentity(evidence);
  }
}

function classifyIdentity(evidence: ErrorEvidence): Health {
  const { errorCodes: codes, error, suberror } = evidence;

  // App-level first: a wrong secret must never be mistaken for a user problem. @see docs/entra.md §2
  const appReason = appMisconfiguredReason(evidence);
  if (appReason !== undefined) return { status: 'app_misconfigured', reason: appReason, evidence };

  const transient = transientIdentityReason(evidence);
  if (transient !== undefined) return degraded(transient, evidence);

  const approvalReason = firstMatch(codes, ADMIN_APPROVAL_BY_CODE);
  if (approvalReason !== undefined) return { status: 'admin_approval_pending', reason: approvalReason, evidence };

  if (codes.includes(AADSTS.CONSENT_MISSING)) {
    // At the callback no grant exists yet and the user could not give it: an admin must. On a refresh the grant
    // existed, so it was revoked. @see docs/entra.md §2 (65001), issue 3 item 4
    return evidence.source === 'token_endpoint'
      ? { status: 'reconnect_required', reason: 'consent_revoked', evidence }
      : { status: 'admin_approval_pending', reason: 'admin_consent_required', evidence };
  }

  const mailboxReason = firstMatch(codes, MAILBOX_UNUSABLE_BY_CODE);
  if (mailboxReason !== undefined) return { status: 'mailbox_unusable', reason: mailboxReason, evidence };

  const reconnectReason = firstMatch(codes, RECONNECT_BY_CODE);
  if (reconnectReason !== undefined) return { status: 'reconnect_required', reason: reconnectReason, evidence };

  // 9002313 alone is a malformed request (our bug); with suberror bad_token it is a bad refresh token.
  const subReason = suberror === undefined ? undefined : RECONNECT_BY_SUBERROR.get(suberror);
  if (subReason !== undefined) return { status: 'reconnect_required', reason: subReason, evidence };

  switch (error) {
    case 'invalid_client':
      // Client authentication happens only at the token endpoint: on a redirect this is forged. @see issue 10 item 1
      return evidence.source === 'token_endpoint'
        ? { status: 'app_misconfigured', reason: 'client_rejected', evidence }
        : { status: 'unknown', evidence };
    case 'unauthorized_client':
      return { status: 'app_misconfigured', reason: 'client_rejected', evidence };
    case 'invalid_scope':
      return { status: 'app_misconfigured', reason: 'invalid_scope', evidence };
    case 'consent_required':
      return evidence.source === 'token_endpoint'
        ? { status: 'reconnect_required', reason: 'consent_revoked', evidence }
        : { status: 'admin_approval_pending', reason: 'admin_consent_required', evidence };
    case 'interaction_required':
    case 'login_required':
      return { status: 'reconnect_required', reason: 'sign_in_required', evidence };
    default:
      // Includes `invalid_grant` with a code we do not know: it also covers our own bugs (PKCE, wrong tenant,
      // reused code), so it is kept as unknown rather than sending the user to reconnect for nothing.
      return { status: 'unknown', evidence };
  }
}

function classifyGraph(evidence: ErrorEvidence, context: ClassifyHealthContext): Health {
  const status = evidence.httpStatus ?? 0;
  const code = evidence.graphCode;

  if (status === 401) {
    // A CAE claims challenge needs a new interactive authorization with the decoded claims. @see docs/entra.md §2
    if (evidence.error === 'insufficient_claims') {
      return { status: 'reconnect_required', reason: 'claims_challenge', evidence };
    }
    return context.afterFreshRefresh
      ? { status: 'reconnect_required', reason: 'token_invalid', evidence }
      : degraded('access_token_rejected', evidence);
  }

  // A recorded message names the case where the code alone is ambiguous. @see graph-error-details.ts
  const detailed = evidence.graphDetail === undefined ? undefined : GRAPH_DETAIL_HEALTH.get(evidence.graphDetail);
  if (detailed !== undefined) {
    return detailed.status === 'connected'
      ? detailed
      : { status: 'mailbox_unusable', reason: detailed.reason, evidence };
  }

  if (code !== undefined) {
    const mailboxReason = MAILBOX_UNUSABLE_BY_GRAPH_CODE.get(code);
    if (mailboxReason !== undefined) return { status: 'mailbox_unusable', reason: mailboxReason, evidence };
    if (SENDING_LIMIT_GRAPH_CODES.has(code)) return degraded('sending_limit_reached', evidence);
    if (MISSING_SCOPE_GRAPH_CODES.has(code))
      return { status: 'reconnect_required', reason: 'missing_scopes', evidence };
  }

  if (status === 429 || code === GRAPH_CODE.TOO_MANY_REQUESTS || code === GRAPH_CODE.APPLICATION_THROTTLED) {
    return degraded('throttled', evidence);
  }
  if (status === 503) return degraded('service_unavailable', evidence);
  if (status >= 500) return degraded('server_error', evidence);

  if (code !== undefined && REQUEST_LEVEL_GRAPH_CODES.has(code)) return { status: 'connected' };

  return { status: 'unknown', evidence };
}
