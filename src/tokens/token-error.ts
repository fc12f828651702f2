import { AppError } from '../errors/app-error.js';
import type { Health } from '../health/health.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';

export type TokenErrorCode =
  /** No account with that id. */
  | 'TOKENS_ACCOUNT_NOT_FOUND'
  /** The account needs a person (reconnect, admin approval…) or was disconnected; `details` has status and reason. */
  | 'TOKENS_ACCOUNT_UNAVAILABLE'
  /** A recent refresh failed transiently and the retry time has not come; `details.retryAt` says when. */
  | 'TOKENS_COOLING_DOWN'
  /** The refresh just failed transiently (5xx, 429, network, temporarily_unavailable); the account is `degraded`. */
  | 'TOKENS_REFRESH_TRANSIENT'
  /** Microsoft rejects the operator's app (secret expired, app not found…); the account itself is untouched. */
  | 'TOKENS_APP_MISCONFIGURED'
  /** Microsoft answered something mailbridge does not classify; kept as `unknown` and tried again later. */
  | 'TOKENS_REFRESH_FAILED';

const HTTP_STATUS: Record<TokenErrorCode, number> = {
  TOKENS_ACCOUNT_NOT_FOUND: 404,
  TOKENS_ACCOUNT_UNAVAILABLE: 409,
  TOKENS_COOLING_DOWN: 503,
  TOKENS_REFRESH_TRANSIENT: 503,
  TOKENS_APP_MISCONFIGURED: 503,
  TOKENS_REFRESH_FAILED: 502,
};

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
      status: HTTP_STATUS[code],
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
