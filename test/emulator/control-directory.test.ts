import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmulatorClock } from '../../emulator/clock.js';
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE } from '../../emulator/seed.js';
import { addApp } from '../../emulator/state/builders.js';
import { CONSUMER_TENANT_ID } from '../../emulator/state/model.js';
import { issueAccessToken, issueRefreshToken } from '../../emulator/state/tokens.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

// Tenants, users, apps, secrets, consents and admin approval requests through the control API, over real HTTP.
// Effects that only the identity endpoints can show (50173, 65001, 7000222…) are asserted in ctx.world here.

interface ErrorBody {
  error: { code: string; message: string };
}
interface TenantBody {
  id: string;
  displayName: string;
  kind: string;
  domains: string[];
  userConsent: string;
  adminOnlyScopes: string[];
  adminConsentWorkflow: boolean;
  adminConsents: Record<string, string[]>;
}
interface UserBody {
  id: string;
  graphId: string;
  tenantId: string;
  kind: string;
  email: string;
  displayName: string;
  isAdmin: boolean;
  hasSecondFactor: boolean;
  disabled: boolean;
  mailboxEnabled: boolean;
  conditionalAccessBlocked: boolean;
  mfaRequiredFrom: string | null;
  tokensValidFrom: string | null;
  consents: Array<{ clientId: string; scopes: string[] }>;
  tokens: { refreshTokensLive: number; refreshTokensTotal: number; accessTokensLive: number };
}
interface SecretBody {
  id: string;
  value: string;
  hint: string;
  expiresAt: string;
}
interface AppBody {
  clientId: string;
  displayName: string;
  homeTenantId: string;
  redirectUris: string[];
  publicClient: boolean;
  secrets: Array<{ id: string; hint: string; expiresAt: string; expired: boolean }>;
  createdSecret?: SecretBody | null;
}

describe('emulator control API: directory', () => {
  let emulator: SeededEmulator;
  const responses: string[] = [];

  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${emulator.url}/_emulator${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    responses.push(text);
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function expectError(method: string, path: string, body: unknown, status: number, code: string) {
    const response = await call<ErrorBody>(method, path, body);
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.body.error.code, code);
    assert.ok(response.body.error.message.length > 0);
    return response.body.error.message;
  }

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  describe('tenants', () => {
    it('lists the demo tenants and finds one by id, by domain and as "consumers"', async () => {
      const list = await call<{ tenants: TenantBody[] }>('GET', '/tenants');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.tenants.map((tenant) => tenant.id).sort(),
        [DEMO_IDS.contosoTenantId, CONSUMER_TENANT_ID, DEMO_IDS.fabrikamTenantId].sort(),
      );
      const byDomain = await call<TenantBody>('GET', '/tenants/fabrikam.com');
      assert.equal(byDomain.body.id, DEMO_IDS.fabrikamTenantId);
      assert.equal(byDomain.body.userConsent, 'forbidden');
      assert.equal(byDomain.body.adminConsentWorkflow, true);
      assert.equal((await call<TenantBody>('GET', `/tenants/${DEMO_IDS.contosoTenantId}`)).body.displayName, 'Contoso');
      assert.equal((await call<TenantBody>('GET', '/tenants/consumers')).body.id, CONSUMER_TENANT_ID);
      await expectError('GET', '/tenants/nowhere.example', undefined, 404, 'CONTROL_TENANT_NOT_FOUND');
    });

    it('creates a tenant with its consent policies and updates them', async () => {
      const created = await call<TenantBody>('POST', '/tenants', {
        displayName: 'Northwind',
        domains: ['Northwind.example'],
        userConsent: 'allowed',
        adminOnlyScopes: ['Mail.Send'],
      });
      assert.equal(created.status, 201);
      assert.deepEqual(created.body.domains, ['northwind.example']);
      const tenant = emulator.ctx.world.tenants[created.body.id]!;
      assert.deepEqual(tenant.adminOnlyScopes, ['Mail.Send']);
      assert.equal(tenant.adminConsentWorkflow, false);

      const updated = await call<TenantBody>('PATCH', '/tenants/northwind.example', {
        userConsent: 'forbidden',
        adminConsentWorkflow: true,
        adminOnlyScopes: [],
      });
      assert.equal(updated.status, 200);
      assert.equal(tenant.userConsent, 'forbidden');
      assert.equal(tenant.adminConsentWorkflow, true);
      assert.deepEqual(tenant.adminOnlyScopes, []);
    });

    it('rejects bad tenant input with a 400 that names the field, and taken domains with 409', async () => {
      const missing = await expectError('POST', '/tenants', { displayName: 'X' }, 400, 'CONTROL_INVALID_REQUEST');
      assert.match(missing, /body\.domains/);
      const policy = await expectError(
        'POST',
        '/tenants',
        { displayName: 'X', domains: ['x.example'], userConsent: 'maybe' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(policy, /body\.userConsent/);
      const unknown = await expectError(
        'POST',
        '/tenants',
        { displayName: 'X', domains: ['x.example'], userconsent: 'allowed' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(unknown, /userconsent/);
      await expectError(
        'POST',
        '/tenants',
        { displayName: 'X', domains: ['contoso.com'] },
        409,
        'CONTROL_DOMAIN_TAKEN',
      );
      await expectError(
        'POST',
        '/tenants',
        { id: DEMO_IDS.contosoTenantId, displayName: 'X', domains: ['x.example'] },
        409,
        'CONTROL_TENANT_EXISTS',
      );
      await expectError('PATCH', '/tenants/contoso.com', { domains: ['fabrikam.com'] }, 409, 'CONTROL_DOMAIN_TAKEN');
      assert.equal(emulator.ctx.world.tenants['x.example'], undefined);
    });

    it('grants and revokes tenant-wide admin consent', async () => {
      const path = `/tenants/contoso.com/admin-consents/${DEMO_IDS.clientId}`;
      await call('PUT', path, { scopes: ['Mail.Send'] });
      const granted = await call<TenantBody>('PUT', path, { scopes: ['mail.send', 'User.Read'] });
      assert.deepEqual(granted.body.adminConsents[DEMO_IDS.clientId], ['Mail.Send', 'User.Read']);
      const tenant = emulator.ctx.world.tenants[DEMO_IDS.contosoTenantId]!;
      assert.deepEqual(tenant.adminConsents[DEMO_IDS.clientId], ['Mail.Send', 'User.Read']);

      const revoked = await call<TenantBody>('DELETE', path);
      assert.equal(revoked.status, 200);
      assert.equal(tenant.adminConsents[DEMO_IDS.clientId], undefined);
      await expectError('DELETE', path, undefined, 404, 'CONTROL_ADMIN_CONSENT_NOT_FOUND');
      await expectError(
        'PUT',
        '/tenants/contoso.com/admin-consents/00000000-0000-4000-8000-000000000000',
        { scopes: ['Mail.Send'] },
        404,
        'CONTROL_APP_NOT_FOUND',
      );
      await expectError('PUT', path, { scopes: [] }, 400, 'CONTROL_INVALID_REQUEST');
    });
  });

  describe('users', () => {
    it('creates work users in the tenant of their domain and personal users in the consumer tenant', async () => {
      const work = await call<UserBody>('POST', '/users', {
        email: 'Nestor@Contoso.com',
        password: 'pw-nestor-1',
        displayName: 'Nestor Wilke',
        isAdmin: true,
        secondFactorCode: '135790',
      });
      assert.equal(work.status, 201);
      assert.equal(work.body.email, 'nestor@contoso.com');
      assert.equal(work.body.tenantId, DEMO_IDS.contosoTenantId);
      assert.equal(work.body.kind, 'work');
      assert.equal(work.body.hasSecondFactor, true);
      assert.equal(emulator.ctx.world.users[work.body.id]!.password, 'pw-nestor-1');
      assert.ok(emulator.ctx.world.mailboxes[work.body.id], 'a new user gets a mailbox');

      const personal = await call<UserBody>('POST', '/users', { email: 'sam@hotmail.com', password: 'pw-sam-1' });
      assert.equal(personal.body.kind, 'personal');
      assert.equal(personal.body.tenantId, CONSUMER_TENANT_ID);

      // Microsoft's shapes (docs/entra.md §1.6): an oid 00000000-0000-0000-…, a 16-hex-digit Graph id.
      assert.match(personal.body.id, /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(personal.body.graphId, /^[0-9a-f]{16}$/);
      assert.equal(work.body.graphId, work.body.id, "a work account's Graph id is its oid");

      const elsewhere = await call<UserBody>('POST', '/users', { email: 'kim@gmail.example', password: 'pw-kim-1' });
      assert.equal(elsewhere.body.kind, 'personal', 'an address no organisation verified is a Microsoft account');

      const explicit = await call<UserBody>('POST', '/users', {
        email: 'guest@elsewhere.example',
        password: 'pw-guest-1',
        tenant: DEMO_IDS.fabrikamTenantId,
        disabled: true,
        mailboxEnabled: false,
      });
      assert.equal(explicit.body.tenantId, DEMO_IDS.fabrikamTenantId);
      assert.equal(explicit.body.disabled, true);
      assert.equal(explicit.body.mailboxEnabled, false);
    });

    it('rejects bad user input', async () => {
      await expectError('POST', '/users', { email: 'megan@contoso.com', password: 'x' }, 409, 'CONTROL_USER_EXISTS');
      const email = await expectError(
        'POST',
        '/users',
        { email: 'not-an-email', password: 'x' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(email, /body\.email/);
      const password = await expectError('POST', '/users', { email: 'a@contoso.com' }, 400, 'CONTROL_INVALID_REQUEST');
      assert.match(password, /body\.password/);
      await expectError(
        'POST',
        '/users',
        { email: 'a@nowhere.example', password: 'x', kind: 'work' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      const personalId = await expectError(
        'POST',
        '/users',
        { email: 'a@outlook.com', password: 'x', id: '3f2b8c1e-6a4d-4e5f-9b7a-1c2d3e4f5a6b' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(personalId, /00000000-0000-0000-xxxx-xxxxxxxxxxxx/);
      await expectError(
        'POST',
        '/users',
        { email: 'a@contoso.com', password: 'x', tenant: 'nowhere.example' },
        404,
        'CONTROL_TENANT_NOT_FOUND',
      );
      assert.equal(
        Object.values(emulator.ctx.world.users).filter((user) => user.email === 'a@contoso.com').length,
        0,
        'a rejected request changes nothing',
      );
      assert.equal(Object.values(emulator.ctx.world.users).filter((user) => user.email === 'a@outlook.com').length, 0);
    });

    it('lists users with filters and gets one by id or email', async () => {
      const contoso = await call<{ users: UserBody[] }>('GET', '/users?tenant=contoso.com');
      assert.ok(contoso.body.users.every((user) => user.tenantId === DEMO_IDS.contosoTenantId));
      assert.ok(contoso.body.users.some((user) => user.email === 'megan@contoso.com'));
      const personal = await call<{ users: UserBody[] }>('GET', '/users?kind=personal');
      assert.ok(personal.body.users.every((user) => user.kind === 'personal'));
      const one = await call<{ users: UserBody[] }>('GET', '/users?email=MEGAN@contoso.com');
      assert.equal(one.body.users.length, 1);

      const byEmail = await call<UserBody>('GET', '/users/megan@contoso.com');
      assert.equal(byEmail.body.id, emulator.seed.users.work.id);
      const byId = await call<UserBody>('GET', `/users/${emulator.seed.users.work.id}`);
      assert.equal(byId.body.email, 'megan@contoso.com');
      assert.deepEqual(byId.body.tokens, { refreshTokensLive: 0, refreshTokensTotal: 0, accessTokensLive: 0 });
      await expectError('GET', '/users/nobody@contoso.com', undefined, 404, 'CONTROL_USER_NOT_FOUND');
      await expectError('GET', '/users?kind=robot', undefined, 400, 'CONTROL_INVALID_REQUEST');
    });

    it('disables a user, disables a mailbox, blocks by Conditional Access and demands MFA', async () => {
      const user = emulator.ctx.world.users[emulator.seed.users.workAdmin.id]!;
      const now = emulator.ctx.clock.now();
      const patched = await call<UserBody>('PATCH', '/users/admin@contoso.com', {
        disabled: true,
        mailboxEnabled: false,
        conditionalAccessBlocked: true,
        mfaRequired: true,
        displayName: 'Contoso Global Admin',
      });
      assert.equal(patched.status, 200);
      assert.equal(user.disabled, true);
      assert.equal(user.mailboxEnabled, false);
      assert.equal(user.conditionalAccessBlocked, true);
      assert.ok(user.mfaRequiredFrom !== null && user.mfaRequiredFrom >= now);
      assert.equal(user.surname, 'Global Admin');
      assert.equal(patched.body.mfaRequiredFrom, new Date(user.mfaRequiredFrom).toISOString());

      await call('PATCH', '/users/admin@contoso.com', {
        disabled: false,
        mailboxEnabled: true,
        conditionalAccessBlocked: false,
        mfaRequired: false,
      });
      assert.equal(user.disabled, false);
      assert.equal(user.mailboxEnabled, true);
      assert.equal(user.conditionalAccessBlocked, false);
      assert.equal(user.mfaRequiredFrom, null);
      await expectError('PATCH', '/users/admin@contoso.com', { disabled: 'yes' }, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('PATCH', '/users/admin@contoso.com', { password: 'x' }, 400, 'CONTROL_INVALID_REQUEST');
    });

    it('changes a password as an admin reset: refresh tokens revoked, access tokens left to expire', async () => {
      const ctx = emulator.ctx;
      const user = ctx.world.users[emulator.seed.users.work.id]!;
      const grant = { clientId: DEMO_IDS.clientId, userId: user.id, scopes: ['Mail.Send'], sessionId: 's1' };
      issueRefreshToken(ctx, grant);
      const access = issueAccessToken(ctx, grant);
      ctx.clock.advance(1);
      const before = ctx.clock.now();

      const changed = await call<{ refreshTokensRevoked: number; accessTokensDeleted: number; user: UserBody }>(
        'POST',
        '/users/megan@contoso.com/password',
        { password: 'new-password-1' },
      );
      assert.equal(changed.status, 200);
      assert.equal(changed.body.refreshTokensRevoked, 1);
      assert.equal(changed.body.accessTokensDeleted, 0);
      assert.equal(user.password, 'new-password-1');
      assert.ok(user.tokensValidFrom >= before && user.tokensValidFrom <= ctx.clock.now());
      assert.ok(user.tokensValidFrom > access.record.issuedAt, 'refresh tokens issued before now are refused');
      assert.ok(ctx.world.accessTokens[access.record.tokenHash], 'an issued access token stays valid until it expires');
      assert.equal(changed.body.user.tokens.refreshTokensLive, 0);

      ctx.clock.advance(1);
      const withAccess = await call<{ accessTokensDeleted: number }>('POST', '/users/megan@contoso.com/password', {
        password: 'new-password-2',
        revokeAccessTokens: true,
      });
      assert.equal(withAccess.body.accessTokensDeleted, 1);
      assert.equal(ctx.world.accessTokens[access.record.tokenHash], undefined);
      await expectError('POST', '/users/megan@contoso.com/password', {}, 400, 'CONTROL_INVALID_REQUEST');
      await expectError(
        'POST',
        '/users/megan@contoso.com/password',
        { password: 'x', by: 'robot' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
    });

    it("changes a password as the user: only public clients' refresh tokens are revoked", async () => {
      const ctx = emulator.ctx;
      const user = ctx.world.users[emulator.seed.users.personal.id]!;
      const publicApp = addApp(ctx, {
        displayName: 'desktop client',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: ['http://localhost'],
        publicClient: true,
      });
      const confidential = issueRefreshToken(ctx, {
        clientId: DEMO_IDS.clientId,
        userId: user.id,
        scopes: ['Mail.Send'],
        sessionId: 's2',
      });
      const pub = issueRefreshToken(ctx, {
        clientId: publicApp.clientId,
        userId: user.id,
        scopes: ['Mail.Send'],
        sessionId: 's3',
      });
      const validFrom = user.tokensValidFrom;
      ctx.world.browserSessions.cookie2 = {
        cookieHash: 'cookie2',
        createdAt: 0,
        accounts: [{ userId: user.id, sid: 'sid-a', signedInAt: ctx.clock.now(), secondFactorAt: null }],
      };

      const changed = await call<{ refreshTokensRevoked: number; browserSessionsEnded: number }>(
        'POST',
        '/users/alex@outlook.com/password',
        {
          password: 'user-chosen-1',
          by: 'user',
        },
      );
      assert.equal(changed.body.refreshTokensRevoked, 1);
      assert.equal(changed.body.browserSessionsEnded, 1, 'the password-based sign-in cookie is revoked');
      assert.deepEqual(ctx.world.browserSessions.cookie2!.accounts, []);
      assert.equal(user.password, 'user-chosen-1');
      assert.equal(user.tokensValidFrom, validFrom, 'confidential clients keep their refresh tokens');
      assert.equal(ctx.world.refreshTokens[confidential.record.tokenHash]!.revoked, false);
      assert.equal(ctx.world.refreshTokens[pub.record.tokenHash]!.revoked, true);
    });

    it('revokes sessions, also at the sign-in pages and under a frozen clock', async () => {
      const frozen = await startSeededEmulator({
        clock: new EmulatorClock({ startAt: Date.UTC(2030, 0, 1), frozen: true }),
      });
      try {
        const ctx = frozen.ctx;
        const megan = frozen.seed.users.work;
        const alex = frozen.seed.users.personal;
        const grant = { clientId: DEMO_IDS.clientId, userId: megan.id, scopes: ['Mail.Send'], sessionId: 'sid-m' };
        const refresh = issueRefreshToken(ctx, grant);
        const account = (userId: string) => ({
          userId,
          sid: `sid-${userId}`,
          signedInAt: ctx.clock.now(),
          secondFactorAt: null,
        });
        ctx.world.browserSessions.cookie1 = {
          cookieHash: 'cookie1',
          createdAt: 0,
          accounts: [account(megan.id), account(alex.id)],
        };
        // No time passes between issuing and revoking: the revocation must still hold.
        const response = await fetch(`${frozen.url}/_emulator/users/megan@contoso.com/revoke-sessions`, {
          method: 'POST',
        });
        const body = (await response.json()) as { refreshTokensRevoked: number; browserSessionsEnded: number };
        assert.equal(response.status, 200);
        assert.equal(body.refreshTokensRevoked, 1);
        assert.equal(body.browserSessionsEnded, 1);
        assert.equal(ctx.world.refreshTokens[refresh.record.tokenHash]!.revoked, true);
        assert.equal(ctx.world.users[megan.id]!.tokensValidFrom, ctx.clock.now());
        assert.deepEqual(
          ctx.world.browserSessions.cookie1!.accounts.map((entry) => entry.userId),
          [alex.id],
        );
        // A token issued afterwards, at the same frozen instant, is not affected.
        const later = issueRefreshToken(ctx, grant);
        assert.equal(ctx.world.refreshTokens[later.record.tokenHash]!.revoked, false);
      } finally {
        await frozen.close();
      }
    });

    it('revokes sessions', async () => {
      const ctx = emulator.ctx;
      const user = ctx.world.users[emulator.seed.users.workWithMfa.id]!;
      const grant = { clientId: DEMO_IDS.clientId, userId: user.id, scopes: ['Mail.Send'], sessionId: 's4' };
      issueRefreshToken(ctx, grant);
      issueAccessToken(ctx, grant);
      ctx.clock.advance(1);
      const before = ctx.clock.now();
      const revoked = await call<{ refreshTokensRevoked: number; accessTokensDeleted: number; user: UserBody }>(
        'POST',
        `/users/${user.id}/revoke-sessions`,
      );
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.refreshTokensRevoked, 1);
      assert.equal(revoked.body.accessTokensDeleted, 0);
      assert.ok(user.tokensValidFrom >= before && user.tokensValidFrom <= ctx.clock.now());
      assert.equal(revoked.body.user.tokens.accessTokensLive, 1);
      const again = await call<{ accessTokensDeleted: number }>('POST', `/users/${user.id}/revoke-sessions`, {
        revokeAccessTokens: true,
      });
      assert.equal(again.body.accessTokensDeleted, 1);
      await expectError('POST', '/users/nobody@contoso.com/revoke-sessions', undefined, 404, 'CONTROL_USER_NOT_FOUND');
    });

    it("grants, lists and revokes a user's consent", async () => {
      const ctx = emulator.ctx;
      const user = ctx.world.users[emulator.seed.users.approvalAdmin.id]!;
      const key = `${user.id}|${DEMO_IDS.clientId}`;
      const granted = await call<{ clientId: string; scopes: string[] }>(
        'PUT',
        `/users/it@fabrikam.com/consents/${DEMO_IDS.clientId}`,
        { scopes: ['Mail.Send', 'offline_access'] },
      );
      assert.equal(granted.status, 200);
      assert.deepEqual(ctx.world.consents[key]!.scopes, ['Mail.Send', 'offline_access']);
      const list = await call<{ consents: Array<{ clientId: string }> }>('GET', '/users/it@fabrikam.com/consents');
      assert.deepEqual(
        list.body.consents.map((consent) => consent.clientId),
        [DEMO_IDS.clientId],
      );
      const other = addApp(ctx, { displayName: 'other', homeTenantId: DEMO_IDS.contosoTenantId, redirectUris: [] });
      const demoToken = issueAccessToken(ctx, { clientId: DEMO_IDS.clientId, userId: user.id, scopes: ['Mail.Send'] });
      const otherToken = issueAccessToken(ctx, { clientId: other.clientId, userId: user.id, scopes: ['Mail.Send'] });

      const revoked = await call<{ revoked: boolean; accessTokensDeleted: number }>(
        'DELETE',
        `/users/it@fabrikam.com/consents/${DEMO_IDS.clientId}?revokeAccessTokens=true`,
      );
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.accessTokensDeleted, 1);
      assert.equal(ctx.world.consents[key], undefined, 'refresh then fails with AADSTS65001');
      assert.equal(ctx.world.accessTokens[demoToken.record.tokenHash], undefined);
      assert.ok(ctx.world.accessTokens[otherToken.record.tokenHash], "another app's token is untouched");
      await expectError(
        'DELETE',
        `/users/it@fabrikam.com/consents/${DEMO_IDS.clientId}`,
        undefined,
        404,
        'CONTROL_CONSENT_NOT_FOUND',
      );
      await expectError(
        'DELETE',
        `/users/it@fabrikam.com/consents/${DEMO_IDS.clientId}?revokeAccessTokens=maybe`,
        undefined,
        400,
        'CONTROL_INVALID_REQUEST',
      );
    });
  });

  describe('apps and client secrets', () => {
    it('lists apps with secret hints only', async () => {
      const list = await call<{ apps: AppBody[] }>('GET', '/apps');
      const demo = list.body.apps.find((entry) => entry.clientId === DEMO_IDS.clientId)!;
      assert.equal(demo.secrets.length, 1);
      assert.equal(demo.secrets[0]!.hint, emulator.clientSecret.slice(0, 3));
      assert.equal(demo.secrets[0]!.expired, false);
      assert.equal(JSON.stringify(list.body).includes(emulator.clientSecret), false);
    });

    it('registers an app, returning a created secret once', async () => {
      const created = await call<AppBody>('POST', '/apps', {
        displayName: 'host app',
        homeTenant: 'contoso.com',
        signInAudience: 'AzureADMultipleOrgs',
        redirectUris: ['https://host.example/callback'],
        secret: { expiresInSeconds: 3600 },
      });
      assert.equal(created.status, 201);
      const secret = created.body.createdSecret!;
      assert.match(secret.value, /^.{3}8Q~.{34}$/);
      assert.equal(secret.hint, secret.value.slice(0, 3));
      const app = emulator.ctx.world.apps[created.body.clientId]!;
      assert.equal(app.secrets[0]!.value, secret.value);
      assert.equal(app.secrets[0]!.expiresAt, Date.parse(secret.expiresAt));
      assert.equal(app.homeTenantId, DEMO_IDS.contosoTenantId);

      const fetched = await call<AppBody>('GET', `/apps/${created.body.clientId}`);
      assert.equal(JSON.stringify(fetched.body).includes(secret.value), false);
      assert.equal(fetched.body.secrets[0]!.id, secret.id);

      const plain = await call<AppBody>('POST', '/apps', {
        displayName: 'no secret',
        homeTenant: DEMO_IDS.fabrikamTenantId,
        redirectUris: [],
        publicClient: true,
      });
      assert.equal(plain.body.createdSecret, null);
      assert.equal(plain.body.publicClient, true);
    });

    it('rejects bad app input', async () => {
      const uri = await expectError(
        'POST',
        '/apps',
        { displayName: 'x', homeTenant: 'contoso.com', redirectUris: ['not a url'] },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(uri, /body\.redirectUris\.0/);
      await expectError(
        'POST',
        '/apps',
        { displayName: 'x', homeTenant: 'nowhere.example', redirectUris: [] },
        404,
        'CONTROL_TENANT_NOT_FOUND',
      );
      await expectError(
        'POST',
        '/apps',
        { clientId: DEMO_IDS.clientId, displayName: 'x', homeTenant: 'contoso.com', redirectUris: [] },
        409,
        'CONTROL_APP_EXISTS',
      );
      await expectError(
        'POST',
        '/apps',
        { displayName: 'x', homeTenant: 'contoso.com', redirectUris: [], signInAudience: 'Everyone' },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      await expectError('GET', '/apps/00000000-0000-4000-8000-000000000000', undefined, 404, 'CONTROL_APP_NOT_FOUND');
    });

    it('adds, expires, deletes and replaces client secrets', async () => {
      const ctx = emulator.ctx;
      const { body: created } = await call<AppBody>('POST', '/apps', {
        displayName: 'rotating app',
        homeTenant: 'contoso.com',
        redirectUris: ['https://rotate.example/cb'],
        secret: { value: 'first-secret-value' },
      });
      const app = ctx.world.apps[created.clientId]!;
      const first = created.createdSecret!;
      assert.equal(first.value, 'first-secret-value');

      const second = await call<SecretBody>('POST', `/apps/${app.clientId}/secrets`, {});
      assert.equal(second.status, 201);
      assert.ok(second.body.value.length > 30);
      assert.equal(app.secrets.length, 2);

      const before = ctx.clock.now();
      const expired = await call<AppBody>('POST', `/apps/${app.clientId}/secrets/${first.id}/expire`);
      assert.equal(expired.status, 200);
      const expiresAt = app.secrets.find((secret) => secret.id === first.id)!.expiresAt;
      assert.ok(expiresAt >= before && expiresAt <= ctx.clock.now(), 'identity then answers AADSTS7000222');
      assert.equal(expired.body.secrets.find((secret) => secret.id === first.id)!.expired, true);

      const deleted = await call<AppBody>('DELETE', `/apps/${app.clientId}/secrets/${first.id}`);
      assert.equal(deleted.status, 200);
      assert.deepEqual(
        app.secrets.map((secret) => secret.id),
        [second.body.id],
      );
      await expectError(
        'DELETE',
        `/apps/${app.clientId}/secrets/${first.id}`,
        undefined,
        404,
        'CONTROL_SECRET_NOT_FOUND',
      );
      await expectError(
        'POST',
        `/apps/${app.clientId}/secrets/nope/expire`,
        undefined,
        404,
        'CONTROL_SECRET_NOT_FOUND',
      );

      const replaced = await call<SecretBody>('POST', `/apps/${app.clientId}/secrets`, {
        replaceExisting: true,
        expiresAt: '2030-01-01T00:00:00Z',
      });
      assert.deepEqual(
        app.secrets.map((secret) => secret.id),
        [replaced.body.id],
      );
      assert.equal(app.secrets[0]!.expiresAt, Date.parse('2030-01-01T00:00:00Z'));
      await expectError(
        'POST',
        `/apps/${app.clientId}/secrets`,
        { expiresAt: '2030-01-01T00:00:00Z', expiresInSeconds: 60 },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      await expectError('POST', `/apps/${app.clientId}/secrets`, { value: 'short' }, 400, 'CONTROL_INVALID_REQUEST');
    });

    it('changes redirect URIs and deletes an app', async () => {
      const ctx = emulator.ctx;
      const { body: created } = await call<AppBody>('POST', '/apps', {
        displayName: 'short-lived',
        homeTenant: 'contoso.com',
        redirectUris: ['https://a.example/cb'],
      });
      const patched = await call<AppBody>('PATCH', `/apps/${created.clientId}`, {
        redirectUris: ['https://b.example/cb', 'http://localhost:5000/cb'],
        displayName: 'renamed',
      });
      assert.equal(patched.status, 200);
      assert.deepEqual(ctx.world.apps[created.clientId]!.redirectUris, [
        'https://b.example/cb',
        'http://localhost:5000/cb',
      ]);
      assert.equal(ctx.world.apps[created.clientId]!.displayName, 'renamed');

      const deleted = await call<{ deleted: boolean }>('DELETE', `/apps/${created.clientId}`);
      assert.equal(deleted.status, 200);
      assert.equal(ctx.world.apps[created.clientId], undefined, 'identity then answers AADSTS700016');
      await expectError('GET', `/apps/${created.clientId}`, undefined, 404, 'CONTROL_APP_NOT_FOUND');
      await expectError('DELETE', `/apps/${created.clientId}`, undefined, 404, 'CONTROL_APP_NOT_FOUND');
    });
  });

  describe('admin approval requests', () => {
    it('lists pending requests, approves one (adding to existing admin consent) and denies another', async () => {
      const ctx = emulator.ctx;
      const lee = emulator.seed.users.approvalRequired;
      const fabrikam = ctx.world.tenants[DEMO_IDS.fabrikamTenantId]!;
      fabrikam.adminConsents[DEMO_IDS.clientId] = ['User.Read'];
      const other = addApp(ctx, { displayName: 'other', homeTenantId: DEMO_IDS.contosoTenantId, redirectUris: [] });
      // The identity endpoints create these when a blocked user asks for approval (AADSTS90095).
      const base = {
        tenantId: fabrikam.id,
        userId: lee.id,
        justification: 'to send invoices',
        status: 'pending' as const,
      };
      ctx.world.adminApprovalRequests.r1 = {
        ...base,
        id: 'r1',
        clientId: DEMO_IDS.clientId,
        scopes: ['Mail.Send'],
        createdAt: 1,
      };
      ctx.world.adminApprovalRequests.r2 = {
        ...base,
        id: 'r2',
        clientId: DEMO_IDS.clientId,
        scopes: ['Mail.Send'],
        createdAt: 2,
      };
      ctx.world.adminApprovalRequests.r3 = {
        ...base,
        id: 'r3',
        clientId: other.clientId,
        scopes: ['Mail.Send'],
        createdAt: 3,
      };

      const pending = await call<{ requests: Array<{ id: string; userEmail: string; appDisplayName: string }> }>(
        'GET',
        '/admin-approval-requests?status=pending&tenant=fabrikam.com',
      );
      assert.deepEqual(
        pending.body.requests.map((request) => request.id),
        ['r1', 'r2', 'r3'],
      );
      assert.equal(pending.body.requests[0]!.userEmail, 'lee@fabrikam.com');
      assert.equal(pending.body.requests[0]!.appDisplayName, 'mailbridge (local demo)');

      const approved = await call<{ scopes: string[]; resolved: string[]; request: { status: string } }>(
        'POST',
        '/admin-approval-requests/r1/approve',
      );
      assert.equal(approved.status, 200);
      assert.deepEqual(fabrikam.adminConsents[DEMO_IDS.clientId], ['User.Read', 'Mail.Send']);
      assert.deepEqual(approved.body.resolved, ['r1', 'r2'], "the app's other request is resolved with it");
      assert.equal(ctx.world.adminApprovalRequests.r1!.status, 'approved');
      assert.equal(ctx.world.adminApprovalRequests.r3!.status, 'pending');
      await expectError(
        'POST',
        '/admin-approval-requests/r1/approve',
        undefined,
        409,
        'CONTROL_APPROVAL_REQUEST_NOT_PENDING',
      );

      const denied = await call<{ resolved: string[] }>('POST', '/admin-approval-requests/r3/deny');
      assert.deepEqual(denied.body.resolved, ['r3']);
      assert.equal(ctx.world.adminApprovalRequests.r3!.status, 'denied');
      assert.equal(fabrikam.adminConsents[other.clientId], undefined);
      const one = await call<{ status: string }>('GET', '/admin-approval-requests/r3');
      assert.equal(one.body.status, 'denied');
      await expectError(
        'POST',
        '/admin-approval-requests/nope/deny',
        undefined,
        404,
        'CONTROL_APPROVAL_REQUEST_NOT_FOUND',
      );
      await expectError('GET', '/admin-approval-requests?status=open', undefined, 400, 'CONTROL_INVALID_REQUEST');
    });
  });

  describe('secrets never leave', () => {
    it('keeps passwords, second-factor codes, secret values and tokens out of every answer', async () => {
      const ctx = emulator.ctx;
      const user = emulator.seed.users.work;
      const refresh = issueRefreshToken(ctx, {
        clientId: DEMO_IDS.clientId,
        userId: user.id,
        scopes: ['Mail.Send'],
        sessionId: 's9',
      });
      const access = issueAccessToken(ctx, { clientId: DEMO_IDS.clientId, userId: user.id, scopes: ['Mail.Send'] });
      for (const path of ['/', '/tenants', '/users', '/apps', '/admin-approval-requests', '/faults', '/settings']) {
        await call('GET', path);
      }
      for (const someone of Object.values(ctx.world.users)) {
        await call('GET', `/users/${someone.email}`);
        await call('GET', `/users/${someone.id}/consents`);
        await call('GET', `/mailboxes/${someone.email}`);
      }
      for (const app of Object.values(ctx.world.apps)) await call('GET', `/apps/${app.clientId}`);

      // Second-factor codes are short digit strings: look for them as JSON strings, not inside timestamps.
      const forbidden = [
        DEMO_PASSWORD,
        `"${DEMO_SECOND_FACTOR_CODE}"`,
        emulator.clientSecret,
        refresh.token,
        access.token,
        refresh.record.tokenHash,
        access.record.tokenHash,
        ...Object.values(ctx.world.users).map((someone) => someone.password),
        ...Object.values(ctx.world.users).flatMap((someone) =>
          someone.secondFactorCode ? [`"${someone.secondFactorCode}"`] : [],
        ),
      ];
      // Secret values may appear only in the answer that created them; leave those answers out of the sweep.
      const created = new Set(
        Object.values(ctx.world.apps)
          .flatMap((app) => app.secrets)
          .map((secret) => secret.value),
      );
      const later = responses.filter((text) => ![...created].some((value) => text.includes(`"value":"${value}"`)));
      assert.ok(later.length > 20);
      for (const text of later) {
        for (const secret of [...forbidden, ...created]) {
          assert.equal(text.includes(secret), false, `a response contains a secret: ${text.slice(0, 200)}`);
        }
      }
    });
  });
});
