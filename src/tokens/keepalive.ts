import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from './access-token-provider.js';
import { claimDueAccounts } from './due-accounts.js';
import { isTokenUsableStatus, nextHealthCheckAt, nextKeepaliveAt, type RandomSource } from './lifecycle-policy.js';
import { TokenError } from './token-error.js';

export interface KeepaliveOptions {
  /** How many due accounts one run claims (small batches: each is a token request). Default 20. */
  batchSize?: number;
  random?: RandomSource;
}

export interface KeepaliveRun {
  claimed: number;
  refreshed: number;
  skipped: number;
  failed: number;
}

/**
 * Keep-alive: an idle account's refresh token dies 90 days after its last use (AADSTS700082), so accounts not
 * refreshed for a week (`next_keepalive_at`, jittered; every refresh moves it) get a refresh-token grant well inside
 * the window. Claims due accounts in small batches under a lease, then refreshes them one by one through the token
 * provider (its single-flight and locks apply). @see docs/entra.md §1.5, issue 3 item 6
 */
export async function runKeepalive(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: KeepaliveOptions = {},
): Promise<KeepaliveRun> {
  const { db, dialect, clock, logger } = deps;
  const policy = provider.policy;
  const now = clock.now();
  const ids = await claimDueAccounts(db, dialect, 'next_keepalive_at', {
    now,
    limit: options.batchSize ?? 20,
    leaseMs: policy.leaseMs,
  });
  const run: KeepaliveRun = { claimed: ids.length, refreshed: 0, skipped: 0, failed: 0 };
  for (const accountId of ids) {
    try {
      const result = await provider.refreshForKeepalive(accountId, now);
      if (result === 'refreshed') {
        run.refreshed++;
        continue;
      }
      run.skipped++;
      // Skipped while cooling down: come back when the cooldown ends rather than at every lease.
      await db
        .updateTable('accounts')
        .set((eb) => ({ next_keepalive_at: eb.ref('refresh_retry_at') }))
        .where('id', '=', accountId)
        .where('refresh_retry_at', '>', now)
        .execute();
    } catch (error) {
      run.failed++;
      if (!(error instanceof TokenError)) {
        // Infrastructure (database, vault): the lease expires and the account is claimed again.
        logger.error({ accountId, err: error }, 'keep-alive failed');
        continue;
      }
      const next =
        error.code === 'TOKENS_ACCOUNT_UNAVAILABLE' || error.code === 'TOKENS_ACCOUNT_NOT_FOUND'
          ? null
          : Math.max(error.retryAt ?? 0, clock.now() + policy.leaseMs);
      await db.updateTable('accounts').set({ next_keepalive_at: next }).where('id', '=', accountId).execute();
    }
  }
  if (ids.length > 0) logger.info({ ...run }, 'keep-alive run');
  return run;
}

/**
 * Gives a schedule to usable accounts that have none (a row written without `lifecycleColumnsAfterGrant`, or one
 * reconnected after its schedules were cleared), so that no connected account can silently age out. The keep-alive
 * counts from the last refresh (due at once if that was over a week ago). Runs rarely; returns how many it fixed.
 */
export async function scheduleUnscheduledAccounts(
  deps: ServiceDeps,
  options: { limit?: number; random?: RandomSource; policy: AccessTokenProvider['policy'] },
): Promise<number> {
  const { db, clock } = deps;
  const random = options.random ?? Math.random;
  const rows = await db
    .selectFrom('accounts')
    .select(['id', 'status', 'last_refreshed_at', 'next_keepalive_at', 'next_health_check_at'])
    .where((eb) => eb.or([eb('next_keepalive_at', 'is', null), eb('next_health_check_at', 'is', null)]))
    .where('status', 'in', ['connected', 'degraded', 'unknown'])
    .limit(options.limit ?? 100)
    .execute();
  const now = clock.now();
  let fixed = 0;
  for (const row of rows) {
    if (!isTokenUsableStatus(row.status)) continue;
    await db
      .updateTable('accounts')
      .set({
        next_keepalive_at:
          row.next_keepalive_at ?? nextKeepaliveAt(row.last_refreshed_at ?? now, options.policy, random),
        next_health_check_at: row.next_health_check_at ?? nextHealthCheckAt(now, options.policy, random),
      })
      .where('id', '=', row.id)
      .execute();
    fixed++;
  }
  return fixed;
}
