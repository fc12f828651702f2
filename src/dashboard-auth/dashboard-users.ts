import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { DashboardUsersTable } from '../db/tables/accounts.js';
import type { Clock } from '../platform/clock.js';
import { newId } from '../platform/ids.js';
import { hashPassword } from './password-hash.js';
import { normalizeSignInEmail } from './sign-in-throttle.js';

/** A person who signs in to the dashboard. Works in one organisation; owns mailboxes as owner `dashboard:<id>`. */
export interface DashboardUser {
  id: string;
  organizationId: string;
  email: string;
}

export function toDashboardUser(row: Pick<DashboardUsersTable, 'id' | 'organization_id' | 'email'>): DashboardUser {
  return { id: row.id, organizationId: row.organization_id, email: row.email };
}

/** The owner external id under which a dashboard user's mailboxes are connected. */
export function dashboardOwnerExternalId(userId: string): string {
  return `dashboard:${userId}`;
}

export async function findDashboardUserRowByEmail(
  db: Kysely<Database>,
  email: string,
): Promise<DashboardUsersTable | undefined> {
  return db
    .selectFrom('dashboard_users')
    .selectAll()
    .where('email', '=', normalizeSignInEmail(email))
    .executeTakeFirst();
}

/**
 * Creates a user unless one has the address already (race-safe on both dialects: two processes starting at once
 * create it once). Returns the user and whether this call created it.
 */
export async function createDashboardUser(
  db: Kysely<Database>,
  clock: Clock,
  input: { organizationId: string; email: string; password: string },
): Promise<{ user: DashboardUser; created: boolean }> {
  const email = normalizeSignInEmail(input.email);
  const id = newId('usr', clock);
  const result = await db
    .insertInto('dashboard_users')
    .values({
      id,
      organization_id: input.organizationId,
      email,
      password_hash: await hashPassword(input.password),
      created_at: clock.now(),
    })
    .onConflict((conflict) => conflict.column('email').doNothing())
    .executeTakeFirst();
  const created = Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  const row = await findDashboardUserRowByEmail(db, email);
  if (!row) throw new Error(`dashboard user ${email} vanished right after it was created`);
  return { user: toDashboardUser(row), created };
}

export async function setDashboardUserPasswordHash(
  db: Kysely<Database>,
  userId: string,
  passwordHash: string,
): Promise<void> {
  await db.updateTable('dashboard_users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

export async function countDashboardUsers(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('dashboard_users')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
