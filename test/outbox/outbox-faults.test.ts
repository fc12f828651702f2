import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFault, clearFaults } from '../../emulator/control/actions.js';
import { GraphClient } from '../../src/graph/graph-client.js';
import { markStarted } from '../../src/outbox/attempt-outcome.js';
import { graphMessageOf } from '../../src/outbox/graph-delivery.js';
import type { StoredPayload } from '../../src/outbox/message-input.js';
import { claimLane } from '../../src/outbox/pacing.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { copiesIn, deliveriesOf, eventsOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

const LEASE_MS = 120_000;

/** Where Megan's copies of a message are, leaving out Recoverable Items (where Graph's DELETE puts a message). */
function visibleFolders(h: OutboxHarness, internetMessageId: string): Array<string | null> {
  return copiesIn(h.ctx, h.emulator.seed.users.work.id, internetMessageId)
    .map((each) => each.folder)
    .filter((folder) => folder !== 'recoverableitemsdeletions');
}

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: throttling, unknown outcomes and crashes [${dialect}]`, () => {
    let h: OutboxHarness;
    let megan: string;
    let alex: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    const queue = async (accountId: string, subject: string, to = 'lee@fabrikam.com') => {
      const answer = await h.send(`/v1/accounts/${accountId}/messages`, { to, subject, text: `${subject}.` });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      return answer.body.id as string;
    };

    it('a 429 with Retry-After for one mailbox holds that mailbox only, for as long as Microsoft said', async () => {
      clearFaults(h.ctx);
      addFault(h.ctx, {
        kind: 'throttle429',
        target: 'send',
        user: 'megan@contoso.com',
        retryAfterSeconds: 30.5,
        count: 1,
      });
      const throttled = await queue(megan, 'Throttled once');
      const other = await queue(alex, 'Not delayed');
      assert.equal(await h.dispatch(), 2);
      assert.equal((await h.message(other)).status, 'sent');
      const row = await h.message(throttled);
      assert.equal(row.status, 'queued');
      assert.equal(Number(row.next_attempt_at), h.clock.now() + 30_500);
      const pacing = await h.service.deps.db
        .selectFrom('outbox_pacing')
        .selectAll()
        .where('lane', '=', megan)
        .executeTakeFirstOrThrow();
      assert.equal(Number(pacing.throttled_until), h.clock.now() + 30_500);

      // Another message for Megan waits too; Alex's go at once.
      const waiting = await queue(megan, 'Waits for Retry-After');
      const alexAgain = await queue(alex, 'Still not delayed');
      assert.equal(await h.dispatch(), 1);
      assert.equal((await h.message(alexAgain)).status, 'sent');
      assert.equal((await h.message(waiting)).status, 'queued');

      h.advance(30);
      assert.equal(await h.dispatch(), 0, 'Retry-After (30.5 s) has not passed');
      h.advance(1);
      assert.equal(await h.drain(), 2);
      for (const id of [throttled, waiting]) assert.equal((await h.message(id)).status, 'sent');
      const view = await h.client.call('GET', `/v1/messages/${throttled}`);
      assert.deepEqual(
        view.body.attempts.map((attempt: { outcome: string; httpStatus: number | null }) => [
          attempt.outcome,
          attempt.httpStatus,
        ]),
        [
          ['rejected', 429],
          ['accepted', 202],
        ],
      );
      assert.equal(view.body.attempts[0].graphCode, 'TooManyRequests');
      assert.equal(view.body.attempts[0].retryAfterMs, 30_500);
    });

    it('a send accepted but never answered (Mail.ReadWrite) is found in Sent Items: exactly one delivery', async () => {
      clearFaults(h.ctx);
      addFault(h.ctx, { kind: 'timeoutAfterAccept', target: 'send', user: 'megan@contoso.com', count: 1 });
      const id = await queue(megan, 'Accepted, then the connection dropped');
      assert.equal(await h.dispatch(), 1);
      let row = await h.message(id);
      assert.equal(row.status, 'queued');
      assert.equal(row.recovery, 'lookup');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1, 'the emulator did send it');

      assert.equal(await h.dispatch(), 0, 'the look-up waits a little (Sent Items may lag)');
      h.advance(31);
      assert.equal(await h.dispatch(), 1);
      row = await h.message(id);
      assert.equal(row.status, 'sent');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1, 'not sent a second time');
      const view = await h.client.call('GET', `/v1/messages/${id}`);
      assert.deepEqual(
        view.body.attempts.map((attempt: { outcome: string }) => attempt.outcome),
        ['unknown', 'found'],
      );
      const events = await eventsOf(h, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['message.sent'],
      );
      assert.equal(events[0]!.data.confirmedBy, 'sent_items_lookup');
    });

    it('a draft created but never answered is found in Drafts, removed, and the message sent once', async () => {
      clearFaults(h.ctx);
      addFault(h.ctx, { kind: 'timeoutAfterAccept', target: 'graph', user: 'megan@contoso.com', count: 1 });
      const id = await queue(megan, 'Draft created, answer lost');
      assert.equal(await h.dispatch(), 1);
      let row = await h.message(id);
      assert.equal(row.status, 'queued');
      const strayDrafts = copiesIn(h.ctx, h.emulator.seed.users.work.id, row.internet_message_id);
      assert.deepEqual(
        strayDrafts.map((each) => each.folder),
        ['drafts'],
      );
      h.advance(31);
      assert.equal(await h.dispatch(), 1);
      row = await h.message(id);
      assert.equal(row.status, 'sent');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      // The stray draft was deleted (DELETE puts it in Recoverable Items); one copy in Sent Items.
      assert.deepEqual(visibleFolders(h, row.internet_message_id), ['sentitems']);
    });

    it('a send-only account: an unknown outcome ends outcome_unknown (at most once), reported', async () => {
      clearFaults(h.ctx);
      addFault(h.ctx, { kind: 'timeoutAfterAccept', target: 'send', user: 'alex@outlook.com', count: 1 });
      const id = await queue(alex, 'Maybe sent');
      assert.equal(await h.dispatch(), 1);
      const row = await h.message(id);
      assert.equal(row.status, 'outcome_unknown');
      assert.equal(row.failure_reason, 'outcome_unknown');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      h.advance(600);
      assert.equal(await h.dispatch(), 0, 'never retried');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      const events = await eventsOf(h, id);
      assert.deepEqual(
        events.map((event) => [event.type, event.data.reason]),
        [['message.failed', 'outcome_unknown']],
      );
      const view = await h.client.call('GET', `/v1/messages/${id}`);
      assert.equal(view.body.status, 'outcome_unknown');
      assert.equal(view.body.failure.reason, 'outcome_unknown');
      assert.ok(view.body.failure.remediation.user.includes('Sent Items'));
    });

    it("a 503 with Retry-After is retried after it; the next attempt replaces the first attempt's draft", async () => {
      clearFaults(h.ctx);
      addFault(h.ctx, {
        kind: 'unavailable503',
        target: 'send',
        user: 'megan@contoso.com',
        retryAfterSeconds: 5,
        count: 1,
      });
      const id = await queue(megan, 'Service unavailable first');
      assert.equal(await h.dispatch(), 1);
      assert.equal((await h.message(id)).status, 'queued');
      h.advance(6);
      assert.equal(await h.dispatch(), 1);
      const row = await h.message(id);
      assert.equal(row.status, 'sent');
      // The second attempt looked first (a draft from the first attempt existed and was replaced).
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      assert.deepEqual(visibleFolders(h, row.internet_message_id), ['sentitems']);
    });

    it('no access token (the token endpoint is down): nothing sent, the message waits and goes later', async () => {
      clearFaults(h.ctx);
      h.advance(2 * 3600); // past any access token's 60–90 min lifetime: the next send needs a refresh
      const rule = addFault(h.ctx, { kind: 'unavailable503', target: 'token', user: 'alex@outlook.com' });
      const id = await queue(alex, 'Waits for a token');
      assert.equal(await h.dispatch(), 1);
      let row = await h.message(id);
      assert.equal(row.status, 'queued');
      assert.ok(Number(row.next_attempt_at) > h.clock.now());
      const view = await h.client.call('GET', `/v1/messages/${id}`);
      assert.equal(view.body.attempts[0].outcome, 'not_sent');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 0);
      h.ctx.faults.splice(h.ctx.faults.indexOf(rule), 1);
      h.advance((Number(row.next_attempt_at) - h.clock.now()) / 1000 + 1);
      await h.drain();
      row = await h.message(id);
      assert.equal(row.status, 'sent');
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
    });

    describe('a worker killed mid-send (lease expires; recovery treats it as an unknown outcome)', () => {
      const crash = async (accountId: string, subject: string, requestLeft: boolean) => {
        const id = await queue(accountId, subject);
        const deps = h.service.deps;
        const [claim] = await claimLane(deps, accountId, { workerId: 'doomed-worker', leaseMs: LEASE_MS, max: 1 });
        assert.ok(claim);
        assert.equal(claim.message.id, id);
        const account = await deps.db
          .selectFrom('accounts')
          .selectAll()
          .where('id', '=', accountId)
          .executeTakeFirstOrThrow();
        const drafts = account.permission_profile === 'warmup';
        await markStarted(
          deps,
          claim,
          drafts ? 'sendDraft' : 'sendMail',
          drafts ? { send_mode: 'draft', recovery: 'lookup' } : { send_mode: 'sendMail' },
        );
        if (requestLeft) {
          // What the worker did before it died: the request reached Microsoft, the answer never got recorded.
          const graph = new GraphClient({ baseUrl: deps.microsoft.graphBaseUrl, fetch: deps.microsoft.fetch });
          const token = (await new AccessTokenProvider(deps).getAccessToken(accountId)).token.reveal();
          const message = graphMessageOf(
            JSON.parse(claim.message.payload) as StoredPayload,
            claim.message.internet_message_id,
            [],
          );
          if (drafts) {
            const draft = await graph.createDraft(token, message);
            await graph.sendDraft(token, draft.data.id);
          } else {
            await graph.sendMail(token, message);
          }
        }
        return { id, internetMessageId: claim.message.internet_message_id };
      };

      it('Mail.ReadWrite, killed after the send left: found in Sent Items, not sent again', async () => {
        clearFaults(h.ctx);
        const { id, internetMessageId } = await crash(megan, 'Killed after sending', true);
        assert.equal(await h.dispatch(), 0, 'the lease is still live');
        h.advance(LEASE_MS / 1000 + 1);
        assert.equal(await h.dispatch(), 1);
        assert.equal((await h.message(id)).status, 'sent');
        assert.equal(deliveriesOf(h.ctx, internetMessageId).length, 1);
        const view = await h.client.call('GET', `/v1/messages/${id}`);
        assert.deepEqual(
          view.body.attempts.map((attempt: { outcome: string }) => attempt.outcome),
          ['unknown', 'found'],
        );
      });

      it('Mail.ReadWrite, killed before the send left: nothing found, sent once', async () => {
        const { id, internetMessageId } = await crash(megan, 'Killed before sending', false);
        h.advance(LEASE_MS / 1000 + 1);
        assert.equal(await h.dispatch(), 1);
        assert.equal((await h.message(id)).status, 'sent');
        assert.equal(deliveriesOf(h.ctx, internetMessageId).length, 1);
      });

      it('send-only, killed after sendMail may have left: outcome_unknown, never resent', async () => {
        const { id, internetMessageId } = await crash(alex, 'Killed mid sendMail', true);
        h.advance(LEASE_MS / 1000 + 1);
        assert.equal(await h.dispatch(), 1);
        const row = await h.message(id);
        assert.equal(row.status, 'outcome_unknown');
        assert.equal(deliveriesOf(h.ctx, internetMessageId).length, 1);
      });
    });
  });
}

describe('outbox: MAILBRIDGE_SEND_UNKNOWN_OUTCOME=retry (at least once) [sqlite]', () => {
  let h: OutboxHarness;
  before(async () => {
    h = await startOutboxHarness('sqlite', { env: { MAILBRIDGE_SEND_UNKNOWN_OUTCOME: 'retry' } });
  });
  after(async () => {
    await h?.close();
  });

  it('a send-only account sends again after an unknown outcome (the recipient may get two copies)', async () => {
    const alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    addFault(h.ctx, { kind: 'timeoutAfterAccept', target: 'send', user: 'alex@outlook.com', count: 1 });
    const answer = await h.send(`/v1/accounts/${alex}/messages`, { to: 'lee@fabrikam.com', text: 'At least once' });
    assert.equal(answer.status, 202);
    await h.dispatch();
    assert.equal((await h.message(answer.body.id)).status, 'queued');
    h.advance(600);
    await h.drain();
    const row = await h.message(answer.body.id);
    assert.equal(row.status, 'sent');
    assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 2);
  });
});
