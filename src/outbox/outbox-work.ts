import type { BackgroundKind, JobContext } from '../jobs/background-kind.js';
import { JOBS } from '../jobs/job-engine.js';
import type { ServiceDeps } from '../services.js';
import { dispatchLane, runOutboxRounds } from './dispatcher.js';
import { sweepHeldMessages } from './held-messages.js';
import { wakeLane } from './lane-wakeup.js';
import { lanesWithDueWork } from './pacing.js';

/** Lanes and webhook deliveries the outbox sweep looks at per run. */
const SWEEP_LIMIT = 1_000;

/**
 * One mailbox (outbox lane): dispatch its due messages under the DB pacing, then wake again when work remains. In
 * the embedded loop, the `outbox` task runs rounds over every lane instead.
 */
export const outboxMailboxWork: BackgroundKind = {
  name: JOBS.outboxMailbox,
  trigger: { kind: 'enqueue' },
  concurrency: 16,
  pollMs: 500,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 5, retryDelay: 5, retryBackoff: true },
  handle: async (context: JobContext, data) => {
    const { deps } = context;
    const lane = data['lane'];
    if (!lane) return;
    const pass = await dispatchLane(deps, lane, {
      tokens: context.provider,
      budgetMs: context.laneBudgetMs,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    // The lane's next look: while this job is still active, a new one may wait (the queue's `short` policy).
    if (pass.wakeAt !== null) await wakeLane(deps.db, deps, lane, pass.wakeAt);
  },
  loopTasks: ({ deps, provider }) => [
    {
      name: 'outbox',
      tickOrder: 60,
      run: async () => ((await runOutboxRounds(deps, { tokens: provider })) ? 'more' : undefined),
    },
  ],
};

/** Once a minute: held-message housekeeping, and hints for lanes and webhook deliveries that are due without one. */
export const outboxSweepWork: BackgroundKind = {
  name: JOBS.outboxSweep,
  trigger: { kind: 'due-rows', cron: '* * * * *', atStart: true },
  concurrency: 1,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 120, retryLimit: 1, retryDelay: 15 },
  handle: async ({ deps }) => {
    await sweepOutbox(deps);
  },
};

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
  const deliveries = await deps.db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .$if(!deps.config.webhook, (query) => query.where('endpoint_id', 'is not', null))
    .orderBy('next_attempt_at')
    .limit(SWEEP_LIMIT)
    .execute();
  for (const { id } of deliveries) {
    await deps.jobs.enqueue(deps.db, JOBS.webhookDelivery, { deliveryId: id }, { singletonKey: id });
  }
  return { lanes: lanes.length, deliveries: deliveries.length };
}
