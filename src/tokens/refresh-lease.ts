import {
  type Kysely,
  type OnConflictBuilder,
  type OnConflictDatabase,
  type OnConflictTables,
  type OnConflictUpdateBuilder,
  sql,
} from 'kysely';
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

/** A lease taken: its holder id (to release it with) and the lease's generation once taken. */
export interface TakenRefreshLease {
  owner: string;
  /**
   * How many times the lease had ended (releases and take-overs) when it was taken: equal to the generation read
   * before taking it (0 when there was no row) only if no refresh ended in between (see `isUnchangedSince`).
   */
  generation: number;
}

/** Takes the account's refresh lease unless a live one is held. Returns the holder id to release it with. */
export async function takeRefreshLease(
  db: Kysely<Database>,
  accountId: string,
  now: number,
): Promise<string | undefined> {
  return (await takeRefreshLeaseWithGeneration(db, accountId, now))?.owner;
}

/** `takeRefreshLease`, also saying the lease's generation (for `isUnchangedSince`). */
export async function takeRefreshLeaseWithGeneration(
  db: Kysely<Database>,
  accountId: string,
  now: number,
): Promise<TakenRefreshLease | undefined> {
  const take = newLeaseTake(now);
  const taken = await db
    .insertInto('account_refresh_leases')
    .values({ account_id: accountId, owner: take.owner, lease_until: take.leaseUntil })
    .onConflict((conflict) => takeOverEndedLease(conflict, take))
    .returning('generation')
    .executeTakeFirst();
  // A row comes back only when this statement inserted the lease or took over an ended one.
  return taken === undefined ? undefined : { owner: take.owner, generation: Number(taken.generation) };
}

/** What a take of a lease at `now` writes. */
export interface LeaseTake {
  owner: string;
  leaseUntil: number;
  now: number;
}

export function newLeaseTake(now: number): LeaseTake {
  // A new id per take: a release can never end a lease that a later flight (of this process too) holds.
  return { owner: newLeaseOwnerId(), leaseUntil: now + REFRESH_LEASE_MS, now };
}

/**
 * The `on conflict` of a lease take (an insert of `take` into `account_refresh_leases`): a lease row that exists is
 * taken over only if it ended (released, or ran out). Shared by `takeRefreshLeaseWithGeneration` and the
 * provider's read that takes the lease of an account due for a refresh in the same statement.
 */
export function takeOverEndedLease(
  conflict: OnConflictBuilder<Database, 'account_refresh_leases'>,
  take: LeaseTake,
): OnConflictUpdateBuilder<
  OnConflictDatabase<Database, 'account_refresh_leases'>,
  OnConflictTables<'account_refresh_leases'>
> {
  return conflict
    .column('account_id')
    .doUpdateSet((eb) => ({
      owner: take.owner,
      lease_until: take.leaseUntil,
      // Taking over a lease that ran out (its holder died, perhaps after storing a refresh) is an end too.
      generation: sql<number>`case when ${eb.ref('account_refresh_leases.lease_until')} = 0
        then ${eb.ref('account_refresh_leases.generation')}
        else ${eb.ref('account_refresh_leases.generation')} + 1 end`,
    }))
    .where('account_refresh_leases.lease_until', '<=', take.now);
}

/**
 * Whether a lease just taken shows that no refresh of the account ended since `generationRead` (the lease's
 * generation read together with the account, undefined when there was no row): then what was read is still what
 * is stored, as far as refreshes go (every refresh is stored under the lease, before its release).
 */
export function isUnchangedSince(taken: TakenRefreshLease, generationRead: number | undefined): boolean {
  return taken.generation === (generationRead ?? 0);
}

/** The PostgreSQL channel a lease's release is announced on (payload: the account id). */
export const REFRESH_LEASE_RELEASED_CHANNEL = 'mailbridge_refresh_lease_released';

/**
 * Ends a lease this holder took (nothing if it ended and another process took it meanwhile): the row stays, free
 * (`lease_until` 0), one generation further. With `notify` (PostgreSQL), the same statement announces the release
 * on `REFRESH_LEASE_RELEASED_CHANNEL`, so a process waiting for this account (src/db/notification-waiter.ts) looks at
 * what the holder stored at once instead of polling.
 */
export async function releaseRefreshLease(
  db: Kysely<Database>,
  accountId: string,
  owner: string,
  options: { notify?: boolean } = {},
): Promise<void> {
  const released = db
    .updateTable('account_refresh_leases')
    .set((eb) => ({ lease_until: 0, generation: eb('generation', '+', 1) }))
    .where('account_id', '=', accountId)
    .where('owner', '=', owner);
  if (!options.notify) {
    await released.execute();
    return;
  }
  await sql`with released as (${released.returning('account_id')})
    select pg_notify(${REFRESH_LEASE_RELEASED_CHANNEL}, account_id) from released`.execute(db);
}
