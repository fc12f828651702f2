import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { ensureFirstAdmin } from '../../src/dashboard-auth/first-admin.js';
import { Secret } from '../../src/platform/secret.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './dashboard-client.js';

/**
 * The dashboard as a newcomer meets it, in real headless Chromium under the strict CSP, against a real mailbridge
 * whose Microsoft is the emulator (the connect flow sends the browser to the emulator's real origin).
 */
describe('dashboard in headless Chromium', () => {
  let service: TestService;
  let browser: TestBrowser;
  /** CSP violations reported on our own pages (the emulator's pages are not ours). */
  const violations: string[] = [];

  const watchCsp = (page: Page) =>
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text()) && message.location().url.startsWith(service.url)) {
        violations.push(`${message.location().url}: ${message.text()}`);
      }
    });

  before(async () => {
    service = await startTestService();
    await ensureFirstAdmin(service.deps, { email: ADMIN_EMAIL, password: new Secret(ADMIN_PASSWORD) });
    browser = await launchBrowser();
    watchCsp(browser.page);
  });
  after(async () => {
    await browser?.close();
    await service?.close();
  });

  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.goto(`${service.url}/dashboard`);
    await page.waitForURL((url) => url.pathname === '/dashboard/sign-in');
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.click('#sign-in');
    await page.waitForSelector('#signed-in-as');
    assert.equal(await page.textContent('#signed-in-as'), email);
  }

  /** Microsoft's sign-in page (the emulator), as opposed to our own sign-in form with the same field ids. */
  async function atMicrosoft(page: Page): Promise<void> {
    await page.waitForURL((url) => url.origin === service.emulator.url);
    await page.waitForSelector('#email');
  }

  async function accountRow(email: string) {
    return service.deps.db.selectFrom('accounts').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
  }

  it('newcomer: sign in → Add email account → Microsoft → consent → Connected; Personal Outlook; Disconnect shreds', async () => {
    const { page } = browser;
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.ok(await page.isVisible('#no-accounts'));

    // Add email account → the connect flow's provider choice (asked once) → Microsoft.
    await page.click('#add-account');
    await page.waitForSelector('#provider-microsoft');
    assert.match(new URL(page.url()).pathname, /^\/connect\/cs_/);
    assert.match((await page.textContent('#provider-microsoft')) ?? '', /Microsoft Outlook/);
    await page.click('#provider-microsoft');

    await atMicrosoft(page);
    await page.fill('#email', service.emulator.seed.users.personal.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.waitForSelector('#accept');
    const consented = await page.locator('#permissions li').allTextContents();
    assert.ok(consented.includes('Send mail as you'));
    await page.click('#accept');

    await page.waitForSelector('#connected-email');
    assert.equal((await page.textContent('#connected-email'))?.trim(), 'alex@outlook.com');
    await page.click('#continue');

    // Back on the dashboard: the notice, and the account Connected with its address.
    await page.waitForURL((url) => url.pathname === '/dashboard' && url.searchParams.has('connect'));
    assert.match((await page.textContent('#connect-notice')) ?? '', /Connected as alex@outlook\.com/);
    const account = await accountRow('alex@outlook.com');
    const row = page.locator(`tr[data-account-id="${account.id}"]`);
    assert.equal((await row.locator('.account-email').textContent())?.trim(), 'alex@outlook.com');
    assert.equal((await row.locator('.badge').textContent())?.trim(), 'Connected');
    assert.equal(await row.locator('.badge').getAttribute('class'), 'badge connected');
    const stylesheetApplied = await page.evaluate("getComputedStyle(document.querySelector('.badge')).borderRadius");
    assert.equal(stylesheetApplied, '999px', 'the stylesheet loads under the CSP');

    // Settings → Communication: Email, and Personal Outlook now selectable.
    await page.click('#nav-settings');
    await page.waitForSelector('#communication-settings');
    assert.ok(await page.isChecked('#channel-email'));
    assert.ok(await page.isEnabled('#provider-personal-outlook'));
    await page.check('#provider-personal-outlook');
    await page.click('#save-communication');
    await page.waitForSelector('#settings-notice');
    assert.ok(await page.isChecked('#provider-personal-outlook'));
    const owner = await service.deps.db
      .selectFrom('owners')
      .select('email_provider')
      .where('id', '=', account.owner_id)
      .executeTakeFirstOrThrow();
    assert.equal(owner.email_provider, 'microsoft');

    // The account page, in plain words.
    await page.click('#nav-accounts');
    await page.click(`tr[data-account-id="${account.id}"] .account-email`);
    await page.waitForSelector('#account-email');
    const permissions = await page.locator('#permissions li').allTextContents();
    assert.ok(permissions.includes('Send mail as you'));
    assert.ok(permissions.includes('Sign you in and read your profile'));
    assert.ok(permissions.includes('Maintain access to data you have given it access to'));
    assert.match((await page.textContent('#expires-if-unused')) ?? '', /\d{4}/);
    assert.match((await page.locator('#timeline li').first().textContent()) ?? '', /Connected as alex@outlook\.com/);

    // Disconnect, confirmed: the tokens and the data key are gone from the database.
    await page.click('#disconnect');
    await page.waitForSelector('#confirm-disconnect');
    await page.click('#confirm-disconnect');
    await page.waitForSelector('#revoke-at-microsoft');
    assert.match(
      (await page.textContent('#revoke-at-microsoft')) ?? '',
      /account\.microsoft\.com → Privacy → Apps and services/,
    );
    assert.equal((await page.locator('.badge').first().textContent())?.trim(), 'Disconnected');
    const tokens = await service.deps.db
      .selectFrom('account_tokens')
      .select('account_id')
      .where('account_id', '=', account.id)
      .execute();
    const dataKeys = await service.deps.db
      .selectFrom('vault_data_keys')
      .select('subject_id')
      .where('subject_id', '=', account.id)
      .execute();
    assert.deepEqual(tokens, [], 'account_tokens row deleted');
    assert.deepEqual(dataKeys, [], 'vault_data_keys row deleted (crypto-shredded)');
    assert.equal((await accountRow('alex@outlook.com')).status, 'disconnected');

    // Sign out from the header.
    await page.click('#sign-out');
    await page.waitForURL((url) => url.pathname === '/dashboard/sign-in');
    assert.match((await page.textContent('#sign-in-info')) ?? '', /signed out/);
    assert.deepEqual(violations, []);
  });

  it('work user whose tenant needs approval: approval page → IT admin consents elsewhere → one click → Connected', async () => {
    const { page, context } = browser;
    // Another person at this browser: a second dashboard user, and Microsoft forgets alex.
    await context.clearCookies();
    await ensureFirstAdmin(service.deps, { email: 'pat@example.com', password: new Secret(ADMIN_PASSWORD) });
    await signIn(page, 'pat@example.com', ADMIN_PASSWORD);
    await page.click('#add-account');
    await page.waitForSelector('#provider-microsoft');
    await page.click('#provider-microsoft');

    const lee = service.emulator.seed.users.approvalRequired;
    await atMicrosoft(page);
    await page.fill('#email', lee.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.waitForSelector('#request-approval');
    await page.fill('#justification', 'I send interview invitations from my mailbox.');
    await page.click('#request-approval');
    await page.waitForSelector('#request-sent');
    await page.click('#back');

    // Our approval-required page: the application id to verify and the admin-consent link.
    await page.waitForSelector('#admin-consent-link');
    assert.equal(await page.getAttribute('#outcome', 'data-status'), 'approval_required');
    assert.equal((await page.textContent('#client-id'))?.trim(), service.emulator.seed.app.clientId);
    const adminConsentUrl = await page.getAttribute('#admin-consent-link', 'href');
    assert.ok(adminConsentUrl?.startsWith(service.emulator.url));

    // Back in the dashboard, the wait is visible.
    await page.click('#back-to-app');
    await page.waitForSelector('#pending-connections');
    assert.match((await page.textContent('#connect-notice')) ?? '', /Waiting for your IT admin/);
    assert.equal(await page.getAttribute('#pending-connections li', 'data-approval'), 'pending');

    // The IT admin, in another browser, opens the link, signs in and consents for the organisation.
    const itBrowser = await launchBrowser();
    try {
      const it = itBrowser.page;
      await it.goto(adminConsentUrl ?? '');
      await it.waitForSelector('#email');
      await it.fill('#email', service.emulator.seed.users.approvalAdmin.email);
      await it.fill('#password', DEMO_PASSWORD);
      await it.click('#next');
      await it.waitForSelector('#accept');
      await it.click('#accept');
      await it.waitForSelector('#admin-approved');
      assert.ok(it.url().startsWith(`${service.url}/connect/admin-consent/callback`));
    } finally {
      await itBrowser.close();
    }

    // Lee finishes with one click from the dashboard: no Microsoft page asks anything more.
    await page.reload();
    await page.waitForSelector('#pending-connections li[data-approval="granted"]');
    await page.click('#pending-connections .finish-connecting');
    await page.waitForSelector('#connected-email');
    assert.equal((await page.textContent('#connected-email'))?.trim(), lee.email);
    await page.click('#continue');
    await page.waitForURL((url) => url.pathname === '/dashboard' && url.searchParams.has('connect'));
    assert.match((await page.textContent('#connect-notice')) ?? '', /Connected as lee@fabrikam\.com/);
    const account = await accountRow(lee.email);
    assert.equal(account.status, 'connected');
    const badge = page.locator(`tr[data-account-id="${account.id}"] .badge`);
    assert.equal((await badge.textContent())?.trim(), 'Connected');
    assert.equal(await page.isVisible('#pending-connections'), false, 'nothing waits any more');
    assert.deepEqual(violations, []);
  });
});
