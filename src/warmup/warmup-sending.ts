import type { WarmupMessagesTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import { validateMessageOrThrow } from '../outbox/message-input.js';
import { acceptMessage, findIdempotentMessageOrThrow, requestHash } from '../outbox/message-store.js';
import { HOLDING_STATUSES, REFUSING_STATUSES, resolveAccountTargetOrThrow } from '../outbox/message-target.js';
import { localTime } from './mailbox-time-zone.js';
import { balanceHeadroom } from './partner-choice.js';
import { inPoolTurn } from './pool-turns.js';
import { keyedSource } from './seeded-random.js';
import { sameTimeNextWorkingDay, withinSendingDay } from './send-slots.js';
import { composeWarmupMessage, mailboxVoice, planThread } from './warmup-content.js';
import { callGraph, isNotFound, type MailboxRun } from './warmup-mailbox.js';
import { applySafetySignal, safetyStateOf, settingsOf } from './warmup-state.js';

/**
 * The sending side (docs/warmup.md §A, §B, §D): due planned messages go through the outbox, so they share the
 * mailbox's pacing, leases, attempt log and exactly-once sending with the host's own mail (the lane is the mailbox;
 * Microsoft's budget counts both). Each is submitted with the idempotency key `warmup:<id>`: a run that dies between
 * the outbox's commit and ours finds the same message again. Afterwards the outbox's outcome is copied back (sent,
 * the Message-ID it carried, failed, bounced), a bounce goes to the safety rules, and the sender's copy leaves Sent
 * Items (Graph's draft `/send` always saves one; warm-up must not clutter it).
 */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Submissions per run; more wait for the next run (they are minutes apart anyway). */
const SUBMIT_BATCH = 10;
/** How soon the recipient looks for a message handed to the outbox. [GUESS] Exchange delivers within a minute or two. */
const RECIPIENT_LOOK_DELAY_MS = 5 * MINUTE;

const SENDING = new Set(['active', 'watch', 'throttled', 'probation']);
/** The statuses in which a partner receives warm-up mail (§C), as partner-choice.ts filters them. */
const RECEIVING = new Set(['active', 'watch', 'probation']);
/** Warm-up mail that went to the outbox: what the 7-day balance counts (a canceled or failed one never left). */
const HANDED = ['queued', 'sent', 'bounced'] as const;

/** Whether the mailbox may send warm-up mail now: the user's switch, the safety state, the account. */
export function maySend(run: MailboxRun): boolean {
  const status = safetyStateOf(run.row).status;
  return (
    run.row.enabled === 1 &&
    SENDING.has(status) &&
    !run.settings.receiveOnly &&
    !HOLDING_STATUSES.has(run.account.status) &&
    !REFUSING_STATUSES.has(run.account.status)
  );
}

/** Hands the due planned messages to the outbox. Returns how many. */
export async function submitDueMessages(run: MailboxRun): Promise<number> {
  const { deps, row, now } = run;
  const due = await deps.db
    .selectFrom('warmup_messages')
    .innerJoin('accounts', 'accounts.id', 'warmup_messages.recipient_account_id')
    .selectAll('warmup_messages')
    .select(['accounts.email as recipient_email', 'accounts.display_name as recipient_display_name'])
    .where('warmup_messages.sender_account_id', '=', row.account_id)
    .where('warmup_messages.status', '=', 'planned')
    .where('warmup_messages.planned_at', '<=', now)
    .orderBy('warmup_messages.planned_at')
    .limit(SUBMIT_BATCH)
    .execute();
  if (due.length === 0) return 0;
  if (!maySend(run)) {
    // Stopped since they were planned: they are not sent late; the day's next plan starts afresh.
    await deps.db
      .updateTable('warmup_messages')
      .set({ status: 'canceled', updated_at: now })
      .where(
        'id',
        'in',
        due.map((m) => m.id),
      )
      .where('status', '=', 'planned')
      .execute();
    return 0;
  }
  const interval = run.settings.timing.minSendIntervalMinutes * MINUTE;
  let submitted = 0;
  // At most one warm-up send per 10 minutes (§G), whatever made this run late.
  let last = await lastSubmissionAt(run);
  for (const message of due) {
    if (!withinSendingDay(message.local_date, now, run.zone, run.settings)) {
      await moveMissedSend(run, message);
      continue;
    }
    if (last !== null && now - last < interval) {
      await deps.db
        .updateTable('warmup_messages')
        .set({ planned_at: last + interval, updated_at: now })
        .where('id', '=', message.id)
        .execute();
      continue;
    }
    if (!(await handOver(run, message))) continue;
    last = now;
    submitted++;
  }
  return submitted;
}

/**
 * Hands a due message to the outbox; false when a new thread would break the 7-day balance (§C) and is given up
 * instead (its partner may open one with us). A reply is not held to the balance. A new thread's balance is read and
 * the thread handed over in the pool's turn (pool-turns.ts), so two mailboxes' runs never hand over on the same read.
 */
async function handOver(run: MailboxRun, message: DueMessage): Promise<boolean> {
  if (message.turn > 0) {
    await submit(run, message);
    return true;
  }
  return inPoolTurn(run.row.organization_id, async () => {
    if (await stillBalanced(run, message)) {
      await submit(run, message);
      return true;
    }
    await run.deps.db
      .updateTable('warmup_messages')
      .set({ status: 'canceled', updated_at: run.now })
      .where('id', '=', message.id)
      .where('status', '=', 'planned')
      .execute();
    return false;
  });
}

/**
 * A send whose day's window closed before a run reached it (a runner that was down or late, or the 10-minute spacing
 * pushing it past the end): warm-up never sends after hours (§B). A new thread is given up (the next plan starts
 * afresh); a reply keeps its thread and moves to the next working day, at the same time of day.
 */
async function moveMissedSend(run: MailboxRun, message: WarmupMessagesTable): Promise<void> {
  const late = run.deps.db.updateTable('warmup_messages').where('id', '=', message.id).where('status', '=', 'planned');
  if (message.turn === 0) {
    await late.set({ status: 'canceled', updated_at: run.now }).execute();
    return;
  }
  const at = sameTimeNextWorkingDay(Number(message.planned_at), run.zone, run.settings);
  await late.set({ planned_at: at, local_date: localTime(at, run.zone).date, updated_at: run.now }).execute();
}

/**
 * Whether a new thread planned earlier still keeps §C's rules now that it is due: its partner still receives, and
 * over the last 7 days (what both mailboxes really handed to the outbox) the sender may send one more and the partner
 * receive one more, within ±30% (+4). The plan checked the same with what was planned then; partners paused, held
 * or gave up threads since, so the balance is enforced here, where it can hold. Replies are not held to it: each
 * answers mail the replier received, and moves both mailboxes back towards balance.
 */
async function stillBalanced(run: MailboxRun, message: WarmupMessagesTable): Promise<boolean> {
  const { deps, row, now } = run;
  const partner = await deps.db
    .selectFrom('warmup_accounts')
    .select(['enabled', 'state', 'provider', 'settings'])
    .where('account_id', '=', message.recipient_account_id)
    .executeTakeFirst();
  if (partner?.enabled !== 1 || !RECEIVING.has(partner.state)) return false;
  const since = now - run.settings.partners.balanceWindowDays * DAY;
  const counts = async (accountId: string) => {
    const [out, inbound] = await Promise.all(
      (['sender_account_id', 'recipient_account_id'] as const).map(async (column) => {
        const found = await deps.db
          .selectFrom('warmup_messages')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where(column, '=', accountId)
          .where('status', 'in', HANDED)
          .where('planned_at', '>', since)
          .executeTakeFirstOrThrow();
        return Number(found.count);
      }),
    );
    return { out: out!, inbound: inbound! };
  };
  const mine = await counts(row.account_id);
  if (balanceHeadroom(mine.inbound, mine.out, run.settings).send < 1) return false;
  const theirSettings = settingsOf(partner);
  // A receive-only partner sends nothing, so it is not held to the balance (§C).
  if (theirSettings.receiveOnly) return true;
  const theirs = await counts(message.recipient_account_id);
  return balanceHeadroom(theirs.inbound, theirs.out, theirSettings).receive >= 1;
}

/**
 * When this mailbox's last warm-up message left: the outbox's send time, which may come after it was handed over (the
 * host's own mail goes first in the lane), or now while one still waits in the outbox. Spacing from the hand-over
 * alone let two reach Exchange within 10 minutes behind a burst of the host's mail (docs/warmup.md §V).
 */
async function lastSubmissionAt(run: MailboxRun): Promise<number | null> {
  const waiting = await run.deps.db
    .selectFrom('warmup_messages')
    .select('id')
    .where('sender_account_id', '=', run.row.account_id)
    .where('status', '=', 'queued')
    .limit(1)
    .executeTakeFirst();
  if (waiting) return run.now;
  const row = await run.deps.db
    .selectFrom('warmup_messages')
    .select((eb) => eb.fn.max(eb.fn.coalesce('sent_at', 'planned_at')).as('last'))
    .where('sender_account_id', '=', run.row.account_id)
    .where('status', 'in', ['sent', 'bounced'])
    .executeTakeFirst();
  return row?.last === null || row?.last === undefined ? null : Number(row.last);
}

/** A due message with its recipient's address, as `submitDueMessages` reads it. */
type DueMessage = WarmupMessagesTable & { recipient_email: string; recipient_display_name: string | null };

async function submit(run: MailboxRun, message: DueMessage): Promise<void> {
  const { deps, row, now } = run;
  const recipient = { email: message.recipient_email, display_name: message.recipient_display_name };
  const voice = mailboxVoice(row.seed, row.account_id, signatureName(run));
  const thread = planThread(keyedSource(message.thread_id, 'thread'), run.settings);
  const content = composeWarmupMessage(
    {
      voice,
      recipientName: recipient.display_name?.split(' ')[0] ?? null,
      thread: { ...thread, turns: message.planned_turns },
      turn: message.turn,
      random: keyedSource(row.seed, 'message', message.id),
    },
    run.settings,
  );
  let replyToGraphId: string | undefined;
  if (message.in_reply_to_id !== null) {
    const original = await deps.db
      .selectFrom('warmup_messages')
      .select('graph_message_id')
      .where('id', '=', message.in_reply_to_id)
      .executeTakeFirst();
    replyToGraphId = original?.graph_message_id ?? undefined;
  }
  const idempotency = { key: `warmup:${message.id}`, hash: requestHash('warmup', message.id) };
  let outbox = await findIdempotentMessageOrThrow(deps.db, row.organization_id, idempotency);
  if (!outbox) {
    const target = await resolveAccountTargetOrThrow(deps.db, row.organization_id, row.account_id);
    const validated = validateMessageOrThrow(
      { to: [{ address: recipient.email }], subject: content.subject, text: content.body },
      { maxRecipientsPerMessage: deps.config.outbox.maxRecipientsPerMessage },
      now,
    );
    outbox = (
      await acceptMessage(
        deps,
        target,
        { ...validated, ...(replyToGraphId === undefined ? {} : { replyToGraphId }) },
        idempotency,
      )
    ).row;
  }
  const handed = outbox;
  await withTransaction(deps.db, async (trx) => {
    await trx
      .updateTable('warmup_messages')
      .set({
        status: 'queued',
        outbox_message_id: handed.id,
        internet_message_id: handed.internet_message_id,
        planned_at: now,
        updated_at: now,
      })
      .where('id', '=', message.id)
      .execute();
    // The recipient looks for it soon: its next run comes forward (due rows, so an idle pool costs nothing).
    const lookAt = now + RECIPIENT_LOOK_DELAY_MS;
    await trx
      .updateTable('warmup_accounts')
      .set({ next_run_at: lookAt })
      .where('account_id', '=', message.recipient_account_id)
      .where((eb) => eb.or([eb('next_run_at', 'is', null), eb('next_run_at', '>', lookAt)]))
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .execute();
  });
}

function signatureName(run: MailboxRun): string {
  return run.account.display_name ?? run.account.email.split('@')[0] ?? '';
}

/**
 * Copies the outbox's outcome of this mailbox's queued (and sent) warm-up messages: `sent` with the Message-ID the
 * message really carried (a threaded reply gets Exchange's own), `failed`, `bounced` with its status code (then
 * the safety rules: a partner's bad address leaves the pool, a restricted sender pauses at once). Returns how many
 * are still waiting in the outbox.
 */
export async function syncOutboxOutcomes(run: MailboxRun): Promise<number> {
  const { deps, row, now } = run;
  const rows = await deps.db
    .selectFrom('warmup_messages')
    .innerJoin('outbox_messages', 'outbox_messages.id', 'warmup_messages.outbox_message_id')
    .select([
      'warmup_messages.id',
      'warmup_messages.status',
      'warmup_messages.recipient_account_id',
      'outbox_messages.status as outbox_status',
      'outbox_messages.sent_at as outbox_sent_at',
      'outbox_messages.internet_message_id as outbox_internet_message_id',
      'outbox_messages.bounce_status',
      'outbox_messages.bounced_at',
    ])
    .where('warmup_messages.sender_account_id', '=', row.account_id)
    .where((eb) =>
      eb.or([
        eb('warmup_messages.status', '=', 'queued'),
        eb.and([eb('warmup_messages.status', '=', 'sent'), eb('outbox_messages.status', '=', 'bounced')]),
      ]),
    )
    .execute();
  let waiting = 0;
  for (const message of rows) {
    const outcome = message.outbox_status;
    if (outcome === 'sent' || outcome === 'outcome_unknown') {
      if (message.status !== 'queued') continue;
      await deps.db
        .updateTable('warmup_messages')
        .set({
          status: 'sent',
          sent_at: Number(message.outbox_sent_at ?? now),
          internet_message_id: message.outbox_internet_message_id,
          updated_at: now,
        })
        .where('id', '=', message.id)
        .execute();
    } else if (outcome === 'bounced') {
      await recordBounce(run, message.id, message.recipient_account_id, message.bounce_status ?? '', {
        at: Number(message.bounced_at ?? now),
        sentAt: Number(message.outbox_sent_at ?? now),
        internetMessageId: message.outbox_internet_message_id,
      });
    } else if (outcome === 'failed' || outcome === 'canceled') {
      await deps.db
        .updateTable('warmup_messages')
        .set({ status: 'failed', updated_at: now })
        .where('id', '=', message.id)
        .execute();
    } else {
      waiting++;
    }
  }
  return waiting;
}

async function recordBounce(
  run: MailboxRun,
  messageId: string,
  recipientAccountId: string,
  enhancedStatus: string,
  facts: { at: number; sentAt: number; internetMessageId: string },
): Promise<void> {
  const { deps, row, now } = run;
  const recipient = await deps.db
    .selectFrom('accounts')
    .select('email')
    .where('id', '=', recipientAccountId)
    .executeTakeFirst();
  await withTransaction(deps.db, async (trx) => {
    await trx
      .updateTable('warmup_messages')
      .set({
        status: 'bounced',
        sent_at: facts.sentAt,
        internet_message_id: facts.internetMessageId,
        bounced_at: facts.at,
        bounce_status: enhancedStatus,
        updated_at: now,
      })
      .where('id', '=', messageId)
      .execute();
    const outcome = await applySafetySignal(
      trx,
      deps,
      row,
      { kind: 'bounce', at: now, enhancedStatus, recipient: recipient?.email ?? '' },
      { ownerExternalId: run.account.owner_external_id },
    );
    if (outcome.removePartner !== null) await removePartner(run, trx, recipientAccountId, enhancedStatus);
  });
}

/** A partner whose address bounces leaves the pool (§G), with its own `warmup.paused` alert: never silently. */
async function removePartner(
  run: MailboxRun,
  trx: Parameters<Parameters<typeof withTransaction>[1]>[0],
  partnerId: string,
  enhancedStatus: string,
): Promise<void> {
  const { deps, now } = run;
  const partner = await trx
    .selectFrom('warmup_accounts')
    .innerJoin('accounts', 'accounts.id', 'warmup_accounts.account_id')
    .innerJoin('owners', 'owners.id', 'accounts.owner_id')
    .select(['warmup_accounts.enabled', 'warmup_accounts.organization_id', 'owners.external_id'])
    .where('warmup_accounts.account_id', '=', partnerId)
    .executeTakeFirst();
  if (!partner || partner.enabled === 0) return;
  const remediation =
    `Warm-up mail to this mailbox bounced (${enhancedStatus}): its address does not receive mail, so it left the ` +
    'warm-up pool. Check the mailbox exists and receives mail, then enable warm-up again.';
  await trx
    .updateTable('warmup_accounts')
    .set({ enabled: 0, paused_at: now, state_reason: 'address_bounced', remediation, updated_at: now })
    .where('account_id', '=', partnerId)
    .execute();
  await deps.events.record(trx, {
    organizationId: partner.organization_id,
    type: 'warmup.paused',
    accountId: partnerId,
    ownerExternalId: partner.external_id,
    data: { accountId: partnerId, reason: 'address_bounced', enhancedStatus, remediation },
  });
}

/**
 * Removes the sender's copies of sent warm-up mail from Sent Items (found by the Message-ID recorded at send time;
 * a delete, which Exchange keeps in Recoverable Items, not in a folder the user sees). Sent Items holds no warm-up.
 */
export async function clearSentCopies(run: MailboxRun): Promise<void> {
  const { deps, row, now } = run;
  const sent = await deps.db
    .selectFrom('warmup_messages')
    .select(['id', 'internet_message_id'])
    .where('sender_account_id', '=', row.account_id)
    .where('status', 'in', ['sent', 'bounced'])
    .where('sent_copy_removed_at', 'is', null)
    .where('internet_message_id', 'is not', null)
    .limit(SUBMIT_BATCH)
    .execute();
  for (const message of sent) {
    const id = message.internet_message_id as string;
    const copies = await callGraph(run, (token) =>
      run.graph.listMessages(token, 'sentitems', {
        filter: `internetMessageId eq '${id.replaceAll("'", "''")}'`,
        select: ['id'],
        top: 5,
      }),
    );
    for (const copy of copies.data.value) {
      try {
        await callGraph(run, (token) => run.graph.deleteMessage(token, copy.id));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    await deps.db
      .updateTable('warmup_messages')
      .set({ sent_copy_removed_at: now, updated_at: now })
      .where('id', '=', message.id)
      .execute();
  }
}
