import { createDashboardSession, type DashboardSessionStart } from '../../dashboard-auth/dashboard-sessions.js';
import { findDashboardUserRowByEmail, setDashboardUserPasswordHash } from '../../dashboard-auth/dashboard-users.js';
import { findKnownDevice, type KnownDeviceStart, rememberKnownDevice } from '../../dashboard-auth/known-devices.js';
import { decoyPasswordHash, hashPassword, needsRehash, verifyPassword } from '../../dashboard-auth/password-hash.js';
import {
  clearSignInFailures,
  emailThrottleKey,
  recordSignInFailure,
  signInLockedUntil,
} from '../../dashboard-auth/sign-in-throttle.js';
import type { ServiceDeps } from '../../services.js';

/** One message for every failure: never says whether the address has an account. */
export const SIGN_IN_FAILED = 'Wrong email or password.';
export const SIGN_IN_LOCKED =
  'Too many failed sign-ins for this address. Wait 15 minutes, then try again, or sign in from a browser you have ' +
  'signed in from before.';

export type SignInResult =
  | { ok: true; session: DashboardSessionStart; device: KnownDeviceStart }
  | { ok: false; locked: boolean; message: string };

/**
 * Checks an email and password and starts a session. Failures are counted per known device when the browser brings
 * the user's known-device cookie (`deviceToken`), else per address (sign-in-throttle.ts, known-devices.ts): a
 * stranger's guesses lock out strangers, not the user's own browser. A locked key is refused before the password is
 * looked at (a right password during a lock-out must not be confirmed); an unknown address is verified against a
 * decoy hash so it costs the same time as a known one, and is counted and locked like one. A success remembers the
 * browser under a new device cookie.
 */
export async function signInWithPassword(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'logger'>,
  email: string,
  password: string,
  deviceToken?: string,
): Promise<SignInResult> {
  const { db, clock } = deps;
  if (email.trim() === '' || password === '') return { ok: false, locked: false, message: SIGN_IN_FAILED };
  const user = await findDashboardUserRowByEmail(db, email);
  const device = user ? await findKnownDevice(db, clock, deviceToken, user.id) : undefined;
  const throttleKey = device?.throttleKey ?? emailThrottleKey(email);
  if ((await signInLockedUntil(db, clock, throttleKey)) !== undefined) {
    return { ok: false, locked: true, message: SIGN_IN_LOCKED };
  }
  const matches = await verifyPassword(password, user?.password_hash ?? (await decoyPasswordHash()));
  if (!user || !matches) {
    const lockedNow = await recordSignInFailure(db, clock, throttleKey);
    deps.logger.info({ lockedNow, knownDevice: device !== undefined }, 'dashboard sign-in failed');
    return { ok: false, locked: false, message: SIGN_IN_FAILED };
  }
  // From a known device only its own counter is reset: the address's lock-out keeps holding strangers off.
  if (!device) await clearSignInFailures(db, throttleKey);
  if (needsRehash(user.password_hash)) await setDashboardUserPasswordHash(db, user.id, await hashPassword(password));
  const session = await createDashboardSession(db, clock, user.id);
  const known = await rememberKnownDevice(db, clock, user.id, device);
  deps.logger.info({ userId: user.id, knownDevice: device !== undefined }, 'dashboard sign-in');
  return { ok: true, session, device: known };
}
