import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { createConnectSession } from '../../src/connect/connect-sessions.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { type CallbackRecorder, launchBrowser, startCallbackRecorder, type TestBrowser } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';

/** The whole flow as an end user meets it, in real headless Chromium under the pages' strict CSP. */
describe('hosted connect flow in headless Chromium', () => {
  let service: TestService;
  let recorder: CallbackRecorder;
  let browser: TestBrowser;

  before(async () => {
    recorder = await startCallbackRecorder();
    service = await startTestService();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await service?.close();
    await recorder?.close();
  });

  it('session page → Microsoft → sign-in → consent → outcome page → back to the app', async () => {
    const organization = await createOrganization(service.deps.db, service.deps.clock, {
      name: 'Acme Recruiting',
      allowedReturnUrls: [`${recorder.url}/mailbridge`],
    });
    const session = await createConnectSession(service.deps, {
      organizationId: organization.id,
      ownerExternalId: 'recruiter-7',
      permissionProfile: 'send',
      returnUrl: `${recorder.url}/mailbridge/done`,
    });
    const { page } = browser;
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });

    await page.goto(session.url);
    assert.match(
      (await page.locator('#provider-microsoft').textContent()) ?? '',
      /Microsoft Outlook \/ Hotmail \/ Microsoft 365/,
    );
    await page.click('#provider-microsoft');

    // Microsoft's pages (the emulator standing in for login.microsoftonline.com).
    await page.waitForSelector('#email');
    assert.ok(page.url().startsWith(service.emulator.url));
    await page.fill('#email', service.emulator.seed.users.personal.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.waitForSelector('#permissions');
    const permissions = await page.locator('#permissions li').allTextContents();
    assert.ok(permissions.includes('Send mail as you'));
    await page.click('#accept');

    // Back on our outcome page, at the session's clean URL (303 after the callback): the spent code and state are
    // not in the address bar or history, and a reload shows the outcome again instead of replaying the code.
    await page.waitForSelector('#connected-email');
    assert.equal(page.url(), session.url);
    assert.equal((await page.locator('#connected-email').textContent())?.trim(), 'alex@outlook.com');
    assert.equal(await page.locator('#outcome').getAttribute('data-status'), 'connected');
    const reloaded = await page.reload();
    assert.equal(reloaded?.status(), 200);
    assert.equal(reloaded?.headers()['x-frame-options'], 'DENY');
    assert.equal((await page.locator('#connected-email').textContent())?.trim(), 'alex@outlook.com');
    assert.doesNotMatch((await page.textContent('body')) ?? '', /already used/i);
    // A string, evaluated in the page (this file is compiled without DOM types).
    const stylesheetApplied = await page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius");
    assert.equal(stylesheetApplied, '8px', 'the external stylesheet loads under the CSP');

    await page.click('#continue');
    const arrived = await recorder.next();
    const params = arrived.params;
    assert.equal(new URL(arrived.url, recorder.url).pathname, '/mailbridge/done');
    assert.equal(params.get('mailbridge_session'), session.id);
    assert.equal(params.get('status'), 'connected');
    const account = await service.deps.db
      .selectFrom('accounts')
      .select('id')
      .where('email', '=', 'alex@outlook.com')
      .executeTakeFirstOrThrow();
    assert.equal(params.get('account_id'), account.id);
    assert.deepEqual(violations, []);

    // Someone else holding the link (no binding cookie of this browser) learns only that it was used.
    await browser.context.clearCookies();
    await page.goto(session.url);
    const stranger = (await page.textContent('body')) ?? '';
    assert.match(stranger, /Link already used/);
    assert.doesNotMatch(stranger, /alex@outlook\.com/);
  });
});
