import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { listEvents } from '../../src/events/event-recorder.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { blankWarmupMessage } from '../../src/warmup/warmup-message-row.js';
import { enableWarmup, readWarmupAccount } from '../../src/warmup/warmup-store.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { runWarmupFor, warmupRunnerOf } from './warmup-runners.js';

/**
 * Sender bounces in the running engine (docs/warmup.md §G): with at least 50 sends in the evaluation window, ≥ 3% of
 * them bounced as the sender's (5.1.90, Microsoft's daily recipient limit) throttle the mailbox at the day's
 * evaluation (half the volume, no stop, so no event), and ≥ 5% quarantine it for 7 days with `warmup.quarantined`
 * (reason `sender_bounces`, remediation), a signed webhook, and the hold shown by `GET /v1/accounts/{id}/warmup`.
 * The window's history is written as the engine writes it after the outbox reports bounces (warmup-sending.ts);
 * the evaluation, the states, the plan, the event and its webhook are the engine's own.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

for (const dialect of TEST_DIALECTS) {
  describe(`warm-up sender bounces: throttled, then quarantined [${dialect}]`, () => {
    let h: OutboxHarness;
    let receiver: WebhookReceiver;
    let megan: string;
    let alex: string;
    let runWarmup: () => Promise<unknown>;
    const secret = randomBytes(32).toString('hex');

    before(async () => {
      receiver = await startWebhookReceiver({ secret, nowSeconds: () => Math.floor((h?.clock.now() ?? 0) / 1000) });
      h = await startOutboxHarness(dialect);
      const admin = await createApiKey(h.service.deps.db, h.clock, h.client.organization.id, 'hooks', {
        scope: 'admin',
      });
      const endpoint = await fetch(`${h.service.url}/v1/webhook-endpoints`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiver.url, secret }),
      });
      assert.equal(endpoint.status, 201, await endpoint.text());
      megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alex = await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' });
      // Each runner's entry: pg-boss's `warmup-sweep` job on PostgreSQL, the in-process loop's task on SQLite.
      const provider = new AccessTokenProvider(h.service.deps);
      runWarmup = warmupRunnerOf(h, dialect, provider);
    });
    after(async () => {
      await h?.close();
      await receiver?.close();
    });

    const runFor = (ms: number) => runWarmupFor(h, runWarmup, ms);

    /** Warm-up messages Megan sent to Alex in the last days, `bounced` of them bounced with 5.1.90. */
    async function history(prefix: string, count: number, bounced: number): Promise<void> {
      const now = h.clock.now();
      await h.service.deps.db
        .insertInto('warmup_messages')
        .values(
          Array.from({ length: count }, (_, i) => {
            const at = now - (i + 1) * 2 * HOUR;
            return {
              id: `${prefix}_${i}`,
              organization_id: h.client.organization.id,
              sender_account_id: megan,
              recipient_account_id: alex,
              thread_id: `${prefix}_${i}`,
              turn: 0,
              planned_turns: 3,
              subject: 'Earlier',
              status: i < bounced ? ('bounced' as const) : ('sent' as const),
              local_date: new Date(at).toISOString().slice(0, 10),
              planned_at: at,
              ...blankWarmupMessage(),
              internet_message_id: `<${prefix}-${i}@test>`,
              sent_at: at,
              sent_copy_removed_at: at,
              ...(i < bounced ? { bounced_at: at + MINUTE, bounce_status: '5.1.90' } : {}),
              in_reply_to_id: null,
              created_at: at,
              updated_at: at,
            };
          }),
        )
        .execute();
    }

    it('throttles at ≥ 3% of ≥ 50 sends bounced, then quarantines at ≥ 5%, with its alert and webhook', async () => {
      const org = h.client.organization.id;
      const db = h.service.deps.db;
      await enableWarmup(h.service.deps, org, megan, {});
      await enableWarmup(h.service.deps, org, alex, {});
      await runFor(2 * MINUTE);
      // 60 sends over the last five days, 2 of them bounced as the sender's (3.3%).
      await history('wum_sent', 60, 2);
      h.advance(24 * 3600);
      await runFor(2 * MINUTE);
      const throttled = await readWarmupAccount(db, org, megan, h.clock.now());
      assert.equal(throttled.state.status, 'throttled');
      assert.equal(throttled.state.reason, 'sender_bounces');
      assert.ok(throttled.today.limitedBy.includes('health_throttled'), throttled.today.limitedBy.join());
      const stops = async () =>
        (await listEvents(db, org, { limit: 200, accountId: megan })).filter(
          (event) => event.type === 'warmup.quarantined' || event.type === 'warmup.paused',
        );
      assert.deepEqual(await stops(), [], 'throttled sends less, but does not stop');

      // Three more bounced (5 of 63, 7.9%): the next day's evaluation quarantines the mailbox for 7 days.
      await history('wum_more', 3, 3);
      h.advance(24 * 3600);
      await runFor(2 * MINUTE);
      const held = await readWarmupAccount(db, org, megan, h.clock.now());
      assert.equal(held.state.status, 'quarantined');
      assert.equal(held.state.reason, 'sender_bounces');
      assert.equal(Date.parse(held.state.until!) - Date.parse(held.state.since!), 7 * 24 * HOUR);
      assert.equal(held.today.target, 0, 'a quarantined mailbox plans nothing');
      const answer = await h.client.call('GET', `/v1/accounts/${megan}/warmup`);
      const shown = (answer.body as { state: { status: string; reason: string; remediation: string } }).state;
      assert.equal(shown.status, 'quarantined');
      assert.match(shown.remediation, /bounced/);
      const [event, ...more] = await stops();
      assert.equal(more.length, 0);
      assert.equal(event?.type, 'warmup.quarantined');
      assert.equal(event.data['reason'], 'sender_bounces');
      assert.equal(event.data['remediation'], shown.remediation);
      while ((await deliverDueWebhooks(h.service.deps, { limit: 50 })) > 0) {}
      assert.ok(receiver.acceptedEventIds().includes(event.id), 'delivered as a signed webhook');
    });
  });
}
