import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../platform/clock.js';

/**
 * The per-account side of sign-in throttling (the per-IP side is @fastify/rate-limit on the sign-in route). After
 * `SIGN_IN_FAILURE_LIMIT` failures within `SIGN_IN_FAILURE_WINDOW_MS`, a key is locked for `SIGN_IN_LOCK_MS`: every
 * attempt under it is refused without checking the password, including a right one (otherwise a lock-out would
 * confirm a guess). A key is either an address (`emailThrottleKey`), for browsers the account has never signed in
 * from, or one known device (`deviceThrottleKey`, known-devices.ts), so a stranger's failures lock strangers out and
 * never the user's own browser. Unknown addresses are counted and locked the same way, so a lock-out reveals nothing
 * about which addresses have accounts. In the database, so all processes share one counter.
 * @see docs/standards.md §9
 */
export const SIGN_IN_FAILURE_LIMIT = 5;
export const SIGN_IN_FAILURE_WINDOW_MS = 15 * 60_000;
export const SIGN_IN_LOCK_MS = 15 * 60_000;

/** The counter of sign-ins to an address from browsers it has not signed in from. */
export function emailThrottleKey(email: string): string {
  return createHash('sha256').update(normalizeSignInEmail(email), 'utf8').digest('base64url');
}

/** The counter of one known device (its cookie's hash): a base64url SHA-256 never starts with `device:`. */
export function deviceThrottleKey(deviceIdHash: string): string {
  return `device:${deviceIdHash}`;
}

export function normalizeSignInEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Until when the key is locked (epoch ms), or undefined when it may try. */
export async function signInLockedUntil(db: Kysely<Database>, clock: Clock, key: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('dashboard_sign_in_failures')
    .select('locked_until')
    .where('email_key', '=', key)
    .executeTakeFirst();
  const lockedUntil =
    row?.locked_until === null || row?.locked_until === undefined ? undefined : Number(row.locked_until);
  return lockedUntil !== undefined && lockedUntil > clock.now() ? lockedUntil : undefined;
}

/**
 * Counts a failed attempt; returns whether the key is now locked. One upsert, so concurrent failures from several
 * processes are all counted (no read-modify-write race).
 */
export async function recordSignInFailure(db: Kysely<Database>, clock: Clock, key: string): Promise<boolean> {
  const now = clock.now();
  const windowStart = now - SIGN_IN_FAILURE_WINDOW_MS;
  const row = await db
    .insertInto('dashboard_sign_in_failures')
    .values({ email_key: key, failures: 1, window_started_at: now, locked_until: null })
    .onConflict((conflict) =>
      conflict.column('email_key').doUpdateSet({
        failures: sql<number>`case when dashboard_sign_in_failures.window_started_at <= ${windowStart} then 1 else dashboard_sign_in_failures.failures + 1 end`,
        window_started_at: sql<number>`case when dashboard_sign_in_failures.window_started_at <= ${windowStart} then ${now} else dashboard_sign_in_failures.window_started_at end`,
      }),
    )
    .returning(['failures'])
    .executeTakeFirstOrThrow();
  if (Number(row.failures) < SIGN_IN_FAILURE_LIMIT) return false;
  // Locked: a fresh window starts when the lock ends.
  await db
    .updateTable('dashboard_sign_in_failures')
    .set({ locked_until: now + SIGN_IN_LOCK_MS, failures: 0, window_started_at: now + SIGN_IN_LOCK_MS })
    .where('email_key', '=', key)
    .execute();
  return true;
}

export async function clearSignInFailures(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom('dashboard_sign_in_failures').where('email_key', '=', key).execute();
}
