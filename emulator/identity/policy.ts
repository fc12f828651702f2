import type { EmulatorContext } from '../context.js';
import type { AadErrorInput } from '../errors.js';
import type { AppRegistration, SignInFlow, Tenant, User } from '../state/model.js';
import type { TenantSegment } from '../state/world.js';
import { aadsts } from './aadsts.js';
import { hasScope, isAdminOnlyScope, isOidcScope, missingScopes, unionScopes } from './scopes.js';

/**
 * Who may sign in where, and who may consent to what. Every rule reads the world as it is now: the control API
 * changes tenants, users, apps and consents between requests.
 */

/** The segment as a code remembers it: `common`, `organizations`, `consumers` or a tenant GUID. */
export function canonicalSegment(segment: TenantSegment): string {
  return segment.kind === 'tenant' ? segment.tenant.id : segment.kind;
}

/** The directory name Microsoft's "not found in the directory '…'" messages print. */
export function directoryName(segment: TenantSegment): string {
  if (segment.kind === 'tenant') return segment.tenant.displayName;
  return segment.kind === 'consumers' ? 'Microsoft Accounts' : segment.kind;
}

/**
 * Whether the app can be found from this endpoint at all (else AADSTS700016): a single-tenant app lives only in
 * its home tenant, and apps without personal accounts do not exist for `/consumers`.
 */
export function appVisibleFrom(app: AppRegistration, segment: TenantSegment): boolean {
  switch (app.signInAudience) {
    case 'AzureADMyOrg':
      if (segment.kind === 'consumers') return false;
      return segment.kind !== 'tenant' || segment.tenant.id === app.homeTenantId;
    case 'AzureADMultipleOrgs':
      return segment.kind !== 'consumers';
    default:
      return true;
  }
}

/** Endpoint errors that Microsoft redirects (the app and redirect URI are known good by then). */
export function endpointErrorForApp(app: AppRegistration, segment: TenantSegment): AadErrorInput | null {
  if (app.signInAudience === 'AzureADMyOrg' && (segment.kind === 'common' || segment.kind === 'organizations')) {
    return aadsts.appNotMultiTenant(app);
  }
  if (app.signInAudience === 'PersonalMicrosoftAccount' && segment.kind !== 'consumers') {
    return aadsts.appPersonalOnly(app);
  }
  return null;
}

export type UserRefusal =
  /** Shown on the sign-in page; the user may type another account. */
  | { show: 'signIn'; message: string; code: number }
  /** Microsoft's error page ("Sorry, but we're having trouble signing you in"). */
  | { show: 'errorPage'; input: AadErrorInput };

/**
 * Whether this user may sign in to this app through this endpoint: personal accounts are not served by
 * `/organizations`, a tenant's endpoint, or an app for organisations only; work accounts are not Microsoft
 * accounts for `/consumers`; a tenant's endpoint serves only that tenant's users (AADSTS50020).
 */
export function refuseUser(
  ctx: EmulatorContext,
  segment: TenantSegment,
  app: AppRegistration,
  user: User,
): UserRefusal | null {
  const orgOnlyApp = app.signInAudience === 'AzureADMyOrg' || app.signInAudience === 'AzureADMultipleOrgs';
  if (user.kind === 'personal') {
    if (segment.kind === 'organizations' || (segment.kind === 'common' && orgOnlyApp)) {
      // [OBS] the sign-in page's own words; AADSTS500200 is the same refusal as an error code.
      return {
        show: 'signIn',
        message: "You can't sign in here with a personal account. Use your work or school account instead.",
        code: 500200,
      };
    }
    if (segment.kind === 'tenant')
      return { show: 'errorPage', input: aadsts.userNotInTenant(user, segment.tenant, app) };
    return null;
  }
  if (segment.kind === 'consumers') {
    return {
      show: 'signIn',
      message: "That Microsoft account doesn't exist. Enter a different account or get a new one.",
      code: 50034,
    };
  }
  if (segment.kind === 'tenant' && segment.tenant.id !== user.tenantId) {
    return { show: 'errorPage', input: aadsts.userNotInTenant(user, segment.tenant, app) };
  }
  if (app.signInAudience === 'AzureADMyOrg' && user.tenantId !== app.homeTenantId) {
    const home = ctx.world.tenants[app.homeTenantId];
    if (home) return { show: 'errorPage', input: aadsts.userNotInTenant(user, home, app) };
  }
  return null;
}

export function userTenant(ctx: EmulatorContext, user: User): Tenant | undefined {
  return ctx.world.tenants[user.tenantId];
}

/**
 * What the user and their organisation have granted the app: the user's own consent plus the tenant-wide admin
 * consent. [GUESS] A tenant-wide consent also covers the OIDC scopes (`openid`, `profile`, `email`,
 * `offline_access`), so that users of a tenant whose admin consented are not sent to a consent page for them.
 */
export function grantedScopes(ctx: EmulatorContext, user: User, clientId: string): string[] {
  const own = ctx.world.consents[`${user.id}|${clientId}`]?.scopes ?? [];
  const tenantWide = user.kind === 'work' ? userTenant(ctx, user)?.adminConsents[clientId] : undefined;
  if (!tenantWide) return [...own];
  return unionScopes(unionScopes(own, tenantWide), ['openid', 'profile', 'email', 'offline_access']);
}

export type ConsentDecision =
  | { kind: 'granted' }
  /** The consent page; an admin may also consent for the organisation. */
  | { kind: 'consent'; offerOrganization: boolean }
  /**
   * "Need admin approval": 90095 with the admin consent workflow on (the user may request approval); without it
   * 90094 when the tenant forbids user consent, 90093 when the permissions themselves need an admin.
   */
  | { kind: 'approval'; input: AadErrorInput; workflow: boolean };

export function decideConsent(
  ctx: EmulatorContext,
  user: User,
  app: AppRegistration,
  scopes: string[],
  prompt: SignInFlow['prompt'],
): ConsentDecision {
  const missing = missingScopes(scopes, grantedScopes(ctx, user, app.clientId));
  const force = prompt === 'consent';
  if (missing.length === 0 && !force) return { kind: 'granted' };
  if (user.kind === 'personal') return { kind: 'consent', offerOrganization: false };
  const tenant = userTenant(ctx, user);
  if (!tenant) return { kind: 'consent', offerOrganization: false };
  if (user.isAdmin) return { kind: 'consent', offerOrganization: true };
  const adminOnly = (scope: string) =>
    !isOidcScope(scope) && (hasScope(tenant.adminOnlyScopes, scope) || isAdminOnlyScope(scope));
  const policyForbids = tenant.userConsent === 'forbidden';
  const needsAdmin = policyForbids || missing.some(adminOnly) || (force && scopes.some(adminOnly));
  if (!needsAdmin) return { kind: 'consent', offerOrganization: false };
  // `prompt=consent` from someone who may not consent, for what the admin already granted: nothing to ask.
  if (missing.length === 0) return { kind: 'granted' };
  if (tenant.adminConsentWorkflow) {
    return { kind: 'approval', input: aadsts.adminApprovalRequested(app), workflow: true };
  }
  return {
    kind: 'approval',
    input: policyForbids ? aadsts.adminConsentRequired(app, tenant) : aadsts.permissionsNeedAdmin(app),
    workflow: false,
  };
}
