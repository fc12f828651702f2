import { createHash } from 'node:crypto';
import type { EmulatorRandom } from '../random.js';
import type { User } from './model.js';

/**
 * The two ids of a personal Microsoft account (Outlook.com, Hotmail), which Microsoft does not make equal: the
 * identity platform's `oid` has the form `00000000-0000-0000-xxxx-xxxxxxxxxxxx` (MSAL-js test fixtures, e.g.
 * `00000000-0000-0000-66f3-3332eca7ea81` in lib/msal-common/test), while Graph's `user.id` is a 16-hex-digit CID
 * such as `fde926f844473904` [OBS: "the id field is CID,
 * which is not of form GUID"]. Work accounts have one GUID for both. @see docs/entra.md §1.6
 *
 * The emulator draws the two independently on purpose: Microsoft documents no relation between them, so a client
 * that derives one from the other should fail here as it could at Microsoft.
 */

/** `00000000-0000-0000-xxxx-xxxxxxxxxxxx`: the form of a personal account's `oid`. */
export const PERSONAL_OBJECT_ID = /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new personal account's `oid` and Graph id. */
export function newPersonalAccountIds(random: EmulatorRandom): { oid: string; graphId: string } {
  const tail = random.bytes(8).toString('hex');
  return { oid: `00000000-0000-0000-${tail.slice(0, 4)}-${tail.slice(4)}`, graphId: random.bytes(8).toString('hex') };
}

/**
 * The Graph id of a personal account saved before the emulator knew the two ids differ (a snapshot without
 * `graphId`): derived from the oid so that restoring the same snapshot twice gives the same id, and without
 * drawing from the random sequence, which a restored emulator must continue exactly.
 */
export function derivedGraphId(oid: string): string {
  return createHash('sha256').update(`graph-id|${oid}`).digest('hex').slice(0, 16);
}

/** What Graph answers as `user.id` (and accepts in `/users/{id}`). */
export function graphUserId(user: User): string {
  return user.kind === 'personal' ? (user.graphId ?? derivedGraphId(user.id)) : user.id;
}
