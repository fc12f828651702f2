import { sql } from 'kysely';
import { withTransaction } from '../db/transaction.js';
import { wakeLane } from '../outbox/lane-wakeup.js';
import { processLeaseOwnerPrefix } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';

const RELEASED_DETAIL = 'The process shut down before sending anything: released at once for another worker.';

/**
 * At shutdown, gives back the outbox messages this process claimed but has not started sending: back to `queued`
 * (due as before), lease cleared, their attempt closed as `abandoned` (which pacing does not count), so another
 * worker takes them now instead of after the lease expires (2 minutes). A message whose attempt is `started` keeps
 * its lease: its request may have left, and only the recovery after the lease expires (look in Sent Items, or the
 * unknown-outcome policy) may decide about it.
 *
 * Each message is released in its own transaction that first locks the message row (PostgreSQL) and then reads
 * its attempt: `markStarted` updates the message before the attempt and commits both at once, so either it
 * committed first (the attempt reads `started`: left alone) or it waits for us and then finds the message queued
 * (`LeaseLostError`: nothing is sent). The release is fenced like every outbox write: status, lease owner and
 * attempt number must still match.
 */
export async function releaseClaimedMessages(
  deps: Pick<ServiceDeps, 'db' | 'dialect' | 'clock'> & Partial<Pick<ServiceDeps, 'jobs'>>,
  options: { leaseOwnerPrefix?: string } = {},
): Promise<{ released: string[] }> {
  const prefix = options.leaseOwnerPrefix ?? processLeaseOwnerPrefix();
  // substr instead of LIKE: a host name may hold `_`, which LIKE reads as a wildcard. The (status, lease_until)
  // index narrows the scan to messages in flight.
  const candidates = await deps.db
    .selectFrom('outbox_messages')
    .select(['id', 'lease_owner', 'attempts'])
    .where('status', '=', 'sending')
    .where(sql<string>`substr(lease_owner, 1, ${prefix.length})`, '=', prefix)
    .execute();
  const released: string[] = [];
  for (const candidate of candidates) {
    if (candidate.lease_owner === null) continue;
    const owner = candidate.lease_owner;
    const done = await withTransaction(deps.db, async (trx) => {
      const message = await trx
        .selectFrom('outbox_messages')
        .select(['id', 'lane', 'next_attempt_at'])
        .where('id', '=', candidate.id)
        .where('status', '=', 'sending')
        .where('lease_owner', '=', owner)
        .where('attempts', '=', candidate.attempts)
        .$if(deps.dialect === 'postgres', (query) => query.forUpdate())
        .executeTakeFirst();
      if (!message) return false;
      const attempt = await trx
        .selectFrom('outbox_attempts')
        .select(['id', 'outcome'])
        .where('message_id', '=', candidate.id)
        .where('number', '=', candidate.attempts)
        .executeTakeFirst();
      if (attempt?.outcome !== 'claimed') return false;
      const now = deps.clock.now();
      await trx
        .updateTable('outbox_messages')
        .set({
          status: 'queued',
          lease_owner: null,
          lease_until: null,
          next_attempt_at: message.next_attempt_at === null ? now : Math.min(Number(message.next_attempt_at), now),
          updated_at: now,
        })
        .where('id', '=', candidate.id)
        .execute();
      await trx
        .updateTable('outbox_attempts')
        .set({ outcome: 'abandoned', finished_at: now, detail: RELEASED_DETAIL })
        .where('id', '=', attempt.id)
        .execute();
      // Another worker's job for the mailbox, committed with the release (issue 5: jobs on PostgreSQL).
      await wakeLane(trx, deps, message.lane, now);
      return true;
    });
    if (done) released.push(candidate.id);
  }
  return { released };
}
