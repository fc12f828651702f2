import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureFirstAdmin } from '../../src/dashboard-auth/first-admin.js';
import { Secret } from '../../src/platform/secret.js';
import { callApi } from '../api/api-test-support.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './dashboard-client.js';

/** Settings → API keys in headless Chromium: create (shown once), list without secrets, revoke at once. */
describe('dashboard API keys in headless Chromium', () => {
  let service: TestService;
  let browser: TestBrowser;

  before(async () => {
    service = await startTestService();
    await ensureFirstAdmin(service.deps, { email: ADMIN_EMAIL, password: new Secret(ADMIN_PASSWORD) });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await service?.close();
  });

  it('creates a key shown once, lists it without its secret, and revokes it for the API at once', async () => {
    const { page } = browser;
    // From the bare host, as a newcomer arrives: the home page → Dashboard → sign in → Settings → API keys.
    await page.goto(`${service.url}/`);
    await page.click('#home-dashboard');
    await page.waitForURL((url) => url.pathname === '/dashboard/sign-in');
    await page.fill('#email', ADMIN_EMAIL);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');
    await page.click('#nav-settings');
    await page.click('#settings-api-keys');
    await page.waitForSelector('#create-api-key');
    assert.ok(await page.isVisible('#no-api-keys'));

    // A date that does not exist is refused with the form kept.
    await page.fill('#api-key-name', 'crm sync');
    // A browser's date picker cannot produce one; a hand-made request can.
    await page.locator('#api-key-expires').evaluate((input) => {
      (input as unknown as { type: string }).type = 'text';
    });
    await page.fill('#api-key-expires', '2031-02-30');
    await page.click('#create-api-key-submit');
    await page.waitForSelector('#api-keys-notice');
    assert.match((await page.textContent('#api-keys-notice')) ?? '', /not a date that exists/);
    assert.equal(await page.inputValue('#api-key-name'), 'crm sync');
    assert.equal((await service.deps.db.selectFrom('api_keys').selectAll().execute()).length, 0);

    await page.fill('#api-key-expires', '2031-01-31');
    await page.click('#create-api-key-submit');
    await page.waitForSelector('#created-key-value');
    const key = ((await page.textContent('#created-key-value')) ?? '').trim();
    assert.match(key, /^mb_live_[A-Za-z0-9_-]{43}$/);
    const row = await service.deps.db.selectFrom('api_keys').selectAll().executeTakeFirstOrThrow();
    assert.equal(row.created_by, `dashboard:${ADMIN_EMAIL}`);
    assert.equal(Number(row.expires_at), Date.parse('2031-01-31T23:59:59.999Z'));
    assert.equal((await callApi(service, 'GET', '/v1/accounts', { authorization: `Bearer ${key}` })).status, 200);

    // The list never shows the secret again.
    await page.goto(`${service.url}/dashboard/settings/api-keys`);
    await page.waitForSelector(`#api-key-${row.id}`);
    assert.ok(!(await page.content()).includes(key.slice(14)));
    assert.equal(await page.isVisible('#created-key'), false);

    await page.click(`#revoke-${row.id}`);
    await page.waitForSelector('#api-keys-notice');
    assert.match((await page.textContent(`#api-key-${row.id}`)) ?? '', /revoked/);
    const refused = await callApi(service, 'GET', '/v1/accounts', { authorization: `Bearer ${key}` });
    assert.equal(refused.status, 401);
  });
});
