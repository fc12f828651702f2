import { type Kysely, sql } from 'kysely';
import { recordAccountHealth } from '../accounts/account-health.js';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { recordMessageEvent } from '../outbox/message-events.js';
import type { ServiceDeps } from '../services.js';
import { BOUNCE_REMEDIATION, bounceEffectOf, bounceReasonFor } from './bounce-reasons.js';
import type { NonDeliveryReport } from './non-delivery-report.js';

/** `Partial` listeners: a caller with small deps records the bounce and nothing else reacts. */
type BounceDeps = Pick<ServiceDeps, 'db' | 'clock' | 'dialect' | 'events' | 'logger'> &
  Partial<Pick<ServiceDeps, 'outboxListeners'>>;

/** Statuses a report can still change: the message left (or may have). Everything else is final or not sent. */
const BOUNCEABLE = ['sent', 'outcome_unknown'] as const;

/** Exchange's rolling window for the daily recipient limit (docs/graph.md §3.3). */
const DAY_MS = 86_400_000;

export type BounceOutcome = 'bounced' | 'already_bounced' | 'not_ours';

/**
 * Applies one non-delivery report of `account`'s Inbox, in one transaction: the message it names (by Message-ID,
 * among this account's messages only) becomes `bounced` with the reason, a `message.bounced` event is recorded (and
 * its webhook), and the mailbox-wide effect follows: 5.1.8 makes the account `mailbox_unusable`; 5.1.90 pauses the
 * lane until 24 hours after the bounced send (Exchange blocks the mailbox until its rolling window frees; when that
 * happens exactly depends on sends we cannot see, so the longest wait is the safe one). Idempotent: a report read
 * twice finds its message already bounced and changes nothing.
 */
export async function recordBounce(
  deps: BounceDeps,
  account: AccountsTable,
  report: NonDeliveryReport,
): Promise<BounceOutcome> {
  return withTransaction(deps.db, async (trx) => {
    const message = await trx
      .selectFrom('outbox_messages')
      .selectAll()
      .where('internet_message_id', '=', report.originalMessageId)
      .where('account_id', '=', account.id)
      .$if(deps.dialect === 'postgres', (query) => query.forUpdate())
      .executeTakeFirst();
    if (!message) return 'not_ours';
    if (!(BOUNCEABLE as readonly string[]).includes(message.status)) return 'already_bounced';

    const now = deps.clock.now();
    const reason = bounceReasonFor(report.status);
    const remediation = BOUNCE_REMEDIATION[reason];
    const updated = await trx
      .updateTable('outbox_messages')
      .set({
        status: 'bounced',
        bounced_at: now,
        bounce_status: report.status,
        failure_reason: reason,
        failure_message: report.detail,
        failure_remediation: JSON.stringify(remediation),
        next_attempt_at: null,
        updated_at: now,
      })
      .where('id', '=', message.id)
      .where('status', 'in', BOUNCEABLE)
      .returningAll()
      .executeTakeFirst();
    if (!updated) return 'already_bounced';
    await recordMessageEvent(trx, deps, updated, 'message.bounced', {
      status: 'bounced',
      reason,
      bounceStatus: report.status,
      detail: report.detail,
      remediation,
    });

    const effect = bounceEffectOf(reason);
    if (effect.kind === 'account_unusable') {
      await recordAccountHealth(trx, deps, account, {
        status: 'mailbox_unusable',
        reason: 'restricted_sender',
        evidence: bounceEvidence(report),
      });
    } else if (effect.kind === 'pause_lane') {
      await pauseLane(trx, message.lane, Number(message.sent_at ?? now) + DAY_MS, now);
    }
    await deps.outboxListeners?.bounced.emit(trx, { messageId: message.id, at: now });
    deps.logger.info(
      { messageId: message.id, accountId: account.id, bounceStatus: report.status, reason },
      'outbox: message bounced',
    );
    return 'bounced';
  });
}

function bounceEvidence(report: NonDeliveryReport): ErrorEvidence {
  return { source: 'graph', errorCodes: [], ndrStatus: report.status, requestSent: 'yes', description: report.detail };
}

/** Moves the lane's `paced_until` to `until` unless it is already later (the claim skips a paced lane). */
async function pauseLane(trx: Kysely<Database>, lane: string, until: number, now: number): Promise<void> {
  await trx
    .insertInto('outbox_pacing')
    .values({ lane, throttled_until: null, paced_until: until, last_claimed_at: null, updated_at: now })
    .onConflict((conflict) =>
      conflict.column('lane').doUpdateSet({
        paced_until: sql<number>`case when outbox_pacing.paced_until is null or outbox_pacing.paced_until < ${until} then ${until} else outbox_pacing.paced_until end`,
        updated_at: now,
      }),
    )
    .execute();
}
