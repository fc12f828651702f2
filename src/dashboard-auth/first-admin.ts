import type { Kysely } from 'kysely';
import type { AdminSeedConfig } from '../config/config.js';
import type { Database } from '../db/schema.js';
import { ensureDefaultOrganization } from '../orgs/organizations.js';
import type { Clock } from '../platform/clock.js';
import { randomToken } from '../platform/ids.js';
import type { Logger } from '../platform/logger.js';
import {
  countDashboardUsers,
  createDashboardUser,
  findDashboardUserRowByEmail,
  setDashboardUserPasswordHash,
} from './dashboard-users.js';
import { hashPassword, verifyPassword } from './password-hash.js';

/** The address of the generated first admin when MAILBRIDGE_ADMIN_EMAIL is not set. */
export const GENERATED_ADMIN_EMAIL = 'admin@mailbridge.local';

export type FirstAdminResult =
  /** MAILBRIDGE_ADMIN_EMAIL/_PASSWORD: the admin exists now with that password. */
  | { kind: 'configured'; email: string; created: boolean; passwordUpdated: boolean }
  /** No admin configured and no user existed: one was made with this password, to be shown once. */
  | { kind: 'generated'; email: string; password: string }
  /** No admin configured and users exist: nothing to do. */
  | { kind: 'existing' };

/**
 * Makes sure someone can sign in to the dashboard, at every start:
 * - MAILBRIDGE_ADMIN_EMAIL + MAILBRIDGE_ADMIN_PASSWORD: that user exists in the default organisation with that
 *   password (an existing user's password is replaced when it differs, so changing the variable and restarting is
 *   how an operator resets it);
 * - otherwise, when no user exists yet: a user `admin@mailbridge.local` with a random 144-bit password, returned
 *   for the composition root to print once on stdout (never to the log, which is shipped and kept).
 * Two processes starting at once create the user once (unique email); only the one that created it gets the password.
 */
export async function ensureFirstAdmin(
  deps: { db: Kysely<Database>; clock: Clock; logger: Logger },
  admin: AdminSeedConfig,
): Promise<FirstAdminResult> {
  const { db, clock, logger } = deps;
  if (admin.email !== undefined && admin.password !== undefined) {
    const password = admin.password.reveal();
    const existing = await findDashboardUserRowByEmail(db, admin.email);
    if (existing) {
      if (await verifyPassword(password, existing.password_hash)) {
        return { kind: 'configured', email: existing.email, created: false, passwordUpdated: false };
      }
      await setDashboardUserPasswordHash(db, existing.id, await hashPassword(password));
      logger.info({ email: existing.email }, 'dashboard admin password set from MAILBRIDGE_ADMIN_PASSWORD');
      return { kind: 'configured', email: existing.email, created: false, passwordUpdated: true };
    }
    const organization = await ensureDefaultOrganization(db, clock);
    const { user, created } = await createDashboardUser(db, clock, {
      organizationId: organization.id,
      email: admin.email,
      password,
    });
    if (created) logger.info({ email: user.email }, 'dashboard admin created from MAILBRIDGE_ADMIN_EMAIL');
    return { kind: 'configured', email: user.email, created, passwordUpdated: false };
  }
  if ((await countDashboardUsers(db)) > 0) return { kind: 'existing' };
  const organization = await ensureDefaultOrganization(db, clock);
  const password = randomToken(18);
  const { user, created } = await createDashboardUser(db, clock, {
    organizationId: organization.id,
    email: GENERATED_ADMIN_EMAIL,
    password,
  });
  if (!created) return { kind: 'existing' };
  logger.info({ email: user.email }, 'dashboard admin created with a generated password (printed once on stdout)');
  return { kind: 'generated', email: user.email, password };
}
