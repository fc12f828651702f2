import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { dispatchDueMessages } from '../../src/outbox/dispatcher.js';
import { ensureOwner } from '../../src/owners/owners.js';
import { callApi } from '../api/api-test-support.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, seedAdmin } from './dashboard-client.js';
import { type MessagesService, startMessagesService } from './messages-harness.js';

/**
 * The demo's outside sink in the dashboard (issue 13): mail to addresses outside the emulated world is kept by the
 * emulator, and Messages → "Mail that left the emulated world" lists the organisation's own, in headless Chromium.
 */
describe('dashboard: mail that left the emulated world, in headless Chromium', () => {
  let harness: MessagesService;
  let browser: TestBrowser;

  before(async () => {
    harness = await startMessagesService();
    await seedAdmin(harness.service.deps);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await harness?.close();
  });

  /** Sends through the owner's default provider (the emulator's SMTP sink) with a key of the organisation. */
  async function sendOutside(organizationId: string, subject: string): Promise<string> {
    const { db, clock } = harness.service.deps;
    const key = (await createApiKey(db, clock, organizationId, `key ${subject}`)).key;
    await ensureOwner(db, clock, organizationId, 'dana');
    const answer = await callApi(
      harness.service,
      'POST',
      '/v1/owners/dana/messages',
      { authorization: `Bearer ${key}` },
      { to: 'Candidate <candidate@example.org>', subject, text: `About ${subject}: do you have a minute?` },
    );
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    return answer.body.id;
  }

  it('lists the organisation’s mail in the outside sink, and only its own', async () => {
    const { deps } = harness.service;
    const ours = await sendOutside((await ensureDefaultOrganization(deps.db, deps.clock)).id, 'Quick question');
    const globex = await createOrganization(deps.db, deps.clock, { name: 'Globex', allowedReturnUrls: [] });
    await sendOutside(globex.id, 'Globex secret plans');
    assert.equal(await dispatchDueMessages(deps), 2);
    assert.equal(harness.emulator.ctx.world.outside.length, 2, 'both left the emulated world');

    const { page } = browser;
    await page.goto(`${harness.service.url}/dashboard/sign-in`);
    await page.fill('#email', ADMIN_EMAIL);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');
    await page.click('#nav-messages');
    await page.click('#outside-mail-link');
    await page.waitForSelector('#outside-mail');
    const rows = await page.locator('#outside-mail tbody tr').all();
    assert.equal(rows.length, 1, 'another organisation’s mail is not shown');
    assert.equal(await rows[0]?.getAttribute('data-message-id'), ours);
    const text = (await rows[0]?.textContent()) ?? '';
    assert.match(text, /candidate@example\.org/);
    assert.match(text, /Quick question/);
    assert.match(text, /do you have a minute\?/);
    assert.ok(!(await page.content()).includes('Globex secret plans'));

    // The subject leads to the message's own page.
    await page.click('#outside-mail .message-subject');
    await page.waitForURL((url) => url.pathname === `/dashboard/messages/${ours}`);
  });
});
