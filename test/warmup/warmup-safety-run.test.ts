import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { revokeUserConsent, updateUser } from '../../emulator/control/actions.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/seed.js';
import { addUser } from '../../emulator/state/builders.js';
import { disconnectAccount } from '../../src/accounts/disconnect-account.js';
import { runBounceScans } from '../../src/bounces/bounce-scan.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { checkAccountHealth } from '../../src/tokens/health-check.js';
import { keyedSource } from '../../src/warmup/seeded-random.js';
import { planThread } from '../../src/warmup/warmup-content.js';
import { blankWarmupMessage } from '../../src/warmup/warmup-message-row.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';
import { enableWarmup, readWarmupAccount } from '../../src/warmup/warmup-store.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { runWarmupFor, warmupRunnerOf } from './warmup-runners.js';

/**
 * Safety (docs/warmup.md §G) as the running engine enforces it, on both runners: Microsoft throttling the mailbox is
 * a pause with its alert (three storms in an hour), never a failure, and ends by itself on probation; a revoked
 * grant pauses warm-up with its alert and the reconnect resumes it on probation; Junk placement quarantines at the
 * day's evaluation. Every stop is a `warmup.*` event. Also the backup identification of §D (the sender's phrase).
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

for (const dialect of TEST_DIALECTS) {
  describe(`warm-up safety in the running engine [${dialect}]`, () => {
    let h: OutboxHarness;
    let provider: AccessTokenProvider;
    let megan: string;
    let alex: string;
    let runWarmup: () => Promise<unknown>;

    before(async () => {
      h = await startOutboxHarness(dialect);
      provider = new AccessTokenProvider(h.service.deps);
      megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alex = await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' });
      runWarmup = warmupRunnerOf(h, dialect, provider);
    });
    after(async () => {
      await h?.close();
    });

    const runFor = (ms: number) => runWarmupFor(h, runWarmup, ms);

    /**
     * Moves the clock on to a weekday morning in the mailboxes' zone (the emulator's default, UTC) unless it is one
     * already: warm-up sends only inside its window (§B), and where earlier tests left the clock depends on the hour the
     * suite started (the clock starts at the real time).
     */
    function toWeekdayMorning(): void {
      const isWeekdayMorning = (at: number) => {
        const date = new Date(at);
        return date.getUTCHours() >= 9 && date.getUTCHours() < 13 && date.getUTCDay() >= 1 && date.getUTCDay() <= 5;
      };
      for (let hours = 0; hours < 24 * 7 && !isWeekdayMorning(h.clock.now()); hours++) h.advance(3600);
    }

    /** A warm-up message from `from` to `to` planned for now, as the day's plan writes one; `from` is due at once. */
    async function planWarmupMessageNow(id: string, from: string, to: string): Promise<string> {
      toWeekdayMorning();
      const db = h.service.deps.db;
      const now = h.clock.now();
      const thread = planThread(keyedSource(id, 'thread'), warmupSettingsOrThrow('microsoft365'));
      await db
        .insertInto('warmup_messages')
        .values({
          id,
          organization_id: h.client.organization.id,
          sender_account_id: from,
          recipient_account_id: to,
          thread_id: id,
          turn: 0,
          planned_turns: thread.turns,
          subject: thread.subject,
          status: 'planned',
          local_date: new Date(now).toISOString().slice(0, 10),
          planned_at: now,
          ...blankWarmupMessage(),
          in_reply_to_id: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await db.updateTable('warmup_accounts').set({ next_run_at: now }).where('account_id', '=', from).execute();
      return id;
    }

    async function warmupEvents(accountId: string) {
      const events = await listEvents(h.service.deps.db, h.client.organization.id, { limit: 200, accountId });
      return events.filter((event) => event.type.startsWith('warmup.'));
    }

    it('takes three throttling storms within an hour as a pause with its alert, never a failure', async () => {
      const user =
        h.ctx.world.users[
          Object.keys(h.ctx.world.users).find((id) => h.ctx.world.users[id]!.email === 'megan@contoso.com')!
        ]!;
      // Microsoft answers this mailbox's Graph requests 429 with Retry-After: 60 for a while.
      h.ctx.faults.push({
        id: 'throttle-megan',
        userId: user.id,
        target: 'graph',
        kind: 'throttle429',
        retryAfterSeconds: 60,
        latencyMs: null,
        remaining: null,
        probability: 1,
      });
      await enableWarmup(h.service.deps, h.client.organization.id, megan, {});
      await runFor(20 * MINUTE);
      const view = await readWarmupAccount(h.service.deps.db, h.client.organization.id, megan, h.clock.now());
      assert.equal(view.state.status, 'paused');
      assert.equal(view.state.reason, 'throttling_storms');
      assert.match(view.state.remediation ?? '', /throttled this mailbox 3 times within 60 minutes/);
      assert.ok(view.state.until, 'a throttling pause ends by itself');
      const events = await warmupEvents(megan);
      const paused = events.find((event) => event.type === 'warmup.paused');
      assert.equal(paused?.data['reason'], 'throttling_storms');
      // A pause for the mailbox, not a failure of anything: the account stays connected, no warm-up mail failed.
      const account = await h.service.deps.db
        .selectFrom('accounts')
        .select('status')
        .where('id', '=', megan)
        .executeTakeFirstOrThrow();
      assert.equal(account.status, 'connected');
      const failed = await h.service.deps.db
        .selectFrom('warmup_messages')
        .select('id')
        .where('status', '=', 'failed')
        .execute();
      assert.equal(failed.length, 0);

      // Microsoft stops throttling; the pause runs its 24 hours and warm-up comes back on probation, with its event.
      h.ctx.faults.splice(0, h.ctx.faults.length);
      h.advance(25 * 3600);
      await runFor(5 * MINUTE);
      const after = await readWarmupAccount(h.service.deps.db, h.client.organization.id, megan, h.clock.now());
      assert.equal(after.state.status, 'probation');
      const resumed = (await warmupEvents(megan)).find((event) => event.type === 'warmup.resumed');
      assert.equal(resumed?.data['state'], 'probation');
    });

    it('pauses warm-up with its alert when the grant is revoked, and resumes it after the reconnect', async () => {
      await enableWarmup(h.service.deps, h.client.organization.id, alex, {});
      await runFor(5 * MINUTE);
      const user = Object.values(h.ctx.world.users).find((each) => each.email === 'alex@outlook.com')!;
      revokeUserConsent(h.ctx, user, DEMO_IDS.clientId, { revokeAccessTokens: true });
      // The service's health check finds out (a refresh refused with AADSTS65001); warm-up follows the account in
      // the same transaction (its listener), before any warm-up run.
      await checkAccountHealth(h.service.deps, provider, alex);
      const view = await readWarmupAccount(h.service.deps.db, h.client.organization.id, alex, h.clock.now());
      assert.equal(view.state.status, 'paused');
      assert.equal(view.state.reason, 'grant_revoked');
      assert.match(view.state.remediation ?? '', /Reconnect the mailbox/);
      const paused = (await warmupEvents(alex)).find((event) => event.type === 'warmup.paused');
      assert.equal(paused?.data['reason'], 'grant_revoked');

      const planned = await h.service.deps.db
        .selectFrom('warmup_messages')
        .select('id')
        .where('sender_account_id', '=', alex)
        .where('status', '=', 'planned')
        .execute();
      assert.equal(planned.length, 0, 'sends still planned were canceled, not sent late');
      h.advance(2 * 3600);
      await runFor(5 * MINUTE);
      assert.equal(
        (await readWarmupAccount(h.service.deps.db, h.client.organization.id, alex, h.clock.now())).state.status,
        'paused',
        'still paused while the account needs a person',
      );

      // The reconnect resumes it (probation) and makes the mailbox due at once.
      assert.equal(await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' }), alex);
      const resumed = await readWarmupAccount(h.service.deps.db, h.client.organization.id, alex, h.clock.now());
      assert.equal(resumed.state.status, 'probation');
      const due = await h.service.deps.db
        .selectFrom('warmup_accounts')
        .select('next_run_at')
        .where('account_id', '=', alex)
        .executeTakeFirstOrThrow();
      assert.ok(Number(due.next_run_at) <= h.clock.now(), 'due at once after the reconnect');
      await runFor(5 * MINUTE);
      const event = (await warmupEvents(alex)).find((each) => each.type === 'warmup.resumed');
      assert.equal(event?.data['previousState'], 'paused');
    });

    it('pauses warm-up at the next run of a mailbox that was disconnected, and cancels its planned sends', async () => {
      const db = h.service.deps.db;
      const contoso = Object.values(h.ctx.world.tenants).find((t) => t.domains.includes('contoso.com'))!;
      addUser(h.ctx, { email: 'ivy@contoso.com', password: DEMO_PASSWORD, displayName: 'Ivy', tenantId: contoso.id });
      const ivy = await h.connect('ivy@contoso.com', { profile: 'warmup', ownerId: 'ivy' });
      await enableWarmup(h.service.deps, h.client.organization.id, ivy, {});
      await runFor(2 * MINUTE);
      await planWarmupMessageNow('wum_from_disconnected', ivy, megan);
      // A disconnect is not a status change the account's listeners report: the mailbox's own run finds it.
      await disconnectAccount(h.service.deps, h.client.organization.id, ivy);
      await runWarmup();
      const view = await readWarmupAccount(db, h.client.organization.id, ivy, h.clock.now());
      assert.equal(view.state.status, 'paused');
      assert.equal(view.state.reason, 'grant_revoked');
      const message = await db
        .selectFrom('warmup_messages')
        .select(['status', 'outbox_message_id'])
        .where('id', '=', 'wum_from_disconnected')
        .executeTakeFirstOrThrow();
      assert.equal(message.status, 'canceled', 'not sent, and not sent late after a reconnect');
      assert.equal(message.outbox_message_id, null);
      const due = await db
        .selectFrom('warmup_accounts')
        .select('next_run_at')
        .where('account_id', '=', ivy)
        .executeTakeFirstOrThrow();
      assert.equal(due.next_run_at, null, 'no due time until a reconnect');
    });

    it('finds warm-up mail by its sender’s phrase when the Message-ID recorded at send time does not match', async () => {
      const db = h.service.deps.db;
      const id = await planWarmupMessageNow('wum_phrase_backup', alex, megan);
      await runWarmup();
      await h.drain();
      const queued = await db.selectFrom('warmup_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(queued.status, 'queued');
      const delivered = h.ctx.world.deliveries.find((d) => d.internetMessageId === queued.internet_message_id);
      assert.ok(delivered, 'sent through the outbox');
      // Our record of the Message-ID no longer matches what the recipient will see (as if rewritten in transit).
      await db
        .updateTable('outbox_messages')
        .set({ internet_message_id: '<rewritten@elsewhere.example>' })
        .where('id', '=', queued.outbox_message_id!)
        .execute();
      await db
        .updateTable('warmup_messages')
        .set({ internet_message_id: '<rewritten@elsewhere.example>' })
        .where('id', '=', id)
        .execute();
      await runFor(10 * MINUTE);
      const found = await db.selectFrom('warmup_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(found.observed_at, 'the recipient found it by the phrase');
      assert.equal(found.landed_in, delivered.placements[0]?.outcome);
    });

    it('quarantines a mailbox whose warm-up mail lands in Junk at the day’s evaluation, with its alert', async () => {
      const contoso = Object.values(h.ctx.world.tenants).find((t) => t.domains.includes('contoso.com'))!;
      addUser(h.ctx, { email: 'nora@contoso.com', password: DEMO_PASSWORD, displayName: 'Nora', tenantId: contoso.id });
      const nora = await h.connect('nora@contoso.com', { profile: 'warmup', ownerId: 'nora' });
      await enableWarmup(h.service.deps, h.client.organization.id, nora, {});
      await runFor(2 * MINUTE);
      // The last five days as partners recorded them: 20 of Nora's messages found, 6 of them in Junk (30%); and 80
      // more, all in the Inbox, 8 to 28 days ago: an established sample (100 over 30 days, §G).
      const now = h.clock.now();
      const db = h.service.deps.db;
      await db
        .insertInto('warmup_messages')
        .values(
          Array.from({ length: 100 }, (_, i) => {
            const at = i < 20 ? now - (i + 1) * 5 * HOUR : now - 8 * 24 * HOUR - (i - 20) * 6 * HOUR;
            return {
              id: `wum_history_${i}`,
              organization_id: h.client.organization.id,
              sender_account_id: nora,
              recipient_account_id: i % 2 === 0 ? alex : megan,
              thread_id: `wum_history_${i}`,
              turn: 0,
              planned_turns: 3,
              subject: 'Earlier',
              status: 'sent' as const,
              local_date: new Date(at).toISOString().slice(0, 10),
              planned_at: at,
              ...blankWarmupMessage(),
              internet_message_id: `<history-${i}@test>`,
              sent_at: at,
              sent_copy_removed_at: at,
              in_reply_to_id: null,
              observed_at: at + MINUTE,
              landed_in: i < 6 ? 'junkemail' : 'inbox',
              received_at: at,
              created_at: at,
              updated_at: at,
            };
          }),
        )
        .execute();
      // The next local day's run evaluates the window (§G: ≥ 20 samples of an established mailbox, ≥ 20% in Junk →
      // quarantine 7 days).
      h.advance(24 * 3600);
      await runFor(2 * MINUTE);
      const view = await readWarmupAccount(db, h.client.organization.id, nora, h.clock.now());
      assert.equal(view.state.status, 'quarantined');
      assert.equal(view.state.reason, 'spam_placement');
      assert.match(view.state.remediation ?? '', /landed in Junk/);
      assert.equal(Date.parse(view.state.until!) - Date.parse(view.state.since!), 7 * 24 * HOUR);
      assert.equal(view.today.target, 0, 'a quarantined mailbox plans nothing');
      const events = await warmupEvents(nora);
      const quarantined = events.find((event) => event.type === 'warmup.quarantined');
      assert.equal(quarantined?.data['reason'], 'spam_placement');
      assert.ok(
        events.some((event) => event.type === 'warmup.health_changed'),
        'the health score moved, with its event',
      );
      const planned = await db
        .selectFrom('warmup_messages')
        .select('id')
        .where('sender_account_id', '=', nora)
        .where('status', '=', 'planned')
        .execute();
      assert.equal(planned.length, 0);
    });

    it('does not open a thread its partner’s 7-day balance no longer allows (§C, at send)', async () => {
      const db = h.service.deps.db;
      const nora = await db
        .selectFrom('accounts')
        .select('id')
        .where('email', '=', 'nora@contoso.com')
        .executeTakeFirstOrThrow();
      // Alex received 40 warm-up messages in the last two days, far more than it sent: no room for one more.
      const now = h.clock.now();
      await db
        .insertInto('warmup_messages')
        .values(
          Array.from({ length: 40 }, (_, i) => {
            const at = now - (i + 1) * HOUR;
            return {
              id: `wum_inbound_${i}`,
              organization_id: h.client.organization.id,
              sender_account_id: nora.id,
              recipient_account_id: alex,
              thread_id: `wum_inbound_${i}`,
              turn: 0,
              planned_turns: 3,
              subject: 'Inbound',
              status: 'sent' as const,
              local_date: new Date(at).toISOString().slice(0, 10),
              planned_at: at,
              ...blankWarmupMessage(),
              internet_message_id: `<inbound-${i}@test>`,
              sent_at: at,
              sent_copy_removed_at: at,
              in_reply_to_id: null,
              created_at: at,
              updated_at: at,
            };
          }),
        )
        .execute();
      await planWarmupMessageNow('wum_over_balance', megan, alex);
      await runFor(12 * MINUTE);
      const row = await db
        .selectFrom('warmup_messages')
        .selectAll()
        .where('id', '=', 'wum_over_balance')
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'canceled');
      assert.equal(row.outbox_message_id, null, 'never handed to the outbox');
    });

    it('takes a partner whose address bounces out of the pool, and pauses a restricted sender', async () => {
      const db = h.service.deps.db;
      const contoso = Object.values(h.ctx.world.tenants).find((t) => t.domains.includes('contoso.com'))!;
      const zedUser = addUser(h.ctx, { email: 'zed@contoso.com', password: DEMO_PASSWORD, tenantId: contoso.id });
      const zed = await h.connect('zed@contoso.com', { profile: 'warmup', ownerId: 'zed' });
      await enableWarmup(h.service.deps, h.client.organization.id, zed, {});
      await runFor(2 * MINUTE);
      // Zed's mailbox is full: Exchange bounces mail to it with 5.2.2 (the partner's problem, §G).
      updateUser(h.ctx, zedUser, { mailboxFull: true });
      await planWarmupMessageNow('wum_to_full_mailbox', alex, zed);
      // Sent within minutes (at most one warm-up send per 10 minutes may hold it back a little).
      await runFor(12 * MINUTE);
      h.advance(61);
      await runBounceScans(h.service.deps, provider);
      // The bounce brings the sender's run forward (its listener): it reaches warm-up at the next sweep.
      await runFor(2 * MINUTE);
      const bounced = await db
        .selectFrom('warmup_messages')
        .selectAll()
        .where('id', '=', 'wum_to_full_mailbox')
        .executeTakeFirstOrThrow();
      assert.equal(bounced.status, 'bounced');
      assert.equal(bounced.bounce_status, '5.2.2');
      const zedView = await readWarmupAccount(db, h.client.organization.id, zed, h.clock.now());
      assert.equal(zedView.enabled, false, 'the partner left the pool');
      const zedPaused = (await warmupEvents(zed)).find((event) => event.type === 'warmup.paused');
      assert.equal(zedPaused?.data['reason'], 'address_bounced');
      const alexView = await readWarmupAccount(db, h.client.organization.id, alex, h.clock.now());
      assert.notEqual(alexView.state.status, 'paused', 'the sender is not penalised');

      // Megan is a restricted sender now: Exchange bounces her mail with 5.1.8, and warm-up stops at once (§G).
      const meganUser = Object.values(h.ctx.world.users).find((each) => each.email === 'megan@contoso.com')!;
      updateUser(h.ctx, meganUser, { restrictedSender: true });
      // To a new partner: Alex has received more than its 7-day balance allows by now (§C, enforced at send).
      addUser(h.ctx, { email: 'yara@outlook.com', password: DEMO_PASSWORD, displayName: 'Yara', kind: 'personal' });
      const yara = await h.connect('yara@outlook.com', { profile: 'warmup', ownerId: 'yara' });
      await enableWarmup(h.service.deps, h.client.organization.id, yara, {});
      await planWarmupMessageNow('wum_restricted', megan, yara);
      // Sent within minutes (at most one warm-up send per 10 minutes may hold it back a little).
      await runFor(12 * MINUTE);
      h.advance(61);
      await runBounceScans(h.service.deps, provider);
      // The bounce brings the sender's run forward (its listener): it reaches warm-up at the next sweep.
      await runFor(2 * MINUTE);
      const meganView = await readWarmupAccount(db, h.client.organization.id, megan, h.clock.now());
      assert.equal(meganView.state.status, 'paused');
      assert.equal(meganView.state.reason, 'restricted_sender');
      assert.match(meganView.state.remediation ?? '', /Restricted entities/);
      const meganPaused = (await warmupEvents(megan)).filter((event) => event.type === 'warmup.paused').at(-1);
      assert.equal(meganPaused?.data['reason'], 'restricted_sender');
    });
  });
}
