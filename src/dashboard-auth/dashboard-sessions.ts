import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../platform/clock.js';
import { randomToken } from '../platform/ids.js';
import { type DashboardUser, toDashboardUser } from './dashboard-users.js';

/**
 * Dashboard sessions: a random 256-bit cookie value, stored only as its SHA-256 (a database leak gives no usable
 * session; a fast hash suffices for a 256-bit random secret). A session ends after `SESSION_IDLE_MS` without use or
 * `SESSION_MAX_MS` after sign-in, whichever comes first, or at sign-out.
 * @see docs/standards.md §7
 */
export const SESSION_IDLE_MS = 2 * 60 * 60_000;
export const SESSION_MAX_MS = 12 * 60 * 60_000;
/** Sliding the idle expiry is written at most this often, so browsing is not a write per request. */
const SLIDE_WRITE_INTERVAL_MS = 60_000;

export interface DashboardSession {
  /** SHA-256 of the cookie value: the row key. */
  idHash: string;
  user: DashboardUser;
  expiresAt: number;
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

export interface DashboardSessionStart {
  /** The cookie value: only ever sent to the browser. */
  token: string;
  expiresAt: number;
}

/** Starts a session; returns the cookie value and when it expires (unless used before). */
export async function createDashboardSession(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
): Promise<DashboardSessionStart> {
  const token = randomToken(32);
  const now = clock.now();
  const expiresAt = now + SESSION_IDLE_MS;
  await db
    .insertInto('dashboard_sessions')
    .values({ id_hash: hashSessionToken(token), user_id: userId, created_at: now, expires_at: expiresAt })
    .execute();
  // Expired sessions of this user are garbage by now; clearing them here keeps the table small without a job.
  await db.deleteFrom('dashboard_sessions').where('user_id', '=', userId).where('expires_at', '<=', now).execute();
  return { token, expiresAt };
}

/** The live session a cookie value names, sliding its idle expiry; undefined (and deleted) when expired. */
export async function resolveDashboardSession(
  db: Kysely<Database>,
  clock: Clock,
  token: string,
): Promise<DashboardSession | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  const idHash = hashSessionToken(token);
  const row = await db
    .selectFrom('dashboard_sessions')
    .innerJoin('dashboard_users', 'dashboard_users.id', 'dashboard_sessions.user_id')
    .select([
      'dashboard_sessions.created_at',
      'dashboard_sessions.expires_at',
      'dashboard_users.id',
      'dashboard_users.organization_id',
      'dashboard_users.email',
    ])
    .where('dashboard_sessions.id_hash', '=', idHash)
    .executeTakeFirst();
  if (!row) return undefined;
  const now = clock.now();
  let expiresAt = Number(row.expires_at);
  if (expiresAt <= now) {
    await db.deleteFrom('dashboard_sessions').where('id_hash', '=', idHash).execute();
    return undefined;
  }
  const slid = Math.min(Number(row.created_at) + SESSION_MAX_MS, now + SESSION_IDLE_MS);
  if (slid - expiresAt >= SLIDE_WRITE_INTERVAL_MS) {
    await db.updateTable('dashboard_sessions').set({ expires_at: slid }).where('id_hash', '=', idHash).execute();
    expiresAt = slid;
  }
  return { idHash, user: toDashboardUser(row), expiresAt };
}

export async function deleteDashboardSession(db: Kysely<Database>, idHash: string): Promise<void> {
  await db.deleteFrom('dashboard_sessions').where('id_hash', '=', idHash).execute();
}
