import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { dispatchDueMessages } from '../../src/outbox/dispatcher.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, seedAdmin } from './dashboard-client.js';
import { DEFAULT_SENDER, type MessagesService, startMessagesService } from './messages-harness.js';

/**
 * Sending from the dashboard as a person does it, in real headless Chromium under the strict CSP: sign in, connect
 * alex@outlook.com through the emulator's Microsoft pages, send a test email from it and through the preferred
 * provider, watch the message page turn `sent` once the dispatcher ran, and find the mail where recipients read it.
 */
describe('dashboard messages in headless Chromium', () => {
  let harness: MessagesService;
  let browser: TestBrowser;
  const violations: string[] = [];

  before(async () => {
    harness = await startMessagesService();
    await seedAdmin(harness.service.deps);
    browser = await launchBrowser();
    browser.page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text()) && message.location().url.startsWith(harness.service.url)) {
        violations.push(`${message.location().url}: ${message.text()}`);
      }
    });
  });
  after(async () => {
    await browser?.close();
    await harness?.close();
  });

  const url = (path: string) => `${harness.service.url}${path}`;
  const dispatch = () => dispatchDueMessages(harness.service.deps);

  /** Copies of a message in an emulated user's mailbox, by our Message-ID. */
  function copiesIn(userId: string, internetMessageId: string) {
    const mailbox = harness.emulator.ctx.world.mailboxes[userId];
    return Object.values(mailbox?.messages ?? {}).filter((each) => each.internetMessageId === internetMessageId);
  }

  async function compose(
    page: Page,
    fields: { from: string; to: string; replyTo?: string; subject: string; text: string },
  ) {
    await page.click('#nav-messages');
    await page.waitForSelector('#new-message');
    await page.click('#new-message');
    await page.waitForSelector('#compose');
    await page.check(fields.from);
    await page.fill('#compose-to', fields.to);
    if (fields.replyTo) await page.fill('#compose-replyTo', fields.replyTo);
    await page.fill('#compose-subject', fields.subject);
    await page.fill('#compose-text', fields.text);
  }

  /** Sends the filled form and waits for the message page; returns the message id and its Message-ID. */
  async function send(page: Page, click: 'click' | 'dblclick' = 'click') {
    await page[click]('#send');
    const atMessage = (address: URL) => /^\/dashboard\/messages\/msg_[0-9a-z]{26}$/.test(address.pathname);
    // A double click posts twice: Chromium aborts the first navigation for the second (ERR_ABORTED); wait for that one.
    await page.waitForURL(atMessage).catch(async (error: unknown) => {
      if (click !== 'dblclick' || !/ERR_ABORTED/.test(String(error))) throw error;
      await page.waitForURL(atMessage);
    });
    await page.waitForSelector('#message-internet-id');
    const id = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    const internetMessageId = ((await page.textContent('#message-internet-id')) ?? '').trim();
    return { id, internetMessageId };
  }

  it('connect alex@outlook.com → send a test email → sent after the dispatcher ran → in the recipient’s mailbox as alex, reply-to honoured', async () => {
    const { page } = browser;
    const { personal: alex, work: megan } = harness.emulator.seed.users;

    await page.goto(url('/dashboard'));
    await page.waitForURL((address) => address.pathname === '/dashboard/sign-in');
    await page.fill('#email', ADMIN_EMAIL);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');
    await page.waitForSelector('#signed-in-as');

    // Before any mailbox: the list is empty and "preferred" is the default provider.
    await page.click('#nav-messages');
    await page.waitForSelector('#no-messages');
    await page.click('#new-message');
    await page.waitForSelector('#compose');
    assert.ok(await page.isVisible('#no-own-accounts'));
    assert.ok(await page.isChecked('#from-preferred'));
    assert.equal(await page.getAttribute('#preferred-provider', 'data-provider'), 'default');

    // Connect alex@outlook.com through the hosted flow and Microsoft's (the emulator's) pages.
    await page.click('#nav-accounts');
    await page.click('#add-account');
    await page.waitForSelector('#provider-microsoft');
    await page.click('#provider-microsoft');
    await page.waitForURL((address) => address.origin === harness.emulator.url);
    await page.waitForSelector('#email');
    await page.fill('#email', alex.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.waitForSelector('#accept');
    await page.click('#accept');
    await page.waitForSelector('#connected-email');
    await page.click('#continue');
    await page.waitForURL((address) => address.pathname === '/dashboard' && address.searchParams.has('connect'));
    const account = await harness.service.deps.db
      .selectFrom('accounts')
      .select(['id', 'status'])
      .where('email', '=', alex.email)
      .executeTakeFirstOrThrow();
    assert.equal(account.status, 'connected');

    // A mistake first: the API's message next to the box, and nothing typed is lost.
    await compose(page, {
      from: `#from-account-${account.id}`,
      to: `${megan.email}, megan@`,
      replyTo: 'replies@acme-recruiting.example',
      subject: 'Quick question about the role',
      text: 'Hi Megan,\nDo you have a minute this week?\nAlex',
    });
    await page.click('#send');
    await page.waitForSelector('#compose-to-error');
    assert.equal(
      (await page.textContent('#compose-to-error'))?.trim(),
      'to[1]: "megan@" is not a valid email address.',
    );
    assert.equal(await page.getAttribute('#compose-to', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#compose-subject'), 'Quick question about the role');
    assert.equal(await page.inputValue('#compose-text'), 'Hi Megan,\nDo you have a minute this week?\nAlex');
    assert.equal(await page.inputValue('#compose-replyTo'), 'replies@acme-recruiting.example');
    assert.ok(await page.isChecked(`#from-account-${account.id}`));
    assert.equal(
      await harness.service.deps.db.selectFrom('outbox_messages').select('id').executeTakeFirst(),
      undefined,
    );

    // Fixed and sent, pressed twice in a hurry (Chromium posts the form twice; the server log shows both): one message.
    await page.fill('#compose-to', `Megan Bowen <${megan.email}>`);
    const sent = await send(page, 'dblclick');
    const rows = await harness.service.deps.db.selectFrom('outbox_messages').select(['id', 'status']).execute();
    assert.deepEqual(rows, [{ id: sent.id, status: 'queued' }], 'a double submit makes one message');
    assert.equal(await page.getAttribute('.card .badge', 'data-status'), 'queued');
    assert.ok(await page.isVisible('#cancel-message'));
    assert.equal((await page.textContent('#message-reply-to'))?.trim(), 'replies@acme-recruiting.example');
    assert.equal(await page.textContent('#body-preview'), 'Hi Megan,\nDo you have a minute this week?\nAlex');

    // The dispatcher runs (the test's stand-in for the background loop); the page, reloaded, says sent.
    assert.equal(await dispatch(), 1);
    await page.reload();
    await page.waitForSelector('#attempts');
    assert.equal(await page.getAttribute('.card .badge', 'data-status'), 'sent');
    assert.equal((await page.textContent('#status-title'))?.trim(), 'Sent');
    assert.equal(await page.isVisible('#cancel-message'), false);
    const attempt = page.locator('#attempts tr[data-attempt="1"]');
    assert.equal(await attempt.getAttribute('data-outcome'), 'accepted');
    assert.match((await attempt.locator('.attempt-said').textContent()) ?? '', /^202/);
    assert.match((await attempt.locator('.attempt-request-id').textContent()) ?? '', /[0-9a-f-]{36}/);

    // Megan's mailbox (the emulator's) holds it: from alex's own address, replies going where the form said.
    const copies = copiesIn(megan.id, sent.internetMessageId);
    assert.equal(copies.length, 1);
    assert.equal(copies[0]!.from?.emailAddress.address, alex.email);
    assert.deepEqual(
      copies[0]!.replyTo.map((each) => each.emailAddress.address),
      ['replies@acme-recruiting.example'],
    );
    assert.equal(copies[0]!.subject, 'Quick question about the role');

    // The list shows it with its badge.
    await page.click('#nav-messages');
    await page.waitForSelector('#messages');
    const row = page.locator(`tr[data-message-id="${sent.id}"]`);
    assert.equal(await row.locator('.badge').getAttribute('class'), 'badge sent');
    assert.equal((await row.locator('.message-subject').textContent())?.trim(), 'Quick question about the role');
    assert.equal(
      await page.evaluate("getComputedStyle(document.querySelector('.badge.sent')).borderRadius"),
      '999px',
      'the stylesheet applies under the CSP',
    );
    assert.deepEqual(violations, []);
  });

  it('through the preferred provider: the default relay until Personal Outlook is chosen, then alex’s own mailbox', async () => {
    const { page } = browser;
    const { personal: alex } = harness.emulator.seed.users;

    await compose(page, {
      from: '#from-preferred',
      to: 'candidate@example.org',
      replyTo: 'alex.recruiter@acme-recruiting.example',
      subject: 'Through the relay',
      text: 'Sent by the default provider.',
    });
    assert.match((await page.textContent('#preferred-provider')) ?? '', /Default provider: from/);
    assert.ok(((await page.textContent('#preferred-provider')) ?? '').includes(DEFAULT_SENDER));
    const relayed = await send(page);
    assert.equal(await dispatch(), 1);
    await page.reload();
    await page.waitForSelector('#attempts');
    assert.equal(await page.getAttribute('.card .badge', 'data-status'), 'sent');
    assert.match((await page.textContent('#message-from')) ?? '', /Default provider/);
    const outside = harness.emulator.ctx.world.outside.filter(
      (each) => each.internetMessageId === relayed.internetMessageId,
    );
    assert.equal(outside.length, 1, 'the outside sink holds it once');
    assert.equal(outside[0]!.from, 'notifications@acme-mail.example');
    assert.deepEqual(outside[0]!.replyTo, ['alex.recruiter@acme-recruiting.example']);

    // Settings → Communication → Personal Outlook: the compose page now says alex's mailbox.
    await page.click('#nav-settings');
    await page.waitForSelector('#communication-settings');
    await page.check('#provider-personal-outlook');
    await page.click('#save-communication');
    await page.waitForSelector('#settings-notice');
    await compose(page, {
      from: '#from-preferred',
      to: 'candidate@example.org',
      subject: 'Through Personal Outlook',
      text: 'Sent from my own mailbox.',
    });
    assert.equal(await page.getAttribute('#preferred-provider', 'data-provider'), 'microsoft');
    assert.match((await page.textContent('#preferred-provider')) ?? '', /Personal Outlook: from alex@outlook\.com/);
    const personal = await send(page);
    assert.equal(await dispatch(), 1);
    await page.reload();
    await page.waitForSelector('#attempts');
    assert.equal(await page.getAttribute('.card .badge', 'data-status'), 'sent');
    assert.match((await page.textContent('#message-from')) ?? '', /alex@outlook\.com\s*Microsoft/);
    const delivered = harness.emulator.ctx.world.outside.filter(
      (each) => each.internetMessageId === personal.internetMessageId,
    );
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]!.from, alex.email);
    assert.equal(delivered[0]!.via, 'sendMail');

    // Filter the list by status.
    await page.click('#nav-messages');
    await page.click('#filter-sent');
    await page.waitForSelector('#filter-sent[aria-current="page"]');
    assert.equal(await page.locator('#messages tbody tr').count(), 3);
    assert.deepEqual(violations, []);
  });
});
