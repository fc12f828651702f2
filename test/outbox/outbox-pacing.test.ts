import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFault, clearFaults } from '../../emulator/control/actions.js';
import { usageKey } from '../../emulator/graph/limits.js';
import { dispatchDueMessages } from '../../src/outbox/dispatcher.js';
import type { ServiceDeps } from '../../src/services.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { deliveriesOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

async function queueMany(h: OutboxHarness, accountId: string, count: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await h.send(`/v1/accounts/${accountId}/messages`, {
      to: `candidate-${i}@example.net`,
      subject: `${prefix} ${i}`,
      text: 'Hello',
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    ids.push(answer.body.id);
  }
  return ids;
}

async function statuses(h: OutboxHarness, ids: string[]): Promise<Record<string, number>> {
  const rows = await h.service.deps.db.selectFrom('outbox_messages').select('status').where('id', 'in', ids).execute();
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
  return counts;
}

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: pacing and fairness per mailbox [${dialect}]`, () => {
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

    it('40 messages for one mailbox: never more than 4 in flight or 30 per minute at Microsoft', async () => {
      clearFaults(h.ctx);
      // Each request takes a moment, so the four concurrent sends really overlap at the emulator.
      addFault(h.ctx, { kind: 'latency', target: 'graph', user: 'megan@contoso.com', latencyMs: 20 });
      const ids = await queueMany(h, megan, 40, 'Paced');
      let rounds = 0;
      let minutes = 0;
      while ((await statuses(h, ids)).sent !== 40) {
        const worked = await h.dispatch({ limit: 50 });
        rounds += 1;
        if (worked === 0) {
          h.advance(61);
          minutes += 1;
        }
        assert.ok(rounds < 100, 'the outbox makes progress');
      }
      clearFaults(h.ctx);
      assert.equal(minutes, 1, '30 in the first minute, the other 10 after it');
      const usage = h.ctx.usage[usageKey(h.emulator.seed.app.clientId, h.emulator.seed.users.work.id)];
      assert.ok(usage);
      assert.deepEqual(usage.throttled, { concurrency: 0, requestRate: 0, messagesPerMinute: 0, recipientsPer24h: 0 });
      assert.ok(usage.maxInFlight <= 4, `max in flight ${usage.maxInFlight}`);
      assert.ok(usage.maxInFlight >= 2, `sends overlapped (max in flight ${usage.maxInFlight})`);
      for (const id of ids) {
        const row = await h.message(id);
        assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      }
    });

    it("a backlog in one mailbox never delays another mailbox's single message", async () => {
      h.advance(120);
      const backlog = await queueMany(h, megan, 25, 'Backlog');
      const [single] = await queueMany(h, alex, 1, 'Single');
      // One round with room for only 4 messages: Alex's lane is served in it, whatever Megan has queued.
      assert.equal(await h.dispatch({ limit: 4, perLane: 3 }), 4);
      assert.equal((await h.message(single!)).status, 'sent');
      assert.deepEqual(await statuses(h, backlog), { queued: 22, sent: 3 });
      await h.drain();
      h.advance(61);
      await h.drain();
      assert.equal((await statuses(h, backlog)).sent, 25);
    });

    it('the 24 h recipient budget is enforced per mailbox, across rounds', async () => {
      h.advance(86_400);
      // A personal account's budget is lower; set a tiny one to see the window at work.
      const deps: ServiceDeps = {
        ...h.service.deps,
        config: {
          ...h.service.deps.config,
          outbox: { ...h.service.deps.config.outbox, personalRecipientsPerDay: 3 },
        },
      };
      const ids = await queueMany(h, alex, 5, 'Daily budget');
      assert.equal(await dispatchDueMessages(deps, { workerId: 'budget', limit: 10 }), 3);
      assert.deepEqual(await statuses(h, ids), { queued: 2, sent: 3 });
      h.advance(3600);
      assert.equal(await dispatchDueMessages(deps, { workerId: 'budget', limit: 10 }), 0, 'still inside 24 h');
      h.advance(86_400);
      assert.equal(await dispatchDueMessages(deps, { workerId: 'budget', limit: 10 }), 2);
      assert.deepEqual(await statuses(h, ids), { sent: 5 });
    });
  });
}

describe('outbox: two dispatchers on PostgreSQL share one budget and never send a message twice', () => {
  let h: OutboxHarness;
  before(async () => {
    h = await startOutboxHarness('postgres');
  });
  after(async () => {
    await h?.close();
  });

  it('runs two "processes" (own connection pools) against one mailbox at once', async () => {
    const megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
    addFault(h.ctx, { kind: 'latency', target: 'graph', user: 'megan@contoso.com', latencyMs: 15 });
    const ids = await queueMany(h, megan, 24, 'Shared');
    const second = await h.service.database.reopen();
    const other: ServiceDeps = { ...h.service.deps, db: second.db };
    for (let round = 0; round < 20 && (await statuses(h, ids)).sent !== 24; round++) {
      await Promise.all([
        dispatchDueMessages(h.service.deps, { workerId: 'process-a', limit: 10 }),
        dispatchDueMessages(other, { workerId: 'process-b', limit: 10 }),
        dispatchDueMessages(other, { workerId: 'process-b2', limit: 10 }),
      ]);
    }
    clearFaults(h.ctx);
    assert.equal((await statuses(h, ids)).sent, 24);
    const usage = h.ctx.usage[usageKey(h.emulator.seed.app.clientId, h.emulator.seed.users.work.id)];
    assert.ok(usage && usage.maxInFlight <= 4, `max in flight ${usage?.maxInFlight}`);
    assert.equal(usage.throttled.concurrency, 0);
    for (const id of ids) {
      const row = await h.message(id);
      assert.equal(deliveriesOf(h.ctx, row.internet_message_id).length, 1);
      assert.equal(row.attempts, 1);
    }
  });
});
