import { AppError } from '../errors/app-error.js';

/**
 * Every error code the warm-up store answers with (besides `ACCOUNT_NOT_FOUND`), its HTTP status and what it means.
 * Each is thrown before anything is written.
 */
export const WARMUP_ERRORS = {
  WARMUP_SETTINGS_INVALID: {
    status: 400,
    description:
      'A warm-up setting is out of range or unknown (daily ceiling 1–40, reply rate 0.2–0.45, weekends and ' +
      'receiveOnly booleans, a known time zone). `details.issues` lists each problem with its `path` and `message`.',
  },
  WARMUP_PROFILE_REQUIRED: {
    status: 409,
    description:
      'The account was connected with the `send` profile, which cannot read or file mail. Reconnect it through a ' +
      'connect session with `permissionProfile: "warmup"` (incremental consent: the user approves the extra ' +
      'permissions once); the account keeps its id.',
  },
  WARMUP_ACCOUNT_DISCONNECTED: {
    status: 409,
    description: 'The account is disconnected: connect it again before enabling warm-up.',
  },
  WARMUP_NOT_ENABLED: {
    status: 409,
    description: 'Warm-up was never enabled for this account: enable it first (`enabled: true`).',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type WarmupErrorCode = keyof typeof WARMUP_ERRORS;

export function warmupError(code: WarmupErrorCode, message: string, details?: Record<string, unknown>): AppError {
  return new AppError(code, message, { status: WARMUP_ERRORS[code].status, ...(details ? { details } : {}) });
}
