import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountStatus } from '../db/tables/accounts.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';
import { withTransaction } from '../db/transaction.js';
import { HEALTH_REMEDIATION, type Remediation } from '../health/remediation.js';
import type { ServiceDeps } from '../services.js';
import { dropAttachmentContent } from './attachment-content.js';
import { wakeLane } from './lane-wakeup.js';
import { recordMessageEvent } from './message-events.js';
import { HOLDING_STATUSES, REFUSING_STATUSES } from './message-target.js';

/**
 * Held messages (issue 4 item 3): a message whose account needs a person (reconnect, admin approval) waits in
 * `held` instead of being dropped or retried against Microsoft; it is released when the account is healthy again
 * and fails with `held_expired` after `MAILBRIDGE_HELD_MESSAGE_TTL`. Every change records its `message.*` event in
 * the same transaction.
 */

type HeldDeps = Pick<ServiceDeps, 'clock' | 'events' | 'config'> & Partial<Pick<ServiceDeps, 'jobs'>>;

/** What held means for the account's status and reason, as the API and the events say it. */
export function accountRemediation(status: string, reason: string | null): Remediation | undefined {
  const table = HEALTH_REMEDIATION as Readonly<Record<string, Remediation>>;
  return (reason === null ? undefined : table[`${status}:${reason}`]) ?? table[status];
}

/** The columns that hold a message (also used at acceptance). */
export function heldColumns(
  deps: Pick<ServiceDeps, 'config'>,
  now: number,
  status: string,
  reason: string | null,
): Pick<
  OutboxMessagesTable,
  'status' | 'held_reason' | 'held_detail' | 'held_since' | 'held_expires_at' | 'next_attempt_at'
> {
  return {
    status: 'held',
    held_reason: status,
    held_detail: reason,
    held_since: now,
    held_expires_at: now + deps.config.outbox.heldMessageTtlMs,
    next_attempt_at: null,
  };
}

export function heldEventData(row: Pick<OutboxMessagesTable, 'held_reason' | 'held_detail' | 'held_expires_at'>) {
  return {
    status: 'held',
    reason: row.held_reason,
    detail: row.held_detail,
    expiresAt: row.held_expires_at === null ? null : new Date(Number(row.held_expires_at)).toISOString(),
    remediation: row.held_reason === null ? undefined : accountRemediation(row.held_reason, row.held_detail),
  };
}

/** When a released message may go: its `sendAt` if that is still ahead, now otherwise. */
function releaseTime(now: number) {
  return sql<number>`case when send_at is not null and send_at > ${now} then send_at else ${now} end`;
}

/**
 * Releases the account's held messages (at most `limit` in this transaction; the dispatcher's sweep releases any
 * rest) when its status lets it send again: connected, degraded, unknown. Call it in the transaction that makes
 * the account healthy (the connect flow's upsert, `recordAccountHealth`). Returns how many were released.
 */
export async function releaseHeldMessages(
  trx: Kysely<Database>,
  deps: Pick<ServiceDeps, 'clock' | 'events'> & Partial<Pick<ServiceDeps, 'jobs'>>,
  accountId: string,
  options: { limit?: number } = {},
): Promise<number> {
  return withTransaction(trx, async (t) => {
    const account = await t.selectFrom('accounts').select('status').where('id', '=', accountId).executeTakeFirst();
    if (!account || !canSend(account.status)) return 0;
    const now = deps.clock.now();
    const ids = t
      .selectFrom('outbox_messages')
      .select('id')
      .where('account_id', '=', accountId)
      .where('status', '=', 'held')
      .orderBy('id')
      .limit(options.limit ?? 500);
    const released = await t
      .updateTable('outbox_messages')
      .set({
        status: 'queued',
        next_attempt_at: releaseTime(now),
        held_reason: null,
        held_detail: null,
        held_since: null,
        held_expires_at: null,
        updated_at: now,
      })
      .where('id', 'in', ids)
      .where('status', '=', 'held')
      .returningAll()
      .execute();
    const wakeAt = new Map<string, number>();
    for (const row of released) {
      await recordMessageEvent(t, deps, row, 'message.released', { status: 'queued' });
      const at = Number(row.next_attempt_at ?? now);
      wakeAt.set(row.lane, Math.min(at, wakeAt.get(row.lane) ?? at));
    }
    // Released messages are due (or due at their sendAt): their mailbox's job, in this transaction.
    for (const [lane, at] of wakeAt) await wakeLane(t, deps, lane, at);
    return released.length;
  });
}

export function canSend(status: AccountStatus): boolean {
  return !HOLDING_STATUSES.has(status) && !REFUSING_STATUSES.has(status);
}

/**
 * The ids of accounts in these statuses, for the sweep's `account_id in (…)`: it repeats the join's condition so that
 * SQLite, which plans without statistics, starts from those accounts and their messages through the account index
 * instead of reading every queued message to join it (issue 14: the sweep runs every round of `start`'s loop).
 */
function accountsIn(db: Kysely<Database>, statuses: ReadonlySet<AccountStatus>) {
  return db
    .selectFrom('accounts')
    .select('id')
    .where('status', 'in', [...statuses]);
}

/**
 * The dispatcher's housekeeping, each step bounded by `limit`: hold queued messages of accounts that need a person,
 * fail queued or held messages of accounts that can no longer send (disconnected, unusable mailbox), release held
 * messages of accounts that are healthy again (in case no hook did), and fail held messages past their expiry.
 */
export async function sweepHeldMessages(deps: HeldDeps & Pick<ServiceDeps, 'db'>, limit = 200): Promise<void> {
  const now = deps.clock.now();

  // Hold: queued messages whose account now needs reconnecting or admin approval.
  const toHold = await deps.db
    .selectFrom('outbox_messages as m')
    .innerJoin('accounts as a', 'a.id', 'm.account_id')
    .select(['m.id', 'a.status', 'a.status_reason'])
    .where('m.status', '=', 'queued')
    .where('a.status', 'in', [...HOLDING_STATUSES])
    .where('m.account_id', 'in', accountsIn(deps.db, HOLDING_STATUSES))
    .limit(limit)
    .execute();
  if (toHold.length > 0) {
    await withTransaction(deps.db, async (trx) => {
      for (const each of toHold) {
        const row = await trx
          .updateTable('outbox_messages')
          .set({ ...heldColumns(deps, now, each.status, each.status_reason), updated_at: now })
          .where('id', '=', each.id)
          .where('status', '=', 'queued')
          .returningAll()
          .executeTakeFirst();
        if (row) await recordMessageEvent(trx, deps, row, 'message.held', heldEventData(row));
      }
    });
  }

  // Fail: messages waiting for an account that was disconnected or whose mailbox cannot send.
  const toFail = await deps.db
    .selectFrom('outbox_messages as m')
    .innerJoin('accounts as a', 'a.id', 'm.account_id')
    .select(['m.id', 'a.status', 'a.status_reason'])
    .where('m.status', 'in', ['queued', 'held'])
    .where('a.status', 'in', [...REFUSING_STATUSES])
    .where('m.account_id', 'in', accountsIn(deps.db, REFUSING_STATUSES))
    .limit(limit)
    .execute();
  if (toFail.length > 0) {
    await withTransaction(deps.db, async (trx) => {
      for (const each of toFail) {
        const reason = each.status === 'disconnected' ? 'account_disconnected' : 'mailbox_unusable';
        const remediation = accountRemediation(each.status, each.status_reason);
        const message =
          each.status === 'disconnected'
            ? 'The account was disconnected before the message could be sent.'
            : `The mailbox cannot send (${each.status_reason ?? 'unusable'}).`;
        const row = await trx
          .updateTable('outbox_messages')
          .set({
            status: 'failed',
            failure_reason: reason,
            failure_message: message,
            failure_remediation: remediation ? JSON.stringify(remediation) : null,
            next_attempt_at: null,
            updated_at: now,
          })
          .where('id', '=', each.id)
          .where('status', 'in', ['queued', 'held'])
          .returningAll()
          .executeTakeFirst();
        if (row) {
          await dropAttachmentContent(trx, row);
          await recordMessageEvent(trx, deps, row, 'message.failed', {
            status: 'failed',
            reason,
            detail: each.status_reason,
            message,
            remediation,
          });
        }
      }
    });
  }

  // Release: held messages whose account can send again (the hooks release at once; this catches the rest).
  const accountsToRelease = await deps.db
    .selectFrom('outbox_messages as m')
    .innerJoin('accounts as a', 'a.id', 'm.account_id')
    .select('m.account_id')
    .distinct()
    .where('m.status', '=', 'held')
    .where('a.status', 'not in', [...HOLDING_STATUSES, ...REFUSING_STATUSES])
    .limit(limit)
    .execute();
  for (const { account_id: accountId } of accountsToRelease) {
    if (accountId !== null) await releaseHeldMessages(deps.db, deps, accountId, { limit });
  }

  // Expire: held longer than MAILBRIDGE_HELD_MESSAGE_TTL.
  const expired = await deps.db
    .selectFrom('outbox_messages')
    .select('id')
    // A literal, so that the plan can use the partial index of held messages by expiry (migration 0021): it reads
    // only the expired ones, not every held message.
    .where('status', '=', sql.lit('held'))
    .where('held_expires_at', '<=', now)
    .limit(limit)
    .execute();
  if (expired.length > 0) {
    await withTransaction(deps.db, async (trx) => {
      for (const { id } of expired) {
        const before = await trx
          .selectFrom('outbox_messages')
          .select(['held_reason', 'held_detail', 'held_since'])
          .where('id', '=', id)
          .executeTakeFirst();
        const waited =
          before?.held_since == null ? '' : ` for ${Math.round((now - Number(before.held_since)) / 3_600_000)} h`;
        const message =
          `The message was held${waited} because the account needed attention ` +
          `(${before?.held_reason ?? 'unknown'}${before?.held_detail ? `: ${before.held_detail}` : ''}), ` +
          'and the account was not fixed in time (MAILBRIDGE_HELD_MESSAGE_TTL).';
        const remediation: Remediation = {
          title: 'Held too long',
          user: 'Your mailbox needed to be reconnected before this message could go out, and it expired while waiting. Reconnect, then send it again.',
          operator:
            'The account stayed in a state that needs a person (reconnect or admin approval) longer than MAILBRIDGE_HELD_MESSAGE_TTL. Ask the owner to reconnect, then resend.',
        };
        const row = await trx
          .updateTable('outbox_messages')
          .set({
            status: 'failed',
            failure_reason: 'held_expired',
            failure_message: message,
            failure_remediation: JSON.stringify(remediation),
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', '=', 'held')
          .returningAll()
          .executeTakeFirst();
        if (row) {
          await dropAttachmentContent(trx, row);
          await recordMessageEvent(trx, deps, row, 'message.failed', {
            status: 'failed',
            reason: 'held_expired',
            heldReason: row.held_reason,
            message,
            remediation,
          });
        }
      }
    });
  }
}
