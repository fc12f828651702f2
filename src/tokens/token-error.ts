import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import type { Health } from '../health/health.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';

/** The token provider's codes (src/errors/error-table.ts). */
export const TOKEN_ERRORS = {
  TOKENS_ACCOUNT_NOT_FOUND: { status: 404, description: 'No account with that id.' },
  TOKENS_ACCOUNT_UNAVAILABLE: {
    status: 409,
    description:
      'The account needs a person (reconnect, admin approval…) or was disconnected; `details` has status and reason.',
  },
  TOKENS_COOLING_DOWN: {
    status: 503,
    description: 'A recent refresh failed transiently and the retry time has not come; `details.retryAt` says when.',
  },
  TOKENS_REFRESH_TRANSIENT: {
    status: 503,
    description:
      'The refresh just failed transiently (5xx, 429, network, temporarily_unavailable); the account is `degraded`.',
  },
  TOKENS_APP_MISCONFIGURED: {
    status: 503,
    description:
      "Microsoft rejects the operator's app (secret expired, app not found…); the account itself is untouched.",
  },
  TOKENS_REFRESH_FAILED: {
    status: 502,
    description: 'Microsoft answered something mailbridge does not classify; kept as `unknown` and tried again later.',
  },
} as const satisfies ErrorTable;

export type TokenErrorCode = keyof typeof TOKEN_ERRORS;

/**
 * Why no access token could be handed out. Carries the evidence of the failed refresh, when there was one, so the
 * outbox can ask `isRetryable(error.evidence)`, and `retryAt` (epoch ms) when a retry time is known. Never holds a
 * token.
 */
export class TokenError extends AppError {
  declare readonly code: TokenErrorCode;
  readonly accountId: string;
  readonly evidence: ErrorEvidence | undefined;
  readonly health: Health | undefined;
  readonly retryAt: number | undefined;

  constructor(
    code: TokenErrorCode,
    message: string,
    options: {
      accountId: string;
      evidence?: ErrorEvidence;
      health?: Health;
      retryAt?: number;
      details?: Record<string, unknown>;
      cause?: unknown;
    },
  ) {
    super(code, message, {
      status: TOKEN_ERRORS[code].status,
      details: {
        accountId: options.accountId,
        ...(options.retryAt === undefined ? {} : { retryAt: new Date(options.retryAt).toISOString() }),
        ...options.details,
      },
      cause: options.cause,
    });
    this.accountId = options.accountId;
    this.evidence = options.evidence;
    this.health = options.health;
    this.retryAt = options.retryAt;
  }
}
