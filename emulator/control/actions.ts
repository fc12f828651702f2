import type {
  DeliverySettings,
  DeltaSettings,
  EmulatorContext,
  EmulatorSettings,
  FaultRule,
  SendingLimits,
} from '../context.js';
import { type ReputationSettings, reputationSettings } from '../graph/reputation.js';
import { RECORDED_ERRORS, type RecordedErrorName } from '../recorded-errors.js';
import { DEMO_IDS, type DemoSeed, type DemoSeedOptions, seedDemo } from '../seed.js';
import { addApp, addTenant, addUser, ensureConsumerTenant, newSecret } from '../state/builders.js';
import {
  type AdminApprovalRequest,
  type AppRegistration,
  type ClientSecret,
  CONSUMER_TENANT_ID,
  emptyWorld,
  type Mailbox,
  type MailFolder,
  type RefreshTokenRecord,
  type SignInAudience,
  type Tenant,
  type User,
  type UserConsent,
  type UserKind,
} from '../state/model.js';
import { PERSONAL_OBJECT_ID } from '../state/personal-accounts.js';
import { findFolder, findTenantByDomain, findUserByEmail } from '../state/world.js';
import { ControlError, conflict, invalidRequest, notFound } from './control-error.js';

/**
 * The control API's world mutations as plain functions, so that tests and other code can call them in-process
 * with the same effect as the HTTP routes. They change only the state the identity and Graph handlers read on
 * every request (`ctx.world`, `ctx.clock`, `ctx.faults`, `ctx.settings`), so each takes effect on the next request.
 * Lookups that fail throw `ControlError` (404/409), which the routes turn into JSON errors.
 */

// ---------------------------------------------------------------------------------------------------------------
// Lookups

/** A user by object id or by email (case-insensitive). */
export function resolveUserOrThrow(ctx: EmulatorContext, idOrEmail: string): User {
  const user = ctx.world.users[idOrEmail.toLowerCase()] ?? findUserByEmail(ctx.world, idOrEmail);
  if (!user) throw notFound('CONTROL_USER_NOT_FOUND', `no user with id or email "${idOrEmail}"`);
  return user;
}

/** A tenant by id or verified domain; `consumers` names the personal-account tenant. */
export function resolveTenantOrThrow(ctx: EmulatorContext, idOrDomain: string): Tenant {
  const wanted = idOrDomain.toLowerCase() === 'consumers' ? CONSUMER_TENANT_ID : idOrDomain.toLowerCase();
  const tenant = ctx.world.tenants[wanted] ?? findTenantByDomain(ctx.world, wanted);
  if (!tenant) throw notFound('CONTROL_TENANT_NOT_FOUND', `no tenant with id or domain "${idOrDomain}"`);
  return tenant;
}

export function findAppOrThrow(ctx: EmulatorContext, clientId: string): AppRegistration {
  const app = ctx.world.apps[clientId.toLowerCase()];
  if (!app) throw notFound('CONTROL_APP_NOT_FOUND', `no app registration with client id "${clientId}"`);
  return app;
}

export function findMailboxOrThrow(ctx: EmulatorContext, user: User): Mailbox {
  const mailbox = ctx.world.mailboxes[user.id];
  if (!mailbox) throw notFound('CONTROL_MAILBOX_NOT_FOUND', `user ${user.email} has no mailbox`);
  return mailbox;
}

/** A folder by id, well-known name (`inbox`, `junkemail`…) or display name (`Junk Email`), case-insensitive. */
export function resolveFolderOrThrow(mailbox: Mailbox, name: string): MailFolder {
  const folder =
    findFolder(mailbox, name) ??
    Object.values(mailbox.folders).find((candidate) => candidate.displayName.toLowerCase() === name.toLowerCase());
  if (!folder) throw notFound('CONTROL_FOLDER_NOT_FOUND', `no folder "${name}" in the mailbox`);
  return folder;
}

export function findApprovalRequestOrThrow(ctx: EmulatorContext, id: string): AdminApprovalRequest {
  const request = ctx.world.adminApprovalRequests[id];
  if (!request) throw notFound('CONTROL_APPROVAL_REQUEST_NOT_FOUND', `no admin approval request "${id}"`);
  return request;
}

// ---------------------------------------------------------------------------------------------------------------
// Clock

/** Moves the emulator's clock forward (never backwards: tokens and windows must not un-expire). */
export function advanceClock(ctx: EmulatorContext, seconds: number): void {
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw invalidRequest('seconds must be a positive number');
  ctx.clock.advance(seconds);
}

// ---------------------------------------------------------------------------------------------------------------
// Tenants

export interface TenantInput {
  id?: string;
  displayName: string;
  domains: string[];
  userConsent?: Tenant['userConsent'];
  adminOnlyScopes?: string[];
  adminConsentWorkflow?: boolean;
}

function assertDomainsFree(ctx: EmulatorContext, domains: string[], exceptTenantId: string | null): void {
  for (const domain of domains) {
    const owner = findTenantByDomain(ctx.world, domain);
    if (owner && owner.id !== exceptTenantId) {
      throw conflict(
        'CONTROL_DOMAIN_TAKEN',
        `domain ${domain.toLowerCase()} is already verified by tenant ${owner.id}`,
      );
    }
  }
}

export function createTenant(ctx: EmulatorContext, input: TenantInput): Tenant {
  if (input.id && ctx.world.tenants[input.id.toLowerCase()]) {
    throw conflict('CONTROL_TENANT_EXISTS', `tenant ${input.id.toLowerCase()} exists`);
  }
  assertDomainsFree(ctx, input.domains, null);
  return addTenant(ctx, input);
}

export type TenantPatch = Partial<Omit<TenantInput, 'id'>>;

/** Changes a tenant's name, domains or consent policies; takes effect at the next authorize request. */
export function updateTenant(ctx: EmulatorContext, tenant: Tenant, patch: TenantPatch): Tenant {
  if (patch.domains) {
    assertDomainsFree(ctx, patch.domains, tenant.id);
    tenant.domains = patch.domains.map((domain) => domain.toLowerCase());
  }
  if (patch.displayName !== undefined) tenant.displayName = patch.displayName;
  if (patch.userConsent !== undefined) tenant.userConsent = patch.userConsent;
  if (patch.adminOnlyScopes !== undefined) tenant.adminOnlyScopes = [...patch.adminOnlyScopes];
  if (patch.adminConsentWorkflow !== undefined) tenant.adminConsentWorkflow = patch.adminConsentWorkflow;
  return tenant;
}

/** Grants tenant-wide admin consent to an app, adding to what the tenant has already granted it. */
export function grantAdminConsent(ctx: EmulatorContext, tenant: Tenant, clientId: string, scopes: string[]): string[] {
  const app = findAppOrThrow(ctx, clientId);
  const granted = unionScopes(tenant.adminConsents[app.clientId] ?? [], scopes);
  tenant.adminConsents[app.clientId] = granted;
  return granted;
}

/** Removes a tenant-wide admin consent: refresh tokens that relied on it then fail with AADSTS65001. */
export function revokeAdminConsent(_ctx: EmulatorContext, tenant: Tenant, clientId: string): void {
  const key = clientId.toLowerCase();
  if (!tenant.adminConsents[key]) {
    throw notFound('CONTROL_ADMIN_CONSENT_NOT_FOUND', `tenant ${tenant.id} has no admin consent for ${key}`);
  }
  delete tenant.adminConsents[key];
}

// ---------------------------------------------------------------------------------------------------------------
// Users

export interface UserInput {
  id?: string;
  email: string;
  password: string;
  displayName?: string;
  kind?: UserKind;
  /** Tenant id or verified domain; for work users it defaults to the tenant that verified the email's domain. */
  tenant?: string;
  isAdmin?: boolean;
  secondFactorCode?: string | null;
  disabled?: boolean;
  mailboxEnabled?: boolean;
}

export function createUser(ctx: EmulatorContext, input: UserInput): User {
  const email = input.email.trim().toLowerCase();
  if (findUserByEmail(ctx.world, email)) throw conflict('CONTROL_USER_EXISTS', `user ${email} exists`);
  if (input.id && ctx.world.users[input.id.toLowerCase()]) {
    throw conflict('CONTROL_USER_EXISTS', `user ${input.id.toLowerCase()} exists`);
  }
  const domain = email.split('@')[1] ?? '';
  let kind: UserKind = input.kind ?? 'work';
  let tenantId: string | undefined;
  if (input.kind === 'personal') {
    tenantId = ensureConsumerTenant(ctx).id;
  } else if (input.tenant) {
    const tenant = resolveTenantOrThrow(ctx, input.tenant);
    tenantId = tenant.id;
    if (tenant.kind === 'consumer') kind = 'personal';
  } else {
    const tenant = findTenantByDomain(ctx.world, domain);
    if (tenant) {
      tenantId = tenant.id;
      if (tenant.kind === 'consumer') kind = 'personal';
    } else if (input.kind === undefined) {
      // An address in no organisation's verified domain is a personal Microsoft account (Outlook.com, or any
      // address registered as a Microsoft account).
      kind = 'personal';
      tenantId = ensureConsumerTenant(ctx).id;
    } else {
      throw invalidRequest(`no tenant has verified ${domain}: pass "tenant" for work user ${email}`);
    }
  }
  // A personal account's oid has Microsoft's own form (docs/entra.md §1.6): another GUID is a user Microsoft cannot
  // issue.
  if (kind === 'personal' && input.id && !PERSONAL_OBJECT_ID.test(input.id.toLowerCase())) {
    throw invalidRequest(`body.id: a personal account id (oid) has the form 00000000-0000-0000-xxxx-xxxxxxxxxxxx`);
  }
  return addUser(ctx, {
    id: input.id,
    email,
    password: input.password,
    displayName: input.displayName,
    kind,
    tenantId,
    isAdmin: input.isAdmin,
    secondFactorCode: input.secondFactorCode,
    disabled: input.disabled,
    mailboxEnabled: input.mailboxEnabled,
  });
}

export interface UserPatch {
  displayName?: string;
  isAdmin?: boolean;
  secondFactorCode?: string | null;
  disabled?: boolean;
  mailboxEnabled?: boolean;
  conditionalAccessBlocked?: boolean;
  /** true: refresh tokens issued until now need a fresh MFA sign-in (AADSTS50076); false: drop that demand. */
  mfaRequired?: boolean;
  /** A restricted sender (Exchange blocked it for spam): its mail is accepted and bounced with 5.1.8. */
  restrictedSender?: boolean;
  /** A full mailbox: mail to it bounces to the sender with 5.2.2. */
  mailboxFull?: boolean;
}

export function updateUser(ctx: EmulatorContext, user: User, patch: UserPatch): User {
  if (patch.displayName !== undefined) {
    const [givenName = patch.displayName, ...rest] = patch.displayName.split(' ');
    user.displayName = patch.displayName;
    user.givenName = givenName;
    user.surname = rest.join(' ');
  }
  if (patch.isAdmin !== undefined) user.isAdmin = patch.isAdmin;
  if (patch.secondFactorCode !== undefined) user.secondFactorCode = patch.secondFactorCode;
  if (patch.disabled !== undefined) setUserDisabled(ctx, user, patch.disabled);
  if (patch.mailboxEnabled !== undefined) setMailboxEnabled(ctx, user, patch.mailboxEnabled);
  if (patch.conditionalAccessBlocked !== undefined)
    setConditionalAccessBlocked(ctx, user, patch.conditionalAccessBlocked);
  if (patch.mfaRequired !== undefined) setMfaRequired(ctx, user, patch.mfaRequired);
  if (patch.restrictedSender !== undefined) user.restrictedSender = patch.restrictedSender;
  if (patch.mailboxFull !== undefined) user.mailboxFull = patch.mailboxFull;
  return user;
}

/** A disabled account cannot sign in or refresh: AADSTS50057. */
export function setUserDisabled(_ctx: EmulatorContext, user: User, disabled: boolean): void {
  user.disabled = disabled;
}

/** An unlicensed / soft-deleted / on-premises mailbox: Graph answers 404 MailboxNotEnabledForRESTAPI. */
export function setMailboxEnabled(_ctx: EmulatorContext, user: User, enabled: boolean): void {
  user.mailboxEnabled = enabled;
}

/** Conditional Access blocks the user's token requests: AADSTS53003. */
export function setConditionalAccessBlocked(_ctx: EmulatorContext, user: User, blocked: boolean): void {
  user.conditionalAccessBlocked = blocked;
}

/** A new MFA policy (or location change): refresh tokens issued before now need MFA, AADSTS50076. */
export function setMfaRequired(ctx: EmulatorContext, user: User, required: boolean): void {
  user.mfaRequiredFrom = required ? ctx.clock.now() : null;
}

export interface RevocationOptions {
  /**
   * Also drop the user's issued access tokens (for the app in question, where one is named). Off by default:
   * Microsoft cannot revoke an issued access token, it stays valid until it expires (60–90 minutes); only
   * Continuous Access Evaluation lets a CAE-capable resource reject it early. On, this stands in for that case:
   * Graph then answers 401 InvalidAuthenticationToken. @see docs/entra.md §1.5
   */
  revokeAccessTokens?: boolean;
}

export interface PasswordChangeOptions extends RevocationOptions {
  /**
   * `admin` (default): an admin resets the password in the Microsoft Entra admin center, which revokes every
   * refresh token of the user, confidential clients included (AADSTS50173). `user`: the user changes it themselves,
   * which revokes password-based tokens of public clients only; Microsoft's table says refresh tokens issued to
   * confidential clients stay alive. @see docs/entra.md §1.5
   */
  by?: 'admin' | 'user';
}

export interface RevocationResult {
  /** Refresh tokens now refused (issued before the change). */
  refreshTokensRevoked: number;
  accessTokensDeleted: number;
  /** Browser sessions at the sign-in pages that no longer remember the user (they must sign in again). */
  browserSessionsEnded: number;
}

export function changePassword(
  ctx: EmulatorContext,
  user: User,
  password: string,
  options: PasswordChangeOptions = {},
): RevocationResult {
  user.password = password;
  if ((options.by ?? 'admin') === 'admin') return revokeEverything(ctx, user, options);
  const refreshTokensRevoked = revokeRefreshTokens(
    ctx,
    user,
    (record) => ctx.world.apps[record.clientId]?.publicClient === true,
  );
  // The password-based sign-in cookie is revoked by any password change. @see docs/entra.md §1.5
  const browserSessionsEnded = endBrowserSessions(ctx, user);
  const accessTokensDeleted = options.revokeAccessTokens ? deleteAccessTokens(ctx, { userId: user.id }) : 0;
  return { refreshTokensRevoked, accessTokensDeleted, browserSessionsEnded };
}

/** "Revoke sessions" (the user's or an admin's): every refresh token issued before now fails with AADSTS50173. */
export function revokeSessions(ctx: EmulatorContext, user: User, options: RevocationOptions = {}): RevocationResult {
  return revokeEverything(ctx, user, options);
}

/**
 * `tokensValidFrom = now` is the contract the identity endpoints check (AADSTS50173, and browser sessions signed in
 * before it no longer count). The refresh tokens that exist now are also marked revoked, and the user is dropped
 * from browser sessions, so that the revocation holds even when a frozen test clock has not moved since they were
 * issued (a token issued at the same millisecond is not "before" it).
 */
function revokeEverything(ctx: EmulatorContext, user: User, options: RevocationOptions): RevocationResult {
  user.tokensValidFrom = ctx.clock.now();
  const refreshTokensRevoked = revokeRefreshTokens(ctx, user, () => true);
  const browserSessionsEnded = endBrowserSessions(ctx, user);
  const accessTokensDeleted = options.revokeAccessTokens ? deleteAccessTokens(ctx, { userId: user.id }) : 0;
  return { refreshTokensRevoked, accessTokensDeleted, browserSessionsEnded };
}

/** Marks the user's still-usable refresh tokens that `which` selects as revoked; returns how many. */
function revokeRefreshTokens(ctx: EmulatorContext, user: User, which: (record: RefreshTokenRecord) => boolean): number {
  const now = ctx.clock.now();
  let revoked = 0;
  for (const record of Object.values(ctx.world.refreshTokens)) {
    if (record.userId !== user.id || record.revoked || record.expiresAt <= now || !which(record)) continue;
    record.revoked = true;
    revoked++;
  }
  return revoked;
}

/** Removes the user from every browser session at the sign-in pages (other accounts there stay signed in). */
function endBrowserSessions(ctx: EmulatorContext, user: User): number {
  let ended = 0;
  for (const session of Object.values(ctx.world.browserSessions ?? {})) {
    const kept = session.accounts.filter((account) => account.userId !== user.id);
    if (kept.length === session.accounts.length) continue;
    session.accounts = kept;
    ended++;
  }
  return ended;
}

/** Deletes issued access tokens of a user (optionally only one app's). Returns how many. */
export function deleteAccessTokens(ctx: EmulatorContext, filter: { userId: string; clientId?: string }): number {
  let deleted = 0;
  for (const [hash, record] of Object.entries(ctx.world.accessTokens)) {
    if (record.userId !== filter.userId) continue;
    if (filter.clientId && record.clientId !== filter.clientId) continue;
    delete ctx.world.accessTokens[hash];
    deleted++;
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------------------------
// User consents

export function listUserConsents(ctx: EmulatorContext, user: User): UserConsent[] {
  return Object.values(ctx.world.consents).filter((consent) => consent.userId === user.id);
}

/** Records a user's own consent (as if they had clicked Accept), adding to scopes already granted. */
export function grantUserConsent(ctx: EmulatorContext, user: User, clientId: string, scopes: string[]): UserConsent {
  const app = findAppOrThrow(ctx, clientId);
  const key = `${user.id}|${app.clientId}`;
  const existing = ctx.world.consents[key];
  const consent: UserConsent = {
    userId: user.id,
    clientId: app.clientId,
    scopes: unionScopes(existing?.scopes ?? [], scopes),
    grantedAt: existing?.grantedAt ?? ctx.clock.now(),
  };
  ctx.world.consents[key] = consent;
  return consent;
}

/** The user removes the app at myapps / account.live.com: its refresh tokens then fail with AADSTS65001. */
export function revokeUserConsent(
  ctx: EmulatorContext,
  user: User,
  clientId: string,
  options: RevocationOptions = {},
): { accessTokensDeleted: number } {
  const key = `${user.id}|${clientId.toLowerCase()}`;
  if (!ctx.world.consents[key]) {
    throw notFound('CONTROL_CONSENT_NOT_FOUND', `user ${user.email} has not consented to ${clientId.toLowerCase()}`);
  }
  delete ctx.world.consents[key];
  const accessTokensDeleted = options.revokeAccessTokens
    ? deleteAccessTokens(ctx, { userId: user.id, clientId: clientId.toLowerCase() })
    : 0;
  return { accessTokensDeleted };
}

// ---------------------------------------------------------------------------------------------------------------
// App registrations and client secrets

export interface NewSecretInput {
  /** The secret's value; default: a fresh Entra-looking value (`abc8Q~…`). */
  value?: string;
  /** Expiry on the emulator clock, epoch ms; default 180 days from now (Entra's recommended lifetime). */
  expiresAt?: number;
}

export interface AppInput {
  clientId?: string;
  displayName: string;
  homeTenant: string;
  signInAudience?: SignInAudience;
  redirectUris: string[];
  publicClient?: boolean;
  requiredScopes?: string[];
  /** Add a first client secret; its value is returned once. */
  secret?: NewSecretInput;
}

/** A secret together with its value: returned once, when created, and never again. */
export interface CreatedSecret {
  id: string;
  value: string;
  hint: string;
  expiresAt: number;
}

const DEFAULT_SECRET_LIFETIME_MS = 180 * 86_400_000;

export function createApp(
  ctx: EmulatorContext,
  input: AppInput,
): { app: AppRegistration; secret: CreatedSecret | null } {
  if (input.clientId && ctx.world.apps[input.clientId.toLowerCase()]) {
    throw conflict('CONTROL_APP_EXISTS', `an app with client id ${input.clientId.toLowerCase()} exists`);
  }
  const homeTenant = resolveTenantOrThrow(ctx, input.homeTenant);
  const app = addApp(ctx, {
    clientId: input.clientId,
    displayName: input.displayName,
    homeTenantId: homeTenant.id,
    signInAudience: input.signInAudience,
    redirectUris: input.redirectUris,
    publicClient: input.publicClient,
    requiredScopes: input.requiredScopes,
  });
  const secret = input.secret ? addClientSecret(ctx, app, input.secret) : null;
  return { app, secret };
}

export interface AppPatch {
  displayName?: string;
  redirectUris?: string[];
  signInAudience?: SignInAudience;
  publicClient?: boolean;
  requiredScopes?: string[];
}

export function updateApp(_ctx: EmulatorContext, app: AppRegistration, patch: AppPatch): AppRegistration {
  if (patch.displayName !== undefined) app.displayName = patch.displayName;
  if (patch.redirectUris !== undefined) app.redirectUris = [...patch.redirectUris];
  if (patch.signInAudience !== undefined) app.signInAudience = patch.signInAudience;
  if (patch.publicClient !== undefined) app.publicClient = patch.publicClient;
  if (patch.requiredScopes !== undefined) app.requiredScopes = [...patch.requiredScopes];
  return app;
}

/**
 * Deletes an app registration: authorize and token requests naming it fail with AADSTS700016. Consents and
 * tokens already issued stay in the world (they are dead without the app) so that inspection still shows them.
 */
export function deleteApp(ctx: EmulatorContext, app: AppRegistration): void {
  delete ctx.world.apps[app.clientId];
}

/** Entra's secret values look like `Abc8Q~` followed by 34 characters; the first three are the shown hint. */
function generateSecretValue(ctx: EmulatorContext): string {
  return `${ctx.random.token(3).slice(0, 3)}8Q~${ctx.random.token(27).slice(0, 34)}`;
}

/**
 * Adds a client secret (rotation is: add a new one, switch the client to it, delete or expire the old one).
 * `replaceExisting` deletes every other secret of the app at once. The value is returned here only.
 */
export function addClientSecret(
  ctx: EmulatorContext,
  app: AppRegistration,
  input: NewSecretInput & { replaceExisting?: boolean } = {},
): CreatedSecret {
  const secret = newSecret(
    ctx,
    input.value ?? generateSecretValue(ctx),
    input.expiresAt ?? ctx.clock.now() + DEFAULT_SECRET_LIFETIME_MS,
  );
  app.secrets = input.replaceExisting ? [secret] : [...app.secrets, secret];
  return { id: secret.id, value: secret.value, hint: secret.hint, expiresAt: secret.expiresAt };
}

function findSecretOrThrow(app: AppRegistration, secretId: string): ClientSecret {
  const secret = app.secrets.find((candidate) => candidate.id === secretId.toLowerCase());
  if (!secret) throw notFound('CONTROL_SECRET_NOT_FOUND', `app ${app.clientId} has no secret "${secretId}"`);
  return secret;
}

/** The secret expires now: token requests authenticating with it fail with AADSTS7000222. */
export function expireClientSecret(ctx: EmulatorContext, app: AppRegistration, secretId: string): ClientSecret {
  const secret = findSecretOrThrow(app, secretId);
  secret.expiresAt = ctx.clock.now();
  return secret;
}

/** The secret is removed: token requests presenting it fail with AADSTS7000215 (invalid secret). */
export function deleteClientSecret(_ctx: EmulatorContext, app: AppRegistration, secretId: string): void {
  const secret = findSecretOrThrow(app, secretId);
  app.secrets = app.secrets.filter((candidate) => candidate !== secret);
}

// ---------------------------------------------------------------------------------------------------------------
// Admin approval requests (the admin consent workflow)

/**
 * Approves a pending request: the tenant's admin consent for the app becomes the requested scopes plus what it
 * already covered. Entra groups requests per app, so every pending request of the same tenant and app that the
 * grant now covers is resolved with it. Returns the ids resolved.
 */
export function approveAdminApprovalRequest(
  ctx: EmulatorContext,
  request: AdminApprovalRequest,
): { scopes: string[]; resolved: string[] } {
  assertPending(request);
  const tenant = resolveTenantOrThrow(ctx, request.tenantId);
  const scopes = unionScopes(tenant.adminConsents[request.clientId] ?? [], request.scopes);
  tenant.adminConsents[request.clientId] = scopes;
  const granted = new Set(scopes.map((scope) => scope.toLowerCase()));
  const resolved: string[] = [];
  for (const candidate of Object.values(ctx.world.adminApprovalRequests)) {
    if (candidate.status !== 'pending' || candidate.tenantId !== request.tenantId) continue;
    if (candidate.clientId !== request.clientId) continue;
    if (!candidate.scopes.every((scope) => granted.has(scope.toLowerCase()))) continue;
    candidate.status = 'approved';
    resolved.push(candidate.id);
  }
  return { scopes, resolved };
}

/** Denies the app's pending requests in that tenant (Entra denies the grouped request, for every requester). */
export function denyAdminApprovalRequest(ctx: EmulatorContext, request: AdminApprovalRequest): { resolved: string[] } {
  assertPending(request);
  const resolved: string[] = [];
  for (const candidate of Object.values(ctx.world.adminApprovalRequests)) {
    if (candidate.status !== 'pending' || candidate.tenantId !== request.tenantId) continue;
    if (candidate.clientId !== request.clientId) continue;
    candidate.status = 'denied';
    resolved.push(candidate.id);
  }
  return { resolved };
}

function assertPending(request: AdminApprovalRequest): void {
  if (request.status !== 'pending') {
    throw new ControlError(
      'CONTROL_APPROVAL_REQUEST_NOT_PENDING',
      `admin approval request ${request.id} is already ${request.status}`,
      409,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Faults

export interface FaultInput {
  kind: FaultRule['kind'];
  target: FaultRule['target'];
  /** For `recorded`: the recorded response to answer with. */
  recorded?: RecordedErrorName | null;
  /** The mailbox owner (id or email); omitted: every mailbox. */
  user?: string | null;
  retryAfterSeconds?: number | null;
  latencyMs?: number | null;
  /** How many matching requests to affect; omitted: until removed. */
  count?: number | null;
  /** Chance that a matching request is affected, in (0, 1] (drawn from the seeded sequence). */
  probability?: number;
}

export function addFault(ctx: EmulatorContext, input: FaultInput): FaultRule {
  const timed = input.kind === 'throttle429' || input.kind === 'unavailable503';
  if (input.retryAfterSeconds != null && !timed) {
    throw invalidRequest('retryAfterSeconds applies only to throttle429 and unavailable503 faults');
  }
  if (input.latencyMs != null && input.kind !== 'latency') {
    throw invalidRequest('latencyMs applies only to latency faults');
  }
  checkRecordedFault(input);
  if (input.kind === 'requestLoop' && input.target !== 'token') {
    throw invalidRequest('requestLoop (AADSTS50196) applies only to the token endpoint: use target "token"');
  }
  const userId = input.user ? resolveUserOrThrow(ctx, input.user).id : null;
  const rule: FaultRule = {
    id: `fault-${ctx.random.token(6)}`,
    userId,
    target: input.target,
    kind: input.kind,
    retryAfterSeconds: input.retryAfterSeconds ?? null,
    latencyMs: input.kind === 'latency' ? (input.latencyMs ?? 1000) : null,
    remaining: input.count ?? null,
    probability: input.probability ?? 1,
    recorded: input.kind === 'recorded' ? (input.recorded ?? null) : null,
  };
  ctx.faults.push(rule);
  return rule;
}

/** A recorded response must be named, and fit its target: Graph errors on Graph, identity errors on identity. */
function checkRecordedFault(input: FaultInput): void {
  const redirect = input.target === 'authorize' || input.target === 'adminconsent';
  if (input.kind !== 'recorded') {
    if (input.recorded != null) throw invalidRequest('recorded applies only to recorded faults');
    if (redirect) throw invalidRequest(`the ${input.target} target takes only recorded faults`);
    return;
  }
  if (input.recorded == null)
    throw invalidRequest('a recorded fault needs "recorded": the name of a recorded response');
  const surface = RECORDED_ERRORS[input.recorded].surface;
  const fits =
    surface === 'graph'
      ? input.target === 'graph' || input.target === 'send'
      : !['graph', 'send'].includes(input.target);
  if (!fits) {
    throw invalidRequest(
      `the recorded response "${input.recorded}" is a${surface === 'graph' ? ' Graph' : 'n identity'} error; it cannot answer the ${input.target} target`,
    );
  }
}

export function removeFault(ctx: EmulatorContext, id: string): void {
  const index = ctx.faults.findIndex((rule) => rule.id === id);
  if (index < 0) throw notFound('CONTROL_FAULT_NOT_FOUND', `no fault "${id}" (it may have used up its count)`);
  ctx.faults.splice(index, 1);
}

export function clearFaults(ctx: EmulatorContext): number {
  return ctx.faults.splice(0, ctx.faults.length).length;
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

export interface SettingsPatch {
  accessTokenLifetimeSeconds?: { min: number; max: number };
  refreshTokenInactivitySeconds?: number;
  authorizationCodeLifetimeSeconds?: number;
  idTokenLifetimeSeconds?: number;
  requestLogLimit?: number;
  limits?: {
    requestsPer10Minutes?: number;
    concurrentRequestsPerMailbox?: number;
    exchange?: Partial<SendingLimits>;
    outlook?: Partial<SendingLimits>;
    maxRequestBytes?: number;
  };
  delivery?: Partial<Omit<DeliverySettings, 'reputationGain' | 'reputation'>> & {
    reputationGain?: Partial<DeliverySettings['reputationGain']>;
    reputation?: Partial<Omit<ReputationSettings, 'initial'>> & { initial?: Partial<ReputationSettings['initial']> };
  };
  delta?: Partial<DeltaSettings>;
}

/** Deep-merges into the live settings (mutated in place: handlers read them on every request). */
export function updateSettings(ctx: EmulatorContext, patch: SettingsPatch): EmulatorSettings {
  const settings = ctx.settings;
  const lifetime = patch.accessTokenLifetimeSeconds;
  if (lifetime && lifetime.min > lifetime.max) {
    throw invalidRequest('accessTokenLifetimeSeconds.min must not exceed accessTokenLifetimeSeconds.max');
  }
  if (lifetime) settings.accessTokenLifetimeSeconds = { ...lifetime };
  if (patch.refreshTokenInactivitySeconds !== undefined) {
    settings.refreshTokenInactivitySeconds = patch.refreshTokenInactivitySeconds;
  }
  if (patch.authorizationCodeLifetimeSeconds !== undefined) {
    settings.authorizationCodeLifetimeSeconds = patch.authorizationCodeLifetimeSeconds;
  }
  if (patch.idTokenLifetimeSeconds !== undefined) settings.idTokenLifetimeSeconds = patch.idTokenLifetimeSeconds;
  if (patch.requestLogLimit !== undefined) settings.requestLogLimit = patch.requestLogLimit;
  const limits = patch.limits;
  if (limits) {
    const { exchange, outlook, ...flat } = limits;
    settings.limits = {
      ...settings.limits,
      ...flat,
      exchange: { ...settings.limits.exchange, ...exchange },
      outlook: { ...settings.limits.outlook, ...outlook },
    };
  }
  const delivery = patch.delivery;
  if (delivery) {
    const { reputationGain, reputation, ...flat } = delivery;
    const model = reputationSettings(ctx);
    settings.delivery = {
      ...settings.delivery,
      ...flat,
      reputationGain: { ...settings.delivery.reputationGain, ...reputationGain },
      reputation: { ...model, ...reputation, initial: { ...model.initial, ...reputation?.initial } },
    };
  }
  if (patch.delta) settings.delta = { ...settings.delta, ...patch.delta };
  return settings;
}

// ---------------------------------------------------------------------------------------------------------------
// Reset and demo seed

/**
 * Back to an empty world: tenants, users, apps, consents, codes, tokens, approval requests, mailboxes, deliveries
 * and the outside sink are emptied; faults, usage counters and the request log are cleared (request sequence
 * numbers keep growing, so `sinceSeq` polling stays valid). Anything else other modules keep in the world (such as
 * signing keys) is kept, and so are the clock and the settings. With `demo`, the demo world is seeded again.
 */
export function resetEmulator(ctx: EmulatorContext, options: { demo?: DemoSeedOptions } = {}): DemoSeed | null {
  Object.assign(ctx.world, emptyWorld());
  clearFaults(ctx);
  for (const key of Object.keys(ctx.usage)) delete ctx.usage[key];
  ctx.requestLog.splice(0, ctx.requestLog.length);
  // Graph's in-memory indexes, usage windows and upload sessions (graph/runtime.ts) describe the old world; the Graph
  // module rebuilds its runtime lazily on the next request.
  delete (ctx as { graph?: unknown }).graph;
  return options.demo ? seedDemoWorld(ctx, options.demo) : null;
}

/** Seeds the demo world (see seed.ts) into the current one; 409 if its tenants, app or users already exist. */
export function seedDemoWorld(ctx: EmulatorContext, options: DemoSeedOptions): DemoSeed {
  const taken =
    (ctx.world.apps[DEMO_IDS.clientId] && `app ${DEMO_IDS.clientId}`) ||
    (ctx.world.tenants[DEMO_IDS.contosoTenantId] && `tenant ${DEMO_IDS.contosoTenantId}`) ||
    (ctx.world.tenants[DEMO_IDS.fabrikamTenantId] && `tenant ${DEMO_IDS.fabrikamTenantId}`) ||
    ['contoso.com', 'contoso.onmicrosoft.com', 'fabrikam.com', 'fabrikam.onmicrosoft.com'].find((domain) =>
      findTenantByDomain(ctx.world, domain),
    ) ||
    ['alex@outlook.com'].find((email) => findUserByEmail(ctx.world, email));
  if (taken) throw conflict('CONTROL_DEMO_ALREADY_SEEDED', `the demo world is already there (${taken} exists)`);
  return seedDemo(ctx, options);
}

/** Generates a demo client secret when the caller did not choose one. */
export function newDemoClientSecret(ctx: EmulatorContext): string {
  return `emu~${ctx.random.token(18)}`;
}

// ---------------------------------------------------------------------------------------------------------------

/** Scopes compare case-insensitively; keeps the first spelling seen. */
export function unionScopes(existing: string[], added: string[]): string[] {
  const out = [...existing];
  const seen = new Set(existing.map((scope) => scope.toLowerCase()));
  for (const scope of added) {
    if (seen.has(scope.toLowerCase())) continue;
    seen.add(scope.toLowerCase());
    out.push(scope);
  }
  return out;
}
