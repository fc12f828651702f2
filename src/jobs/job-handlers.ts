import { runBounceScans } from '../bounces/bounce-scan.js';
import { runHealthChecks } from '../health/health-check.js';
import { checkClientSecretExpiry } from '../health/secret-expiry.js';
import { dispatchLane } from '../outbox/dispatcher.js';
import { sweepHeldMessages } from '../outbox/held-messages.js';
import { wakeLane } from '../outbox/lane-wakeup.js';
import { lanesWithDueWork } from '../outbox/pacing.js';
import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { runKeepalive, scheduleUnscheduledAccounts } from '../tokens/keepalive.js';
import { runWarmupDue } from '../warmup/warmup-work.js';
import { deliverDueWebhooks } from '../webhooks/webhook-dispatcher.js';
import { JOBS, type JobData, type JobName } from './job-engine.js';

/**
 * What each job does (issue 5 item 2). A job only says where to look: every handler reads what is due from the
 * database and works under the database's leases and fences, so a job that runs twice, late, or alongside another
 * of the same key does no harm (pg-boss is at least once). A handler that throws has its job retried by pg-boss.
 */
export type JobHandler = (data: JobData) => Promise<void>;

export interface JobHandlerOptions {
  /** The token provider the handlers share (one per process, so its single-flight covers them all). */
  provider: AccessTokenProvider;
  /** How long one lane pass may claim before handing the lane to a new job (default 20 s). */
  laneBudgetMs?: number;
  /** How long one sweep job may run before handing the rest to a new job (default 45 s). */
  sweepBudgetMs?: number;
  /** Aborted when the process shuts down: handlers stop taking new work and hand what is left to new jobs. */
  signal?: AbortSignal;
}

/** Accounts per keep-alive or health-check batch (each is a token request or a Graph call). */
const ACCOUNT_BATCH = 20;
/** Lanes and webhook deliveries the outbox sweep looks at per run. */
const SWEEP_LIMIT = 1_000;

export function jobHandlers(deps: ServiceDeps, options: JobHandlerOptions): Record<JobName, JobHandler> {
  const { provider } = options;
  const sweepBudgetMs = options.sweepBudgetMs ?? 45_000;
  return {
    [JOBS.outboxMailbox]: async (data) => {
      const lane = data['lane'];
      if (!lane) return;
      const pass = await dispatchLane(deps, lane, {
        tokens: provider,
        budgetMs: options.laneBudgetMs ?? 20_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      // The lane's next look: while this job is still active, a new one may wait (the queue's `short` policy).
      if (pass.wakeAt !== null) await wakeLane(deps.db, deps, lane, pass.wakeAt);
    },

    [JOBS.outboxSweep]: async () => {
      await sweepOutbox(deps);
    },

    [JOBS.webhookDelivery]: async (data) => {
      const deliveryId = data['deliveryId'];
      // Rows are only queued while WEBHOOK_URL is set; if it was unset since, they wait for it to come back.
      if (!deliveryId || !deps.config.webhook) return;
      // Delivers it if it is due and unclaimed; a failed attempt writes its retry's job with its outcome.
      if ((await deliverDueWebhooks(deps, { limit: 1, ids: [deliveryId] })) > 0) return;
      // Not attempted (not due yet, or another worker's claim): make sure a job waits for its next attempt. Two
      // requests for one delivery merge into the earlier, so this job may have stood for a later one.
      const row = await deps.db
        .selectFrom('webhook_deliveries')
        .select(['status', 'next_attempt_at'])
        .where('id', '=', deliveryId)
        .executeTakeFirst();
      if (row?.status !== 'pending' || row.next_attempt_at === null) return;
      const at = Math.max(Number(row.next_attempt_at), deps.clock.now() + 1_000);
      await deps.jobs.enqueue(
        deps.db,
        JOBS.webhookDelivery,
        { deliveryId },
        { singletonKey: deliveryId, startAfter: at },
      );
    },

    [JOBS.keepaliveSweep]: async () => {
      await sweepDueAccounts(deps, JOBS.keepaliveSweep, sweepBudgetMs, options.signal, async () => {
        return (await runKeepalive(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed;
      });
    },

    [JOBS.healthSweep]: async () => {
      await sweepDueAccounts(deps, JOBS.healthSweep, sweepBudgetMs, options.signal, async () => {
        return (await runHealthChecks(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed;
      });
    },

    [JOBS.bounceSweep]: async () => {
      await sweepDueAccounts(deps, JOBS.bounceSweep, sweepBudgetMs, options.signal, async () => {
        return (await runBounceScans(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed;
      });
    },

    [JOBS.warmupSweep]: async () => {
      await sweepDueAccounts(deps, JOBS.warmupSweep, sweepBudgetMs, options.signal, async () => {
        return (await runWarmupDue(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed;
      });
    },

    [JOBS.hourlyMaintenance]: async () => {
      await scheduleUnscheduledAccounts(deps, { policy: provider.policy, limit: 1_000 });
      await checkClientSecretExpiry(deps);
    },
  };
}

/**
 * The outbox's safety net, once a minute: held-message housekeeping (hold, fail, release, expire), and a hint for
 * every lane with due work and every due webhook delivery, whether or not one is waiting already (the singleton
 * keys merge them). It finds what a lost hint left behind: a worker killed between its commit and its next hint, a
 * claim whose lease ran out. Reads only what is due (the due indexes).
 */
export async function sweepOutbox(deps: ServiceDeps): Promise<{ lanes: number; deliveries: number }> {
  await sweepHeldMessages(deps);
  const now = deps.clock.now();
  const lanes = await lanesWithDueWork(deps.db, now, SWEEP_LIMIT);
  for (const lane of lanes) await wakeLane(deps.db, deps, lane, now);
  const deliveries = deps.config.webhook
    ? await deps.db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(SWEEP_LIMIT)
        .execute()
    : [];
  for (const { id } of deliveries) {
    await deps.jobs.enqueue(deps.db, JOBS.webhookDelivery, { deliveryId: id }, { singletonKey: id });
  }
  return { lanes: lanes.length, deliveries: deliveries.length };
}

/**
 * Keep-alive and health checks (issue 5 item 3, "cost what is due, not what exists"): the due accounts are claimed
 * from the indexed `next_keepalive_at` / `next_health_check_at` columns under a lease (`claimDueAccounts`), so an
 * idle fleet costs one index probe per sweep and a due account costs its own work; no job per account is needed.
 * Batches run until one comes back short. The first full batch invites a helper (one more sweep job, at most one
 * waiting), which does the same, so a backlog spreads over the workers; past the budget the rest goes to a new job.
 */
async function sweepDueAccounts(
  deps: ServiceDeps,
  name: JobName,
  budgetMs: number,
  signal: AbortSignal | undefined,
  batch: () => Promise<number>,
): Promise<void> {
  const deadline = performance.now() + budgetMs;
  let invited = false;
  for (;;) {
    const claimed = await batch();
    if (claimed < ACCOUNT_BATCH) return;
    const stopping = performance.now() > deadline || signal?.aborted === true;
    if (!invited || stopping) {
      invited = true;
      await deps.jobs.enqueue(deps.db, name, {}, { singletonKey: name });
    }
    if (stopping) return;
  }
}
