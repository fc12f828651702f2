import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type DriverCallback,
  type DriverPage,
  type DriverResult,
  elementAttribute,
  hasElement,
  pageText,
  SignInDriver,
} from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/index.js';
import { addTenant, addUser } from '../../emulator/state/builders.js';
import type { Tenant, User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

const SCOPE = 'openid profile offline_access User.Read Mail.Send';

function asPage(result: DriverResult): DriverPage {
  assert.equal(result.kind, 'page', `expected a page, got a callback to ${(result as DriverCallback).url}`);
  return result as DriverPage;
}

function asCallback(result: DriverResult): DriverCallback {
  assert.equal(
    result.kind,
    'callback',
    `expected a callback: ${pageText((result as DriverPage).html ?? '').slice(0, 300)}`,
  );
  return result as DriverCallback;
}

describe('identity admin approval and admin consent', () => {
  let emulator: SeededEmulator;
  let counter = 0;

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  /** A tenant of its own with an ordinary user and an admin. */
  function newOrganization(policy: {
    userConsent?: Tenant['userConsent'];
    adminConsentWorkflow?: boolean;
    adminOnlyScopes?: string[];
  }): { tenant: Tenant; user: User; admin: User } {
    counter++;
    const domain = `org${counter}.example`;
    const tenant = addTenant(emulator.ctx, { displayName: `Org ${counter}`, domains: [domain], ...policy });
    const user = addUser(emulator.ctx, {
      email: `user@${domain}`,
      password: DEMO_PASSWORD,
      displayName: `Org User ${counter}`,
      tenantId: tenant.id,
    });
    const admin = addUser(emulator.ctx, {
      email: `admin@${domain}`,
      password: DEMO_PASSWORD,
      displayName: `Org Admin ${counter}`,
      tenantId: tenant.id,
      isAdmin: true,
    });
    return { tenant, user, admin };
  }

  function authorizeUrl(params: Record<string, string> = {}, tenant = 'organizations'): string {
    return `${emulator.url}/${tenant}/oauth2/v2.0/authorize?${new URLSearchParams({
      client_id: emulator.seed.app.clientId,
      response_type: 'code',
      redirect_uri: emulator.redirectUri,
      scope: SCOPE,
      state: 'app-state',
      ...params,
    })}`;
  }

  function adminConsentUrl(params: Record<string, string> = {}, tenant = 'organizations'): string {
    return `${emulator.url}/${tenant}/v2.0/adminconsent?${new URLSearchParams({
      client_id: emulator.seed.app.clientId,
      redirect_uri: emulator.redirectUri,
      scope: 'https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read',
      state: 'admin-state',
      ...params,
    })}`;
  }

  async function signedIn(driver: SignInDriver, url: string, email: string): Promise<DriverResult> {
    const page = asPage(await driver.open(url));
    assert.ok(hasElement(page.html, 'password'), pageText(page.html).slice(0, 200));
    return driver.submit(page, { login: email, passwd: DEMO_PASSWORD, action: 'sign-in' });
  }

  describe('"Need admin approval" for users who may not consent', () => {
    it('offers a justification and "Request approval" with the workflow on; records the request; sends 90095', async () => {
      const driver = new SignInDriver();
      const lee = emulator.seed.users.approvalRequired;
      const approval = asPage(await signedIn(driver, authorizeUrl(), lee.email));
      const text = pageText(approval.html);
      assert.match(text, /Need admin approval/);
      assert.match(text, /mailbridge \(local demo\)/);
      assert.ok(hasElement(approval.html, 'client-id'));
      assert.match(text, new RegExp(DEMO_IDS.clientId));
      assert.equal(elementAttribute(approval.html, 'approval-message', 'data-aadsts'), '90095');
      assert.ok(hasElement(approval.html, 'justification'));
      assert.ok(hasElement(approval.html, 'request-approval'));

      const sent = asPage(
        await driver.submit(approval, { action: 'request-approval', justification: 'I send our <newsletter>' }),
      );
      assert.match(pageText(sent.html), /Request sent/);
      const requests = Object.values(emulator.ctx.world.adminApprovalRequests).filter((r) => r.userId === lee.id);
      assert.equal(requests.length, 1);
      assert.equal(requests[0]!.status, 'pending');
      assert.equal(requests[0]!.justification, 'I send our <newsletter>');
      assert.equal(requests[0]!.tenantId, DEMO_IDS.fabrikamTenantId);
      assert.equal(requests[0]!.clientId, DEMO_IDS.clientId);
      assert.deepEqual(requests[0]!.scopes, ['openid', 'profile', 'offline_access', 'User.Read', 'Mail.Send']);

      const callback = asCallback(await driver.submit(sent, { action: 'back' }));
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.match(callback.params.get('error_description')!, /^AADSTS90095: /);
      assert.equal(callback.params.get('state'), 'app-state');
    });

    it('without the workflow, only says so, and sends AADSTS90094 when the policy forbids user consent', async () => {
      const org = newOrganization({ userConsent: 'forbidden', adminConsentWorkflow: false });
      const driver = new SignInDriver();
      const approval = asPage(await signedIn(driver, authorizeUrl(), org.user.email));
      assert.match(pageText(approval.html), /Need admin approval/);
      assert.equal(hasElement(approval.html, 'justification'), false);
      assert.equal(hasElement(approval.html, 'request-approval'), false);
      const callback = asCallback(await driver.submit(approval, { action: 'back' }));
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.match(callback.params.get('error_description')!, /^AADSTS90094: /);
      assert.equal(
        Object.values(emulator.ctx.world.adminApprovalRequests).some((r) => r.userId === org.user.id),
        false,
      );
    });

    it('sends AADSTS90093 for permissions only an admin may grant in a tenant that allows user consent', async () => {
      const org = newOrganization({ adminOnlyScopes: ['Mail.Send'] });
      const driver = new SignInDriver();
      const approval = asPage(await signedIn(driver, authorizeUrl(), org.user.email));
      assert.equal(elementAttribute(approval.html, 'approval-message', 'data-aadsts'), '90093');
      const callback = asCallback(await driver.submit(approval, { action: 'back' }));
      assert.match(callback.params.get('error_description')!, /^AADSTS90093: /);
      // Without the admin-only scope the same user consents alone.
      const own = await new SignInDriver().signIn(authorizeUrl({ scope: 'openid offline_access User.Read' }), {
        email: org.user.email,
        password: DEMO_PASSWORD,
      });
      assert.ok(own.params.get('code'));
    });

    it("treats Microsoft's admin-only permissions (User.Read.All) the same way", async () => {
      const org = newOrganization({});
      const approval = asPage(
        await signedIn(new SignInDriver(), authorizeUrl({ scope: 'openid User.Read.All' }), org.user.email),
      );
      assert.match(pageText(approval.html), /Need admin approval/);
    });

    it('lets the user sign in with an admin account from the approval page', async () => {
      const org = newOrganization({ userConsent: 'forbidden' });
      const driver = new SignInDriver();
      const approval = asPage(await signedIn(driver, authorizeUrl(), org.user.email));
      const signIn = asPage(await driver.submit(approval, { action: 'use-another' }));
      const consent = asPage(
        await driver.submit(signIn, { login: org.admin.email, passwd: DEMO_PASSWORD, action: 'sign-in' }),
      );
      assert.ok(hasElement(consent.html, 'permissions'));
      assert.ok(hasElement(consent.html, 'consent-org'));
    });
  });

  describe('an admin consenting for the organisation at sign-in', () => {
    it('grants tenant-wide with "Consent on behalf of your organization"; users then connect without any page', async () => {
      const org = newOrganization({ userConsent: 'forbidden', adminConsentWorkflow: true });
      // A user asks first; the admin's tenant-wide consent approves the pending request.
      await new SignInDriver().signIn(authorizeUrl(), {
        email: org.user.email,
        password: DEMO_PASSWORD,
        approval: 'request',
        justification: 'please',
      });
      const pending = Object.values(emulator.ctx.world.adminApprovalRequests).find((r) => r.userId === org.user.id)!;
      assert.equal(pending.status, 'pending');

      const adminCallback = await new SignInDriver().signIn(authorizeUrl(), {
        email: org.admin.email,
        password: DEMO_PASSWORD,
        consent: 'accept-for-organization',
      });
      assert.ok(adminCallback.params.get('code'));
      assert.deepEqual(org.tenant.adminConsents[DEMO_IDS.clientId], [
        'openid',
        'profile',
        'offline_access',
        'User.Read',
        'Mail.Send',
      ]);
      assert.equal(pending.status, 'approved');

      const driver = new SignInDriver();
      const result = await signedIn(driver, authorizeUrl(), org.user.email);
      const callback = asCallback(result);
      assert.ok(callback.params.get('code'), 'no approval page and no consent page');
    });

    it('without the box ticked, an admin consents only for themselves', async () => {
      const org = newOrganization({ userConsent: 'forbidden' });
      await new SignInDriver().signIn(authorizeUrl(), { email: org.admin.email, password: DEMO_PASSWORD });
      assert.equal(org.tenant.adminConsents[DEMO_IDS.clientId], undefined);
      assert.ok(emulator.ctx.world.consents[`${org.admin.id}|${DEMO_IDS.clientId}`]);
    });
  });

  describe('the v2 admin consent endpoint', () => {
    it('lets an admin consent for the tenant and redirects admin_consent=True with tenant, scope and state', async () => {
      const fabrikamAdmin = emulator.seed.users.approvalAdmin;
      const driver = new SignInDriver();
      const consent = asPage(await signedIn(driver, adminConsentUrl(), fabrikamAdmin.email));
      assert.ok(hasElement(consent.html, 'permissions'));
      assert.ok(hasElement(consent.html, 'for-organization'));
      assert.match(pageText(consent.html), /Send mail as you/);
      const callback = asCallback(await driver.submit(consent, { action: 'accept' }));
      assert.equal(callback.url, emulator.redirectUri);
      assert.equal(callback.params.get('admin_consent'), 'True');
      assert.equal(callback.params.get('tenant'), DEMO_IDS.fabrikamTenantId);
      assert.equal(
        callback.params.get('scope'),
        'https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read',
      );
      assert.equal(callback.params.get('state'), 'admin-state');
      assert.deepEqual(emulator.ctx.world.tenants[DEMO_IDS.fabrikamTenantId]!.adminConsents[DEMO_IDS.clientId], [
        'Mail.Send',
        'User.Read',
      ]);
      // Lee's request from the workflow test was for these scopes (plus OIDC ones): it is approved now.
      for (const request of Object.values(emulator.ctx.world.adminApprovalRequests)) {
        if (request.tenantId === DEMO_IDS.fabrikamTenantId) assert.equal(request.status, 'approved');
      }
      const lee = await new SignInDriver().signIn(authorizeUrl(), {
        email: emulator.seed.users.approvalRequired.email,
        password: DEMO_PASSWORD,
      });
      assert.ok(lee.params.get('code'), 'the user connects without approval or consent pages');
    });

    it('expands /.default to the statically configured permissions', async () => {
      const org = newOrganization({});
      const callback = await new SignInDriver().signIn(
        adminConsentUrl({ scope: 'https://graph.microsoft.com/.default' }, org.tenant.id),
        { email: org.admin.email, password: DEMO_PASSWORD },
      );
      assert.equal(callback.params.get('admin_consent'), 'True');
      assert.deepEqual(org.tenant.adminConsents[DEMO_IDS.clientId], emulator.seed.app.requiredScopes);
    });

    it('refuses common, and a request without scope', async () => {
      let callback = asCallback(await new SignInDriver().open(adminConsentUrl({}, 'common')));
      assert.equal(callback.params.get('error'), 'invalid_request');
      assert.equal(callback.params.get('admin_consent'), 'True');
      callback = asCallback(await new SignInDriver().open(adminConsentUrl({ scope: '' })));
      assert.match(callback.params.get('error_description')!, /^AADSTS900144: .*'scope'/);
      assert.equal(callback.params.get('state'), 'admin-state');
    });

    it('never redirects to an unregistered redirect URI', async () => {
      const response = await fetch(adminConsentUrl({ redirect_uri: 'https://evil.example/' }), { redirect: 'manual' });
      assert.equal(response.headers.get('location'), null);
      assert.equal(elementAttribute(await response.text(), 'error-code', 'data-aadsts'), '50011');
    });

    it('tells a non-admin they need an admin account, and redirects an error when they go back', async () => {
      const org = newOrganization({});
      const driver = new SignInDriver();
      const page = asPage(await signedIn(driver, adminConsentUrl({}, org.tenant.id), org.user.email));
      assert.match(pageText(page.html), /You need an admin account/);
      const callback = asCallback(await driver.submit(page, { action: 'back' }));
      assert.equal(callback.params.get('admin_consent'), 'True');
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.equal(callback.params.get('state'), 'admin-state');
      assert.equal(org.tenant.adminConsents[DEMO_IDS.clientId], undefined);
    });

    it('redirects access_denied when the admin cancels', async () => {
      const org = newOrganization({});
      const callback = await new SignInDriver().signIn(adminConsentUrl({}, org.tenant.id), {
        email: org.admin.email,
        password: DEMO_PASSWORD,
        consent: 'cancel',
      });
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.match(callback.params.get('error_description')!, /^AADSTS65004: /);
      assert.equal(callback.params.get('state'), 'admin-state');
      assert.equal(org.tenant.adminConsents[DEMO_IDS.clientId], undefined);
    });
  });

  describe('the legacy admin consent endpoint', () => {
    it("consents to all configured permissions and returns to the app's registered redirect URI", async () => {
      const org = newOrganization({ userConsent: 'forbidden' });
      const url = `${emulator.url}/${org.tenant.id}/adminconsent?client_id=${DEMO_IDS.clientId}&state=legacy`;
      const callback = await new SignInDriver().signIn(url, { email: org.admin.email, password: DEMO_PASSWORD });
      assert.equal(callback.url, emulator.redirectUri);
      assert.deepEqual(Object.fromEntries(callback.params), {
        admin_consent: 'True',
        tenant: org.tenant.id,
        state: 'legacy',
      });
      assert.deepEqual(org.tenant.adminConsents[DEMO_IDS.clientId], emulator.seed.app.requiredScopes);
    });

    it('refuses a personal account with AADSTS500201', async () => {
      const url = `${emulator.url}/common/adminconsent?client_id=${DEMO_IDS.clientId}&redirect_uri=${encodeURIComponent(emulator.redirectUri)}&state=p`;
      const callback = await new SignInDriver().signIn(url, {
        email: emulator.seed.users.personal.email,
        password: DEMO_PASSWORD,
      });
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.match(callback.params.get('error_description')!, /^AADSTS500201: /);
      assert.equal(callback.params.get('state'), 'p');
    });
  });
});
