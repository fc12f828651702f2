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
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE } from '../../emulator/index.js';
import { addApp, addUser } from '../../emulator/state/builders.js';
import type { SignInAudience, User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SCOPE = 'openid profile offline_access User.Read Mail.Send';

function asPage(result: DriverResult): DriverPage {
  assert.equal(result.kind, 'page', `expected a page, got a callback to ${(result as DriverCallback).url}`);
  return result as DriverPage;
}

function asCallback(result: DriverResult): DriverCallback {
  assert.equal(
    result.kind,
    'callback',
    `expected a redirect to the app, got a page: ${pageText((result as DriverPage).html ?? '').slice(0, 300)}`,
  );
  return result as DriverCallback;
}

describe('identity authorize endpoint and sign-in pages', () => {
  let emulator: SeededEmulator;
  let counter = 0;

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  function authorizeUrl(params: Record<string, string> = {}, tenant = 'common'): string {
    const url = new URL(`${emulator.url}/${tenant}/oauth2/v2.0/authorize`);
    url.search = new URLSearchParams({
      client_id: emulator.seed.app.clientId,
      response_type: 'code',
      redirect_uri: emulator.redirectUri,
      scope: SCOPE,
      state: 'state-123',
      ...params,
    }).toString();
    return url.toString();
  }

  /** A user of its own so that consents and sessions from other tests do not interfere. */
  function newUser(kind: 'work' | 'personal' = 'work', extra: Partial<Parameters<typeof addUser>[1]> = {}): User {
    counter++;
    return addUser(emulator.ctx, {
      email: kind === 'work' ? `user${counter}@contoso.com` : `person${counter}@outlook.com`,
      password: DEMO_PASSWORD,
      displayName: `Test User${counter}`,
      ...(kind === 'work' ? { tenantId: DEMO_IDS.contosoTenantId } : { kind: 'personal' }),
      ...extra,
    });
  }

  function newApp(signInAudience: SignInAudience) {
    return addApp(emulator.ctx, {
      displayName: `App for ${signInAudience}`,
      homeTenantId: DEMO_IDS.contosoTenantId,
      signInAudience,
      redirectUris: [emulator.redirectUri],
      secrets: [{ value: 'unused', expiresAt: emulator.ctx.clock.now() + 86400_000 }],
    });
  }

  async function signInPage(driver: SignInDriver, url: string): Promise<DriverPage> {
    const page = asPage(await driver.open(url));
    assert.ok(hasElement(page.html, 'password'), `not the sign-in page: ${pageText(page.html).slice(0, 200)}`);
    return page;
  }

  async function submitPassword(driver: SignInDriver, page: DriverPage, email: string, password = DEMO_PASSWORD) {
    return driver.submit(page, { login: email, passwd: password, action: 'sign-in' });
  }

  describe('request validation', () => {
    it('shows AADSTS700016 for an unknown client on its own page and never redirects', async () => {
      const response = await fetch(authorizeUrl({ client_id: '00000000-0000-0000-0000-000000000001' }), {
        redirect: 'manual',
      });
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null);
      const html = await response.text();
      assert.equal(elementAttribute(html, 'error-code', 'data-aadsts'), '700016');
      assert.match(pageText(html), /Application with identifier '00000000-0000-0000-0000-000000000001' was not found/);
    });

    it('shows AADSTS50011 when the redirect URI is not registered exactly, and never redirects', async () => {
      for (const redirectUri of [
        `${emulator.redirectUri}/`,
        emulator.redirectUri.toUpperCase(),
        'https://evil.example/cb',
      ]) {
        const response = await fetch(authorizeUrl({ redirect_uri: redirectUri }), { redirect: 'manual' });
        assert.equal(response.status, 400, redirectUri);
        assert.equal(response.headers.get('location'), null);
        assert.equal(elementAttribute(await response.text(), 'error-code', 'data-aadsts'), '50011');
      }
    });

    it('checks the client before the redirect URI', async () => {
      const response = await fetch(
        authorizeUrl({ client_id: '00000000-0000-0000-0000-000000000002', redirect_uri: 'https://evil.example/cb' }),
        { redirect: 'manual' },
      );
      assert.equal(elementAttribute(await response.text(), 'error-code', 'data-aadsts'), '700016');
    });

    it('redirects a missing scope as invalid_request with the AADSTS text, error_uri and state', async () => {
      const driver = new SignInDriver();
      const callback = asCallback(await driver.open(authorizeUrl({ scope: '' })));
      assert.equal(callback.url, emulator.redirectUri);
      assert.equal(callback.params.get('error'), 'invalid_request');
      assert.match(
        callback.params.get('error_description')!,
        /^AADSTS900144: The request body must contain the following parameter: 'scope'\.\r\nTrace ID: [0-9a-f-]+\r\nCorrelation ID: [0-9a-f-]+\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
      );
      assert.equal(callback.params.get('error_uri'), `${emulator.url}/error?code=900144`);
      assert.equal(callback.params.get('state'), 'state-123');
    });

    it('redirects an unknown scope as invalid_scope (AADSTS70011)', async () => {
      for (const scope of ['openid Mail.Sendd', 'https://graph.microsoft.com/Nope.Read', 'api://other/x']) {
        const callback = asCallback(await new SignInDriver().open(authorizeUrl({ scope })));
        assert.equal(callback.params.get('error'), 'invalid_scope', scope);
        assert.match(callback.params.get('error_description')!, /^AADSTS70011: /);
        assert.equal(callback.params.get('state'), 'state-123');
      }
    });

    it('refuses response types other than code', async () => {
      const callback = asCallback(await new SignInDriver().open(authorizeUrl({ response_type: 'token' })));
      assert.equal(callback.params.get('error'), 'unsupported_response_type');
    });

    it('checks the PKCE challenge size', async () => {
      const callback = asCallback(
        await new SignInDriver().open(authorizeUrl({ code_challenge: 'short', code_challenge_method: 'S256' })),
      );
      assert.equal(callback.params.get('error'), 'invalid_request');
      assert.match(callback.params.get('error_description')!, /^AADSTS501491: /);
    });

    it('accepts full Graph scope names and ignores parameters it does not know', async () => {
      const page = asPage(
        await new SignInDriver().open(
          authorizeUrl({
            scope: 'openid https://graph.microsoft.com/Mail.Send offline_access',
            'x-client-SKU': 'MSAL.Node',
            client_info: '1',
            'client-request-id': 'abc',
          }),
        ),
      );
      assert.ok(hasElement(page.html, 'password'));
    });

    it("expands /.default to the app's configured permissions, and refuses it next to named Graph scopes", async () => {
      const user = newUser();
      const driver = new SignInDriver();
      const consent = asPage(
        await submitPassword(
          driver,
          await signInPage(
            driver,
            authorizeUrl({ scope: 'openid offline_access https://graph.microsoft.com/.default' }),
          ),
          user.email,
        ),
      );
      const scopes = [...consent.html.matchAll(/data-scope="([^"]+)"/g)].map((match) => match[1]);
      // `openid` is not listed next to User.Read ("Sign you in and read your profile" says it already).
      assert.deepEqual(scopes, ['offline_access', ...emulator.seed.app.requiredScopes]);
      const callback = asCallback(await new SignInDriver().open(authorizeUrl({ scope: '.default Mail.Send' })));
      assert.equal(callback.params.get('error'), 'invalid_scope');
    });

    it('redirects audience mismatches: single-tenant app on common (50194), personal-only app on common (9002331)', async () => {
      const single = newApp('AzureADMyOrg');
      let callback = asCallback(await new SignInDriver().open(authorizeUrl({ client_id: single.clientId })));
      assert.match(callback.params.get('error_description')!, /^AADSTS50194: /);
      const personalOnly = newApp('PersonalMicrosoftAccount');
      callback = asCallback(await new SignInDriver().open(authorizeUrl({ client_id: personalOnly.clientId })));
      assert.match(callback.params.get('error_description')!, /^AADSTS9002331: /);
    });

    it('does not find a single-tenant app through another tenant (700016 page)', async () => {
      const single = newApp('AzureADMyOrg');
      const response = await fetch(authorizeUrl({ client_id: single.clientId }, DEMO_IDS.fabrikamTenantId), {
        redirect: 'manual',
      });
      assert.equal(response.headers.get('location'), null);
      assert.equal(elementAttribute(await response.text(), 'error-code', 'data-aadsts'), '700016');
    });

    it('answers an unknown tenant with AADSTS90002 on its page', async () => {
      const response = await fetch(authorizeUrl({}, 'unknown.example'), { redirect: 'manual' });
      assert.equal(response.headers.get('location'), null);
      assert.equal(elementAttribute(await response.text(), 'error-code', 'data-aadsts'), '90002');
    });
  });

  describe('sign-in', () => {
    it("shows the app's name, and pre-fills login_hint", async () => {
      const page = await signInPage(new SignInDriver(), authorizeUrl({ login_hint: 'someone@contoso.com' }));
      assert.match(pageText(page.html), /to continue to mailbridge \(local demo\)/);
      assert.equal(elementAttribute(page.html, 'email', 'value'), 'someone@contoso.com');
    });

    it('says so on the page when the password is wrong, and redirects nothing', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      const page = await signInPage(driver, authorizeUrl());
      const again = asPage(await submitPassword(driver, page, user.email, 'wrong'));
      assert.equal(again.status, 400);
      assert.equal(elementAttribute(again.html, 'error', 'data-aadsts'), '50126');
      assert.match(pageText(again.html), /Your account or password is incorrect/);
      assert.equal(elementAttribute(again.html, 'email', 'value'), user.email);
      assert.equal(driver.cookies.size, 0, 'no session after a failed sign-in');
    });

    it('says so for an unknown account', async () => {
      const driver = new SignInDriver();
      const page = asPage(await submitPassword(driver, await signInPage(driver, authorizeUrl()), 'ghost@contoso.com'));
      assert.match(pageText(page.html), /This username may be incorrect/);
    });

    it('refuses a disabled user with AADSTS50057 on the sign-in page', async () => {
      const user = newUser('work', { disabled: true });
      const driver = new SignInDriver();
      const page = asPage(await submitPassword(driver, await signInPage(driver, authorizeUrl()), user.email));
      assert.equal(elementAttribute(page.html, 'error', 'data-aadsts'), '50057');
      assert.match(pageText(page.html), /AADSTS50057/);
    });

    it('redirects with code, state and a GUID session_state after sign-in and consent', async () => {
      const user = newUser();
      const callback = await new SignInDriver().signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      assert.equal(callback.url, emulator.redirectUri);
      assert.equal(callback.responseMode, 'query');
      assert.ok(callback.params.get('code'));
      assert.equal(callback.params.get('state'), 'state-123');
      assert.match(callback.params.get('session_state')!, GUID);
      assert.deepEqual([...callback.params.keys()], ['code', 'state', 'session_state']);
    });

    it('asks users with a second factor for it, and keeps asking while it is wrong', async () => {
      const driver = new SignInDriver();
      const page = await signInPage(driver, authorizeUrl());
      const second = asPage(await submitPassword(driver, page, emulator.seed.users.workWithMfa.email));
      assert.ok(hasElement(second.html, 'code'));
      assert.equal(driver.cookies.size, 0, 'no session before the second factor');
      const wrong = asPage(await driver.submit(second, { otc: '000000', action: 'second-factor' }));
      assert.ok(hasElement(wrong.html, 'code'));
      assert.match(pageText(wrong.html), /didn't enter the expected verification code/);
      const next = asPage(await driver.submit(wrong, { otc: DEMO_SECOND_FACTOR_CODE, action: 'second-factor' }));
      assert.ok(hasElement(next.html, 'permissions'), 'on to the consent page');
      assert.ok(driver.cookies.has('ESTSAUTH'));
    });

    it('lists the requested permissions in plain words on the consent page', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      const consent = asPage(await submitPassword(driver, await signInPage(driver, authorizeUrl()), user.email));
      assert.ok(hasElement(consent.html, 'permissions'));
      const text = pageText(consent.html);
      assert.match(text, /Send mail as you/);
      assert.match(text, /Sign you in and read your profile/);
      assert.match(text, /Maintain access to data you have given it access to/);
      assert.match(text, /mailbridge \(local demo\)/);
      assert.ok(hasElement(consent.html, 'accept') && hasElement(consent.html, 'cancel'));
      assert.equal(hasElement(consent.html, 'consent-org'), false, 'only admins may consent for the organisation');
    });

    it('sends access_denied with error_subcode=cancel when the user cancels consent', async () => {
      const user = newUser();
      const callback = await new SignInDriver().signIn(authorizeUrl(), {
        email: user.email,
        password: DEMO_PASSWORD,
        consent: 'cancel',
      });
      assert.equal(callback.params.get('error'), 'access_denied');
      assert.equal(callback.params.get('error_subcode'), 'cancel');
      assert.match(callback.params.get('error_description')!, /^AADSTS65004: /);
      assert.equal(callback.params.get('state'), 'state-123');
      assert.equal(emulator.ctx.world.consents[`${user.id}|${emulator.seed.app.clientId}`], undefined);
    });

    it('remembers the browser session and the consent: a second connection goes straight back to the app', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      const consent = emulator.ctx.world.consents[`${user.id}|${emulator.seed.app.clientId}`];
      assert.deepEqual(consent?.scopes, ['openid', 'profile', 'offline_access', 'User.Read', 'Mail.Send']);
      const callback = asCallback(await driver.open(authorizeUrl({ state: 'second' })));
      assert.ok(callback.params.get('code'));
      assert.equal(callback.params.get('state'), 'second');
    });

    it('asks again for consent when new scopes are requested, or with prompt=consent', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      const more = asPage(await driver.open(authorizeUrl({ scope: `${SCOPE} Mail.ReadWrite` })));
      assert.ok(hasElement(more.html, 'permissions'));
      assert.match(pageText(more.html), /Read and write access to your mail/);
      const forced = asPage(await driver.open(authorizeUrl({ prompt: 'consent' })));
      assert.ok(hasElement(forced.html, 'permissions'));
    });

    it('shows the sign-in page again after prompt=login, and after a password change ends the session', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      await signInPage(driver, authorizeUrl({ prompt: 'login' }));
      asCallback(await driver.open(authorizeUrl()));
      user.tokensValidFrom = emulator.ctx.clock.now() + 1;
      emulator.ctx.clock.advance(1);
      await signInPage(driver, authorizeUrl());
    });

    it('shows the account picker with prompt=select_account, and continues with the picked account', async () => {
      const first = newUser();
      const second = newUser();
      const driver = new SignInDriver();
      await driver.signIn(authorizeUrl(), { email: first.email, password: DEMO_PASSWORD });
      await driver.signIn(authorizeUrl({ prompt: 'login' }), { email: second.email, password: DEMO_PASSWORD });
      const picker = asPage(await driver.open(authorizeUrl({ prompt: 'select_account' })));
      assert.ok(hasElement(picker.html, 'accounts'));
      assert.match(pageText(picker.html), new RegExp(first.email));
      assert.match(pageText(picker.html), new RegExp(second.email));
      const callback = asCallback(await driver.submit(picker, { action: 'pick', account: first.id }));
      assert.ok(callback.params.get('code'));
      assert.equal(emulator.ctx.world.codes[Object.keys(emulator.ctx.world.codes).at(-1)!]!.userId, first.id);
      // Without a hint and with two accounts, the picker comes up by itself; login_hint chooses.
      assert.ok(hasElement(asPage(await driver.open(authorizeUrl())).html, 'accounts'));
      asCallback(await driver.open(authorizeUrl({ login_hint: second.email })));
    });

    it('answers prompt=none: login_required without a session, consent_required without consent, else a code', async () => {
      const driver = new SignInDriver();
      let callback = asCallback(await driver.open(authorizeUrl({ prompt: 'none' })));
      assert.equal(callback.params.get('error'), 'login_required');
      assert.match(callback.params.get('error_description')!, /^AADSTS50058: /);
      assert.equal(callback.params.get('state'), 'state-123');

      const user = newUser();
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      callback = asCallback(await driver.open(authorizeUrl({ prompt: 'none', scope: `${SCOPE} Mail.ReadWrite` })));
      assert.equal(callback.params.get('error'), 'consent_required');
      assert.match(callback.params.get('error_description')!, /^AADSTS65001: /);

      callback = asCallback(await driver.open(authorizeUrl({ prompt: 'none' })));
      assert.ok(callback.params.get('code'));
    });

    it('answers prompt=none with interaction_required when the session lacks the second factor demanded now', async () => {
      const driver = new SignInDriver();
      const user = newUser('work', { secondFactorCode: '111111' });
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD, secondFactorCode: '111111' });
      user.mfaRequiredFrom = emulator.ctx.clock.now() + 1000;
      emulator.ctx.clock.advance(2);
      const callback = asCallback(await driver.open(authorizeUrl({ prompt: 'none' })));
      assert.equal(callback.params.get('error'), 'interaction_required');
      assert.match(callback.params.get('error_description')!, /^AADSTS50076: /);
      // Interactively, the remembered session only asks for the second factor again.
      const page = asPage(await driver.open(authorizeUrl()));
      assert.ok(hasElement(page.html, 'code'));
    });

    it('posts the answer with response_mode=form_post, and puts it in the fragment with fragment', async () => {
      const user = newUser();
      const posted = await new SignInDriver().signIn(authorizeUrl({ response_mode: 'form_post' }), {
        email: user.email,
        password: DEMO_PASSWORD,
      });
      assert.equal(posted.responseMode, 'form_post');
      assert.equal(posted.method, 'POST');
      assert.equal(posted.url, emulator.redirectUri);
      assert.ok(posted.params.get('code'));
      assert.equal(posted.params.get('state'), 'state-123');
      assert.match(posted.params.get('session_state')!, GUID);

      const fragment = await new SignInDriver().signIn(authorizeUrl({ response_mode: 'fragment' }), {
        email: user.email,
        password: DEMO_PASSWORD,
      });
      assert.equal(fragment.responseMode, 'fragment');
      assert.ok(fragment.params.get('code'));
    });

    it('signs the browser out at the logout endpoint', async () => {
      const user = newUser();
      const driver = new SignInDriver();
      await driver.signIn(authorizeUrl(), { email: user.email, password: DEMO_PASSWORD });
      const response = await fetch(
        `${emulator.url}/common/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent(emulator.redirectUri)}`,
        { headers: { cookie: `ESTSAUTH=${driver.cookies.get('ESTSAUTH')}` }, redirect: 'manual' },
      );
      assert.equal(response.status, 302);
      assert.equal(response.headers.get('location'), emulator.redirectUri);
      await signInPage(driver, authorizeUrl());
    });
  });

  describe('who may sign in where', () => {
    it('refuses a personal account on organizations on the sign-in page', async () => {
      const driver = new SignInDriver();
      const page = await signInPage(driver, authorizeUrl({}, 'organizations'));
      const refused = asPage(await submitPassword(driver, page, emulator.seed.users.personal.email));
      assert.ok(hasElement(refused.html, 'password'));
      assert.equal(elementAttribute(refused.html, 'error', 'data-aadsts'), '500200');
      assert.match(pageText(refused.html), /You can't sign in here with a personal account/);
    });

    it('refuses a personal account on common for an app that serves organisations only', async () => {
      const orgsOnly = newApp('AzureADMultipleOrgs');
      const driver = new SignInDriver();
      const page = await signInPage(driver, authorizeUrl({ client_id: orgsOnly.clientId }));
      const refused = asPage(await submitPassword(driver, page, emulator.seed.users.personal.email));
      assert.equal(elementAttribute(refused.html, 'error', 'data-aadsts'), '500200');
    });

    it('refuses a work account on consumers', async () => {
      const driver = new SignInDriver();
      const page = await signInPage(driver, authorizeUrl({}, 'consumers'));
      const refused = asPage(await submitPassword(driver, page, emulator.seed.users.work.email));
      assert.match(pageText(refused.html), /That Microsoft account doesn't exist/);
    });

    it('shows AADSTS50020 for a user of another tenant, or a personal account, on a tenant endpoint', async () => {
      for (const email of [emulator.seed.users.work.email, emulator.seed.users.personal.email]) {
        const driver = new SignInDriver();
        const page = await signInPage(driver, authorizeUrl({}, DEMO_IDS.fabrikamTenantId));
        const refused = asPage(await submitPassword(driver, page, email));
        assert.equal(elementAttribute(refused.html, 'error-code', 'data-aadsts'), '50020', email);
        assert.match(pageText(refused.html), new RegExp(`User account '${email}' from identity provider`));
        assert.match(pageText(refused.html), /does not exist in tenant 'Fabrikam'/);
        // The user may try another account in the same flow.
        assert.ok(hasElement(refused.html, 'use-another'));
        const retry = asPage(await driver.submit(refused, { action: 'use-another' }));
        assert.ok(hasElement(retry.html, 'password'));
      }
    });

    it('lets a personal account in on consumers and a work account on its own tenant', async () => {
      const personal = newUser('personal');
      let callback = await new SignInDriver().signIn(authorizeUrl({}, 'consumers'), {
        email: personal.email,
        password: DEMO_PASSWORD,
      });
      assert.ok(callback.params.get('code'));
      const work = newUser();
      callback = await new SignInDriver().signIn(authorizeUrl({}, 'contoso.com'), {
        email: work.email,
        password: DEMO_PASSWORD,
      });
      assert.ok(callback.params.get('code'));
    });
  });
});
