import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveUserOrThrow, revokeUserConsent } from '../../emulator/control/actions.js';
import { createWebhookEndpoint } from '../../src/webhooks/webhook-endpoints.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { deliveriesOf, eventsOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

/** The organisation's webhook endpoint: its events are queued for it (never delivered here). */
const WEBHOOK_ENDPOINT = {
  url: 'https://hooks.acme-recruiting.example/mailbridge',
  secret: 'a-webhook-secret-of-at-least-32-characters',
};

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: held, released, expired, canceled, scheduled [${dialect}]`, () => {
    let h: OutboxHarness;
    let megan: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      await createWebhookEndpoint(h.service.deps, h.client.organization.id, WEBHOOK_ENDPOINT);
      megan = await h.connect('megan@contoso.com', { profile: 'send', ownerId: 'megan' });
    });
    after(async () => {
      await h?.close();
    });

    const queue = async (accountId: string, subject: string, extra: Record<string, unknown> = {}) => {
      const answer = await h.send(`/v1/accounts/${accountId}/messages`, {
        to: 'lee@fabrikam.com',
        subject,
        text: `${subject}.`,
        ...extra,
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      return answer.body as { id: string; status: string };
    };

    it('consent revoked: messages are held (not dropped), the account is reconnect_required; reconnecting releases them', async () => {
      const first = await queue(megan, 'Before the revocation 1');
      const second = await queue(megan, 'Before the revocation 2');
      const user = resolveUserOrThrow(h.ctx, 'megan@contoso.com');
      revokeUserConsent(h.ctx, user, h.emulator.seed.app.clientId, { revokeAccessTokens: true });

      await h.drain();
      for (const { id } of [first, second]) {
        const view = await h.client.call('GET', `/v1/messages/${id}`);
        assert.equal(view.body.status, 'held', JSON.stringify(view.body));
        assert.equal(view.body.held.reason, 'reconnect_required');
        assert.equal(view.body.held.detail, 'consent_revoked');
      }
      const account = await h.client.call('GET', `/v1/accounts/${megan}`);
      assert.equal(account.body.status, 'reconnect_required');
      assert.equal(account.body.reason, 'consent_revoked');

      // Accepted while the account needs reconnecting: held at once, with its event.
      const third = await queue(megan, 'While reconnect is required');
      assert.equal(third.status, 'held');
      const heldEvents = await eventsOf(h, third.id);
      assert.deepEqual(
        heldEvents.map((event) => [event.type, event.data.reason, event.data.detail]),
        [['message.held', 'reconnect_required', 'consent_revoked']],
      );
      // Each event is queued for the webhook in the same transaction.
      const deliveries = await h.service.deps.db
        .selectFrom('webhook_deliveries as w')
        .innerJoin('events as e', 'e.id', 'w.event_id')
        .select(['e.type'])
        .where('e.type', '=', 'message.held')
        .execute();
      assert.equal(deliveries.length, 3);
      assert.equal(deliveriesOf(h.ctx, (await h.message(first.id)).internet_message_id).length, 0);

      // The user reconnects through the hosted flow: the held messages go out.
      await h.connect('megan@contoso.com', { profile: 'send', ownerId: 'megan' });
      for (const { id } of [first, second, third]) assert.equal((await h.message(id)).status, 'queued');
      assert.equal(await h.drain(), 3);
      for (const { id } of [first, second, third]) {
        const row = await h.message(id);
        assert.equal(row.status, 'sent');
        assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      }
      // (Event ids order by millisecond; under the frozen clock these share one, so compare them as a set.)
      const events = await eventsOf(h, first.id);
      assert.deepEqual(events.map((event) => event.type).sort(), ['message.held', 'message.released', 'message.sent']);
    });

    it('sendAt: nothing leaves before the time; then it goes', async () => {
      const sendAt = new Date(h.clock.now() + 3_600_000).toISOString();
      const scheduled = await queue(megan, 'Scheduled', { sendAt });
      const view = await h.client.call('GET', `/v1/messages/${scheduled.id}`);
      assert.equal(view.body.sendAt, sendAt);
      assert.equal(view.body.nextAttemptAt, sendAt);
      assert.equal(await h.dispatch(), 0);
      h.advance(3599);
      assert.equal(await h.dispatch(), 0);
      h.advance(1);
      assert.equal(await h.dispatch(), 1);
      assert.equal((await h.message(scheduled.id)).status, 'sent');
    });

    it('cancel: a queued message is canceled with its event; repeating is harmless; a sent one cannot be', async () => {
      const later = await queue(megan, 'Canceled', { sendAt: new Date(h.clock.now() + 600_000).toISOString() });
      const canceled = await h.client.call('POST', `/v1/messages/${later.id}/cancel`);
      assert.equal(canceled.status, 200);
      assert.equal(canceled.body.status, 'canceled');
      assert.ok(canceled.body.canceledAt);
      const again = await h.client.call('POST', `/v1/messages/${later.id}/cancel`);
      assert.equal(again.status, 200);
      assert.equal(again.body.status, 'canceled');
      h.advance(601);
      assert.equal(await h.dispatch(), 0, 'a canceled message never leaves');
      assert.deepEqual(
        (await eventsOf(h, later.id)).map((event) => event.type),
        ['message.canceled'],
      );

      const sent = await queue(megan, 'Already sent');
      await h.drain();
      const refused = await h.client.call('POST', `/v1/messages/${sent.id}/cancel`);
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'OUTBOX_MESSAGE_NOT_CANCELABLE');
      assert.equal(refused.body.error.details.status, 'sent');
      const missing = await h.client.call('POST', '/v1/messages/msg_00000000000000000000000000/cancel');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'OUTBOX_MESSAGE_NOT_FOUND');
    });

    it('a held message expires after MAILBRIDGE_HELD_MESSAGE_TTL (7 days) and fails with a clear reason', async () => {
      const user = resolveUserOrThrow(h.ctx, 'megan@contoso.com');
      revokeUserConsent(h.ctx, user, h.emulator.seed.app.clientId, { revokeAccessTokens: true });
      const waiting = await queue(megan, 'Never reconnected');
      await h.drain();
      assert.equal((await h.message(waiting.id)).status, 'held');
      h.advance(7 * 86_400 - 60);
      await h.dispatch();
      assert.equal((await h.message(waiting.id)).status, 'held', 'not yet');
      h.advance(61);
      await h.dispatch();
      const view = await h.client.call('GET', `/v1/messages/${waiting.id}`);
      assert.equal(view.body.status, 'failed');
      assert.equal(view.body.failure.reason, 'held_expired');
      assert.match(view.body.failure.message, /reconnect_required: consent_revoked/);
      const events = await eventsOf(h, waiting.id);
      assert.deepEqual(events.map((event) => [event.type, event.data.reason]).sort(), [
        ['message.failed', 'held_expired'],
        ['message.held', 'reconnect_required'],
      ]);
    });
  });
}
