import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFault, revokeUserConsent } from '../../emulator/control/actions.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import type { User } from '../../emulator/state/model.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { waitFor } from '../support/wait.js';
import { AcceptanceWorld, RETURN_URL_PREFIX } from './support/acceptance-world.js';

/**
 * Issue 4, "Done when" 3, against mailbridge as a separate process (SQLite) with webhooks to a verifying receiver:
 * the user removes the app's consent at Microsoft while their messages are flowing. Their remaining messages become
 * `held` (not failed, not retried against Microsoft), the account `reconnect_required`, and the host hears it
 * (`message.held`, `account.status_changed`). The user reconnects in a real browser (headless Chromium: our session
 * page, Microsoft's sign-in and consent pages, our outcome page); the held messages are released
 * (`message.released`) and go out, each exactly once according to the emulator's transport log. Another mailbox
 * sends throughout, untouched.
 */

const VICTIM = 'victim@contoso.com';
const BYSTANDER = 'bystander@contoso.com';
const VICTIM_MESSAGES = 40;
const BYSTANDER_MESSAGES = 10;

describe('acceptance: consent revoked mid-burst, held, reconnected in the browser, released [sqlite]', () => {
  let world: AcceptanceWorld;
  let browser: TestBrowser | undefined;
  let victimUser: User;
  let victimAccount: string;
  let bystanderAccount: string;

  before(async () => {
    world = await AcceptanceWorld.start({
      dialect: 'sqlite',
      webhooks: true,
      // Pacing is another test's subject: 40 messages should not wait for the next minute here.
      env: { MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE: '600' },
      emulatorSettings: {
        limits: {
          exchange: { messagesPerMinute: 600, recipientsPer24h: 10_000, recipientsPerMessage: 500 },
          outlook: { messagesPerMinute: 600, recipientsPer24h: 5_000, recipientsPerMessage: 500 },
        },
      },
    });
    victimUser = world.createMailbox(VICTIM, 'Victor Im');
    world.createMailbox(BYSTANDER, 'Bea Stander');
    victimAccount = await world.connect(VICTIM, { ownerId: 'recruiter-victor', profile: 'warmup' });
    bystanderAccount = await world.connect(BYSTANDER, { ownerId: 'recruiter-bea', profile: 'send' });
  });
  after(async () => {
    await browser?.close();
    await world?.close();
  });

  it('held with reconnect_required and webhooks; reconnecting in Chromium releases and sends them once', async (t) => {
    // Slow the victim's mailbox down a little, so there is a "mid-burst" to revoke in.
    addFault(world.ctx, { kind: 'latency', target: 'graph', user: VICTIM, latencyMs: 250 });
    const send = async (accountId: string, n: number, who: string) => {
      const answer = await world.api('POST', `/v1/accounts/${accountId}/messages`, {
        to: `candidate-${who}-${n}@example.net`,
        subject: `Next steps [${who}-${n}]`,
        text: 'Here is what happens next.',
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      return answer.body as { id: string; internetMessageId: string };
    };
    const victimMessages = await Promise.all(
      Array.from({ length: VICTIM_MESSAGES }, (_, n) => send(victimAccount, n, 'victor')),
    );
    const bystanderMessages = await Promise.all(
      Array.from({ length: BYSTANDER_MESSAGES }, (_, n) => send(bystanderAccount, n, 'bea')),
    );
    const deliveredOf = (internetMessageId: string) =>
      world.ctx.world.deliveries.filter((delivery) => delivery.internetMessageId === internetMessageId).length;
    const victimDelivered = () => victimMessages.filter((m) => deliveredOf(m.internetMessageId) > 0).length;

    // Mid-burst: the user removes the app at Microsoft (its access tokens die with the grant).
    await waitFor('the victim mailbox sending', () => (victimDelivered() >= 6 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 5,
      describe: () => world.service.tail(10),
    });
    revokeUserConsent(world.ctx, victimUser, world.emulator.seed.app.clientId, { revokeAccessTokens: true });
    const deliveredAtRevoke = victimDelivered();

    // The rest is held, nothing of the victim's is left queued or sending; the bystander's all go out.
    const settled = await waitFor(
      'victim messages sent or held',
      async () => {
        const views = await world.listMessages(`accountId=${victimAccount}`);
        return views.length === VICTIM_MESSAGES && views.every((view) => ['sent', 'held'].includes(view.status))
          ? views
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, describe: () => world.service.tail(10) },
    );
    const held = settled.filter((view) => view.status === 'held');
    assert.ok(held.length > 0, 'some messages were still to go when the consent was revoked');
    for (const view of held) {
      assert.equal(view.held.reason, 'reconnect_required');
      assert.ok(view.held.expiresAt, 'a held message says when it expires');
      assert.equal(deliveredOf(view.internetMessageId), 0, 'a held message was not delivered');
    }
    const account = await world.api('GET', `/v1/accounts/${victimAccount}`);
    assert.equal(account.body.status, 'reconnect_required');
    const bystander = await waitFor(
      'bystander messages sent',
      async () => {
        const views = await world.listMessages(`accountId=${bystanderAccount}`);
        return views.length === BYSTANDER_MESSAGES && views.every((view) => view.status === 'sent') ? views : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(bystander.length, BYSTANDER_MESSAGES);
    for (const message of bystanderMessages) assert.equal(deliveredOf(message.internetMessageId), 1);

    // The host heard it (signed webhooks, verified by the receiver).
    const webhooks = world.webhooks!;
    const heldIds = new Set(held.map((view) => view.id));
    await waitFor(
      'message.held and account.status_changed webhooks',
      () => {
        const events = webhooks.accepted.map((delivery) => delivery.event!);
        const heldEvents = new Set(
          events.filter((e) => e.type === 'message.held').map((e) => (e.data as { messageId: string }).messageId),
        );
        const statusChanged = events.some(
          (e) =>
            e.type === 'account.status_changed' &&
            e.accountId === victimAccount &&
            (e.data as { status?: string }).status === 'reconnect_required',
        );
        return statusChanged && [...heldIds].every((id) => heldEvents.has(id)) ? true : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        describe: () => JSON.stringify(webhooks.accepted.map((d) => d.event?.type)),
      },
    );
    assert.deepEqual(webhooks.rejected, [], 'every webhook verified');

    // The user reconnects in a real browser: a new connect session for the same owner.
    const session = await world.api('POST', '/v1/connect-sessions', {
      ownerId: 'recruiter-victor',
      permissionProfile: 'warmup',
      returnUrl: `${RETURN_URL_PREFIX}/done`,
      loginHint: VICTIM,
    });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(session.body.url);
    await page.click('#provider-microsoft');
    await page.waitForSelector('#email');
    assert.ok(page.url().startsWith(world.emulator.url), `at Microsoft's sign-in page (${page.url()})`);
    await page.fill('#email', VICTIM);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    // The consent was removed, so Microsoft asks again.
    await page.waitForSelector('#permissions');
    await page.click('#accept');
    await page.waitForSelector('#outcome');
    assert.equal(await page.locator('#outcome').getAttribute('data-status'), 'reconnected');
    assert.equal(
      new URL((await page.locator('#continue').getAttribute('href')) ?? '').searchParams.get('account_id'),
      victimAccount,
    );

    // Released and sent, each once.
    const final = await waitFor(
      'victim messages all sent',
      async () => {
        const views = await world.listMessages(`accountId=${victimAccount}`);
        return views.every((view) => view.status === 'sent') ? views : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        describe: async () => {
          const views = await world.listMessages(`accountId=${victimAccount}`);
          const account = await world.api('GET', `/v1/accounts/${victimAccount}`);
          const handle = await world.openDatabaseForReading();
          const pacing = await handle.db.selectFrom('outbox_pacing').selectAll().execute();
          await handle.close();
          const statuses = JSON.stringify(views.map((view) => view.status));
          return `account ${account.body.status}; messages ${statuses}; pacing ${JSON.stringify(pacing)}\n${world.service.tail(10)}`;
        },
      },
    );
    assert.equal(final.length, VICTIM_MESSAGES);
    for (const message of victimMessages) {
      assert.equal(deliveredOf(message.internetMessageId), 1, `${message.id} delivered once`);
    }
    assert.equal((await world.api('GET', `/v1/accounts/${victimAccount}`)).body.status, 'connected');
    await waitFor(
      'message.released webhooks',
      () => {
        const released = new Set(
          webhooks.accepted
            .map((delivery) => delivery.event!)
            .filter((e) => e.type === 'message.released')
            .map((e) => (e.data as { messageId: string }).messageId),
        );
        return [...heldIds].every((id) => released.has(id)) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    t.diagnostic(
      `victim: ${VICTIM_MESSAGES} messages, ${deliveredAtRevoke} delivered when consent was revoked, ${held.length} held, ` +
        `all ${VICTIM_MESSAGES} sent once after reconnecting; bystander: ${BYSTANDER_MESSAGES} sent; ` +
        `webhooks accepted ${webhooks.accepted.length}, rejected ${webhooks.rejected.length}`,
    );
  });
});
