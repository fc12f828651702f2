import { withTransaction } from '../db/transaction.js';
import { GraphClient } from '../graph/graph-client.js';
import { GraphError } from '../graph/graph-error.js';
import { evidenceFromNetworkError } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { claimDueAccounts } from '../tokens/due-accounts.js';
import { isHealthCheckedStatus, nextHealthCheckAt, type RandomSource } from '../tokens/lifecycle-policy.js';
import { TokenError } from '../tokens/token-error.js';
import { recordAccountHealth } from './account-health.js';
import { classifyHealth } from './classify-health.js';
import type { Health } from './health.js';

export interface HealthCheckOptions {
  /** How many due accounts one run claims. Default 20. */
  batchSize?: number;
  random?: RandomSource;
  /** Default: a client on `deps.microsoft` (the routed transport). */
  graph?: GraphClient;
}

export interface HealthCheckRun {
  claimed: number;
  /** Accounts found working. */
  healthy: number;
  /** Accounts found with a problem (whatever its kind). */
  unhealthy: number;
}

/** Scope names as Graph spells them, without the resource prefix, lower-cased. */
function grantedScopeNames(grantedScopesJson: string): Set<string> {
  try {
    const parsed: unknown = JSON.parse(grantedScopesJson);
    if (!Array.isArray(parsed)) return new Set();
    return new Set(
      parsed
        .filter((scope): scope is string => typeof scope === 'string')
        .map((scope) => scope.slice(scope.lastIndexOf('/') + 1).toLowerCase()),
    );
  } catch {
    // Unreadable scopes only cost the mailbox probe; `/me` still runs.
    return new Set();
  }
}

/**
 * One health check: a valid token (refreshed if needed, through the provider), `GET /me`, and, when the granted
 * scopes allow a read, a look at the mailbox (`/me` answers even for a mailbox that is not REST-enabled; the mailbox
 * endpoints answer 404 MailboxNotEnabledForRESTAPI). With the `send` profile (User.Read Mail.Send) no mailbox read
 * is allowed, so only the identity side is checked. Returns the health found (already recorded), or undefined when
 * the provider answered (it records what it learns itself). @see docs/graph.md §3.2, issue 3 item 7
 */
export async function checkAccountHealth(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  accountId: string,
  options: { graph?: GraphClient } = {},
): Promise<{ health: Health | undefined; error?: TokenError }> {
  const graph = options.graph ?? new GraphClient({ baseUrl: deps.microsoft.graphBaseUrl, fetch: deps.microsoft.fetch });
  const account = await deps.db
    .selectFrom('accounts')
    .select(['granted_scopes'])
    .where('id', '=', accountId)
    .executeTakeFirst();
  if (!account) return { health: undefined };
  const scopes = grantedScopeNames(account.granted_scopes);
  let health: Health;
  try {
    await provider.withAccessToken(
      accountId,
      async (token) => {
        await graph.getMe(token.reveal(), { select: ['id'] });
        if (scopes.has('mailboxsettings.read') || scopes.has('mailboxsettings.readwrite')) {
          await graph.getMailboxSettings(token.reveal());
        } else if (scopes.has('mail.readbasic') || scopes.has('mail.read') || scopes.has('mail.readwrite')) {
          await graph.getMailFolder(token.reveal(), 'inbox');
        }
      },
      { forHealthCheck: true },
    );
    health = { status: 'connected' };
  } catch (error) {
    if (error instanceof TokenError) return { health: undefined, error };
    if (error instanceof GraphError) {
      // A 401 that survived a refresh was recorded by the provider (classified with afterFreshRefresh).
      if (error.evidence.httpStatus === 401) return { health: undefined };
      health = classifyHealth(error.evidence);
    } else {
      health = classifyHealth(evidenceFromNetworkError(error));
    }
  }
  await withTransaction(deps.db, async (trx) => {
    const row = await trx
      .selectFrom('accounts')
      .selectAll()
      .where('id', '=', accountId)
      .$if(deps.dialect === 'postgres', (query) => query.forUpdate())
      .executeTakeFirst();
    if (!row) return;
    // Graph answered, but refreshing is still failing (the token used was an older, still valid one): the refresh
    // side decides until a refresh succeeds.
    if (health.status === 'connected' && row.refresh_failures > 0) return;
    // A restricted sender shows only when sending (a 5.1.8 report, src/bounces/): a working /me says nothing about it.
    // The user reconnects once an admin has unblocked the mailbox.
    if (
      health.status === 'connected' &&
      row.status === 'mailbox_unusable' &&
      row.status_reason === 'restricted_sender'
    ) {
      return;
    }
    await recordAccountHealth(trx, deps, row, health);
  });
  return { health };
}

/**
 * Runs the due health checks (`next_health_check_at`, every 6 h by default, jittered), claimed in a small batch
 * under a lease, and schedules each account's next one by what was found: working or unusable mailbox → the normal
 * interval; transient → soon; needs a person (reconnect, approval, disconnected) → none until reconnected.
 */
export async function runHealthChecks(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: HealthCheckOptions = {},
): Promise<HealthCheckRun> {
  const { db, dialect, clock, logger } = deps;
  const policy = provider.policy;
  const random = options.random ?? Math.random;
  const graph = options.graph ?? new GraphClient({ baseUrl: deps.microsoft.graphBaseUrl, fetch: deps.microsoft.fetch });
  const ids = await claimDueAccounts(db, dialect, 'next_health_check_at', {
    now: clock.now(),
    limit: options.batchSize ?? 20,
    leaseMs: policy.leaseMs,
  });
  const run: HealthCheckRun = { claimed: ids.length, healthy: 0, unhealthy: 0 };
  for (const accountId of ids) {
    let next: number | null;
    try {
      const row = await db.selectFrom('accounts').select(['status']).where('id', '=', accountId).executeTakeFirst();
      if (!row || !isHealthCheckedStatus(row.status)) {
        await db.updateTable('accounts').set({ next_health_check_at: null }).where('id', '=', accountId).execute();
        continue;
      }
      const { health, error } = await checkAccountHealth(deps, provider, accountId, { graph });
      const now = clock.now();
      if (health?.status === 'connected') run.healthy++;
      else run.unhealthy++;
      if (error) {
        // The provider wrote its own schedule for refresh failures; only a cooldown or app problem needs one here.
        if (error.code !== 'TOKENS_COOLING_DOWN' && error.code !== 'TOKENS_APP_MISCONFIGURED') continue;
        next = Math.max(error.retryAt ?? 0, now + policy.leaseMs);
      } else if (health === undefined) {
        continue;
      } else if (health.status === 'connected' || health.status === 'mailbox_unusable') {
        next = nextHealthCheckAt(now, policy, random);
      } else if (health.status === 'degraded' || health.status === 'unknown') {
        const wait = health.status === 'degraded' ? health.retryAfterMs : 0;
        next = now + Math.min(policy.healthCheckIntervalMs, Math.max(wait, policy.leaseMs));
      } else if (health.status === 'app_misconfigured') {
        next = now + policy.appMisconfiguredCooldownMs;
      } else {
        next = null;
      }
    } catch (error) {
      // Infrastructure (database, vault): the lease expires and the check runs again.
      logger.error({ accountId, err: error }, 'health check failed');
      continue;
    }
    await db.updateTable('accounts').set({ next_health_check_at: next }).where('id', '=', accountId).execute();
  }
  if (ids.length > 0) logger.info({ ...run }, 'health check run');
  return run;
}
