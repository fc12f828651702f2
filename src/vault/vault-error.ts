import { AppError } from '../errors/app-error.js';

/**
 * Codes of the token vault. Each names one failure a caller or an operator can act on.
 * - VAULT_KEY_RING_INVALID: MAILBRIDGE_KEYS (or the dev key file) is malformed.
 * - VAULT_KEY_RING_MISSING: no key ring while a real Microsoft app is configured.
 * - VAULT_KEY_RING_MISMATCH: the ring cannot open the stored data (a different key under a known id, or a
 *   wrapping key id that is no longer in the ring).
 * - VAULT_KEY_UNKNOWN: a data key is wrapped under a key id the ring does not hold.
 * - VAULT_DATA_KEY_MISSING: no data key for the subject (never created, or destroyed: crypto-shredded).
 * - VAULT_DATA_KEY_EXISTS: createDataKey for a subject that already has one.
 * - VAULT_DATA_KEY_DESTROYED: the sealed value belongs to a data key that was destroyed (the subject has a newer one).
 * - VAULT_TAMPERED: a sealed value or wrapped data key does not authenticate (modified, truncated, moved to another
 *   subject or field, or not a sealed value at all).
 * - VAULT_UNSUPPORTED_VERSION: a sealed value of a format version this build does not know.
 * - VAULT_INVALID_INPUT: an empty subject id or a malformed field name (a bug in the caller).
 */
export type VaultErrorCode =
  | 'VAULT_KEY_RING_INVALID'
  | 'VAULT_KEY_RING_MISSING'
  | 'VAULT_KEY_RING_MISMATCH'
  | 'VAULT_KEY_UNKNOWN'
  | 'VAULT_DATA_KEY_MISSING'
  | 'VAULT_DATA_KEY_EXISTS'
  | 'VAULT_DATA_KEY_DESTROYED'
  | 'VAULT_TAMPERED'
  | 'VAULT_UNSUPPORTED_VERSION'
  | 'VAULT_INVALID_INPUT';

export class VaultError extends AppError {
  declare readonly code: VaultErrorCode;

  constructor(
    code: VaultErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown; status?: number } = {},
  ) {
    super(code, message, options);
  }
}

/** How to make a key, repeated wherever a key problem stops the process. */
export const MAKE_KEY_HINT =
  'Make a key with `openssl rand -base64 32` and set MAILBRIDGE_KEYS=<id>:<that value> ' +
  '(several keys: comma-separated, the first is the active one; ids are 1-32 of A-Z a-z 0-9 _ -).';
