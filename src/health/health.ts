import type { ErrorEvidence } from '../microsoft/error-evidence.js';

/**
 * The closed set of connection statuses and their reasons. Every list is `as const` so that tests (and the
 * remediation table's type) can enumerate them: adding a reason without remediation text fails to compile.
 * @see docs/engineering.md §3, issue 3 item 7
 */

/** Transient: retry later, never disconnect on a blip. */
export const DEGRADED_REASONS = [
  'throttled',
  'service_unavailable',
  'server_error',
  'network',
  /** Graph refused the access token before a fresh refresh: refresh once and repeat. */
  'access_token_rejected',
  /** The mailbox hit a sending limit (rolling 24 h / per minute); it frees itself. */
  'sending_limit_reached',
] as const;

/** The user must sign in again through the connect flow. */
export const RECONNECT_REASONS = [
  'password_changed',
  'password_expired',
  'refresh_expired',
  'consent_revoked',
  'mfa_required',
  'conditional_access',
  /**
   * 70043: a Conditional Access sign-in frequency policy ended the sign-in; it recurs every policy period, whatever
   * the keep-alive does.
   */
  'sign_in_frequency',
  /** 650051: the user's organisation is an unmanaged tenant; an administrator must claim its domain first. */
  'unmanaged_tenant',
  'user_not_found',
  'bad_token',
  /** Graph 401 InvalidAuthenticationToken even after a fresh refresh. */
  'token_invalid',
  'missing_scopes',
  /** CAE claims challenge (`insufficient_claims`). */
  'claims_challenge',
  /** Microsoft asks for an interactive sign-in without saying more (`interaction_required`, `login_required`). */
  'sign_in_required',
] as const;

/** A tenant admin must approve the app before the user can finish. */
export const ADMIN_APPROVAL_REASONS = [
  /** 90094: approval needed, no admin consent workflow. */
  'admin_approval_required',
  /** 90095: the user sent an approval request through the admin consent workflow. */
  'approval_requested',
  /** 90093: tenant forbids user consent. */
  'user_consent_blocked',
  /** 65001 at the authorize callback: no consent exists and the user cannot give it. */
  'admin_consent_required',
  /** 900941 / 900981: the app is considered risky; only an admin can consent. */
  'risky_app',
] as const;

/** The operator's app registration or configuration is wrong: one operator alert, user accounts untouched. */
export const APP_MISCONFIGURED_REASONS = [
  'client_secret_expired',
  'client_secret_invalid',
  'app_not_found',
  'redirect_uri_mismatch',
  'invalid_scope',
  'public_client_secret',
  /** 50194 / 9002331: the app's supported account types do not fit the tenant mode (`common`, `consumers`…). */
  'audience_mismatch',
  /** `invalid_client` / `unauthorized_client` without a code we know. */
  'client_rejected',
] as const;

/** The mailbox itself cannot be used through Graph, whatever the user does in our flow. */
export const MAILBOX_UNUSABLE_REASONS = [
  /** MailboxNotEnabledForRESTAPI: inactive, soft-deleted, on-premises or unlicensed. */
  'not_rest_enabled',
  /** 50057: the user account is disabled. */
  'disabled',
  'send_as_denied',
  'quota_exceeded',
  /** ErrorMessageSubmissionBlocked: a restricted sender; only an admin (or Microsoft) can unblock. */
  'sending_blocked',
  /** 403 ErrorAccessDenied "Access to OData is disabled.": an Exchange policy blocks API access to the mailbox. */
  'api_access_blocked',
  /** 404 ResourceNotFound "Resource could not be discovered." on a mailbox call: no mailbox (or no licence). */
  'mailbox_not_found',
  /** A non-delivery report 550 5.1.8 "Access denied, bad outbound sender" (src/bounces/): a restricted user. */
  'restricted_sender',
] as const;

export type DegradedReason = (typeof DEGRADED_REASONS)[number];
export type ReconnectReason = (typeof RECONNECT_REASONS)[number];
export type AdminApprovalReason = (typeof ADMIN_APPROVAL_REASONS)[number];
export type AppMisconfiguredReason = (typeof APP_MISCONFIGURED_REASONS)[number];
export type MailboxUnusableReason = (typeof MAILBOX_UNUSABLE_REASONS)[number];

/**
 * A connection's health. Every status but `connected` and `disconnected` keeps the evidence it was built from.
 * `connected` from `classifyHealth` means "this error says nothing against the connection" (a bad recipient, a
 * missing message). `disconnected` is set by us (the user or host disconnected), never classified.
 */
export type Health =
  | { status: 'connected' }
  | { status: 'degraded'; reason: DegradedReason; retryAfterMs: number; evidence: ErrorEvidence }
  | { status: 'reconnect_required'; reason: ReconnectReason; evidence: ErrorEvidence }
  | { status: 'admin_approval_pending'; reason: AdminApprovalReason; evidence: ErrorEvidence }
  | { status: 'app_misconfigured'; reason: AppMisconfiguredReason; evidence: ErrorEvidence }
  | { status: 'mailbox_unusable'; reason: MailboxUnusableReason; evidence: ErrorEvidence }
  | { status: 'disconnected' }
  | { status: 'unknown'; evidence: ErrorEvidence };

export type HealthStatus = Health['status'];

export const HEALTH_STATUSES = [
  'connected',
  'degraded',
  'reconnect_required',
  'admin_approval_pending',
  'app_misconfigured',
  'mailbox_unusable',
  'disconnected',
  'unknown',
] as const satisfies readonly HealthStatus[];

/** `status` or `status:reason`: the key of the remediation table. */
export type HealthKey =
  | 'connected'
  | 'disconnected'
  | 'unknown'
  | `degraded:${DegradedReason}`
  | `reconnect_required:${ReconnectReason}`
  | `admin_approval_pending:${AdminApprovalReason}`
  | `app_misconfigured:${AppMisconfiguredReason}`
  | `mailbox_unusable:${MailboxUnusableReason}`;

export function healthKey(health: Health): HealthKey {
  switch (health.status) {
    case 'connected':
    case 'disconnected':
    case 'unknown':
      return health.status;
    case 'degraded':
      return `degraded:${health.reason}`;
    case 'reconnect_required':
      return `reconnect_required:${health.reason}`;
    case 'admin_approval_pending':
      return `admin_approval_pending:${health.reason}`;
    case 'app_misconfigured':
      return `app_misconfigured:${health.reason}`;
    case 'mailbox_unusable':
      return `mailbox_unusable:${health.reason}`;
  }
}

/** Every key of the remediation table, for exhaustive tests and documentation. */
export const ALL_HEALTH_KEYS: readonly HealthKey[] = [
  'connected',
  'disconnected',
  'unknown',
  ...DEGRADED_REASONS.map((r) => `degraded:${r}` as const),
  ...RECONNECT_REASONS.map((r) => `reconnect_required:${r}` as const),
  ...ADMIN_APPROVAL_REASONS.map((r) => `admin_approval_pending:${r}` as const),
  ...APP_MISCONFIGURED_REASONS.map((r) => `app_misconfigured:${r}` as const),
  ...MAILBOX_UNUSABLE_REASONS.map((r) => `mailbox_unusable:${r}` as const),
];

/** Sign-in problems the connect flow shows its own page for. */
export const SIGN_IN_BLOCKED_REASONS = [
  'mfa_required',
  'conditional_access',
  'user_not_found',
  'account_disabled',
  'password_expired',
  /** 650051 (as `access_denied` or `invalid_client`): an unmanaged tenant; an admin must claim the domain. */
  'unmanaged_tenant',
] as const;
export type SignInBlockedReason = (typeof SIGN_IN_BLOCKED_REASONS)[number];

export const TRY_AGAIN_REASONS = [
  /** Microsoft was briefly unavailable (temporarily_unavailable, server_error, 5xx, 429, network). */
  'temporarily_unavailable',
  /** The authorization code expired or was already used: start the flow again. */
  'code_expired',
  /** Microsoft wants an interactive sign-in (login_required / interaction_required without more detail). */
  'sign_in_required',
] as const;
export type TryAgainReason = (typeof TRY_AGAIN_REASONS)[number];

/**
 * What happened at the end of a connect attempt that failed, from the authorize callback, the admin-consent
 * callback or the code exchange. Each outcome has its own page. @see issue 3 item 4
 */
export type ConnectOutcome =
  /** `access_denied` with `error_subcode=cancel`: the user backed out. */
  | { outcome: 'cancelled'; evidence: ErrorEvidence }
  /** 65004 (or `access_denied` without `cancel`): the user saw the consent screen and declined. */
  | { outcome: 'declined'; evidence: ErrorEvidence }
  | { outcome: 'approval_required'; reason: AdminApprovalReason; evidence: ErrorEvidence }
  | { outcome: 'app_misconfigured'; reason: AppMisconfiguredReason; evidence: ErrorEvidence }
  /** 50020 / 500208: a personal account on a work-only app, or the reverse, or a user from another tenant. */
  | { outcome: 'wrong_account_type'; evidence: ErrorEvidence }
  | { outcome: 'sign_in_blocked'; reason: SignInBlockedReason; evidence: ErrorEvidence }
  | { outcome: 'try_again'; reason: TryAgainReason; evidence: ErrorEvidence }
  | { outcome: 'unknown'; evidence: ErrorEvidence };

export type ConnectOutcomeKind = ConnectOutcome['outcome'];

export type ConnectOutcomeKey =
  | 'cancelled'
  | 'declined'
  | 'wrong_account_type'
  | 'unknown'
  | `approval_required:${AdminApprovalReason}`
  | `app_misconfigured:${AppMisconfiguredReason}`
  | `sign_in_blocked:${SignInBlockedReason}`
  | `try_again:${TryAgainReason}`;

export function connectOutcomeKey(outcome: ConnectOutcome): ConnectOutcomeKey {
  switch (outcome.outcome) {
    case 'cancelled':
    case 'declined':
    case 'wrong_account_type':
    case 'unknown':
      return outcome.outcome;
    case 'approval_required':
      return `approval_required:${outcome.reason}`;
    case 'app_misconfigured':
      return `app_misconfigured:${outcome.reason}`;
    case 'sign_in_blocked':
      return `sign_in_blocked:${outcome.reason}`;
    case 'try_again':
      return `try_again:${outcome.reason}`;
  }
}

export const ALL_CONNECT_OUTCOME_KEYS: readonly ConnectOutcomeKey[] = [
  'cancelled',
  'declined',
  'wrong_account_type',
  'unknown',
  ...ADMIN_APPROVAL_REASONS.map((r) => `approval_required:${r}` as const),
  ...APP_MISCONFIGURED_REASONS.map((r) => `app_misconfigured:${r}` as const),
  ...SIGN_IN_BLOCKED_REASONS.map((r) => `sign_in_blocked:${r}` as const),
  ...TRY_AGAIN_REASONS.map((r) => `try_again:${r}` as const),
];
