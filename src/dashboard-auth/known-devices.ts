import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../platform/clock.js';
import { randomToken } from '../platform/ids.js';
import { hashSessionToken } from './dashboard-sessions.js';
import { clearSignInFailures, deviceThrottleKey } from './sign-in-throttle.js';

/**
 * Known devices: OWASP's device cookies against lock-out as a denial of service. After a successful sign-in the
 * browser gets a random 256-bit cookie, stored (like a session) only as its SHA-256 with the user it signed in. A
 * later sign-in to that user carrying it is judged by the device's own failure counter, so strangers hammering the
 * address (whose per-address lock-out stops *them*) cannot lock the user out of the browser they always use; an
 * attacker cannot get such a cookie without the password. Stored in the database, so every process knows it.
 * Each successful sign-in replaces the device's cookie (a copied old value stops working).
 * @see docs/standards.md §9
 */

/** How long a browser stays known without a sign-in from it. [judgement: OWASP gives no figure; 90 days.] */
export const KNOWN_DEVICE_MS = 90 * 24 * 60 * 60_000;

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface KnownDevice {
  /** SHA-256 of the cookie value: the row key, and what its failure counter is named after. */
  idHash: string;
  /** The counter of this device's failed sign-ins (sign-in-throttle.ts). */
  throttleKey: string;
}

/** The live known device a cookie value names for this user, or undefined (absent, malformed, expired, another user). */
export async function findKnownDevice(
  db: Kysely<Database>,
  clock: Clock,
  token: string | undefined,
  userId: string,
): Promise<KnownDevice | undefined> {
  if (token === undefined || !TOKEN.test(token)) return undefined;
  const idHash = hashSessionToken(token);
  const row = await db
    .selectFrom('dashboard_known_devices')
    .select('id_hash')
    .where('id_hash', '=', idHash)
    .where('user_id', '=', userId)
    .where('expires_at', '>', clock.now())
    .executeTakeFirst();
  return row ? { idHash, throttleKey: deviceThrottleKey(idHash) } : undefined;
}

export interface KnownDeviceStart {
  /** The cookie value: only ever sent to the browser. */
  token: string;
  expiresAt: number;
}

/**
 * Remembers the browser a user just signed in from, replacing the cookie it came with (`replacing`), if any, and
 * that cookie's failure counter. Expired devices of the user are deleted here, so the table needs no job.
 */
export async function rememberKnownDevice(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  replacing: KnownDevice | undefined,
): Promise<KnownDeviceStart> {
  const token = randomToken(32);
  const now = clock.now();
  const expiresAt = now + KNOWN_DEVICE_MS;
  if (replacing) {
    await db.deleteFrom('dashboard_known_devices').where('id_hash', '=', replacing.idHash).execute();
    await clearSignInFailures(db, replacing.throttleKey);
  }
  await db
    .insertInto('dashboard_known_devices')
    .values({ id_hash: hashSessionToken(token), user_id: userId, created_at: now, expires_at: expiresAt })
    .execute();
  await db.deleteFrom('dashboard_known_devices').where('user_id', '=', userId).where('expires_at', '<=', now).execute();
  return { token, expiresAt };
}
