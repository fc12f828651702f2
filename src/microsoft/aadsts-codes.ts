/**
 * The AADSTS numbers and Graph error codes mailbridge acts on, as named constants, each with its documented
 * meaning. Microsoft says codes may change and should not be hard-coded by clients; we still need them to tell a
 * user-fixable problem from an operator-fixable one, so they live here, in one place, with their sources.
 * @see docs/entra.md §2 (error catalogue), §1.7 (admin consent); docs/graph.md §3.2 (Graph errors)
 */
export const AADSTS = {
  /** Grant revoked: password changed or reset, sessions revoked. */
  GRANT_REVOKED_FRESH_TOKEN_NEEDED: 50173,
  /** SSO session invalid because of a password expiry or recent password change. */
  SSO_ARTIFACT_INVALID: 50132,
  SSO_ARTIFACT_REVOKED: 50133,
  /** The user's password expired (cloud / on-premises). */
  PASSWORD_EXPIRED: 50055,
  ON_PREM_PASSWORD_EXPIRED: 50144,
  /** Refresh token expired after 90 days of inactivity. */
  REFRESH_TOKEN_INACTIVE: 700082,
  /** SPA refresh token (24 h) expired. */
  SPA_REFRESH_TOKEN_EXPIRED: 700084,
  /** Refresh token reached its maximum lifetime. */
  REFRESH_TOKEN_MAX_LIFETIME: 700081,
  /** Code or refresh token expired or revoked. */
  GRANT_EXPIRED: 70008,
  /** Flow token expired ("auth codes, refresh tokens and sessions expire over time"). */
  FLOW_TOKEN_EXPIRED: 50089,
  /** Invalid grant: bad code or refresh token. */
  INVALID_GRANT: 70000,
  /** Authorization code already redeemed. */
  CODE_ALREADY_REDEEMED: 54005,
  /** Malformed request; with suberror `bad_token`, a bad refresh token. */
  MALFORMED_REQUEST: 9002313,
  /** No consent for the app/scope (consent revoked, or admin consent needed at the authorize callback). */
  CONSENT_MISSING: 65001,
  /** The user declined consent. */
  CONSENT_DECLINED: 65004,
  /** Admin approval required (no admin consent workflow). */
  ADMIN_APPROVAL_REQUIRED: 90094,
  /** Admin consent workflow: the user requested approval. */
  ADMIN_CONSENT_WORKFLOW: 90095,
  /** Tenant policy forbids user consent. */
  USER_CONSENT_FORBIDDEN: 90093,
  /** App considered risky: user consent blocked, an admin must consent. */
  RISKY_APP_CONSENT_BLOCKED: 900941,
  RISKY_APP_ADMIN_CONSENT: 900981,
  /** MFA required (policy or location change). */
  MFA_REQUIRED: 50076,
  /** MFA enrollment required. */
  MFA_ENROLLMENT_REQUIRED: 50079,
  /** Presented MFA expired. */
  MFA_EXPIRED: 50078,
  /** MFA enrollment required (interactive interrupt). */
  MFA_ENROLLMENT_INTERRUPT: 50072,
  /** Strong authentication required and not passed. */
  MFA_NOT_PASSED: 50074,
  /** Blocked by Conditional Access. */
  CONDITIONAL_ACCESS_BLOCKED: 53003,
  /** Conditional Access: device must be managed. */
  CONDITIONAL_ACCESS_MANAGED_DEVICE: 530003,
  /** Conditional Access: device not compliant / not domain joined / app not approved / generic CA failure. */
  CONDITIONAL_ACCESS_DEVICE_NOT_COMPLIANT: 53000,
  CONDITIONAL_ACCESS_DEVICE_NOT_JOINED: 53001,
  CONDITIONAL_ACCESS_APP_NOT_APPROVED: 53002,
  CONDITIONAL_ACCESS_FAILED: 50131,
  /**
   * Conditional Access: the device platform is not allowed. Redirected as `access_denied`.
   * [OBS] docs/entra.md §2 (`error=access_denied&error_description=AADSTS50005: Device platform Unknown …`)
   */
  CONDITIONAL_ACCESS_DEVICE_PLATFORM: 50005,
  /**
   * Conditional Access sign-in frequency: the refresh token outlived the policy's sign-in period (`invalid_grant`,
   * suberror `token_expired`). It recurs every period whatever the keep-alive does.
   * [OBS] docs/entra.md §2 (body with `error_codes: [70043]`, "maximum allowed lifetime … 86400")
   */
  SIGN_IN_FREQUENCY: 70043,
  /**
   * The user's organisation is an unmanaged ("viral") tenant: an administrator must claim the domain by DNS
   * validation before any app can be provisioned there. Microsoft redirects it as `access_denied` or as
   * `invalid_client`. [OBS] docs/entra.md §2
   */
  UNMANAGED_TENANT: 650051,
  /** A user from another identity provider / tenant is not allowed (e.g. personal account on an org-only app). */
  USER_FROM_OTHER_TENANT: 50020,
  /** The domain is not a valid login domain for the account type. */
  WRONG_ACCOUNT_TYPE_DOMAIN: 500208,
  /** User not found. */
  USER_NOT_FOUND: 50034,
  /** User account not in the directory. */
  USER_NOT_IN_DIRECTORY: 51004,
  /** User account disabled. */
  USER_DISABLED: 50057,
  /** No session for `prompt=none`. */
  NO_SESSION: 50058,
  /** Application not found in the tenant. */
  APP_NOT_FOUND: 700016,
  /** Invalid client secret. */
  CLIENT_SECRET_INVALID: 7000215,
  /** Client secret expired. */
  CLIENT_SECRET_EXPIRED: 7000222,
  /** A public client sent a client secret. */
  PUBLIC_CLIENT_SECRET: 700025,
  /** Reply URL mismatch. */
  REDIRECT_URI_MISMATCH: 50011,
  /** Invalid scope. */
  INVALID_SCOPE: 70011,
  /** Resource principal not found in the tenant. */
  RESOURCE_NOT_FOUND: 500011,
  /** Single-tenant app used with /common. */
  APP_NOT_MULTI_TENANT: 50194,
  /** App registered for personal accounts only; must use /consumers. */
  APP_CONSUMERS_ONLY: 9002331,
  /** Directory unavailable / transient. */
  DIRECTORY_UNAVAILABLE: 90033,
  TRANSIENT_DIRECTORY: 90024,
  /** Retryable error unrelated to the database. */
  RETRYABLE_ERROR: 50033,
  /**
   * LoopDetected: the token endpoint throttles a client that asks too often. Comes back with HTTP 400 (not 429),
   * possibly beside `invalid_grant`: a pause, never a dead grant. [OBS] @see docs/graph.md §3.3
   */
  CLIENT_REQUEST_LOOP: 50196,
} as const;

/** Graph `error.code` values we act on. @see docs/graph.md §3.1, §3.2 */
export const GRAPH_CODE = {
  INVALID_AUTHENTICATION_TOKEN: 'InvalidAuthenticationToken',
  ACCESS_DENIED: 'ErrorAccessDenied',
  AUTHORIZATION_REQUEST_DENIED: 'Authorization_RequestDenied',
  MAILBOX_NOT_ENABLED_FOR_REST: 'MailboxNotEnabledForRESTAPI',
  SEND_AS_DENIED: 'ErrorSendAsDenied',
  QUOTA_EXCEEDED: 'ErrorQuotaExceeded',
  MESSAGE_SUBMISSION_BLOCKED: 'ErrorMessageSubmissionBlocked',
  EXCEEDED_MESSAGE_LIMIT: 'ErrorExceededMessageLimit',
  SUBMISSION_QUOTA_EXCEEDED: 'ErrorSubmissionQuotaExceeded',
  INVALID_RECIPIENTS: 'ErrorInvalidRecipients',
  ITEM_NOT_FOUND: 'ErrorItemNotFound',
  INVALID_HEADER: 'InvalidInternetMessageHeader',
  INVALID_HEADER_COLLECTION: 'InvalidInternetMessageHeaderCollection',
  MIME_INVALID_BASE64: 'ErrorMimeContentInvalidBase64String',
  INEFFICIENT_FILTER: 'InefficientFilter',
  TOO_MANY_REQUESTS: 'TooManyRequests',
  APPLICATION_THROTTLED: 'ApplicationThrottled',
  /** 404 on a mailbox call when the user has no mailbox (no licence); alternates with MailboxNotEnabledForRESTAPI. */
  RESOURCE_NOT_FOUND: 'ResourceNotFound',
  /** 507 "Target mailbox quota exceeded.": the mailbox is full. */
  QUOTA_EXCEEDED_EXCEPTION: 'QuotaExceededException',
} as const;
