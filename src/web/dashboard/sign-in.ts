import { createDashboardSession, type DashboardSessionStart } from '../../dashboard-auth/dashboard-sessions.js';
import { findDashboardUserRowByEmail, setDashboardUserPasswordHash } from '../../dashboard-auth/dashboard-users.js';
import { decoyPasswordHash, hashPassword, needsRehash, verifyPassword } from '../../dashboard-auth/password-hash.js';
import { clearSignInFailures, recordSignInFailure, signInLockedUntil } from '../../dashboard-auth/sign-in-throttle.js';
import type { ServiceDeps } from '../../services.js';

/** One message for every failure: never says whether the address has an account. */
export const SIGN_IN_FAILED = 'Wrong email or password.';
export const SIGN_IN_LOCKED = 'Too many failed sign-ins for this address. Wait 15 minutes, then try again.';

export type SignInResult =
  | { ok: true; session: DashboardSessionStart }
  | { ok: false; locked: boolean; message: string };

/**
 * Checks an email and password and starts a session. A locked address is refused before the password is looked at
 * (a right password during a lock-out must not be confirmed); an unknown address is verified against a decoy hash
 * so it costs the same time as a known one, and is counted and locked like one.
 */
export async function signInWithPassword(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'logger'>,
  email: string,
  password: string,
): Promise<SignInResult> {
  const { db, clock } = deps;
  if (email.trim() === '' || password === '') return { ok: false, locked: false, message: SIGN_IN_FAILED };
  if ((await signInLockedUntil(db, clock, email)) !== undefined) {
    return { ok: false, locked: true, message: SIGN_IN_LOCKED };
  }
  const user = await findDashboardUserRowByEmail(db, email);
  const matches = await verifyPassword(password, user?.password_hash ?? (await decoyPasswordHash()));
  if (!user || !matches) {
    const lockedNow = await recordSignInFailure(db, clock, email);
    deps.logger.info({ lockedNow }, 'dashboard sign-in failed');
    return { ok: false, locked: false, message: SIGN_IN_FAILED };
  }
  await clearSignInFailures(db, email);
  if (needsRehash(user.password_hash)) await setDashboardUserPasswordHash(db, user.id, await hashPassword(password));
  const session = await createDashboardSession(db, clock, user.id);
  deps.logger.info({ userId: user.id }, 'dashboard sign-in');
  return { ok: true, session };
}
