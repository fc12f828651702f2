import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, seedAdmin } from './dashboard-client.js';

/**
 * Warm-up in the dashboard as a person meets it, in real headless Chromium under the strict CSP, against a real
 * mailbridge whose Microsoft is the emulator: a mailbox connected for sending only is told why warm-up needs more,
 * reconnects through Microsoft's consent for the warm-up permissions (the same account), enables warm-up with its
 * settings, sees the charts drawn as inline SVG, pauses it, and finds it in the pool.
 */
describe('dashboard warm-up in headless Chromium', () => {
  let service: TestService;
  let browser: TestBrowser;
  /** CSP violations reported on our own pages (the emulator's pages are not ours). */
  const violations: string[] = [];

  before(async () => {
    service = await startTestService();
    await seedAdmin(service.deps);
    browser = await launchBrowser();
    browser.page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text()) && message.location().url.startsWith(service.url)) {
        violations.push(`${message.location().url}: ${message.text()}`);
      }
    });
  });
  after(async () => {
    await browser?.close();
    await service?.close();
  });

  /**
   * At Microsoft's (the emulator's) pages: signs in unless Microsoft remembers the browser, accepts the consent it
   * shows and continues back; returns the permissions the consent page listed.
   */
  async function atMicrosoft(page: Page, email: string): Promise<string[]> {
    await page.waitForURL((url) => url.origin === service.emulator.url);
    await page.waitForSelector('#email, #accept');
    if (await page.isVisible('#email')) {
      await page.fill('#email', email);
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('#next');
    }
    await page.waitForSelector('#accept');
    const permissions = await page.locator('#permissions li').allTextContents();
    await page.click('#accept');
    await page.waitForSelector('#connected-email');
    await page.click('#continue');
    return permissions;
  }

  it('send-only → reconnect for warm-up → enable with settings → charts under the CSP → pause → pool', async () => {
    const { page } = browser;
    const alex = service.emulator.seed.users.personal;

    await page.goto(`${service.url}/dashboard`);
    await page.waitForURL((url) => url.pathname === '/dashboard/sign-in');
    await page.fill('#email', ADMIN_EMAIL);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');
    await page.waitForSelector('#signed-in-as');

    // Connected for sending only.
    await page.click('#add-account');
    await page.waitForSelector('#provider-microsoft');
    await page.click('#provider-microsoft');
    const sendPermissions = await atMicrosoft(page, alex.email);
    assert.ok(!sendPermissions.includes('Read and write access to your mail'));
    await page.waitForURL((url) => url.pathname === '/dashboard' && url.searchParams.has('connect'));
    const account = await service.deps.db
      .selectFrom('accounts')
      .select(['id', 'permission_profile'])
      .where('email', '=', alex.email)
      .executeTakeFirstOrThrow();
    assert.equal(account.permission_profile, 'send');

    // The pool is empty; the mailbox is offered below it, marked as connected for sending only.
    await page.click('#nav-warmup');
    await page.waitForSelector('#warmup-pool-empty');
    assert.match((await page.textContent('#warmup-others')) ?? '', /alex@outlook\.com \(connected for sending only\)/);
    await page.click(`#warmup-others a[data-account="${account.id}"]`);
    await page.waitForSelector('#warmup-refusal');
    assert.match((await page.textContent('#warmup-refusal')) ?? '', /send-only profile/);
    assert.equal(await page.locator('#warmup-enable').count(), 0);

    // Reconnect with the warm-up permissions: Microsoft asks for them, and the account keeps its id.
    await page.click('#reconnect-warmup');
    await page.waitForSelector('#provider-microsoft');
    await page.click('#provider-microsoft');
    const warmupPermissions = await atMicrosoft(page, alex.email);
    assert.ok(warmupPermissions.includes('Read and write access to your mail'), warmupPermissions.join(', '));
    assert.ok(warmupPermissions.includes('Read and write to your mailbox settings'));
    await page.waitForURL((url) => url.pathname === '/dashboard' && url.searchParams.has('connect'));
    const reconnected = await service.deps.db
      .selectFrom('accounts')
      .select(['id', 'permission_profile'])
      .where('email', '=', alex.email)
      .execute();
    assert.deepEqual(reconnected, [{ id: account.id, permission_profile: 'warmup' }]);

    // From the account's page to its Warm-up section: a mistake first, then enabled.
    await page.goto(`${service.url}/dashboard/accounts/${account.id}`);
    await page.click('#account-warmup');
    await page.waitForSelector('#warmup-enable');
    assert.equal((await page.textContent('#warmup-status'))?.trim(), 'Off');
    await page.fill('#warmup-dailyCeiling', '8');
    await page.fill('#warmup-timeZone', 'Atlantis/Lost_City');
    await page.check('#warmup-weekends');
    await page.click('#warmup-enable');
    await page.waitForSelector('#warmup-timeZone-error');
    assert.match((await page.textContent('#warmup-timeZone-error')) ?? '', /not a known time zone/);
    assert.equal(await page.getAttribute('#warmup-timeZone', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#warmup-dailyCeiling'), '8', 'what was typed is kept');
    assert.ok(await page.isChecked('#warmup-weekends'));
    await page.fill('#warmup-timeZone', 'W. Europe Standard Time');
    await page.click('#warmup-enable');
    await page.waitForSelector('#warmup-pause');
    assert.match((await page.textContent('#notice')) ?? '', /Warm-up is on/);
    assert.equal((await page.textContent('#warmup-status'))?.trim(), 'Active');
    assert.equal(await page.inputValue('#warmup-dailyCeiling'), '8');
    assert.equal(await page.inputValue('#warmup-timeZone'), 'W. Europe Standard Time');
    const row = await service.deps.db
      .selectFrom('warmup_accounts')
      .select(['enabled', 'settings'])
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.enabled, 1);
    assert.equal(JSON.parse(row.settings).dailyCeiling, 8);

    // The charts: inline SVG, well-formed, titled and described for screen readers, drawn without script.
    for (const id of ['warmup-volume-chart', 'warmup-placement-chart']) {
      // A string, evaluated in the page (the test's TypeScript has no DOM types).
      const chart = (await page.evaluate(`(() => {
        const svg = document.getElementById(${JSON.stringify(id)});
        if (!svg) return null;
        const parsed = new DOMParser().parseFromString(svg.outerHTML, 'image/svg+xml');
        const box = svg.getBoundingClientRect();
        return {
          role: svg.getAttribute('role'),
          label: (svg.getAttribute('aria-labelledby') || '')
            .split(' ')
            .map((ref) => (document.getElementById(ref) || {}).textContent || '')
            .join(' | '),
          wellFormed: parsed.getElementsByTagName('parsererror').length === 0,
          width: box.width,
          height: box.height,
        };
      })()`)) as { role: string; label: string; wellFormed: boolean; width: number; height: number } | null;
      assert.ok(chart, `${id} is on the page`);
      assert.equal(chart.role, 'img');
      assert.ok(chart.wellFormed, `${id} is well-formed SVG`);
      assert.ok(chart.width > 200 && chart.height > 60, `${id} is drawn (${chart.width}×${chart.height})`);
      assert.match(chart.label, /\S+ \| \S+/, `${id} has a title and a description: ${chart.label}`);
    }
    assert.match((await page.textContent('#warmup-charts')) ?? '', /Within the warm-up network/);
    assert.match((await page.textContent('#warmup-metrics caption')) ?? '', /Within the warm-up network/);

    // Pause: said in words, and Resume offered.
    await page.click('#warmup-pause');
    await page.waitForSelector('#warmup-resume');
    assert.equal((await page.textContent('#warmup-status'))?.trim(), 'Paused');
    assert.match((await page.textContent('#notice')) ?? '', /Warm-up is paused/);

    // The pool: the member with its state, and the way back to its page.
    await page.click('#nav-warmup');
    await page.waitForSelector('#warmup-members');
    const member = page.locator(`#warmup-members tr[data-account="${account.id}"]`);
    assert.equal((await member.locator('.badge').textContent())?.trim(), 'Paused');
    assert.match((await page.textContent('#warmup-total-members')) ?? '', /^1 \(0 switched on\)$/);
    assert.equal(await page.getAttribute('#nav-warmup', 'aria-current'), 'page');

    assert.deepEqual(violations, [], 'no Content Security Policy violation on our pages');
  });
});
