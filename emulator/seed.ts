import type { EmulatorContext } from './context.js';
import { addApp, addTenant, addUser, ensureConsumerTenant } from './state/builders.js';
import type { AppRegistration, User } from './state/model.js';

/** Stable ids so that demo URLs and docs stay the same from run to run. */
export const DEMO_IDS = {
  contosoTenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  fabrikamTenantId: 'b0f1c5a6-3c8e-4a57-9b1e-6f0d2c7e9a14',
  clientId: '5f3c2d1e-8a4b-4c6d-9e7f-0a1b2c3d4e5f',
} as const;

/** Every demo user signs in with this password; the MFA user's second factor code is below. */
export const DEMO_PASSWORD = 'demo-password';
export const DEMO_SECOND_FACTOR_CODE = '246810';

export interface DemoSeed {
  app: AppRegistration;
  users: {
    personal: User;
    work: User;
    workWithMfa: User;
    workAdmin: User;
    approvalRequired: User;
    approvalAdmin: User;
  };
}

export interface DemoSeedOptions {
  /** Redirect URIs registered for the demo app (mailbridge's callback and admin-consent callback). */
  redirectUris: string[];
  /** The demo app's client secret. */
  clientSecret: string;
  /** When the demo secret expires (default: in two years on the emulator clock). */
  secretExpiresAt?: number;
}

/**
 * A ready world for the demo and for tests: one app registered for all account types, a personal account, a
 * Contoso tenant with an ordinary user, a user with a second factor and an admin, and a Fabrikam tenant whose
 * policy requires admin approval (with the admin consent workflow on) and its admin.
 */
export function seedDemo(ctx: EmulatorContext, options: DemoSeedOptions): DemoSeed {
  ensureConsumerTenant(ctx);
  const contoso = addTenant(ctx, {
    id: DEMO_IDS.contosoTenantId,
    displayName: 'Contoso',
    domains: ['contoso.onmicrosoft.com', 'contoso.com'],
  });
  const fabrikam = addTenant(ctx, {
    id: DEMO_IDS.fabrikamTenantId,
    displayName: 'Fabrikam',
    domains: ['fabrikam.onmicrosoft.com', 'fabrikam.com'],
    userConsent: 'forbidden',
    adminConsentWorkflow: true,
  });
  const app = addApp(ctx, {
    clientId: DEMO_IDS.clientId,
    displayName: 'mailbridge (local demo)',
    homeTenantId: contoso.id,
    signInAudience: 'AzureADandPersonalMicrosoftAccount',
    redirectUris: options.redirectUris,
    secrets: [{ value: options.clientSecret, expiresAt: options.secretExpiresAt ?? ctx.clock.now() + 730 * 86400_000 }],
    requiredScopes: ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite'],
  });
  const password = DEMO_PASSWORD;
  return {
    app,
    users: {
      personal: addUser(ctx, { email: 'alex@outlook.com', password, displayName: 'Alex Wilber', kind: 'personal' }),
      work: addUser(ctx, { email: 'megan@contoso.com', password, displayName: 'Megan Bowen', tenantId: contoso.id }),
      workWithMfa: addUser(ctx, {
        email: 'adele@contoso.com',
        password,
        displayName: 'Adele Vance',
        tenantId: contoso.id,
        secondFactorCode: DEMO_SECOND_FACTOR_CODE,
      }),
      workAdmin: addUser(ctx, {
        email: 'admin@contoso.com',
        password,
        displayName: 'Contoso Admin',
        tenantId: contoso.id,
        isAdmin: true,
      }),
      approvalRequired: addUser(ctx, {
        email: 'lee@fabrikam.com',
        password,
        displayName: 'Lee Gu',
        tenantId: fabrikam.id,
      }),
      approvalAdmin: addUser(ctx, {
        email: 'it@fabrikam.com',
        password,
        displayName: 'Fabrikam IT',
        tenantId: fabrikam.id,
        isAdmin: true,
      }),
    },
  };
}
