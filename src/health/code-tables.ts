import { AADSTS, GRAPH_CODE } from '../microsoft/aadsts-codes.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { GRAPH_DETAIL, type GraphDetail } from '../microsoft/graph-error-details.js';
import type {
  AdminApprovalReason,
  AppMisconfiguredReason,
  DegradedReason,
  MailboxUnusableReason,
  ReconnectReason,
} from './health.js';

/**
 * Structured-field tables shared by `classifyHealth` and `classifyConnectOutcome`. Only AADSTS numbers,
 * `suberror`, `error` and Graph `code` appear here, never description text. @see docs/entra.md §2 classification rule
 */

/** App-level problems: the operator fixes the app registration or configuration; accounts stay as they are. */
export const APP_MISCONFIGURED_BY_CODE: ReadonlyMap<number, AppMisconfiguredReason> = new Map([
  [AADSTS.CLIENT_SECRET_EXPIRED, 'client_secret_expired'],
  [AADSTS.CLIENT_SECRET_INVALID, 'client_secret_invalid'],
  [AADSTS.APP_NOT_FOUND, 'app_not_found'],
  [AADSTS.REDIRECT_URI_MISMATCH, 'redirect_uri_mismatch'],
  [AADSTS.INVALID_SCOPE, 'invalid_scope'],
  [AADSTS.RESOURCE_NOT_FOUND, 'invalid_scope'],
  [AADSTS.PUBLIC_CLIENT_SECRET, 'public_client_secret'],
  [AADSTS.APP_NOT_MULTI_TENANT, 'audience_mismatch'],
  [AADSTS.APP_CONSUMERS_ONLY, 'audience_mismatch'],
]);

/**
 * The app-level codes Microsoft sends to a redirect URI (the front channel): request problems it can report once the
 * app and redirect URI are known good (invalid scope, wrong supported account types). Client authentication codes
 * (7000215, 7000222, 700025) exist only at the token endpoint, and an unknown app or reply URL (700016, 50011) is
 * shown on Microsoft's own page because the redirect URI cannot be trusted: on a callback they are forged.
 * @see docs/entra.md §1.3, §2; emulator/identity/policy.ts endpointErrorForApp; issue 10 item 1
 */
export const REDIRECTABLE_APP_CODES: ReadonlySet<number> = new Set([
  AADSTS.INVALID_SCOPE,
  AADSTS.RESOURCE_NOT_FOUND,
  AADSTS.APP_NOT_MULTI_TENANT,
  AADSTS.APP_CONSUMERS_ONLY,
]);

/**
 * The app-level reason in this evidence, from the codes its channel can carry: every code on the back channel (a
 * token response the service received), only `REDIRECTABLE_APP_CODES` on the front channel.
 */
export function appMisconfiguredReason(evidence: ErrorEvidence): AppMisconfiguredReason | undefined {
  const codes =
    evidence.source === 'token_endpoint'
      ? evidence.errorCodes
      : evidence.errorCodes.filter((code) => REDIRECTABLE_APP_CODES.has(code));
  return firstMatch(codes, APP_MISCONFIGURED_BY_CODE);
}

export const ADMIN_APPROVAL_BY_CODE: ReadonlyMap<number, AdminApprovalReason> = new Map([
  [AADSTS.ADMIN_APPROVAL_REQUIRED, 'admin_approval_required'],
  [AADSTS.ADMIN_CONSENT_WORKFLOW, 'approval_requested'],
  [AADSTS.USER_CONSENT_FORBIDDEN, 'user_consent_blocked'],
  [AADSTS.RISKY_APP_CONSENT_BLOCKED, 'risky_app'],
  [AADSTS.RISKY_APP_ADMIN_CONSENT, 'risky_app'],
]);

/** Codes that mean the user must sign in again, on a refresh. 65001 and 9002313 are handled by the callers. */
export const RECONNECT_BY_CODE: ReadonlyMap<number, ReconnectReason> = new Map([
  [AADSTS.GRANT_REVOKED_FRESH_TOKEN_NEEDED, 'password_changed'],
  [AADSTS.SSO_ARTIFACT_INVALID, 'password_changed'],
  [AADSTS.SSO_ARTIFACT_REVOKED, 'password_changed'],
  [AADSTS.PASSWORD_EXPIRED, 'password_expired'],
  [AADSTS.ON_PREM_PASSWORD_EXPIRED, 'password_expired'],
  [AADSTS.REFRESH_TOKEN_INACTIVE, 'refresh_expired'],
  [AADSTS.SPA_REFRESH_TOKEN_EXPIRED, 'refresh_expired'],
  [AADSTS.REFRESH_TOKEN_MAX_LIFETIME, 'refresh_expired'],
  [AADSTS.GRANT_EXPIRED, 'refresh_expired'],
  [AADSTS.FLOW_TOKEN_EXPIRED, 'refresh_expired'],
  [AADSTS.INVALID_GRANT, 'bad_token'],
  [AADSTS.MFA_REQUIRED, 'mfa_required'],
  [AADSTS.MFA_ENROLLMENT_REQUIRED, 'mfa_required'],
  [AADSTS.MFA_EXPIRED, 'mfa_required'],
  [AADSTS.MFA_ENROLLMENT_INTERRUPT, 'mfa_required'],
  [AADSTS.MFA_NOT_PASSED, 'mfa_required'],
  [AADSTS.CONDITIONAL_ACCESS_BLOCKED, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_MANAGED_DEVICE, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_DEVICE_NOT_COMPLIANT, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_DEVICE_NOT_JOINED, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_APP_NOT_APPROVED, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_FAILED, 'conditional_access'],
  [AADSTS.CONDITIONAL_ACCESS_DEVICE_PLATFORM, 'conditional_access'],
  // Before the sub-errors: 70043 comes with `token_expired`, which alone would read as plain disuse.
  [AADSTS.SIGN_IN_FREQUENCY, 'sign_in_frequency'],
  // A tenant problem of the user's, even when Microsoft sends it as `invalid_client`: never the operator's app.
  [AADSTS.UNMANAGED_TENANT, 'unmanaged_tenant'],
  [AADSTS.USER_NOT_FOUND, 'user_not_found'],
  [AADSTS.USER_NOT_IN_DIRECTORY, 'user_not_found'],
  [AADSTS.NO_SESSION, 'sign_in_required'],
]);

/** Sub-errors that name the reason on their own. @see docs/entra.md §2 sub-errors (MSAL .NET OAuth2SubError) */
export const RECONNECT_BY_SUBERROR: ReadonlyMap<string, ReconnectReason> = new Map([
  ['bad_token', 'bad_token'],
  ['token_expired', 'refresh_expired'],
  ['consent_required', 'consent_revoked'],
  ['user_password_expired', 'password_expired'],
  ['protection_policy_required', 'conditional_access'],
  ['device_authentication_failed', 'conditional_access'],
  ['basic_action', 'sign_in_required'],
  ['additional_action', 'sign_in_required'],
  ['message_only', 'sign_in_required'],
]);

export const MAILBOX_UNUSABLE_BY_CODE: ReadonlyMap<number, MailboxUnusableReason> = new Map([
  [AADSTS.USER_DISABLED, 'disabled'],
]);

/** AADSTS numbers that mean "try again later". */
export const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  AADSTS.DIRECTORY_UNAVAILABLE,
  AADSTS.TRANSIENT_DIRECTORY,
  AADSTS.RETRYABLE_ERROR,
]);

export const MAILBOX_UNUSABLE_BY_GRAPH_CODE: ReadonlyMap<string, MailboxUnusableReason> = new Map([
  [GRAPH_CODE.MAILBOX_NOT_ENABLED_FOR_REST, 'not_rest_enabled'],
  [GRAPH_CODE.SEND_AS_DENIED, 'send_as_denied'],
  // "Mailbox has exceeded maximum mailbox size." [OBS] docs/graph.md §3.2; the named-property
  // quota shares the code and is told apart by `graphDetail` first (GRAPH_DETAIL_HEALTH).
  [GRAPH_CODE.QUOTA_EXCEEDED, 'quota_exceeded'],
  // 507 "Target mailbox quota exceeded." [OBS] docs/graph.md §3.2: read before the
  // generic 5xx rule, because a person must free space; waiting does not help.
  [GRAPH_CODE.QUOTA_EXCEEDED_EXCEPTION, 'quota_exceeded'],
  [GRAPH_CODE.MESSAGE_SUBMISSION_BLOCKED, 'sending_blocked'],
]);

/**
 * What a recorded Graph message (`evidence.graphDetail`, graph-error-details.ts) means for the account, read before
 * the code tables: `connected` means "about this request only" (the mailbox still works).
 */
export const GRAPH_DETAIL_HEALTH: ReadonlyMap<
  GraphDetail,
  { status: 'connected' } | { status: 'mailbox_unusable'; reason: MailboxUnusableReason }
> = new Map([
  // Only items needing a new named property fail; the mailbox still sends. Never "mailbox full". @see issue 15 case 1
  [GRAPH_DETAIL.NAMED_PROPERTY_QUOTA, { status: 'connected' }],
  // A policy block, not a missing scope: reconnecting cannot help. @see issue 15 case 2
  [GRAPH_DETAIL.ODATA_DISABLED, { status: 'mailbox_unusable', reason: 'api_access_blocked' }],
  // No mailbox: an account status, not a string of per-message failures. @see issue 15 case 3
  [GRAPH_DETAIL.MAILBOX_NOT_DISCOVERED, { status: 'mailbox_unusable', reason: 'mailbox_not_found' }],
]);

/** Sending limits free themselves when the rolling window moves on. @see docs/graph.md §3.3 */
export const SENDING_LIMIT_GRAPH_CODES: ReadonlySet<string> = new Set([
  GRAPH_CODE.EXCEEDED_MESSAGE_LIMIT,
  GRAPH_CODE.SUBMISSION_QUOTA_EXCEEDED,
]);

/** Graph codes about one request (its input or its target), not about the connection. */
export const REQUEST_LEVEL_GRAPH_CODES: ReadonlySet<string> = new Set([
  GRAPH_CODE.INVALID_RECIPIENTS,
  GRAPH_CODE.ITEM_NOT_FOUND,
  GRAPH_CODE.INVALID_HEADER,
  GRAPH_CODE.INVALID_HEADER_COLLECTION,
  GRAPH_CODE.MIME_INVALID_BASE64,
  GRAPH_CODE.INEFFICIENT_FILTER,
]);

/** Graph codes that mean the token lacks a permission for this call. */
export const MISSING_SCOPE_GRAPH_CODES: ReadonlySet<string> = new Set([
  GRAPH_CODE.ACCESS_DENIED,
  GRAPH_CODE.AUTHORIZATION_REQUEST_DENIED,
]);

/**
 * The minimum wait before trying again when Microsoft gave no `Retry-After`. Callers add exponential backoff and
 * jitter on top for repeated failures. A sending limit is a rolling window, so the first wait is long.
 */
export const DEFAULT_RETRY_AFTER_MS: Readonly<Record<DegradedReason, number>> = {
  throttled: 30_000,
  service_unavailable: 30_000,
  server_error: 30_000,
  network: 10_000,
  access_token_rejected: 0,
  sending_limit_reached: 60 * 60_000,
};

export function firstMatch<T>(codes: readonly number[], table: ReadonlyMap<number, T>): T | undefined {
  for (const code of codes) {
    const hit = table.get(code);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** The transient reason for an identity-side answer, or undefined when it is not transient. */
export function transientIdentityReason(evidence: ErrorEvidence): DegradedReason | undefined {
  const status = evidence.httpStatus ?? 0;
  // 50196 is Microsoft throttling the token endpoint, answered with HTTP 400 and whatever `error`: checked before any
  // grant-level reading of the answer so it can never end a connection. @see docs/graph.md §3.3
  if (status === 429 || evidence.errorCodes.includes(AADSTS.CLIENT_REQUEST_LOOP)) return 'throttled';
  if (evidence.error === 'temporarily_unavailable' || status === 503) return 'service_unavailable';
  if (evidence.error === 'server_error' || status >= 500) return 'server_error';
  if (evidence.errorCodes.some((code) => TRANSIENT_CODES.has(code))) return 'service_unavailable';
  return undefined;
}
