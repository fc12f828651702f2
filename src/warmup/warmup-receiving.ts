import type { WarmupAccountsTable, WarmupMessagesTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import type { GraphMessage } from '../graph/graph-types.js';
import { runDeltaRound } from '../graph/message-delta.js';
import { newId } from '../platform/ids.js';
import { localTime } from './mailbox-time-zone.js';
import { decideReceiveActions, type LandingFolder, mailboxBias, type ReceiveAction } from './receive-decisions.js';
import { keyedSource } from './seeded-random.js';
import { earliestSendAt, nextWorkingDate, sameTimeNextWorkingDay } from './send-slots.js';
import { mailboxVoice } from './warmup-content.js';
import { callGraph, isNotFound, type MailboxRun, warmupFolderId } from './warmup-mailbox.js';
import { blankWarmupMessage } from './warmup-message-row.js';
import { maySend } from './warmup-sending.js';

/**
 * The receiving side (docs/warmup.md §E). It reads changes, not folders: a Graph delta round on Inbox and on Junk
 * Email, from the delta link the last round ended with, so a look costs what arrived. Warm-up mail is recognised
 * only by the Message-ID recorded at send time (the outbox's, or the one Exchange gave a threaded reply, which the
 * outbox records before sending); nothing else is ever read further, moved or changed. Where a message landed is
 * recorded before anything touches it, with the core's plan of what the recipient does and when; the plan's steps
 * run as they fall due (rescue only from Junk, read, flag, importance, a threaded reply through the outbox, filing
 * into "Warm-up", the purge 30 days later).
 */

const FOLDERS: readonly { folder: LandingFolder; column: 'inbox_delta_link' | 'junk_delta_link' }[] = [
  { folder: 'inbox', column: 'inbox_delta_link' },
  { folder: 'junkemail', column: 'junk_delta_link' },
];
/** What a delta round asks for: enough to match and date a message, never its body. */
const DELTA_FIELDS = ['internetMessageId', 'receivedDateTime', 'from', 'subject'];
/** Messages whose due steps one run performs; the rest wait for the next run. */
const ACTION_BATCH = 25;

/** One delta round per folder; records the placement of newly found warm-up mail. Returns how many were found. */
export async function lookForWarmupMail(run: MailboxRun): Promise<number> {
  let found = 0;
  const links: Partial<Record<(typeof FOLDERS)[number]['column'], string>> = {};
  for (const { folder, column } of FOLDERS) {
    const link = run.row[column];
    let round = await callGraph(run, (token) =>
      runDeltaRound(run.graph, token, link ? { deltaLink: link } : { folder, odata: { select: DELTA_FIELDS } }),
    );
    if (round.kind === 'restart') {
      // Graph dropped the sync state: start the folder again (warm-up mail already recorded is not recorded twice).
      round = await callGraph(run, (token) =>
        runDeltaRound(run.graph, token, { folder, odata: { select: DELTA_FIELDS } }),
      );
    }
    if (round.kind === 'restart') continue;
    found += await recordFound(run, folder, round.changed);
    links[column] = round.deltaLink;
  }
  // Both folders' new links in one write (a run that dies before it reads the same changes again: matching is
  // idempotent).
  if (Object.keys(links).length > 0) {
    await run.deps.db
      .updateTable('warmup_accounts')
      .set({ ...links, updated_at: run.now })
      .where('account_id', '=', run.row.account_id)
      .execute();
    Object.assign(run.row as WarmupAccountsTable, links);
  }
  return found;
}

/** Matches delta items to warm-up mail sent to this mailbox; records placement and the plan of the new ones. */
async function recordFound(run: MailboxRun, folder: LandingFolder, changed: readonly GraphMessage[]): Promise<number> {
  const { deps, row, now } = run;
  const byId = new Map<string, GraphMessage>();
  for (const message of changed) {
    if (typeof message.internetMessageId === 'string') byId.set(message.internetMessageId, message);
  }
  if (byId.size === 0) return 0;
  const ids = [...byId.keys()];
  const matches = await deps.db
    .selectFrom('warmup_messages')
    .leftJoin('outbox_messages', 'outbox_messages.id', 'warmup_messages.outbox_message_id')
    .selectAll('warmup_messages')
    .select('outbox_messages.internet_message_id as outbox_internet_message_id')
    .where('warmup_messages.recipient_account_id', '=', row.account_id)
    .where((eb) =>
      eb.or([
        eb('warmup_messages.internet_message_id', 'in', ids),
        eb('outbox_messages.internet_message_id', 'in', ids),
      ]),
    )
    .execute();
  const pairs: Array<{ match: WarmupMessagesTable; graphMessage: GraphMessage }> = [];
  const matchedIds = new Set<string>();
  for (const match of matches) {
    const graphMessage =
      byId.get(match.internet_message_id ?? '') ?? byId.get(match.outbox_internet_message_id ?? '') ?? undefined;
    if (!graphMessage) continue;
    matchedIds.add(graphMessage.id);
    pairs.push({ match, graphMessage });
  }
  const unmatched = changed.filter((message) => !matchedIds.has(message.id));
  pairs.push(...(await matchByPhrase(run, unmatched)));
  let found = 0;
  for (const { match, graphMessage } of pairs) {
    if (match.observed_at !== null) {
      // Seen before (a move of ours shows it again): only its id may have changed.
      if (match.graph_message_id !== graphMessage.id && match.filed_at === null) {
        await deps.db
          .updateTable('warmup_messages')
          .set({ graph_message_id: graphMessage.id, updated_at: now })
          .where('id', '=', match.id)
          .execute();
      }
      continue;
    }
    const receivedAt = Date.parse(graphMessage.receivedDateTime ?? '') || now;
    const actions = decideReceiveActions(
      {
        landedIn: folder,
        receivedAt: Math.min(receivedAt, now),
        foundAt: now,
        turn: match.turn,
        plannedTurns: match.planned_turns,
      },
      {
        zone: run.zone,
        bias: mailboxBias(row.seed, row.account_id, run.settings),
        canReply: maySend(run),
        random: keyedSource(row.seed, 'receive', match.id),
      },
      run.settings,
    ).filter((action) => action.kind !== 'record_placement');
    // The placement is recorded here, before any step below touches the message (§E.1).
    await deps.db
      .updateTable('warmup_messages')
      .set({
        observed_at: now,
        landed_in: folder,
        received_at: Math.min(receivedAt, now),
        graph_message_id: graphMessage.id,
        pending_actions: JSON.stringify(actions),
        actions_due_at: actions[0]?.at ?? null,
        updated_at: now,
      })
      .where('id', '=', match.id)
      .where('observed_at', 'is', null)
      .execute();
    found++;
  }
  return found;
}

/**
 * The backup identification (§D): a message whose Message-ID matched nothing (rewritten in transit) but that comes
 * from a pool member with warm-up mail on its way here is read once, as text, for that sender's own phrase (its
 * tagline); found, it is taken as the oldest such message with that subject. Mail from anyone else, or with another
 * subject, is never read. Returns the pairs found.
 */
async function matchByPhrase(
  run: MailboxRun,
  unmatched: readonly GraphMessage[],
): Promise<Array<{ match: WarmupMessagesTable; graphMessage: GraphMessage }>> {
  const { deps, row } = run;
  const fromAddress = (message: GraphMessage) => message.from?.emailAddress?.address?.toLowerCase() ?? '';
  const addresses = [...new Set(unmatched.map(fromAddress).filter((address) => address !== ''))];
  if (addresses.length === 0) return [];
  const waiting = await deps.db
    .selectFrom('warmup_messages')
    .innerJoin('accounts', 'accounts.id', 'warmup_messages.sender_account_id')
    .innerJoin('warmup_accounts', 'warmup_accounts.account_id', 'warmup_messages.sender_account_id')
    .selectAll('warmup_messages')
    .select(['accounts.email', 'accounts.display_name', 'warmup_accounts.seed'])
    .where('warmup_messages.recipient_account_id', '=', row.account_id)
    .where('warmup_messages.observed_at', 'is', null)
    .where('warmup_messages.status', 'in', ['queued', 'sent'])
    .where('accounts.email', 'in', addresses)
    .orderBy('warmup_messages.planned_at')
    .execute();
  if (waiting.length === 0) return [];
  const pairs: Array<{ match: WarmupMessagesTable; graphMessage: GraphMessage }> = [];
  const taken = new Set<string>();
  for (const message of unmatched) {
    // Only a message with the subject of warm-up mail on its way is read at all: the host's own mail between two
    // pool members is left alone.
    const subject = normalisedSubject(typeof message.subject === 'string' ? message.subject : '');
    const candidates = waiting.filter(
      (w) =>
        w.email.toLowerCase() === fromAddress(message) && !taken.has(w.id) && normalisedSubject(w.subject) === subject,
    );
    const sender = candidates[0];
    if (sender === undefined) continue;
    const phrase = mailboxVoice(
      sender.seed,
      sender.sender_account_id,
      sender.display_name ?? sender.email.split('@')[0] ?? '',
    ).phrase;
    const full = await callGraph(run, (token) =>
      run.graph.getMessage(token, message.id, { select: ['body'], bodyContentType: 'text' }),
    );
    if (!(full.data.body?.content ?? '').includes(phrase)) continue;
    taken.add(sender.id);
    const { email: _email, display_name: _name, seed: _seed, ...match } = sender;
    pairs.push({ match, graphMessage: message });
  }
  return pairs;
}

function normalisedSubject(subject: string): string {
  return subject
    .replace(/^(re:\s*)+/i, '')
    .trim()
    .toLowerCase();
}

/** Performs the steps that are due on warm-up mail this mailbox received. Returns how many steps ran. */
export async function performDueActions(run: MailboxRun): Promise<number> {
  const { deps, row, now } = run;
  const due = await deps.db
    .selectFrom('warmup_messages')
    .selectAll()
    .where('recipient_account_id', '=', row.account_id)
    .where('actions_due_at', '<=', now)
    .orderBy('actions_due_at')
    .limit(ACTION_BATCH)
    .execute();
  let performed = 0;
  for (const message of due) {
    const actions = JSON.parse(message.pending_actions ?? '[]') as ReceiveAction[];
    while (actions.length > 0 && actions[0]!.at <= now) {
      const action = actions.shift()!;
      const columns = await perform(run, message, action);
      if (columns === 'gone') {
        // The user deleted or moved it away: nothing more is done to it.
        actions.length = 0;
      }
      const done = columns === 'gone' ? {} : columns;
      Object.assign(message, done);
      await deps.db
        .updateTable('warmup_messages')
        .set({
          ...done,
          pending_actions: actions.length === 0 ? null : JSON.stringify(actions),
          actions_due_at: actions[0]?.at ?? null,
          updated_at: now,
        })
        .where('id', '=', message.id)
        .execute();
      performed++;
    }
  }
  return performed;
}

type DoneColumns = Partial<WarmupMessagesTable>;

async function perform(
  run: MailboxRun,
  message: WarmupMessagesTable,
  action: ReceiveAction,
): Promise<DoneColumns | 'gone'> {
  const { now } = run;
  const id = message.graph_message_id;
  if (id === null) return 'gone';
  try {
    switch (action.kind) {
      case 'move_to_inbox': {
        // Rescue only what is really in Junk, and never undo a filing (§E.2).
        if (message.landed_in !== 'junkemail' || message.filed_at !== null || message.rescued_at !== null) return {};
        const moved = await callGraph(run, (token) => run.graph.moveMessage(token, id, 'inbox'));
        return { rescued_at: now, graph_message_id: moved.data.id };
      }
      case 'mark_read':
        await callGraph(run, (token) => run.graph.updateMessage(token, id, { isRead: true }));
        return { read_at: now };
      case 'flag':
        await callGraph(run, (token) => run.graph.updateMessage(token, id, { flag: { flagStatus: 'flagged' } }));
        return { flagged_at: now };
      case 'mark_important':
        await callGraph(run, (token) => run.graph.updateMessage(token, id, { importance: 'high' }));
        return { important_at: now };
      case 'file_to_warmup_folder': {
        const folder = await warmupFolderId(run);
        const moved = await callGraph(run, (token) => run.graph.moveMessage(token, id, folder));
        return { filed_at: now, graph_message_id: moved.data.id };
      }
      case 'reply':
        return (await planReply(run, message, action)) ? { replied_at: now } : {};
      case 'purge':
        await callGraph(run, (token) => run.graph.deleteMessage(token, id));
        return { purged_at: now };
      case 'record_placement':
        return {};
    }
  } catch (error) {
    if (isNotFound(error)) return 'gone';
    throw error;
  }
}

/**
 * Plans this mailbox's reply in the thread (§E.5) as its own warm-up message: threaded through `createReply` by the
 * outbox, at least 10 minutes from its other warm-up sends (§G), and counted in the day's target (§A: replies count
 * toward T) by giving up a new thread still planned today when the target is reached, else by waiting for the next
 * working day (docs/warmup.md §W). No reply when this mailbox may not send, or when the next day is full too.
 */
async function planReply(
  run: MailboxRun,
  original: WarmupMessagesTable,
  action: Extract<ReceiveAction, { kind: 'reply' }>,
): Promise<boolean> {
  const { deps, row, now } = run;
  if (!maySend(run) || original.replied_at !== null) return false;
  const scheduled = await deps.db
    .selectFrom('warmup_messages')
    .select('planned_at')
    .where('sender_account_id', '=', row.account_id)
    .where('status', 'in', ['planned', 'queued', 'sent'])
    .where('planned_at', '>', now - 86_400_000)
    .execute();
  const busy = scheduled.map((s) => Number(s.planned_at));
  let at = earliestSendAt(Math.max(action.at, now), busy, run.settings);
  let date = localTime(at, run.zone).date;
  return withTransaction(deps.db, async (trx) => {
    const plannedOn = async (on: string) => {
      const found = await trx
        .selectFrom('warmup_messages')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('sender_account_id', '=', row.account_id)
        .where('local_date', '=', on)
        .where('status', '!=', 'canceled')
        .executeTakeFirstOrThrow();
      return Number(found.count);
    };
    if (date === row.plan_date && (await plannedOn(date)) >= row.plan_target) {
      const spare = await trx
        .selectFrom('warmup_messages')
        .select('id')
        .where('sender_account_id', '=', row.account_id)
        .where('local_date', '=', date)
        .where('status', '=', 'planned')
        .where('turn', '=', 0)
        .orderBy('planned_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (spare) {
        await trx
          .updateTable('warmup_messages')
          .set({ status: 'canceled', updated_at: now })
          .where('id', '=', spare.id)
          .execute();
      } else {
        // Today's target is reached and every new thread is out: the reply waits for the next working day, whose plan
        // counts it first (§A: replies count toward T), at the same time of day within the sending window. Dropping it
        // cut the reply rate well below the setting (§V). At most today's target may wait there.
        const next = nextWorkingDate(date, run.settings.weekends);
        if ((await plannedOn(next)) >= row.plan_target) return false;
        at = earliestSendAt(sameTimeNextWorkingDay(at, run.zone, run.settings), busy, run.settings);
        date = localTime(at, run.zone).date;
      }
    }
    const id = newId('wum', deps.clock);
    await trx
      .insertInto('warmup_messages')
      .values({
        ...blankWarmupMessage(),
        id,
        organization_id: row.organization_id,
        sender_account_id: row.account_id,
        recipient_account_id: original.sender_account_id,
        thread_id: original.thread_id,
        turn: action.turn,
        planned_turns: original.planned_turns,
        subject: original.subject.startsWith('Re: ') ? original.subject : `Re: ${original.subject}`,
        status: 'planned',
        local_date: date,
        planned_at: at,
        in_reply_to_id: original.id,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return true;
  });
}
