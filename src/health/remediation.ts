import type { GraphDetail } from '../microsoft/graph-error-details.js';
import {
  type ConnectOutcome,
  type ConnectOutcomeKey,
  connectOutcomeKey,
  type Health,
  type HealthKey,
  healthKey,
} from './health.js';

/**
 * What to tell people about a status: a short title, what the end user should do, and what the operator (who runs
 * this service and owns the Microsoft app registration) should do. Plain words, no codes in the user text except
 * where the user must pass them on. The tables are typed `Record<Key, Remediation>`, so a new reason without text
 * does not compile; `test/health/remediation.test.ts` also checks that none is empty.
 */
export interface Remediation {
  title: string;
  user: string;
  operator: string;
}

const APP_REGISTRATIONS = 'Entra admin center (entra.microsoft.com) → Identity → Applications → App registrations';
const OPERATOR_TOLD = "This service can't reach Microsoft right now; its operator has been told.";
const NO_ACTION_TRANSIENT =
  'Nothing to do: mailbridge retries with backoff and never disconnects on a transient error.';

export const HEALTH_REMEDIATION: Readonly<Record<HealthKey, Remediation>> = {
  connected: {
    title: 'Connected',
    user: 'Your Microsoft account is connected. Nothing to do.',
    operator: 'Nothing to do.',
  },
  disconnected: {
    title: 'Disconnected',
    user: 'This account was disconnected and its tokens were deleted. Connect it again to use it. To remove the app from your Microsoft account too, go to account.microsoft.com → Privacy → Apps and services (personal accounts) or myapps.microsoft.com (work or school accounts).',
    operator: 'Nothing to do unless the user asks to connect again.',
  },
  unknown: {
    title: 'Problem not recognised',
    user: "Microsoft answered with an error we don't recognise. We keep trying; if it lasts, try Reconnect.",
    operator:
      'Microsoft returned an error mailbridge does not classify. The account is kept as it is and retried. Check the stored evidence (error, error_codes, Graph code, trace and request ids) and report it so it can be classified.',
  },

  'degraded:throttled': {
    title: 'Microsoft is slowing us down',
    user: 'Microsoft asked us to slow down. Your messages will go out a little later; nothing to do.',
    operator: `Microsoft throttled requests for this mailbox (HTTP 429). mailbridge waits for Retry-After. ${NO_ACTION_TRANSIENT} If it is frequent, lower the per-mailbox pace.`,
  },
  'degraded:service_unavailable': {
    title: 'Microsoft is briefly unavailable',
    user: 'Microsoft is briefly unavailable. We will try again automatically; nothing to do.',
    operator: `Microsoft answered "temporarily unavailable" (503 / temporarily_unavailable). ${NO_ACTION_TRANSIENT}`,
  },
  'degraded:server_error': {
    title: 'Microsoft had an error',
    user: 'Microsoft had a temporary error. We will try again automatically; nothing to do.',
    operator: `Microsoft answered with a server error (5xx). ${NO_ACTION_TRANSIENT} If it lasts for hours, check status.cloud.microsoft.`,
  },
  'degraded:network': {
    title: "Can't reach Microsoft",
    user: "We couldn't reach Microsoft for a moment. We will try again automatically; nothing to do.",
    operator:
      'Network error between this service and Microsoft (connection refused, reset, DNS or timeout). Check outbound HTTPS to login.microsoftonline.com and graph.microsoft.com if it lasts.',
  },
  'degraded:access_token_rejected': {
    title: 'Refreshing access',
    user: 'We are refreshing access to your mailbox; nothing to do.',
    operator: 'Graph rejected an access token before its expiry; mailbridge refreshes it once and repeats the call.',
  },
  'degraded:sending_limit_reached': {
    title: 'Sending limit reached',
    user: "Your mailbox reached Microsoft's sending limit for now. Messages wait and go out when the limit frees up (within 24 hours).",
    operator:
      'Microsoft refused a send because the mailbox is over its sending limit (ErrorExceededMessageLimit / ErrorSubmissionQuotaExceeded). Messages are held and retried later; lower the per-mailbox daily recipient budget if this repeats.',
  },

  'reconnect_required:password_changed': {
    title: 'Password changed',
    user: 'Your Microsoft password changed, which signs out connected apps. Click Reconnect and sign in again.',
    operator:
      'Microsoft revoked the grant after a password change or a "revoke sessions" (AADSTS50173). The user must reconnect; nothing to do on your side.',
  },
  'reconnect_required:password_expired': {
    title: 'Password expired',
    user: 'Your Microsoft password has expired. Change it at Microsoft, then click Reconnect and sign in again.',
    operator: "The user's password expired (AADSTS50055). The user must change it and reconnect.",
  },
  'reconnect_required:refresh_expired': {
    title: 'Sign-in expired',
    user: 'Your sign-in expired because the account was not used for a long time. Click Reconnect and sign in again.',
    operator:
      'The refresh token expired (AADSTS700082: 90 days unused, or 70008 / 700081). The keep-alive should prevent this; check that the worker runs. The user must reconnect.',
  },
  'reconnect_required:consent_revoked': {
    title: 'Permission removed',
    user: "This service's permission to use your mailbox was removed. Click Reconnect and allow access again.",
    operator:
      'Consent for the app was revoked (AADSTS65001 on refresh). The user must reconnect; in a work tenant an admin may have removed the app, then admin consent is needed again.',
  },
  'reconnect_required:mfa_required': {
    title: 'Extra verification needed',
    user: 'Your organisation now asks for an extra verification step (MFA). Click Reconnect and complete it.',
    operator: 'Microsoft requires multi-factor authentication (AADSTS50076/50079/50078). The user must reconnect.',
  },
  'reconnect_required:conditional_access': {
    title: "Blocked by your organisation's policy",
    user: "Your organisation's security policy blocks this service. Ask your IT admin; reconnecting will not help until the policy allows it.",
    operator:
      "A Conditional Access policy in the user's tenant blocks sign-in (AADSTS53003/530003, or 50005: the device platform is not allowed). Retrying is useless; the tenant's admin must allow the app, the device or the platform. Nothing is wrong with this service.",
  },
  'reconnect_required:sign_in_frequency': {
    title: 'Your organisation asks you to sign in again',
    user: 'Your organisation requires you to sign in again at regular intervals. Click Reconnect and sign in; this will happen again at the end of each period your organisation set.',
    operator:
      "A Conditional Access sign-in frequency policy in the user's tenant ended the sign-in (AADSTS70043; the description names the maximum lifetime in seconds). The keep-alive cannot prevent it and it will recur every policy period. To stop it, the tenant's admin can exclude this app from the policy or lengthen the period.",
  },
  'reconnect_required:unmanaged_tenant': {
    title: 'Your organisation must be set up first',
    user: "Your organisation's Microsoft directory isn't managed by an administrator yet, so Microsoft won't let apps connect. Someone who owns your email domain must claim it at Microsoft (admin takeover, by DNS validation); then click Reconnect.",
    operator:
      "The user's organisation is an unmanaged Microsoft Entra tenant (AADSTS650051): its domain must be claimed by an administrator through DNS validation before any app can be provisioned there. Nothing is wrong with this service's app. See learn.microsoft.com → Entra ID → Admin takeover of an unmanaged directory.",
  },
  'reconnect_required:user_not_found': {
    title: 'Account not found',
    user: 'Microsoft no longer finds this account. If it was renamed or moved, click Reconnect and sign in with the current account.',
    operator:
      'Microsoft does not find the user (AADSTS50034). The account may have been deleted or moved to another tenant.',
  },
  'reconnect_required:bad_token': {
    title: 'Sign-in no longer valid',
    user: 'Your sign-in is no longer valid. Click Reconnect and sign in again.',
    operator:
      'Microsoft rejected the stored refresh token as invalid (AADSTS70000, or 9002313 with bad_token). The user must reconnect; if this happens to many accounts at once, check the vault keys and the token storage.',
  },
  'reconnect_required:token_invalid': {
    title: 'Access rejected',
    user: 'Microsoft rejected access to your mailbox. Click Reconnect and sign in again.',
    operator:
      'Graph answered 401 InvalidAuthenticationToken even with a freshly refreshed token. The user must reconnect.',
  },
  'reconnect_required:missing_scopes': {
    title: 'Permission missing',
    user: 'This service lacks a permission it needs for your mailbox. Click Reconnect and allow all requested permissions. If your organisation blocks it, ask your IT admin.',
    operator:
      'Graph answered 403 ErrorAccessDenied: the token lacks a scope (or a tenant policy denies it). Check the permission profile and the granted scopes; the user must reconnect.',
  },
  'reconnect_required:claims_challenge': {
    title: 'Sign in again',
    user: 'Microsoft asks you to sign in again (your session changed). Click Reconnect.',
    operator:
      'Graph sent a claims challenge (401 insufficient_claims, Continuous Access Evaluation). The user must reconnect.',
  },
  'reconnect_required:sign_in_required': {
    title: 'Sign in again',
    user: 'Microsoft asks you to sign in again. Click Reconnect.',
    operator: 'Microsoft answered interaction_required / login_required on refresh. The user must reconnect.',
  },

  'admin_approval_pending:admin_approval_required': {
    title: 'Approval required',
    user: 'Your organisation requires an IT admin to approve this service first. Send your IT admin the approval link shown here; once they approve, you can finish connecting in one click.',
    operator:
      "The user's tenant requires admin approval (AADSTS90094). Its admin must grant consent through the admin-consent link; nothing to change in this service.",
  },
  'admin_approval_pending:approval_requested': {
    title: 'Approval requested',
    // Microsoft showed its "request approval" form (AADSTS90095); whether the user sent it is not known to us.
    user: 'Your organisation asks its IT admin to approve apps like this one. If you sent a request at Microsoft, your admin will find it there; you can also send them the approval link shown here. Once they approve, you can finish connecting in one click.',
    operator:
      "The user requested approval through the tenant's admin consent workflow (AADSTS90095). The tenant admin approves it in Entra admin center → Enterprise applications → Admin consent requests.",
  },
  'admin_approval_pending:user_consent_blocked': {
    title: 'Approval required',
    user: "Your organisation doesn't let users approve apps themselves. Send your IT admin the approval link shown here.",
    operator: "The user's tenant forbids user consent (AADSTS90093). Its admin must grant tenant-wide consent.",
  },
  'admin_approval_pending:admin_consent_required': {
    title: 'Approval required',
    user: 'An IT admin of your organisation must approve this service before you can connect. Send them the approval link shown here.',
    operator:
      'No consent exists for this app in the tenant (AADSTS65001 at sign-in). A tenant admin must grant consent.',
  },
  'admin_approval_pending:risky_app': {
    title: 'Approval required',
    user: 'Microsoft requires an IT admin to approve this service for your organisation. Send them the approval link shown here.',
    operator:
      'Microsoft treats the app as risky and blocks user consent (AADSTS900941/900981). Verify the app (publisher verification helps) and have the tenant admin consent.',
  },

  'app_misconfigured:client_secret_expired': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `The Microsoft app's client secret expired (AADSTS7000222). Create a new secret in ${APP_REGISTRATIONS} → your app → Certificates & secrets → New client secret, set MICROSOFT_CLIENT_SECRET (and MICROSOFT_CLIENT_SECRET_EXPIRES_AT) and restart. User accounts are untouched.`,
  },
  'app_misconfigured:client_secret_invalid': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `Microsoft rejects the client secret (AADSTS7000215): MICROSOFT_CLIENT_SECRET holds a wrong value (often the secret's ID instead of its value). Copy the secret's Value from ${APP_REGISTRATIONS} → your app → Certificates & secrets (or create a new one) and restart. User accounts are untouched.`,
  },
  'app_misconfigured:app_not_found': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `Microsoft does not know the application (AADSTS700016). Check MICROSOFT_CLIENT_ID against the Application (client) ID in ${APP_REGISTRATIONS}, and that the app supports the account types of MICROSOFT_TENANT.`,
  },
  'app_misconfigured:redirect_uri_mismatch': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `The redirect URI is not registered (AADSTS50011). Add this service's callback URL exactly (scheme, host, port, path) under ${APP_REGISTRATIONS} → your app → Authentication → Web → Redirect URIs, or fix PUBLIC_URL.`,
  },
  'app_misconfigured:invalid_scope': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `Microsoft rejected the requested scopes (AADSTS70011/500011). Check the permission profile's scopes and the app's API permissions in ${APP_REGISTRATIONS} → your app → API permissions (Microsoft Graph, delegated).`,
  },
  'app_misconfigured:public_client_secret': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `The app is registered as a public client but this service sends a secret (AADSTS700025). In ${APP_REGISTRATIONS} → your app → Authentication, set "Allow public client flows" to No and use a Web platform redirect URI.`,
  },
  'app_misconfigured:audience_mismatch': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `The app's supported account types do not fit MICROSOFT_TENANT (AADSTS50194: single-tenant app used with common/organizations; AADSTS9002331: personal-accounts-only app not used with consumers). Change "Supported account types" in ${APP_REGISTRATIONS} → your app → Authentication, or MICROSOFT_TENANT.`,
  },
  'app_misconfigured:client_rejected': {
    title: 'Service misconfigured',
    user: OPERATOR_TOLD,
    operator: `Microsoft rejected this service's client credentials (invalid_client / unauthorized_client). Check MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET against ${APP_REGISTRATIONS}; the stored evidence has Microsoft's code and trace id. User accounts are untouched.`,
  },

  'mailbox_unusable:not_rest_enabled': {
    title: 'Mailbox not available',
    user: "Microsoft says this mailbox can't be used by apps: it may have no Exchange Online licence, be inactive, or be hosted on your organisation's own servers. Ask your IT admin, or connect another account.",
    operator:
      'Graph answered MailboxNotEnabledForRESTAPI: the mailbox is unlicensed, inactive, soft-deleted or on-premises. Nothing to fix in this service.',
  },
  'mailbox_unusable:disabled': {
    title: 'Account disabled',
    user: 'This Microsoft account is disabled. Ask your IT admin (work or school) or Microsoft support (personal) to re-enable it, then reconnect.',
    operator: 'The user account is disabled (AADSTS50057). Nothing to fix in this service.',
  },
  'mailbox_unusable:send_as_denied': {
    title: 'Not allowed to send',
    user: "Microsoft doesn't allow this account to send as this address. Ask your IT admin for Send As permission, or connect the mailbox of that address.",
    operator: 'Graph answered ErrorSendAsDenied: the account may not send as the requested From address.',
  },
  'mailbox_unusable:quota_exceeded': {
    title: 'Mailbox full',
    user: 'Your mailbox is full. Delete some mail (or empty Deleted Items) so messages can be sent again.',
    operator:
      'Graph answered ErrorQuotaExceeded ("Mailbox has exceeded maximum mailbox size.") or 507 QuotaExceededException ("Target mailbox quota exceeded."): the mailbox is over its storage quota. Waiting does not help; the user (or an admin) must free space or raise the quota.',
  },
  'mailbox_unusable:api_access_blocked': {
    title: "Blocked by your organisation's mail policy",
    user: "Your organisation's mail settings don't allow apps to use this mailbox. Reconnecting won't help: ask your IT admin to allow it, or connect another account.",
    operator:
      "Graph answered 403 ErrorAccessDenied \"Access to OData is disabled.\": an Exchange Online policy in the user's tenant blocks REST/Graph access to this mailbox (for example Set-CASMailbox -OutlookRestEnabled, or an application access policy). The token's scopes are fine; only the tenant's Exchange admin can lift it.",
  },
  'mailbox_unusable:mailbox_not_found': {
    title: 'No mailbox',
    user: 'Microsoft finds no mailbox for this account: it may have no Exchange Online (Outlook) licence, or the mailbox was removed. Ask your IT admin, or connect an account that has a mailbox.',
    operator:
      'Graph answered 404 ResourceNotFound "Resource could not be discovered." on a mailbox call: the user has no Exchange Online mailbox (no licence, or not provisioned yet). It alternates with MailboxNotEnabledForRESTAPI for the same user. Nothing to fix in this service.',
  },
  'mailbox_unusable:sending_blocked': {
    title: 'Sending blocked by Microsoft',
    user: "Microsoft has blocked sending from this mailbox. For a work or school account ask your IT admin to unblock it; for Outlook.com, sign in at outlook.com and follow Microsoft's instructions.",
    operator:
      'Graph answered ErrorMessageSubmissionBlocked: the sender is restricted (for example after exceeding limits or a spam suspicion). Only a tenant admin (Microsoft 365 Defender → Restricted entities) or Microsoft can unblock it.',
  },
  'mailbox_unusable:restricted_sender': {
    title: 'Microsoft blocked this mailbox from sending',
    user: "Microsoft has blocked sending from this mailbox (usually after a spam suspicion). For a work or school account ask your IT admin to unblock it; for Outlook.com, sign in at outlook.com and follow Microsoft's instructions.",
    operator:
      'A non-delivery report 550 5.1.8 "Access denied, bad outbound sender" arrived: Exchange made the mailbox a restricted user (too much spam, usually a compromised account). Check the account for compromise, then a tenant admin unblocks it (Microsoft Defender portal → Restricted entities); Outlook.com users follow Microsoft\'s instructions at outlook.com. Reconnect the account afterwards.',
  },
};

export const CONNECT_OUTCOME_REMEDIATION: Readonly<Record<ConnectOutcomeKey, Remediation>> = {
  cancelled: {
    title: 'Sign-in cancelled',
    user: 'You cancelled the Microsoft sign-in. Nothing was connected. You can try again whenever you like.',
    operator: 'Nothing to do: the user backed out (access_denied, cancel).',
  },
  declined: {
    title: 'Permission not given',
    user: "You didn't allow access to your mailbox, so nothing was connected. To connect, try again and choose Accept on Microsoft's permission screen.",
    operator: 'Nothing to do: the user declined consent (AADSTS65004 / access_denied).',
  },
  wrong_account_type: {
    title: 'This kind of account is not accepted here',
    user: 'This service does not accept this kind of Microsoft account here (personal vs work or school). Sign in with the other kind of account, or choose the matching provider.',
    operator:
      "The account does not belong to a tenant the app accepts (AADSTS50020/500208). Check MICROSOFT_TENANT (common, organizations, consumers or a tenant id) and the app's supported account types.",
  },
  unknown: {
    title: 'Something went wrong',
    user: "Microsoft returned an error we don't recognise. Please try again; if it keeps happening, contact support with the reference shown.",
    operator:
      'The connect flow failed with an error mailbridge does not classify. The stored evidence has the error, code, trace and correlation ids.',
  },

  'approval_required:admin_approval_required': HEALTH_REMEDIATION['admin_approval_pending:admin_approval_required'],
  'approval_required:approval_requested': HEALTH_REMEDIATION['admin_approval_pending:approval_requested'],
  'approval_required:user_consent_blocked': HEALTH_REMEDIATION['admin_approval_pending:user_consent_blocked'],
  'approval_required:admin_consent_required': HEALTH_REMEDIATION['admin_approval_pending:admin_consent_required'],
  'approval_required:risky_app': HEALTH_REMEDIATION['admin_approval_pending:risky_app'],

  'app_misconfigured:client_secret_expired': HEALTH_REMEDIATION['app_misconfigured:client_secret_expired'],
  'app_misconfigured:client_secret_invalid': HEALTH_REMEDIATION['app_misconfigured:client_secret_invalid'],
  'app_misconfigured:app_not_found': HEALTH_REMEDIATION['app_misconfigured:app_not_found'],
  'app_misconfigured:redirect_uri_mismatch': HEALTH_REMEDIATION['app_misconfigured:redirect_uri_mismatch'],
  'app_misconfigured:invalid_scope': HEALTH_REMEDIATION['app_misconfigured:invalid_scope'],
  'app_misconfigured:public_client_secret': HEALTH_REMEDIATION['app_misconfigured:public_client_secret'],
  'app_misconfigured:audience_mismatch': HEALTH_REMEDIATION['app_misconfigured:audience_mismatch'],
  'app_misconfigured:client_rejected': HEALTH_REMEDIATION['app_misconfigured:client_rejected'],

  'sign_in_blocked:mfa_required': {
    title: 'Extra verification needed',
    user: 'Microsoft needs an extra verification step (MFA) that was not completed. Try again and complete it; if you have not set up MFA yet, set it up first.',
    operator: 'Sign-in stopped at multi-factor authentication (AADSTS50076/50079). Nothing to do on your side.',
  },
  'sign_in_blocked:conditional_access': HEALTH_REMEDIATION['reconnect_required:conditional_access'],
  'sign_in_blocked:user_not_found': {
    title: 'Account not found',
    user: 'Microsoft did not find this account. Check the address and try again, or use another account.',
    operator: 'Microsoft does not find the user in the tenant (AADSTS50034). Nothing to do on your side.',
  },
  'sign_in_blocked:account_disabled': HEALTH_REMEDIATION['mailbox_unusable:disabled'],
  'sign_in_blocked:password_expired': HEALTH_REMEDIATION['reconnect_required:password_expired'],
  'sign_in_blocked:unmanaged_tenant': HEALTH_REMEDIATION['reconnect_required:unmanaged_tenant'],

  'try_again:temporarily_unavailable': {
    title: 'Microsoft is briefly unavailable',
    user: 'Microsoft is briefly unavailable. Please try again in a minute.',
    operator: 'Microsoft answered with a transient error during sign-in. Nothing to do unless it lasts.',
  },
  'try_again:code_expired': {
    title: 'Sign-in took too long',
    user: 'The sign-in expired before it finished. Please try again.',
    operator:
      'The authorization code was expired or already used (AADSTS70008/54005/70000). Frequent occurrences mean the callback is slow or called twice.',
  },
  'try_again:sign_in_required': {
    title: 'Sign in again',
    user: 'Microsoft needs you to sign in again. Please try again.',
    operator: 'Microsoft answered login_required / interaction_required. Nothing to do on your side.',
  },
};

/**
 * A Graph refusal of one message (not of the account), where a recorded message names why. @see graph-error-details.ts
 */
export const MESSAGE_REFUSAL_REMEDIATION: Readonly<Partial<Record<GraphDetail, Remediation>>> = {
  named_property_quota: {
    title: "Mailbox can't store more custom header names",
    user: "Microsoft refused this message because the mailbox can't record any more distinct custom header names. The mailbox still sends: send the message again without new custom header names (reuse the ones you already use).",
    operator:
      'Graph answered ErrorQuotaExceeded "Cannot get ID from name.": the mailbox\'s named-property quota is full (each distinct custom x- header name, extended property or extension name takes one, for good). The account stays usable; only messages that need a new name fail. Have the host use a fixed set of header names (values may vary). Raising the quota is an Exchange admin matter (MicrosoftDocs/OfficeDocs-O365ServiceDescriptions#527).',
  },
};

export function remediationFor(health: Health): Remediation {
  return HEALTH_REMEDIATION[healthKey(health)];
}

export function remediationForConnectOutcome(outcome: ConnectOutcome): Remediation {
  return CONNECT_OUTCOME_REMEDIATION[connectOutcomeKey(outcome)];
}
