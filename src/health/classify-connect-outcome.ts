import { AADSTS } from '../microsoft/aadsts-codes.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import {
  ADMIN_APPROVAL_BY_CODE,
  appMisconfiguredReason,
  firstMatch,
  RECONNECT_BY_CODE,
  transientIdentityReason,
} from './code-tables.js';
import type { ConnectOutcome, SignInBlockedReason } from './health.js';

const WRONG_ACCOUNT_TYPE_CODES: ReadonlySet<number> = new Set([
  AADSTS.USER_FROM_OTHER_TENANT,
  AADSTS.WRONG_ACCOUNT_TYPE_DOMAIN,
]);

/** Codes that mean the authorization code itself is spent or expired: start the flow again. */
const CODE_SPENT_CODES: ReadonlySet<number> = new Set([
  AADSTS.GRANT_EXPIRED,
  AADSTS.CODE_ALREADY_REDEEMED,
  AADSTS.INVALID_GRANT,
]);

function signInBlockedReason(codes: readonly number[]): SignInBlockedReason | undefined {
  if (codes.includes(AADSTS.USER_DISABLED)) return 'account_disabled';
  switch (firstMatch(codes, RECONNECT_BY_CODE)) {
    case 'unmanaged_tenant':
      return 'unmanaged_tenant';
    case 'mfa_required':
      return 'mfa_required';
    case 'conditional_access':
      return 'conditional_access';
    case 'user_not_found':
      return 'user_not_found';
    case 'password_expired':
      return 'password_expired';
    default:
      return undefined;
  }
}

/**
 * Classifies a failed connect attempt: the error redirect from `/authorize` or `/adminconsent`
 * (`evidenceFromRedirectError`), or the token endpoint's answer to the code exchange
 * (`evidenceFromTokenErrorResponse`). Pure; structured fields only. @see docs/entra.md §1.3, §1.7, §2; issue 3 item 4
 *
 * Where the evidence came from matters: a callback error (front channel) is written by the user's browser, so only
 * what Microsoft can redirect counts there; the code exchange's answer (back channel) is the service's own. An
 * app-level outcome from the front channel shows its page but never alerts the operator (connect-flow.ts).
 *
 * Order matters: operator misconfiguration first (never blame the user for it), then admin approval, the user's
 * explicit decline (65004), account and sign-in problems, a bare `access_denied` (cancelled or declined), then
 * transient ones.
 */
export function classifyConnectOutcome(evidence: ErrorEvidence): ConnectOutcome {
  const { errorCodes: codes, error } = evidence;

  if (evidence.source === 'network') return { outcome: 'try_again', reason: 'temporarily_unavailable', evidence };

  // Only the codes this channel can carry: a callback is written by the user's browser. @see issue 10 item 1
  const appReason = appMisconfiguredReason(evidence);
  if (appReason !== undefined) return { outcome: 'app_misconfigured', reason: appReason, evidence };

  const approvalReason = firstMatch(codes, ADMIN_APPROVAL_BY_CODE);
  if (approvalReason !== undefined) return { outcome: 'approval_required', reason: approvalReason, evidence };
  // 65001 during the connect flow: no consent exists and this user could not give it. @see issue 3 item 4
  if (codes.includes(AADSTS.CONSENT_MISSING)) {
    return { outcome: 'approval_required', reason: 'admin_consent_required', evidence };
  }

  if (codes.includes(AADSTS.CONSENT_DECLINED)) return { outcome: 'declined', evidence };
  if (codes.some((code) => WRONG_ACCOUNT_TYPE_CODES.has(code))) return { outcome: 'wrong_account_type', evidence };

  const blocked = signInBlockedReason(codes);
  if (blocked !== undefined) return { outcome: 'sign_in_blocked', reason: blocked, evidence };

  // After the coded reasons: Microsoft also sends `access_denied` for Conditional Access (53003), wrong tenant
  // kind (50020) and the like, and those deserve their own page.
  if (error === 'access_denied') {
    // `error_subcode=cancel`: the user backed out of sign-in or consent. Without it, access was refused at the
    // consent step, which for the user reads the same as declining. @see docs/entra.md §1.3, §1.7
    return evidence.errorSubcode === 'cancel' ? { outcome: 'cancelled', evidence } : { outcome: 'declined', evidence };
  }

  if (transientIdentityReason(evidence) !== undefined) {
    return { outcome: 'try_again', reason: 'temporarily_unavailable', evidence };
  }

  if (codes.some((code) => CODE_SPENT_CODES.has(code)))
    return { outcome: 'try_again', reason: 'code_expired', evidence };

  if (codes.includes(AADSTS.NO_SESSION) || error === 'login_required' || error === 'interaction_required') {
    return { outcome: 'try_again', reason: 'sign_in_required', evidence };
  }

  switch (error) {
    case 'invalid_client':
      // Client authentication happens only at the token endpoint (RFC 6749 §4.1.2.1 lists no invalid_client for the
      // redirect): on a callback, unless a code above explained it (650051), it is forged. @see issue 10 item 1
      return evidence.source === 'token_endpoint'
        ? { outcome: 'app_misconfigured', reason: 'client_rejected', evidence }
        : { outcome: 'unknown', evidence };
    case 'unauthorized_client':
      return { outcome: 'app_misconfigured', reason: 'client_rejected', evidence };
    case 'invalid_scope':
      return { outcome: 'app_misconfigured', reason: 'invalid_scope', evidence };
    case 'consent_required':
      return { outcome: 'approval_required', reason: 'admin_consent_required', evidence };
    default:
      return { outcome: 'unknown', evidence };
  }
}
