import type { EmulatorContext } from '../context.js';
import { initialReputation } from '../graph/reputation.js';
import {
  type AppRegistration,
  type ClientSecret,
  CONSUMER_TENANT_ID,
  type SignInAudience,
  type Tenant,
  type User,
  type UserKind,
} from './model.js';
import { newPersonalAccountIds } from './personal-accounts.js';
import { createMailbox, findUserByEmail } from './world.js';

/** Ensures the consumer tenant that every personal account lives in exists. */
export function ensureConsumerTenant(ctx: EmulatorContext): Tenant {
  const existing = ctx.world.tenants[CONSUMER_TENANT_ID];
  if (existing) return existing;
  const tenant: Tenant = {
    id: CONSUMER_TENANT_ID,
    displayName: 'Microsoft Accounts',
    kind: 'consumer',
    domains: ['outlook.com', 'hotmail.com', 'live.com'],
    userConsent: 'allowed',
    adminOnlyScopes: [],
    adminConsentWorkflow: false,
    adminConsents: {},
  };
  ctx.world.tenants[tenant.id] = tenant;
  return tenant;
}

export interface NewTenant {
  id?: string;
  displayName: string;
  domains: string[];
  userConsent?: Tenant['userConsent'];
  adminOnlyScopes?: string[];
  adminConsentWorkflow?: boolean;
}

export function addTenant(ctx: EmulatorContext, input: NewTenant): Tenant {
  const tenant: Tenant = {
    id: (input.id ?? ctx.random.guid()).toLowerCase(),
    displayName: input.displayName,
    kind: 'organization',
    domains: input.domains.map((domain) => domain.toLowerCase()),
    userConsent: input.userConsent ?? 'allowed',
    adminOnlyScopes: input.adminOnlyScopes ?? [],
    adminConsentWorkflow: input.adminConsentWorkflow ?? false,
    adminConsents: {},
  };
  if (ctx.world.tenants[tenant.id]) throw new Error(`emulator: tenant ${tenant.id} exists`);
  ctx.world.tenants[tenant.id] = tenant;
  return tenant;
}

export interface NewUser {
  id?: string;
  email: string;
  password: string;
  displayName?: string;
  kind?: UserKind;
  /** Required for work users; personal users always belong to the consumer tenant. */
  tenantId?: string;
  isAdmin?: boolean;
  secondFactorCode?: string | null;
  disabled?: boolean;
  mailboxEnabled?: boolean;
}

export function addUser(ctx: EmulatorContext, input: NewUser): User {
  const email = input.email.trim().toLowerCase();
  if (findUserByEmail(ctx.world, email)) throw new Error(`emulator: user ${email} exists`);
  return addUserWithNewAddress(ctx, input);
}

/**
 * `addUser` without the check that the address is unused, for a caller that guarantees it: the check is a scan of
 * every user, so adding 100,000 users one by one through `addUser` takes minutes (bench/fixtures).
 */
export function addUserWithNewAddress(ctx: EmulatorContext, input: NewUser): User {
  const email = input.email.trim().toLowerCase();
  const kind: UserKind = input.kind ?? (input.tenantId ? 'work' : 'personal');
  const tenantId = kind === 'personal' ? ensureConsumerTenant(ctx).id : input.tenantId?.toLowerCase();
  if (!tenantId || !ctx.world.tenants[tenantId]) throw new Error(`emulator: unknown tenant for ${email}`);
  const displayName = input.displayName ?? email.split('@')[0]!;
  const [givenName = displayName, ...rest] = displayName.split(' ');
  // Personal accounts have an `oid` of their own form and a different Graph id. @see personal-accounts.ts
  const personalIds = kind === 'personal' ? newPersonalAccountIds(ctx.random) : null;
  const user: User = {
    id: (input.id ?? personalIds?.oid ?? ctx.random.guid()).toLowerCase(),
    ...(personalIds ? { graphId: personalIds.graphId } : {}),
    tenantId,
    kind,
    email,
    displayName,
    givenName,
    surname: rest.join(' '),
    password: input.password,
    isAdmin: input.isAdmin ?? false,
    secondFactorCode: input.secondFactorCode ?? null,
    disabled: input.disabled ?? false,
    mailboxEnabled: input.mailboxEnabled ?? true,
    tokensValidFrom: 0,
    mfaRequiredFrom: null,
    conditionalAccessBlocked: false,
    createdAt: ctx.clock.now(),
  };
  ctx.world.users[user.id] = user;
  const mailbox = createMailbox(user.id, () => newGraphId(ctx));
  // New Outlook.com senders start lower than work ones (the reputation model, graph/reputation.ts).
  mailbox.reputation = initialReputation(ctx, user);
  ctx.world.mailboxes[user.id] = mailbox;
  return user;
}

export interface NewApp {
  clientId?: string;
  displayName: string;
  homeTenantId: string;
  signInAudience?: SignInAudience;
  redirectUris: string[];
  secrets?: Array<{ value: string; expiresAt: number }>;
  publicClient?: boolean;
  requiredScopes?: string[];
}

export function addApp(ctx: EmulatorContext, input: NewApp): AppRegistration {
  const app: AppRegistration = {
    clientId: (input.clientId ?? ctx.random.guid()).toLowerCase(),
    displayName: input.displayName,
    homeTenantId: input.homeTenantId,
    signInAudience: input.signInAudience ?? 'AzureADandPersonalMicrosoftAccount',
    redirectUris: [...input.redirectUris],
    secrets: (input.secrets ?? []).map((secret) => newSecret(ctx, secret.value, secret.expiresAt)),
    publicClient: input.publicClient ?? false,
    requiredScopes: input.requiredScopes ?? ['User.Read', 'Mail.Send'],
  };
  ctx.world.apps[app.clientId] = app;
  return app;
}

export function newSecret(ctx: EmulatorContext, value: string, expiresAt: number): ClientSecret {
  return { id: ctx.random.guid(), value, hint: value.slice(0, 3), expiresAt };
}

/** A Graph-style opaque id (base64 of random bytes, as Exchange ids look). */
export function newGraphId(ctx: EmulatorContext): string {
  return `AAMk${ctx.random.token(36)}`;
}
