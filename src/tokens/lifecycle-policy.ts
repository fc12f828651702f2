import type { AccountStatus, AccountsTable } from '../db/tables/accounts.js';
import { exponentialDelayMs } from '../platform/backoff.js';

/**
 * The token lifecycle's numbers and the pure functions that turn them into schedule columns. One place, so the token
 * provider, the keep-alive and the health check agree, and the connect flow can start an account on the same
 * schedule (`lifecycleColumnsAfterGrant`). @see docs/engineering.md §8, issue 3 items 6 and 7
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface LifecyclePolicy {
  /** Refresh this long before `access_token_expires_at` (access tokens live 60–90 min: docs/entra.md §1.5). */
  refreshMarginMs: number;
  /**
   * An idle account gets a refresh this long after its last one. Refresh tokens die after 90 days without use
   * (docs/entra.md §1.5, AADSTS700082); a week leaves twelve more chances inside the window.
   */
  keepaliveIntervalMs: number;
  /** Keep-alives are spread up to this much *earlier* than the interval, so accounts connected together drift apart. */
  keepaliveJitterMs: number;
  /** A health check (refresh if needed + `GET /me`) this often. */
  healthCheckIntervalMs: number;
  healthCheckJitterMs: number;
  /** A claimed keep-alive / health check not finished within this is taken again (the worker died). */
  leaseMs: number;
  /** Exponential backoff after a transient refresh failure: base, doubled per consecutive failure, capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** While the operator's app is rejected (bad secret…), an account waits this long before asking Microsoft again. */
  appMisconfiguredCooldownMs: number;
  /** Failure budget: after this many consecutive transient failures spanning at least `failureBudgetSpanMs`… */
  failureBudgetCount: number;
  /** …the account stays `degraded` but the operator gets an alert. */
  failureBudgetSpanMs: number;
}

export const DEFAULT_LIFECYCLE_POLICY: Readonly<LifecyclePolicy> = {
  refreshMarginMs: 5 * MINUTE,
  keepaliveIntervalMs: 7 * DAY,
  keepaliveJitterMs: 12 * HOUR,
  healthCheckIntervalMs: 6 * HOUR,
  healthCheckJitterMs: 30 * MINUTE,
  leaseMs: 10 * MINUTE,
  backoffBaseMs: 30_000,
  backoffMaxMs: HOUR,
  appMisconfiguredCooldownMs: 5 * MINUTE,
  failureBudgetCount: 8,
  failureBudgetSpanMs: DAY,
};

/** Microsoft's refresh-token inactivity window. @see docs/entra.md §1.5 */
export const REFRESH_TOKEN_INACTIVITY_MS = 90 * DAY;

/** A number in [0, 1): `Math.random` in production, injectable in tests. */
export type RandomSource = () => number;

/** Statuses whose tokens the provider hands out (and refreshes). Everything else needs a person first. */
const TOKEN_USABLE_STATUSES: ReadonlySet<AccountStatus> = new Set([
  'connected',
  'degraded',
  // Unknown evidence is never silently permanent: the account keeps being tried, with backoff.
  'unknown',
  // Accounts are not set to app_misconfigured by this module (one operator alert instead), but if another path
  // did, the account must recover by itself once the operator fixes the app: keep trying.
  'app_misconfigured',
]);

/** The health check also looks again at unusable mailboxes: a licence added or a user re-enabled recovers them. */
const HEALTH_CHECKED_STATUSES: ReadonlySet<AccountStatus> = new Set([...TOKEN_USABLE_STATUSES, 'mailbox_unusable']);

/** The statuses whose tokens are refreshed: for the health check (`forHealthCheck`) or for everything else. */
export function refreshableStatuses(forHealthCheck: boolean): readonly AccountStatus[] {
  return [...(forHealthCheck ? HEALTH_CHECKED_STATUSES : TOKEN_USABLE_STATUSES)];
}

export function isTokenUsableStatus(status: AccountStatus): boolean {
  return TOKEN_USABLE_STATUSES.has(status);
}

export function isHealthCheckedStatus(status: AccountStatus): boolean {
  return HEALTH_CHECKED_STATUSES.has(status);
}

export function nextKeepaliveAt(now: number, policy: LifecyclePolicy, random: RandomSource): number {
  return now + policy.keepaliveIntervalMs - Math.floor(random() * policy.keepaliveJitterMs);
}

export function nextHealthCheckAt(now: number, policy: LifecyclePolicy, random: RandomSource): number {
  return now + policy.healthCheckIntervalMs - Math.floor(random() * policy.healthCheckJitterMs);
}

/**
 * The wait after the `failures`-th consecutive failure: exponential with "equal jitter" (half fixed, half random),
 * never shorter than what Microsoft asked for (`Retry-After`, already in `retryAfterMs`).
 */
export function backoffDelayMs(
  failures: number,
  retryAfterMs: number,
  policy: LifecyclePolicy,
  random: RandomSource,
): number {
  const ceiling = exponentialDelayMs(failures, policy.backoffBaseMs, policy.backoffMaxMs);
  const jittered = ceiling / 2 + Math.floor((random() * ceiling) / 2);
  return Math.max(retryAfterMs, jittered);
}

/** The schedule columns of an account whose tokens were just issued (by the connect flow or a refresh). */
export type LifecycleColumns = Pick<
  AccountsTable,
  | 'last_refreshed_at'
  | 'access_token_expires_at'
  | 'refresh_token_issued_at'
  | 'next_keepalive_at'
  | 'next_health_check_at'
  | 'refresh_failures'
  | 'refresh_retry_at'
>;

/**
 * What to write on the account row when a token response arrives, `issuedAt` being the time the request was sent
 * (so expiry errs early): `expiresAt = issuedAt + expires_in`. The connect flow should spread these into the row
 * it creates (with `storeAccountTokens` in the same transaction), so the keep-alive and health check pick it up.
 */
export function lifecycleColumnsAfterGrant(
  issuedAt: number,
  expiresInSeconds: number | undefined,
  options: { policy?: LifecyclePolicy; random?: RandomSource } = {},
): LifecycleColumns {
  const policy = options.policy ?? DEFAULT_LIFECYCLE_POLICY;
  const random = options.random ?? Math.random;
  return {
    last_refreshed_at: issuedAt,
    // Without expires_in (never seen from Microsoft) assume the shortest documented lifetime.
    access_token_expires_at: issuedAt + (expiresInSeconds ?? 3600) * 1000,
    refresh_token_issued_at: issuedAt,
    next_keepalive_at: nextKeepaliveAt(issuedAt, policy, random),
    next_health_check_at: nextHealthCheckAt(issuedAt, policy, random),
    refresh_failures: 0,
    refresh_retry_at: null,
  };
}

/**
 * "Expires if unused by …": the refresh token's 90-day inactivity deadline (the keep-alive moves it every week), or
 * null when the account holds no refresh token we know the age of. @see docs/entra.md §1.5, issue 3 item 6
 */
export function expiresIfUnusedBy(account: Pick<AccountsTable, 'refresh_token_issued_at'>): number | null {
  return account.refresh_token_issued_at === null
    ? null
    : account.refresh_token_issued_at + REFRESH_TOKEN_INACTIVITY_MS;
}
