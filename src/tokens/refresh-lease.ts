import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { newLeaseOwnerId } from '../platform/ids.js';

/**
 * Single flight of token refreshes across processes (issue 3 item 6, issue 5 item 2): before asking Microsoft, a
 * process takes the account's refresh lease with one conditional upsert; another process that wants to refresh
 * the same account waits for the lease to end and uses what its holder stored. Unlike a PostgreSQL advisory lock
 * held by a transaction, no database connection stays checked out while the token request is out, so a storm of
 * refreshes is bounded by Microsoft's answer time rather than by the connection pool (README Performance, refresh
 * storm: 10 refreshes in flight per process with a pool of 10, before).
 *
 * The lease outlives the token request's own timeout (openid-client's 30 s), so a live holder never loses it; a
 * holder that dies leaves it to end by itself, and the next process to want a refresh takes it then. Leases are
 * timed by the service clock (`deps.clock`), shared by every process through the system clock in production.
 */
export const REFRESH_LEASE_MS = 60_000;

/** Takes the account's refresh lease unless a live one is held. Returns the holder id to release it with. */
export async function takeRefreshLease(
  db: Kysely<Database>,
  accountId: string,
  now: number,
): Promise<string | undefined> {
  // A new id per take: a release can never end a lease that a later flight (of this process too) holds.
  const owner = newLeaseOwnerId();
  const leaseUntil = now + REFRESH_LEASE_MS;
  const taken = await db
    .insertInto('account_refresh_leases')
    .values({ account_id: accountId, owner, lease_until: leaseUntil })
    .onConflict((conflict) =>
      conflict
        .column('account_id')
        .doUpdateSet({ owner, lease_until: leaseUntil })
        .where('account_refresh_leases.lease_until', '<=', now),
    )
    .returning('owner')
    .executeTakeFirst();
  // A row comes back only when this statement inserted the lease or took over an ended one.
  return taken === undefined ? undefined : owner;
}

/** The PostgreSQL channel a lease's release is announced on (payload: the account id). */
export const REFRESH_LEASE_RELEASED_CHANNEL = 'mailbridge_refresh_lease_released';

/**
 * Ends a lease this holder took (nothing if it ended and another process took it meanwhile). With `notify`
 * (PostgreSQL), the same statement announces the release on `REFRESH_LEASE_RELEASED_CHANNEL`, so a process waiting
 * for this account (src/db/notification-waiter.ts) looks at what the holder stored at once instead of polling.
 */
export async function releaseRefreshLease(
  db: Kysely<Database>,
  accountId: string,
  owner: string,
  options: { notify?: boolean } = {},
): Promise<void> {
  const released = db
    .deleteFrom('account_refresh_leases')
    .where('account_id', '=', accountId)
    .where('owner', '=', owner);
  if (!options.notify) {
    await released.execute();
    return;
  }
  await sql`with released as (${released.returning('account_id')})
    select pg_notify(${REFRESH_LEASE_RELEASED_CHANNEL}, account_id) from released`.execute(db);
}
