import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runBounceScans } from '../../src/bounces/bounce-scan.js';
import { JOBS } from '../../src/jobs/job-engine.js';
import { jobHandler } from '../../src/jobs/job-handlers.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { checkAccountHealth } from '../../src/tokens/health-check.js';
import { builtInTasks } from '../../src/worker/background-work.js';
import { eventsOf, type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { callGraph, mintGraphToken } from '../support/graph-token.js';

/**
 * Non-delivery reports end to end (issue 9 item 3): mailbridge sends through Graph over real HTTP, the emulator's
 * transport writes the report into the sender's Inbox the way Exchange does, and the background reader finds it,
 * matches it by Message-ID and applies it.
 */
for (const dialect of TEST_DIALECTS) {
  describe(`bounces: non-delivery reports read from the Inbox [${dialect}]`, () => {
    let h: OutboxHarness;
    let provider: AccessTokenProvider;
    let megan: string;
    let alex: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      provider = new AccessTokenProvider(h.service.deps);
      megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alex = await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    /** Sends through the API and the dispatcher; returns the message id once Microsoft accepted it. */
    async function sendAndDispatch(account: string, to: string[], subject: string): Promise<string> {
      const accepted = await h.send(`/v1/accounts/${account}/messages`, { to, subject, text: 'Hello' });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      await h.drain();
      const id = accepted.body.id as string;
      assert.equal((await h.message(id)).status, 'sent');
      return id;
    }

    /**
     * The reader's look comes a minute after the send: move the clock there and run it the way each runner does (the
     * pg-boss `bounce-sweep` handler on PostgreSQL, the in-process loop's `bounce-scan` task on SQLite).
     */
    async function scanInboxes() {
      h.advance(61);
      if (dialect === 'postgres') {
        await jobHandler(h.service.deps, { provider })(JOBS.bounceSweep, {});
      } else {
        const task = builtInTasks(h.service.deps, provider).find((each) => each.name === 'bounce-scan');
        assert.ok(task, 'the in-process loop has a bounce-scan task');
        await task.run();
      }
    }

    async function controlOrThrow(method: string, path: string, body: unknown) {
      const response = await fetch(`${h.emulator.url}/_emulator${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, await response.text());
    }

    it('an unknown recipient: 5.1.10 report → the message is bounced (recipient_unknown) with message.bounced', async () => {
      const id = await sendAndDispatch(megan, ['ghost@contoso.com'], 'To nobody');
      await scanInboxes();
      const view = await h.client.call('GET', `/v1/messages/${id}`);
      assert.equal(view.body.status, 'bounced');
      assert.equal(view.body.bounce.status, '5.1.10');
      assert.equal(view.body.failure.reason, 'recipient_unknown');
      assert.match(view.body.failure.message, /RESOLVER\.ADR\.RecipientNotFound/);
      assert.equal(view.body.failure.remediation.title, 'Recipient address does not exist');
      const events = await eventsOf(h, id);
      const bounced = events.find((event) => event.type === 'message.bounced');
      assert.ok(bounced, JSON.stringify(events.map((event) => event.type)));
      assert.equal(bounced.data.reason, 'recipient_unknown');
      assert.equal(bounced.data.bounceStatus, '5.1.10');
      // Reading the same report again changes nothing.
      h.advance(LOOK_INTERVAL_S);
      assert.equal((await runBounceScans(h.service.deps, provider)).bounced, 0);
      assert.equal((await eventsOf(h, id)).filter((event) => event.type === 'message.bounced').length, 1);
      const account = await accountRow(megan);
      assert.equal(account.status, 'connected', 'a bad recipient says nothing against the account');
    });

    it('a full recipient mailbox: 5.2.2 report → bounced (mailbox_full), the sender untouched', async () => {
      await controlOrThrow('PATCH', '/users/adele@contoso.com', { mailboxFull: true });
      try {
        const id = await sendAndDispatch(megan, ['adele@contoso.com'], 'To a full mailbox');
        await scanInboxes();
        const view = await h.client.call('GET', `/v1/messages/${id}`);
        assert.equal(view.body.status, 'bounced');
        assert.equal(view.body.bounce.status, '5.2.2');
        assert.equal(view.body.failure.reason, 'mailbox_full');
        const events = await eventsOf(h, id);
        assert.equal(events.find((event) => event.type === 'message.bounced')?.data.bounceStatus, '5.2.2');
        assert.equal((await accountRow(megan)).status, 'connected', "someone else's full mailbox is not the sender's");
      } finally {
        await controlOrThrow('PATCH', '/users/adele@contoso.com', { mailboxFull: false });
      }
    });

    it('a look waits while the mailbox has sends in flight (Outlook’s 4 concurrent requests are the outbox’s)', async () => {
      const id = await sendAndDispatch(megan, ['nobody@contoso.com'], 'While busy');
      // Fixture: another message of the mailbox is being sent right now (a live lease).
      const busy = await h.send(`/v1/accounts/${megan}/messages`, { to: 'x@example.org', subject: 'busy', text: 'x' });
      const busyId = busy.body.id as string;
      await h.service.deps.db
        .updateTable('outbox_messages')
        .set({ status: 'sending', lease_owner: 'someone-else', lease_until: h.clock.now() + 3_600_000 })
        .where('id', '=', busyId)
        .execute();
      const listingsBefore = inboxListings();
      await scanInboxes();
      assert.equal((await h.message(id)).status, 'sent', 'not read yet');
      assert.equal(inboxListings(), listingsBefore, 'no Graph request while the mailbox is busy');
      await h.service.deps.db
        .updateTable('outbox_messages')
        .set({ status: 'canceled', lease_owner: null, lease_until: null })
        .where('id', '=', busyId)
        .execute();
      await scanInboxes();
      assert.equal((await h.message(id)).status, 'bounced');
      assert.ok(inboxListings() > listingsBefore, 'the look then listed the Inbox');
    });

    /** Inbox listings the emulator served (its request log). */
    function inboxListings(): number {
      return h.ctx.requestLog.filter((entry) => entry.path.startsWith('/v1.0/me/mailFolders/inbox/messages?')).length;
    }

    it('ignores mail dressed as a report from anyone but Exchange, and modifies nothing', async () => {
      const id = await sendAndDispatch(megan, ['adele@contoso.com'], 'Real message');
      const internetMessageId = (await h.message(id)).internet_message_id;
      const adele = mintGraphToken(h.ctx, h.emulator.seed.users.workWithMfa);
      const forged = await callGraph(h.emulator.url, adele, 'POST', '/me/sendMail', {
        message: {
          subject: 'Undeliverable: Real message',
          body: {
            contentType: 'Text',
            content: `Diagnostic information for administrators:\r\nRemote server returned '550 5.1.1 nope'\r\n\r\nOriginal message headers:\r\n\r\nMessage-ID: ${internetMessageId}\r\n`,
          },
          toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }],
        },
      });
      assert.equal(forged.status, 202);
      await scanInboxes();
      assert.equal((await h.message(id)).status, 'sent');
      const inbox = Object.values(h.ctx.world.mailboxes[h.emulator.seed.users.work.id]!.messages).filter(
        (message) => message.subject === 'Undeliverable: Real message',
      );
      assert.equal(inbox.length, 1);
      assert.equal(inbox[0]!.isRead, false, 'the reader never changes mail');
    });

    it('over the daily recipient limit: 5.1.90 report → bounced (daily_limit), the mailbox paused 24 h', async () => {
      const outlook = h.ctx.settings.limits.outlook;
      const saved = outlook.recipientsPer24h;
      outlook.recipientsPer24h = 1;
      let id: string;
      try {
        id = await sendAndDispatch(alex, ['megan@contoso.com', 'adele@contoso.com'], 'Two at once');
      } finally {
        outlook.recipientsPer24h = saved;
      }
      const report = Object.values(h.ctx.world.mailboxes[h.emulator.seed.users.personal.id]!.messages).find(
        (message) => message.subject === 'Undeliverable: Two at once',
      );
      assert.ok(report, 'the emulator wrote the report into the sender’s Inbox');
      await scanInboxes();
      const row = await h.message(id);
      assert.equal(row.status, 'bounced');
      assert.equal(row.bounce_status, '5.1.90');
      assert.equal(row.failure_reason, 'daily_limit');
      const events = await eventsOf(h, id);
      assert.ok(events.some((event) => event.type === 'message.bounced' && event.data.reason === 'daily_limit'));
      const pacing = await h.service.deps.db
        .selectFrom('outbox_pacing')
        .select('paced_until')
        .where('lane', '=', alex)
        .executeTakeFirstOrThrow();
      assert.equal(Number(pacing.paced_until), Number(row.sent_at) + 86_400_000);

      // The next message waits for the window instead of going out (and bouncing) now.
      const next = await h.send(`/v1/accounts/${alex}/messages`, {
        to: 'megan@contoso.com',
        subject: 'Later',
        text: 'x',
      });
      assert.equal(next.status, 202);
      assert.equal(await h.dispatch(), 0);
      assert.equal((await h.message(next.body.id as string)).status, 'queued');
    });

    it('a send-only account cannot read its reports: no look is planned and the message stays sent', async () => {
      const sendOnly = await h.connect('admin@contoso.com', { profile: 'send', ownerId: 'admin' });
      const id = await sendAndDispatch(sendOnly, ['ghost@contoso.com'], 'Unread bounce');
      const report = Object.values(h.ctx.world.mailboxes[h.emulator.seed.users.workAdmin.id]!.messages).find(
        (message) => message.subject === 'Undeliverable: Unread bounce',
      );
      assert.ok(report, 'Microsoft did write the report');
      const planned = await h.service.deps.db
        .selectFrom('bounce_scans')
        .select('account_id')
        .where('account_id', '=', sendOnly)
        .executeTakeFirst();
      assert.equal(planned, undefined);
      await scanInboxes();
      assert.equal((await h.message(id)).status, 'sent');
    });

    it('a restricted sender: 5.1.8 report → bounced and the account mailbox_unusable with the remediation', async () => {
      await controlOrThrow('PATCH', '/users/megan@contoso.com', { restrictedSender: true });
      const id = await sendAndDispatch(megan, ['adele@contoso.com'], 'Blocked one');
      await scanInboxes();
      const row = await h.message(id);
      assert.equal(row.status, 'bounced');
      assert.equal(row.failure_reason, 'restricted_sender');
      const account = await accountRow(megan);
      assert.equal(account.status, 'mailbox_unusable');
      assert.equal(account.status_reason, 'restricted_sender');
      const changed = await h.service.deps.db
        .selectFrom('events')
        .select('data')
        .where('type', '=', 'account.status_changed')
        .where('account_id', '=', megan)
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      const data = JSON.parse(changed.data) as { status: string; remediation: { operator: string } };
      assert.equal(data.status, 'mailbox_unusable');
      assert.match(data.remediation.operator, /5\.1\.8/);
      // The periodic health check (/me and the mailbox answer fine) does not undo what only sending can show.
      await checkAccountHealth(h.service.deps, provider, megan);
      assert.equal((await accountRow(megan)).status_reason, 'restricted_sender');
      // The account now refuses new messages (mailbox_unusable), with a precise 4xx.
      const refused = await h.send(`/v1/accounts/${megan}/messages`, { to: 'x@example.org', subject: 's', text: 'x' });
      assert.ok(refused.status >= 400 && refused.status < 500, String(refused.status));
    });

    async function accountRow(id: string) {
      return h.service.deps.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    }
  });
}

/** The reader's interval between looks, in seconds (bounce-scan.ts LOOK_INTERVAL_MS). */
const LOOK_INTERVAL_S = 10 * 60 + 1;
