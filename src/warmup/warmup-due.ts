import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';

/**
 * What a mailbox has due (docs/warmup.md §W), read in one statement with its account: a run does only the steps that
 * have work, and its next due time comes from the same figures, so a run costs what fell due.
 */

export interface MailboxDue {
  /** Own warm-up mail the outbox still holds, or sent mail it has since reported bounced: its outcome is to copy. */
  outboxPending: boolean;
  /** Own sent warm-up mail whose copy is still in Sent Items. */
  sentCopies: boolean;
  /** The earliest planned send (null: none). */
  nextSend: number | null;
  /** The earliest due step on warm-up mail this mailbox received (null: none). */
  nextStep: number | null;
  /** Warm-up mail handed to the outbox for this mailbox and not found yet: it looks again soon. */
  awaitingMail: boolean;
}

export type AccountWithOwner = AccountsTable & { owner_external_id: string };

/** How long mail handed to the outbox for a mailbox is looked for (older mail that never came is given up). */
const AWAIT_MAIL_MS = 2 * 86_400_000;
/** How long after a send a bounce can still come back (the bounce reader looks for 3 days, src/bounces/). */
const BOUNCE_WINDOW_MS = 4 * 86_400_000;

/** The mailbox's account (with its owner's external id) and what it has due at `now`; undefined: no account. */
export async function readMailboxDue(
  db: Kysely<Database>,
  accountId: string,
  now: number,
): Promise<{ account: AccountWithOwner; due: MailboxDue } | undefined> {
  const found = await db
    .selectFrom('accounts')
    .innerJoin('owners', 'owners.id', 'accounts.owner_id')
    .selectAll('accounts')
    .select('owners.external_id as owner_external_id')
    .select((eb) => [
      eb
        .exists(
          eb
            .selectFrom('warmup_messages as w')
            .leftJoin('outbox_messages as o', 'o.id', 'w.outbox_message_id')
            .select('w.id')
            .where('w.sender_account_id', '=', accountId)
            .where('w.planned_at', '>', now - BOUNCE_WINDOW_MS)
            .where((m) =>
              m.or([m('w.status', '=', 'queued'), m.and([m('w.status', '=', 'sent'), m('o.status', '=', 'bounced')])]),
            ),
        )
        .as('outbox_pending'),
      eb
        .exists(
          eb
            .selectFrom('warmup_messages')
            .select('id')
            .where('sender_account_id', '=', accountId)
            .where('status', 'in', ['sent', 'bounced'])
            .where('sent_copy_removed_at', 'is', null)
            .where('internet_message_id', 'is not', null),
        )
        .as('sent_copies'),
      eb
        .selectFrom('warmup_messages')
        .select((m) => m.fn.min<number | null>('planned_at').as('at'))
        .where('sender_account_id', '=', accountId)
        .where('status', '=', 'planned')
        .as('next_send'),
      eb
        .selectFrom('warmup_messages')
        .select((m) => m.fn.min<number | null>('actions_due_at').as('at'))
        .where('recipient_account_id', '=', accountId)
        .as('next_step'),
      eb
        .exists(
          eb
            .selectFrom('warmup_messages')
            .select('id')
            .where('recipient_account_id', '=', accountId)
            .where('status', 'in', ['queued', 'sent'])
            .where('observed_at', 'is', null)
            .where('planned_at', '>', now - AWAIT_MAIL_MS),
        )
        .as('awaiting_mail'),
    ])
    .where('accounts.id', '=', accountId)
    .executeTakeFirst();
  if (!found) return undefined;
  const { outbox_pending, sent_copies, next_send, next_step, awaiting_mail, ...account } = found;
  return {
    account,
    due: {
      outboxPending: truthy(outbox_pending),
      sentCopies: truthy(sent_copies),
      nextSend: next_send === null ? null : Number(next_send),
      nextStep: next_step === null ? null : Number(next_step),
      awaitingMail: truthy(awaiting_mail),
    },
  };
}

/** PostgreSQL answers `exists` as a boolean, SQLite as 0 or 1. */
function truthy(value: unknown): boolean {
  return value === true || Number(value) === 1;
}
