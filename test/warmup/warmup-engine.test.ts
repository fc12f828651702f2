import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EmulatorContext } from '../../emulator/context.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { addTenant, addUser } from '../../emulator/state/builders.js';
import type { MailMessage, User } from '../../emulator/state/model.js';
import { runBounceScans } from '../../src/bounces/bounce-scan.js';
import type { DbDialect } from '../../src/db/schema.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { localTime, type TimeZone } from '../../src/warmup/mailbox-time-zone.js';
import { enableWarmup, readWarmupAccount } from '../../src/warmup/warmup-store.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { nextWarmupWorkAt } from '../support/warmup-simulation.js';
import { warmupRunnerOf } from './warmup-runners.js';

/**
 * The warm-up engine end to end on the emulator's clock: mailboxes of two Microsoft 365 tenants and Outlook.com,
 * connected through the real connect flow with the warm-up profile, warm each other up over several simulated days.
 * Everything mailbridge reports is checked against the emulator's own delivery log (the oracle), and the mailboxes'
 * own state says what was touched.
 */

const DAY = 86_400_000;
const MINUTE = 60_000;

interface Member {
  email: string;
  user: User;
  accountId: string;
  zone: TimeZone;
}

/** A mailbox in the emulator (its time zone is set as Microsoft names it, a Windows name, once connected). */
function addMailbox(ctx: EmulatorContext, email: string, tenantId: string | undefined): User {
  const user = addUser(ctx, {
    email,
    password: DEMO_PASSWORD,
    displayName: `${email.split('@')[0]!.replace(/^./, (c) => c.toUpperCase())} Tester`,
    ...(tenantId ? { tenantId } : { kind: 'personal' as const }),
  });
  return user;
}

function mailboxOf(ctx: EmulatorContext, user: User) {
  const mailbox = ctx.world.mailboxes[user.id];
  assert.ok(mailbox, `${user.email} has a mailbox`);
  return mailbox;
}

function folderName(ctx: EmulatorContext, user: User, message: MailMessage): string {
  const folder = mailboxOf(ctx, user).folders[message.parentFolderId];
  return folder?.wellKnownName ?? folder?.displayName ?? '?';
}

function simulation(dialect: DbDialect, days: number) {
  describe(`warm-up engine: ${days} simulated days on the emulator [${dialect}]`, () => {
    let h: OutboxHarness;
    let provider: AccessTokenProvider;
    const members: Member[] = [];
    /** Ordinary (not warm-up) mail in the mailboxes before warm-up began: it must come out untouched. */
    const hostMessageIds = new Set<string>();
    let start = 0;

    /** The warm-up work, as each runner runs it: the pg-boss sweep on PostgreSQL, the in-process task on SQLite. */
    let runWarmup: () => Promise<unknown>;

    before(async () => {
      h = await startOutboxHarness(dialect);
      provider = new AccessTokenProvider(h.service.deps);
      const ctx = h.ctx;
      const northwind = addTenant(ctx, { displayName: 'Northwind', domains: ['northwind.example'] });
      const contosoId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
      const plan: Array<[string, string | undefined, string, string]> = [
        ['ava@contoso.com', contosoId, 'W. Europe Standard Time', 'Europe/Berlin'],
        ['ben@contoso.com', contosoId, 'UTC', 'UTC'],
        ['cleo@northwind.example', northwind.id, 'Eastern Standard Time', 'America/New_York'],
        ['dan@northwind.example', northwind.id, 'UTC', 'UTC'],
        ['eve.sim@outlook.com', undefined, 'GMT Standard Time', 'Europe/London'],
      ];
      for (const [email, tenantId, , iana] of plan) {
        const user = addMailbox(ctx, email, tenantId);
        members.push({ email, user, accountId: '', zone: iana as TimeZone });
      }
      for (const member of members) {
        member.accountId = await h.connect(member.email, { profile: 'warmup', ownerId: `owner-${member.email}` });
        const mailbox = mailboxOf(ctx, member.user);
        mailbox.settings.timeZone = plan.find(([email]) => email === member.email)![2];
      }
      // Poor reputation to start with: about 40% of their mail lands in Junk (junkBase × (1 − r)).
      ctx.settings.delivery.junkBase = 0.8;
      for (const member of members) mailboxOf(ctx, member.user).reputation = 0.5;

      // The host's own mail between them, before warm-up: warm-up must never touch it (§E).
      for (const [from, to] of [
        [0, 2],
        [2, 4],
        [4, 1],
        [3, 0],
      ] as const) {
        const sent = await h.send(`/v1/accounts/${members[from]!.accountId}/messages`, {
          to: [members[to]!.email],
          subject: `Quarterly figures ${from}-${to}`,
          text: 'The numbers you asked for are attached to the shared drive.',
        });
        assert.equal(sent.status, 202, JSON.stringify(sent.body));
      }
      await h.drain();
      for (const member of members) {
        for (const message of Object.values(mailboxOf(ctx, member.user).messages)) {
          if (message.subject.startsWith('Quarterly figures')) hostMessageIds.add(message.internetMessageId);
        }
      }

      runWarmup = warmupRunnerOf(h, dialect, provider);

      // Start on a Monday just after midnight UTC, so the first day is a whole working day everywhere.
      const now = h.clock.now();
      const weekday = new Date(now).getUTCDay();
      const toMonday = ((8 - weekday) % 7 || 7) * DAY;
      start = Date.UTC(
        new Date(now + toMonday).getUTCFullYear(),
        new Date(now + toMonday).getUTCMonth(),
        new Date(now + toMonday).getUTCDate(),
        0,
        1,
      );
      h.clock.set(start);
      for (const member of members) {
        await enableWarmup(h.service.deps, h.client.organization.id, member.accountId, {});
      }
      await simulateUntil(start + days * DAY);
    });
    after(async () => {
      await h?.close();
    });

    /**
     * Runs the warm-up work, the outbox and the bounce reader at every instant warm-up or the outbox has something
     * due, until `end` (the bounce reader looks whenever its own look has come by then).
     */
    async function simulateUntil(end: number): Promise<void> {
      const db = h.service.deps.db;
      for (let step = 0; step < 100_000; step++) {
        await runWarmup();
        await h.drain();
        await runBounceScans(h.service.deps, provider);
        const now = h.clock.now();
        const next = await nextWarmupWorkAt(db, end);
        if (next >= end) {
          h.clock.set(end);
          return;
        }
        h.clock.set(Math.max(next, now + 1_000));
      }
      throw new Error('the simulation did not reach its end');
    }

    /** The engine's rows, each with the Message-ID it really carried (the outbox records a reply's own at once). */
    async function warmupRows() {
      const rows = await h.service.deps.db
        .selectFrom('warmup_messages')
        .leftJoin('outbox_messages', 'outbox_messages.id', 'warmup_messages.outbox_message_id')
        .selectAll('warmup_messages')
        .select('outbox_messages.internet_message_id as carried')
        .execute();
      return rows.map(({ carried, ...row }) => ({ ...row, internet_message_id: carried ?? row.internet_message_id }));
    }

    it('sends on the ramp, inside each sender’s window, through the outbox, to partners of other domains', async () => {
      const rows = await warmupRows();
      const sent = rows.filter((r) => r.status === 'sent' || r.status === 'bounced');
      assert.ok(sent.length >= members.length * days * 2, `warm-up mail was sent (${sent.length})`);
      const byId = new Map(members.map((m) => [m.accountId, m]));
      const deliveries = new Map(h.ctx.world.deliveries.map((d) => [d.internetMessageId, d]));
      for (const row of sent) {
        const sender = byId.get(row.sender_account_id)!;
        const recipient = byId.get(row.recipient_account_id)!;
        assert.notEqual(sender.email.split('@')[1], recipient.email.split('@')[1], 'partners are of another domain');
        const delivery = deliveries.get(row.internet_message_id ?? '');
        assert.ok(delivery, `the emulator delivered ${row.internet_message_id}`);
        assert.equal(delivery.from.toLowerCase(), sender.email);
        assert.deepEqual(delivery.recipients, [recipient.email]);
        assert.ok(row.outbox_message_id, 'sent through the outbox');
        if (row.turn === 0) {
          // New threads: Mon–Fri 08:30–18:00 in the sender's zone (from mailboxSettings), never on :00 or :30 (§B).
          const local = localTime(delivery.submittedAt, sender.zone);
          assert.ok(
            local.minuteOfDay >= 8 * 60 + 30 && local.minuteOfDay <= 18 * 60 + 10,
            `${sender.email} at ${local.minuteOfDay}`,
          );
          assert.ok(local.weekday <= 5);
        } else {
          assert.equal(delivery.via, 'draftSend');
          const original = rows.find((r) => r.id === row.in_reply_to_id)!;
          const copies = Object.values(mailboxOf(h.ctx, recipient.user).messages).filter(
            (m) => m.internetMessageId === row.internet_message_id,
          );
          for (const copy of copies) assert.equal(copy.inReplyTo, original.internet_message_id, 'threaded reply');
        }
      }
      // At most one warm-up send per 10 minutes per mailbox (§G).
      for (const member of members) {
        const times = sent
          .filter((r) => r.sender_account_id === member.accountId)
          .map((r) => deliveries.get(r.internet_message_id ?? '')!.submittedAt)
          .sort((a, b) => a - b);
        for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 10 * MINUTE - 1_000);
      }
      // The 7-day balance (§C): each mailbox's inbound and outbound stay within ±30% of each other, with the small
      // slack (4) that lets day one start.
      for (const member of members) {
        const out = rows.filter((r) => r.sender_account_id === member.accountId && r.status !== 'canceled').length;
        const inbound = rows.filter(
          (r) => r.recipient_account_id === member.accountId && r.status !== 'canceled',
        ).length;
        assert.ok(out <= Math.floor(1.3 * inbound + 4), `${member.email}: out ${out}, in ${inbound}`);
        assert.ok(inbound <= Math.floor(1.3 * out + 4), `${member.email}: in ${inbound}, out ${out}`);
      }
      // The ramp: day 1 sends no more than the start volume (Microsoft 365: 4, Outlook.com: 2).
      for (const member of members) {
        const dayOne = sent.filter(
          (r) =>
            r.sender_account_id === member.accountId &&
            r.local_date === localTime(start + 12 * 3_600_000, member.zone).date,
        );
        assert.ok(
          dayOne.length <= (member.email.endsWith('outlook.com') ? 2 : 4),
          `${member.email} day 1: ${dayOne.length}`,
        );
      }
    });

    it('reports placement exactly as the emulator’s delivery log has it, recorded before anything touched it', async () => {
      const rows = await warmupRows();
      const deliveries = new Map(h.ctx.world.deliveries.map((d) => [d.internetMessageId, d]));
      const byId = new Map(members.map((m) => [m.accountId, m]));
      let observed = 0;
      for (const row of rows.filter((r) => r.observed_at !== null)) {
        observed++;
        const delivery = deliveries.get(row.internet_message_id ?? '')!;
        const placement = delivery.placements.find((p) => p.address === byId.get(row.recipient_account_id)!.email);
        assert.equal(row.landed_in, placement?.outcome, `placement of ${row.internet_message_id}`);
        if (row.rescued_at !== null) assert.equal(row.landed_in, 'junkemail', 'only mail in Junk is rescued');
      }
      assert.ok(observed > 0);
      // Per mailbox: the 30-day figures mailbridge reports equal the oracle's count over the same messages.
      for (const member of members) {
        const view = await readWarmupAccount(
          h.service.deps.db,
          h.client.organization.id,
          member.accountId,
          h.clock.now(),
        );
        const mine = rows.filter((r) => r.sender_account_id === member.accountId && r.observed_at !== null);
        const inboxByOracle = mine.filter((r) => {
          const d = deliveries.get(r.internet_message_id ?? '')!;
          return d.placements.some((p) => p.outcome === 'inbox');
        }).length;
        const metrics = view.metrics.last30Days;
        assert.equal(metrics.observed, mine.length);
        assert.equal(metrics.inboxRate === null ? 0 : Math.round(metrics.inboxRate * metrics.observed), inboxByOracle);
        const sentByOracle = h.ctx.world.deliveries.filter(
          (d) =>
            d.from.toLowerCase() === member.email && rows.some((r) => r.internet_message_id === d.internetMessageId),
        ).length;
        assert.equal(metrics.sent, sentByOracle, `${member.email} sent`);
        const rescuedInMailboxes = mine.filter((r) => {
          const d = deliveries.get(r.internet_message_id ?? '')!;
          const recipient = byId.get(r.recipient_account_id)!;
          const copy = Object.values(mailboxOf(h.ctx, recipient.user).messages).find(
            (m) => m.internetMessageId === d.internetMessageId,
          );
          return copy?.engagement?.includes('rescue') ?? false;
        }).length;
        assert.equal(metrics.savedFromSpam, rescuedInMailboxes, `${member.email} saved from spam`);
      }
    });

    it('never touches mail that is not warm-up, and leaves no warm-up clutter in Sent Items or the Inbox', async () => {
      const rows = await warmupRows();
      const warmupIds = new Set(rows.map((r) => r.internet_message_id).filter((id): id is string => id !== null));
      for (const member of members) {
        const messages = Object.values(mailboxOf(h.ctx, member.user).messages);
        for (const message of messages.filter((m) => hostMessageIds.has(m.internetMessageId))) {
          const where = folderName(h.ctx, member.user, message);
          if (where === 'sentitems') continue;
          assert.equal(message.isRead, false, `host mail ${message.subject} was not read`);
          assert.equal(message.flag.flagStatus, 'notFlagged');
          assert.equal(message.importance, 'normal');
          assert.ok(['inbox', 'junkemail'].includes(where), `host mail stays where it landed (${where})`);
        }
        for (const message of messages.filter((m) => warmupIds.has(m.internetMessageId))) {
          const where = folderName(h.ctx, member.user, message);
          const sentRow = rows.find((r) => r.internet_message_id === message.internetMessageId);
          assert.notEqual(
            where,
            'sentitems',
            `${member.email}: warm-up copy left in Sent Items ${JSON.stringify(sentRow)} now ${h.clock.now()}`,
          );
          if (where === 'inbox' || where === 'junkemail') {
            // Only mail still inside its reading time: its filing into "Warm-up" is planned.
            const row = rows.find(
              (r) => r.internet_message_id === message.internetMessageId && r.recipient_account_id === member.accountId,
            );
            assert.ok(row, 'a warm-up message in the Inbox is one mailbridge knows');
            assert.equal(row.filed_at, null);
            assert.ok(
              row.observed_at === null || row.pending_actions?.includes('file_to_warmup_folder'),
              `${member.email}: ${message.subject} is on its way to Warm-up`,
            );
          }
        }
        const filed = messages.filter((m) => folderName(h.ctx, member.user, m) === 'Warm-up');
        assert.ok(
          filed.every((m) => warmupIds.has(m.internetMessageId)),
          'only warm-up mail is filed',
        );
      }
    });

    it('records warm-up events for every mailbox', async () => {
      const events = await listEvents(h.service.deps.db, h.client.organization.id, {
        limit: 200,
        type: 'warmup.started',
      });
      assert.equal(events.length, members.length);
    });
  });
}

simulation('sqlite', 3);
simulation('postgres', 1);
