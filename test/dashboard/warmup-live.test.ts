import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDashboardUser } from '../../src/dashboard-auth/dashboard-users.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { warmupAccountSchema, warmupPoolSchema } from '../../src/warmup/warmup-api.js';
import { runWarmupDue } from '../../src/warmup/warmup-work.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { ADMIN_PASSWORD, DashboardClient } from './dashboard-client.js';

const DAY = 86_400_000;
const STEP_SECONDS = 300;
const FOLDER_WORDS: Record<string, string> = { inbox: 'Inbox', junkemail: 'Junk Email' };

/**
 * What the warm-up interface shows after the engine really ran: two warm-up mailboxes (Microsoft 365 and
 * Outlook.com, connected through the connect flow) exchange warm-up mail for two simulated working days through the
 * outbox and Graph on the emulator, and every figure the API and the dashboard report is checked against the
 * emulator's own delivery log (the oracle): how many each sent, where each message landed, the inbox rate, the chart
 * bars, the pool.
 */
for (const dialect of TEST_DIALECTS) {
  describe(`warm-up interface over real engine runs [${dialect}]`, () => {
    let h: OutboxHarness;
    let accounts: { id: string; email: string; userId: string }[];
    let dashboard: DashboardClient;

    before(async () => {
      h = await startOutboxHarness(dialect);
      const provider = new AccessTokenProvider(h.service.deps);
      const { work, personal } = h.emulator.seed.users;
      accounts = [];
      for (const user of [work, personal]) {
        const id = await h.connect(user.email, { profile: 'warmup', ownerId: user.email });
        accounts.push({ id, email: user.email, userId: user.id });
      }
      // From the next Monday 06:00 UTC, so that the two days are working days whatever day the test runs.
      const start = new Date(h.clock.now() + DAY);
      while (start.getUTCDay() !== 1) start.setUTCDate(start.getUTCDate() + 1);
      start.setUTCHours(6, 0, 0, 0);
      h.advance((start.getTime() - h.clock.now()) / 1000);
      for (const { id } of accounts) {
        const answer = await h.client.call('PUT', `/v1/accounts/${id}/warmup`, {
          enabled: true,
          settings: { timeZone: 'UTC' },
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
      // Two working days in 5-minute steps: the engine's due work, then the outbox, as both runners do.
      for (let step = 0; step < (2 * DAY) / (STEP_SECONDS * 1000); step++) {
        await runWarmupDue(h.service.deps, provider);
        await h.drain();
        h.advance(STEP_SECONDS);
      }
      await createDashboardUser(h.service.deps.db, h.service.deps.clock, {
        organizationId: h.client.organization.id,
        email: 'ops@acme.example',
        password: ADMIN_PASSWORD,
      });
      dashboard = new DashboardClient(h.service.app);
      assert.equal((await dashboard.signIn('ops@acme.example', ADMIN_PASSWORD)).statusCode, 303);
    });
    after(async () => h?.close());

    /** The emulator's deliveries of one mailbox's warm-up mail, with where the partner's copy landed. */
    async function deliveredFrom(account: { id: string; userId: string }) {
      const rows = await h.service.deps.db
        .selectFrom('warmup_messages')
        .select(['id', 'internet_message_id', 'recipient_account_id'])
        .where('sender_account_id', '=', account.id)
        .where('internet_message_id', 'is not', null)
        .execute();
      const ids = new Set(rows.map((row) => row.internet_message_id));
      const deliveries = h.ctx.world.deliveries.filter(
        (delivery) => delivery.senderUserId === account.userId && ids.has(delivery.internetMessageId),
      );
      const placements = deliveries.flatMap((delivery) => delivery.placements.map((p) => p.outcome));
      return { deliveries, placements };
    }

    it('the API’s figures are the emulator’s: sent, observed, inbox and spam rates', async () => {
      let total = 0;
      for (const account of accounts) {
        const answer = await h.client.call('GET', `/v1/accounts/${account.id}/warmup`);
        assert.equal(answer.status, 200);
        const view = warmupAccountSchema.parse(answer.body);
        const { deliveries, placements } = await deliveredFrom(account);
        total += deliveries.length;
        const inbox = placements.filter((outcome) => outcome === 'inbox').length;
        const junk = placements.filter((outcome) => outcome === 'junkemail').length;
        const week = view.metrics.last7Days;
        assert.equal(week.sent, deliveries.length, `${account.email}: sent`);
        assert.equal(week.observed, inbox + junk, `${account.email}: every delivered copy was found`);
        assert.equal(week.inboxRate, inbox / (inbox + junk), `${account.email}: inbox rate`);
        assert.equal(week.spamRate, junk / (inbox + junk), `${account.email}: spam rate`);
        assert.equal(week.scope, 'warmup_network');
        assert.equal(view.state.status, 'active');
        assert.ok(view.rampDay >= 2, `${account.email}: on day ${view.rampDay} of the ramp`);
      }
      assert.ok(total >= 2, `warm-up mail went both ways (${total})`);
    });

    it('the dashboard’s activity says where each message landed, as the emulator delivered it', async () => {
      for (const account of accounts) {
        const page = await dashboard.get(`/dashboard/accounts/${account.id}/warmup`);
        assert.equal(page.statusCode, 200);
        const rows = [
          ...page.body.matchAll(
            /<tr data-activity="(wum_[0-9a-z]+)" data-direction="(sent|received)">([\s\S]*?)<\/tr>/g,
          ),
        ];
        const stored = await h.service.deps.db
          .selectFrom('warmup_messages')
          .select(['id', 'internet_message_id', 'status'])
          .where((eb) => eb.or([eb('sender_account_id', '=', account.id), eb('recipient_account_id', '=', account.id)]))
          .where('status', '!=', 'canceled')
          .execute();
        assert.equal(rows.length, Math.min(stored.length, 50), `${account.email}: one row per message`);
        let checked = 0;
        for (const [, id, , cells] of rows) {
          const message = stored.find((row) => row.id === id);
          const landed = /<td class="landed">([^<]*)<\/td>/.exec(cells ?? '')?.[1];
          const delivery = h.ctx.world.deliveries.find((d) => d.internetMessageId === message?.internet_message_id);
          if (!delivery) {
            assert.equal(landed, message?.status === 'planned' ? 'planned' : 'not seen yet', `${id}: not delivered`);
            continue;
          }
          const outcome = delivery.placements[0]?.outcome ?? '';
          assert.equal(landed, FOLDER_WORDS[outcome], `${id}: landed in ${outcome}`);
          checked++;
        }
        assert.ok(checked >= 1, `${account.email}: at least one delivered message on the page`);
        assert.match(page.body, /With<\/th>/);
      }
    });

    it('the charts’ bars add up to the emulator’s deliveries and placements', async () => {
      for (const account of accounts) {
        const page = await dashboard.get(`/dashboard/accounts/${account.id}/warmup`);
        const { deliveries, placements } = await deliveredFrom(account);
        const sentBars = [...page.body.matchAll(/<title>[^<]*: (\d+) sent of (\d+) planned<\/title>/g)];
        assert.ok(sentBars.length >= 2, `${account.email}: a bar per day (${sentBars.length})`);
        assert.equal(
          sentBars.reduce((sum, match) => sum + Number(match[1]), 0),
          deliveries.length,
          `${account.email}: sent bars`,
        );
        const placementBars = [...page.body.matchAll(/<title>[^<]*: (\d+) in Inbox, (\d+) in Junk Email<\/title>/g)];
        assert.equal(
          placementBars.reduce((sum, match) => sum + Number(match[1]), 0),
          placements.filter((outcome) => outcome === 'inbox').length,
          `${account.email}: inbox bars`,
        );
        assert.equal(
          placementBars.reduce((sum, match) => sum + Number(match[2]), 0),
          placements.filter((outcome) => outcome === 'junkemail').length,
          `${account.email}: junk bars`,
        );
      }
    });

    it('the pool, in the API and on the page, lists both with the same 7-day sends', async () => {
      const answer = await h.client.call('GET', '/v1/warmup');
      const pool = warmupPoolSchema.parse(answer.body);
      assert.deepEqual(pool.members.map((m) => m.accountId).sort(), accounts.map((a) => a.id).sort());
      const page = await dashboard.get('/dashboard/warmup');
      for (const account of accounts) {
        const member = pool.members.find((m) => m.accountId === account.id);
        assert.equal(member?.sent7Days, (await deliveredFrom(account)).deliveries.length);
        const row = new RegExp(`<tr data-account="${account.id}" data-state="active">([\\s\\S]*?)</tr>`).exec(
          page.body,
        )?.[1];
        const cells = [...(row ?? '').matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]?.replace(/<[^>]+>/g, ''));
        assert.equal(cells[3], String(member?.sent7Days), `${account.email}: Sent 7d on the page`);
      }
      assert.equal(
        pool.totals.sent7Days,
        pool.members.reduce((sum, m) => sum + m.sent7Days, 0),
      );
    });
  });
}
