import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';

/**
 * Codes of the token vault (src/errors/error-table.ts). Each names one failure a caller or an operator can act on;
 * none reaches the host API as such (an API request meeting one answers INTERNAL).
 */
export const VAULT_ERRORS = {
  VAULT_KEY_RING_INVALID: { status: 500, description: 'MAILBRIDGE_KEYS (or the dev key file) is malformed.' },
  VAULT_KEY_RING_MISSING: { status: 500, description: 'No key ring while a real Microsoft app is configured.' },
  VAULT_KEY_RING_MISMATCH: {
    status: 500,
    description:
      'The ring cannot open the stored data (a different key under a known id, or a wrapping key id that is no ' +
      'longer in the ring).',
  },
  VAULT_KEY_UNKNOWN: { status: 500, description: 'A data key is wrapped under a key id the ring does not hold.' },
  VAULT_DATA_KEY_MISSING: {
    status: 500,
    description: 'No data key for the subject (never created, or destroyed: crypto-shredded).',
  },
  VAULT_DATA_KEY_EXISTS: { status: 500, description: 'createDataKey for a subject that already has one.' },
  VAULT_DATA_KEY_DESTROYED: {
    status: 500,
    description: 'The sealed value belongs to a data key that was destroyed (the subject has a newer one).',
  },
  VAULT_TAMPERED: {
    status: 500,
    description:
      'A sealed value or wrapped data key does not authenticate (modified, truncated, moved to another subject or ' +
      'field, or not a sealed value at all).',
  },
  VAULT_UNSUPPORTED_VERSION: {
    status: 500,
    description: 'A sealed value of a format version this build does not know.',
  },
  VAULT_INVALID_INPUT: {
    status: 500,
    description: 'An empty subject id or a malformed field name (a bug in the caller).',
  },
} as const satisfies ErrorTable;

export type VaultErrorCode = keyof typeof VAULT_ERRORS;

export class VaultError extends AppError {
  declare readonly code: VaultErrorCode;

  constructor(
    code: VaultErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown; status?: number } = {},
  ) {
    super(code, message, { ...options, status: options.status ?? VAULT_ERRORS[code].status });
  }
}

/** How to make a key, repeated wherever a key problem stops the process. */
export const MAKE_KEY_HINT =
  'Make a key with `openssl rand -base64 32` and set MAILBRIDGE_KEYS=<id>:<that value> ' +
  '(several keys: comma-separated, the first is the active one; ids are 1-32 of A-Z a-z 0-9 _ -).';
