import type { AadErrorInput } from '../errors.js';
import type { AppRegistration, Tenant, User } from '../state/model.js';

/**
 * The AADSTS errors the identity endpoints answer with: Microsoft's `error` value, number and wording. Wording
 * comes from Microsoft's error reference (docs/entra.md §2) and from real responses recorded in public
 * code and issues (docs/entra.md §1.4, §2); each function says which when it is not the reference.
 */

const GRAPH_RESOURCE_ID = '00000003-0000-0000-c000-000000000000';

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('Z', '0000Z');
}

/** `90.00:00:00`, the .NET TimeSpan text Microsoft prints for an inactivity period. */
function timeSpan(seconds: number): string {
  const days = Math.floor(seconds / 86400);
  const rest = seconds % 86400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, '0');
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, '0');
  const ss = String(rest % 60).padStart(2, '0');
  return `${days}.${hh}:${mm}:${ss}`;
}

export const aadsts = {
  missingParameter: (name: string): AadErrorInput => ({
    error: 'invalid_request',
    code: 900144,
    description: `The request body must contain the following parameter: '${name}'.`,
  }),
  tenantNotFound: (tenant: string, error = 'invalid_tenant'): AadErrorInput => ({
    error,
    code: 90002,
    description: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  }),
  appNotFound: (clientId: string, directory: string): AadErrorInput => ({
    // [OBS] `unauthorized_client` with HTTP 400, docs/entra.md §2.
    error: 'unauthorized_client',
    code: 700016,
    description: `Application with identifier '${clientId}' was not found in the directory '${directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  }),
  noReplyAddress: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 900971,
    description: 'No reply address provided.',
  }),
  redirectUriMismatch: (redirectUri: string, clientId: string): AadErrorInput => ({
    error: 'invalid_request',
    code: 50011,
    description: `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`,
  }),
  unsupportedResponseType: (responseType: string): AadErrorInput =>
    responseType.split(' ').includes('id_token') || responseType.split(' ').includes('token')
      ? {
          error: 'unsupported_response_type',
          code: 700054,
          description: "response_type 'id_token' is not enabled for the application.",
        }
      : {
          error: 'unsupported_response_type',
          code: 70005,
          description: `The provided value for the input parameter 'response_type' is not allowed for this request. Expected value: 'code' or 'code id_token'. Received value: '${responseType}'.`,
        },
  unsupportedResponseMode: (mode: string): AadErrorInput => ({
    error: 'invalid_request',
    code: 70007,
    description: `The application returned an unsupported value of 'response_mode': '${mode}'.`,
  }),
  invalidParameter: (name: string, value: string): AadErrorInput => ({
    error: 'invalid_request',
    code: 90100,
    description: `The '${name}' parameter is empty or not valid: '${value}'.`,
  }),
  invalidCodeChallenge: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 501491,
    description: 'Invalid size of Code_Challenge parameter.',
  }),
  invalidScope: (scope: string): AadErrorInput => ({
    error: 'invalid_scope',
    code: 70011,
    description: `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' is not valid.`,
  }),
  defaultScopeCombined: (scope: string): AadErrorInput => ({
    error: 'invalid_scope',
    code: 70011,
    description: `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' is not valid. .default scope can't be combined with resource-specific scopes.`,
  }),
  appNotMultiTenant: (app: AppRegistration): AadErrorInput => ({
    error: 'invalid_request',
    code: 50194,
    description: `Application '${app.clientId}'(${app.displayName}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.`,
  }),
  appPersonalOnly: (app: AppRegistration): AadErrorInput => ({
    error: 'invalid_request',
    code: 9002331,
    description: `Application '${app.clientId}'(${app.displayName}) is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request.`,
  }),
  endpointNeedsTenant: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 90130,
    description:
      'The application is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.',
  }),
  userNotInTenant: (user: User, tenant: Tenant, app: AppRegistration): AadErrorInput => ({
    error: 'access_denied',
    code: 50020,
    description: `User account '${user.email}' from identity provider '${user.kind === 'personal' ? 'live.com' : `https://sts.windows.net/${user.tenantId}/`}' does not exist in tenant '${tenant.displayName}' and cannot access the application '${app.clientId}'(${app.displayName}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.`,
  }),
  personalAccountNotSupported: (user: User): AadErrorInput => ({
    error: 'access_denied',
    code: 500200,
    description: `User account '${user.email}' is a personal Microsoft account. Personal Microsoft accounts are not supported for this application unless explicitly invited to an organization. Try signing out and signing back in with an organizational account.`,
  }),
  userDisabled: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 50057,
    description: 'The user account is disabled.',
  }),
  userNotFound: (tenantName: string): AadErrorInput => ({
    error: 'invalid_grant',
    code: 50034,
    description: `The user account {EmailHidden} does not exist in the ${tenantName} directory. To sign into this application, the account must be added to the directory.`,
  }),
  loginRequired: (): AadErrorInput => ({
    error: 'login_required',
    code: 50058,
    description: 'A silent sign-in request was sent but no user is signed in.',
  }),
  multipleAccounts: (): AadErrorInput => ({
    error: 'interaction_required',
    code: 16000,
    description:
      'Either multiple user identities are available for the current request or selected account is not supported for the scenario.',
  }),
  mfaRequiredInteractive: (): AadErrorInput => ({
    error: 'interaction_required',
    code: 50076,
    description: `Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${GRAPH_RESOURCE_ID}'.`,
  }),
  consentRequiredInteractive: (app: AppRegistration): AadErrorInput => ({
    error: 'consent_required',
    code: 65001,
    description: `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`,
  }),
  userCancelled: (): AadErrorInput => ({
    error: 'access_denied',
    code: 65004,
    description: 'User declined to consent to access the app.',
  }),
  adminConsentDeclined: (): AadErrorInput => ({
    // @see docs/entra.md §1.7 (the documented error example)
    error: 'access_denied',
    code: 65004,
    description: 'The resource owner or authorization server denied the request.',
  }),
  permissionsNeedAdmin: (app: AppRegistration): AadErrorInput => ({
    // @see docs/entra.md §1.7
    error: 'access_denied',
    code: 90093,
    description: `${app.displayName} is requesting one or more permissions that you aren't authorized to grant. Contact an administrator, who can consent to this application on your behalf.`,
  }),
  adminConsentRequired: (app: AppRegistration, tenant: Tenant): AadErrorInput => ({
    // [OBS] the wording users meet when their tenant's policy forbids user consent (aaddevsup blog on consent).
    error: 'access_denied',
    code: 90094,
    description: `An administrator of ${tenant.displayName} has set a policy that prevents you from granting ${app.displayName} the permissions it is requesting. Contact an administrator of ${tenant.displayName}, who can grant permissions to this app on your behalf.`,
  }),
  adminApprovalRequested: (app: AppRegistration): AadErrorInput => ({
    // Microsoft's reference calls 90095 the admin consent workflow interrupt; the app sees access_denied [OBS].
    error: 'access_denied',
    code: 90095,
    description: `${app.displayName} needs permission to access resources in your organization that only an admin can grant. A request for approval has been sent to your admin.`,
  }),
  notAnAdmin: (app: AppRegistration, tenant: Tenant): AadErrorInput => ({
    error: 'access_denied',
    code: 90094,
    description: `The grant requires admin permission. Only an administrator of '${tenant.displayName}' can consent to ${app.displayName} for the organization.`,
  }),
  personalAccountAdminConsent: (): AadErrorInput => ({
    // [OBS] docs/entra.md §1.7: what the legacy admin consent endpoint redirects with for an MSA.
    error: 'access_denied',
    code: 500201,
    description:
      'We are unable to issue tokens from this API version for a Microsoft account. Please contact the application vendor as they need to use version 2.0 of the protocol to support this.',
  }),
  flowExpired: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 50089,
    description: 'Authentication failed due to flow token expired.',
  }),
  // --- token endpoint -------------------------------------------------------------------------------------------
  getNotAllowed: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 900561,
    description: 'The endpoint only accepts POST, OPTIONS requests. Received a GET request.',
  }),
  unsupportedGrantType: (grantType: string): AadErrorInput => ({
    error: 'unsupported_grant_type',
    code: 70003,
    description: `The app requested an unsupported grant type '${grantType}'.`,
  }),
  clientIdConflict: (): AadErrorInput => ({
    error: 'invalid_request',
    code: 90100,
    description:
      "The 'client_id' in the request body does not match the client authenticated in the Authorization header.",
  }),
  publicClientWithSecret: (): AadErrorInput => ({
    error: 'invalid_client',
    code: 700025,
    description: "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
  }),
  secretMissing: (): AadErrorInput => ({
    error: 'invalid_client',
    code: 7000218,
    description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  }),
  assertionInvalid: (): AadErrorInput => ({
    error: 'invalid_client',
    code: 700027,
    description: 'Client assertion failed signature validation.',
  }),
  secretInvalid: (clientId: string): AadErrorInput => ({
    // [OBS] wording recorded in public code (docs/entra.md §2: invalid_client, HTTP 401).
    error: 'invalid_client',
    code: 7000215,
    description: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
  }),
  secretExpired: (clientId: string): AadErrorInput => ({
    error: 'invalid_client',
    code: 7000222,
    description: `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds`,
  }),
  codeInvalid: (reason: string): AadErrorInput => ({
    // [GUESS] Microsoft's reference lists 70000 for an unusable code; the trailing reason is ours.
    error: 'invalid_grant',
    code: 70000,
    description: `The provided value for the 'code' parameter is not valid. ${reason}`,
  }),
  codeRedeemed: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 54005,
    description:
      'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
  }),
  codeExpired: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 70008,
    description:
      'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
  }),
  codeOtherTenant: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 700005,
    description: 'Provided Authorization Code is intended to use against other tenant, thus rejected.',
  }),
  pkceMismatch: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 501481,
    description: 'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
  }),
  badRefreshToken: (): AadErrorInput => ({
    // [SRC] MC test_kit/StringConstants.ts: the fixture of a garbled refresh token.
    error: 'invalid_grant',
    code: 9002313,
    description: 'Invalid request. Request is malformed or invalid.',
    suberror: 'bad_token',
  }),
  refreshTokenOtherClient: (): AadErrorInput => ({
    error: 'invalid_grant',
    code: 70000,
    description: 'Provided grant is invalid or malformed.',
    suberror: 'client_mismatch',
  }),
  grantRevoked: (issuedAt: number, validFrom: number): AadErrorInput => ({
    // [OBS] the full wording, as OneDrive clients print it.
    error: 'invalid_grant',
    code: 50173,
    description: `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${iso(issuedAt)}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${iso(validFrom)}'.`,
  }),
  refreshTokenInactive: (issuedAt: number, inactivitySeconds: number): AadErrorInput => ({
    // [OBS] "…was inactive for 90.00:00:00." and `suberror: bad_token` as recorded from real answers
    // (docs/entra.md §2).
    error: 'invalid_grant',
    code: 700082,
    description: `The refresh token has expired due to inactivity. The token was issued on ${iso(issuedAt)} and was inactive for ${timeSpan(inactivitySeconds)}.`,
    suberror: 'bad_token',
  }),
  consentRevoked: (app: AppRegistration): AadErrorInput => ({
    error: 'invalid_grant',
    code: 65001,
    description: `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`,
    suberror: 'consent_required',
  }),
  mfaRequired: (): AadErrorInput => ({
    // [OBS] invalid_grant + basic_action, with a claims challenge naming the policy (docs/entra.md §1.4, §2).
    error: 'invalid_grant',
    code: 50076,
    description: `Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${GRAPH_RESOURCE_ID}'.`,
    suberror: 'basic_action',
  }),
  conditionalAccessBlocked: (): AadErrorInput => ({
    // [OBS] recorded from Azure SDK logs: invalid_grant, suberror message_only, a capolids claims challenge.
    error: 'invalid_grant',
    code: 53003,
    description:
      'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
    suberror: 'message_only',
  }),
};

/** Short messages for the `/error?code=` lookup page (what `error_uri` points at). */
export const ERROR_LOOKUP: Record<number, string> = {
  16000: 'Multiple user identities are available for the current request.',
  50011: 'The redirect URI specified in the request does not match the redirect URIs configured for the application.',
  50020: 'The user account does not exist in the tenant and cannot access the application.',
  50034: 'The user account does not exist in the directory.',
  50057: 'The user account is disabled.',
  50058: 'A silent sign-in request was sent but no user is signed in.',
  50076: 'Multi-factor authentication is required to access the resource.',
  50089: 'Authentication failed due to flow token expired.',
  50173: 'The provided grant has expired due to it being revoked.',
  50194: 'The application is not configured as a multi-tenant application.',
  53003: 'Access has been blocked by Conditional Access policies.',
  54005: 'The authorization code was already redeemed.',
  65001: 'The user or administrator has not consented to use the application.',
  65004: 'The user declined to consent to access the app.',
  70000: 'The provided grant is invalid or malformed.',
  70003: 'The app requested an unsupported grant type.',
  70005: 'The response type is not supported.',
  70007: 'The response mode is not supported.',
  70008: 'The provided authorization code or refresh token has expired.',
  70011: 'The scope requested by the app is invalid.',
  90002: 'The tenant was not found.',
  90093: 'The user is not authorized to grant the requested permissions.',
  90094: 'Administrator consent is required.',
  90095: 'Administrator consent is required; a request for approval can be sent.',
  90100: 'A parameter is empty or not valid.',
  90130: 'The endpoint requires /organizations or a tenant-specific endpoint.',
  500200: 'Personal Microsoft accounts are not supported for this application.',
  500201: 'Tokens cannot be issued from this API version for a Microsoft account.',
  501481: 'The code verifier does not match the code challenge.',
  501491: 'Invalid size of the code challenge parameter.',
  700005: 'The authorization code is intended for another tenant.',
  700016: 'The application was not found in the directory.',
  700025: 'A public client must not present a client secret or assertion.',
  700027: 'The client assertion failed signature validation.',
  700054: "Response type 'id_token' is not enabled for the application.",
  700082: 'The refresh token has expired due to inactivity.',
  900144: 'A required parameter is missing.',
  900561: 'The endpoint only accepts POST requests.',
  900971: 'No reply address provided.',
  7000215: 'Invalid client secret provided.',
  7000218: 'The request must contain a client secret or client assertion.',
  7000222: 'The client secret has expired.',
  9002313: 'Invalid request. Request is malformed or invalid.',
  9002331: 'The application is configured for Microsoft Account users only.',
};
