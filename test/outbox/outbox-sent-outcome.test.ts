import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { finishAttempt, markStarted } from '../../src/outbox/attempt-outcome.js';
import { type Claim, claimLane } from '../../src/outbox/pacing.js';
import { createWebhookEndpoint, updateWebhookEndpoint } from '../../src/webhooks/webhook-endpoints.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { StatementCounter } from '../support/statement-counter.js';
import { eventsOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

/**
 * What a sent message's outcome writes, whichever way it is written: on PostgreSQL, where nothing else is written
 * with it, the message, its attempt and its event go in one statement that commits by itself; otherwise (a webhook
 * endpoint to queue deliveries for, a bounce scan to schedule, a lost lease) in the outcome's transaction
 * (src/outbox/attempt-outcome.ts `finishSentQuietly`). The database is the oracle: the same rows either way.
 */
for (const dialect of TEST_DIALECTS) {
  describe(`outbox: a sent message's outcome, its event and what goes with it [${dialect}]`, () => {
    let h: OutboxHarness;
    let alex: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    const sendOne = async (accountId: string, subject: string) => {
      const answer = await h.send(`/v1/accounts/${accountId}/messages`, {
        to: 'lee@fabrikam.com',
        subject,
        text: 'Hi',
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      await h.drain();
      const row = await h.message((answer.body as { id: string }).id);
      assert.equal(row.status, 'sent');
      return row;
    };
    const deliveriesFor = async (messageId: string) => {
      const rows = await h.service.deps.db
        .selectFrom('webhook_deliveries as w')
        .innerJoin('events as e', 'e.id', 'w.event_id')
        .select(['e.type', 'e.data', 'w.endpoint_id'])
        .where('w.organization_id', '=', h.client.organization.id)
        .execute();
      return rows.filter((row) => (JSON.parse(row.data) as { messageId?: string }).messageId === messageId);
    };

    it('no webhook endpoint: sent, its attempt logged, its message.sent event with the message’s ids, no delivery', async () => {
      const row = await sendOne(alex, 'Quietly');
      assert.ok(row.sent_at);
      assert.equal(row.lease_owner, null);
      assert.equal(row.lease_until, null);
      const attempts = await h.service.deps.db
        .selectFrom('outbox_attempts')
        .selectAll()
        .where('message_id', '=', row.id)
        .execute();
      assert.equal(attempts.length, 1);
      assert.equal(attempts[0]!.outcome, 'accepted');
      assert.equal(attempts[0]!.http_status, 202);
      assert.ok(attempts[0]!.finished_at);
      assert.deepEqual(await eventsOf(h, row.id), [
        {
          type: 'message.sent',
          data: {
            messageId: row.id,
            accountId: alex,
            ownerId: 'alex',
            provider: 'microsoft',
            internetMessageId: row.internet_message_id,
            attempts: 1,
            status: 'sent',
            from: row.from_address,
          },
        },
      ]);
      assert.deepEqual(await deliveriesFor(row.id), []);
    });

    // Before the endpoint test below: an organisation that had an endpoint lately takes the transaction's path.
    it('sends that start and end together: their marks and their outcomes share a statement on PostgreSQL; a lost lease among them is its own', async () => {
      const ids: string[] = [];
      for (const subject of ['Together 1', 'Together 2', 'Together 3']) {
        const answer = await h.send(`/v1/accounts/${alex}/messages`, { to: 'lee@fabrikam.com', subject, text: 'Hi' });
        ids.push((answer.body as { id: string }).id);
      }
      const deps = h.service.deps;
      const claims = await claimLane(deps, alex, { workerId: 'batching-worker', leaseMs: 60_000, max: 3 });
      assert.deepEqual(claims.map((claim) => claim.message.id).sort(), [...ids].sort());
      const [first, second, lost] = claims as [Claim, Claim, Claim];
      await deps.db
        .updateTable('outbox_messages')
        .set({ lease_owner: 'other-worker' })
        .where('id', '=', lost.message.id)
        .execute();
      const counter = new StatementCounter();
      const counted = { ...deps, db: deps.db.withPlugin(counter) };

      const marks = await Promise.allSettled(
        claims.map((claim) => markStarted(counted, claim, 'sendMail', { send_mode: 'sendMail', recovery: null })),
      );
      assert.deepEqual(
        marks.map((mark) => (mark.status === 'rejected' ? (mark.reason as Error).name : mark.status)),
        ['fulfilled', 'fulfilled', 'LeaseLostError'],
      );
      if (dialect === 'postgres') assert.equal(counter.count, 1, 'one statement for the three marks');
      const outcomes = async () =>
        Object.fromEntries(
          (
            await deps.db
              .selectFrom('outbox_attempts')
              .select(['message_id', 'outcome', 'step'])
              .where('message_id', 'in', ids)
              .execute()
          ).map((row) => [row.message_id, [row.outcome, row.step]]),
        );
      assert.deepEqual(await outcomes(), {
        [first.message.id]: ['started', 'sendMail'],
        [second.message.id]: ['started', 'sendMail'],
        [lost.message.id]: ['claimed', null],
      });

      counter.count = 0;
      const finished = await Promise.all(
        [first, second].map((claim) =>
          finishAttempt(counted, claim, { outcome: 'accepted', step: 'sendMail', httpStatus: 202 }, { kind: 'sent' }),
        ),
      );
      assert.deepEqual(finished, [true, true]);
      if (dialect === 'postgres') assert.equal(counter.count, 1, 'one statement for the two outcomes');
      assert.deepEqual(await outcomes(), {
        [first.message.id]: ['accepted', 'sendMail'],
        [second.message.id]: ['accepted', 'sendMail'],
        [lost.message.id]: ['claimed', null],
      });
      for (const claim of [first, second]) {
        const row = await h.message(claim.message.id);
        assert.equal(row.status, 'sent');
        assert.equal(row.lease_owner, null);
        assert.deepEqual(
          (await eventsOf(h, claim.message.id)).map((event) => [event.type, event.data['messageId']]),
          [['message.sent', claim.message.id]],
        );
      }
      const untouched = await h.message(lost.message.id);
      assert.equal(untouched.status, 'sending');
      assert.equal(untouched.lease_owner, 'other-worker');
      assert.deepEqual(await eventsOf(h, lost.message.id), []);
    });

    it('an endpoint created since: every sent message is queued for it; disabled, none is', async () => {
      const { endpoint } = await createWebhookEndpoint(h.service.deps, h.client.organization.id, {
        url: 'https://hooks.acme-recruiting.example/mailbridge',
        secret: 'a-webhook-secret-of-at-least-32-characters',
      });
      for (const subject of ['First with an endpoint', 'Second with an endpoint']) {
        const row = await sendOne(alex, subject);
        assert.deepEqual(
          (await deliveriesFor(row.id)).map((delivery) => [delivery.type, delivery.endpoint_id]),
          [['message.sent', endpoint.id]],
          subject,
        );
        assert.deepEqual(
          (await eventsOf(h, row.id)).map((event) => event.type),
          ['message.sent'],
        );
      }
      const { db, clock } = h.service.deps;
      await updateWebhookEndpoint(db, clock, h.client.organization.id, endpoint.id, { enabled: false });
      const row = await sendOne(alex, 'Endpoint disabled');
      assert.deepEqual(await deliveriesFor(row.id), []);
      assert.deepEqual(
        (await eventsOf(h, row.id)).map((event) => event.type),
        ['message.sent'],
      );
    });

    it('an account that can read mail: its send schedules a bounce scan with the outcome', async () => {
      const megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      const before = await h.service.deps.db
        .selectFrom('bounce_scans')
        .select('account_id')
        .where('account_id', '=', megan)
        .execute();
      assert.deepEqual(before, []);
      await sendOne(megan, 'Read for bounces');
      const scan = await h.service.deps.db
        .selectFrom('bounce_scans')
        .selectAll()
        .where('account_id', '=', megan)
        .executeTakeFirst();
      assert.ok(scan, 'a bounce scan is scheduled');
      assert.ok(Number(scan.next_scan_at) > h.clock.now());
    });

    it('a lost lease: the outcome changes nothing but the attempt log, and records no event', async () => {
      const answer = await h.send(`/v1/accounts/${alex}/messages`, { to: 'lee@fabrikam.com', text: 'Taken over' });
      const id = (answer.body as { id: string }).id;
      const deps = h.service.deps;
      const [claim] = await claimLane(deps, alex, { workerId: 'slow-worker', leaseMs: 60_000, max: 1 });
      assert.ok(claim);
      // Another worker took the message over after this one's lease ran out.
      await deps.db.updateTable('outbox_messages').set({ lease_owner: 'other-worker' }).where('id', '=', id).execute();
      const finished = await finishAttempt(deps, claim, { outcome: 'accepted', httpStatus: 202 }, { kind: 'sent' });
      assert.equal(finished, false);
      const row = await h.message(id);
      assert.equal(row.status, 'sending');
      assert.equal(row.lease_owner, 'other-worker');
      assert.equal(row.sent_at, null);
      const attempt = await deps.db
        .selectFrom('outbox_attempts')
        .selectAll()
        .where('id', '=', claim.attemptId)
        .executeTakeFirstOrThrow();
      assert.equal(attempt.outcome, 'accepted');
      assert.deepEqual(await eventsOf(h, id), []);
    });
  });
}
