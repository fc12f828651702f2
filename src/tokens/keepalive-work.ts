import { checkClientSecretExpiry } from '../health/secret-expiry.js';
import type { BackgroundKind } from '../jobs/background-kind.js';
import { ACCOUNT_BATCH, sweepDueAccounts } from '../jobs/due-account-sweep.js';
import { JOBS } from '../jobs/job-engine.js';
import { runKeepalive, scheduleUnscheduledAccounts } from './keepalive.js';

/** Once a minute (and fanned out while batches come back full): keep-alive refreshes that are due. */
export const keepaliveSweepWork: BackgroundKind = {
  name: JOBS.keepaliveSweep,
  trigger: { kind: 'due-rows', cron: '* * * * *' },
  concurrency: 2,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 2, retryDelay: 30 },
  handle: async (context) => {
    await sweepDueAccounts(context, JOBS.keepaliveSweep, async () => {
      return (await runKeepalive(context.deps, context.provider, { batchSize: ACCOUNT_BATCH })).claimed;
    });
  },
  loopTasks: ({ deps, provider, random }) => [
    { name: 'keepalive', tickOrder: 20, run: async () => void (await runKeepalive(deps, provider, { random })) },
  ],
};

/**
 * Hourly: accounts without a schedule get one; the client secret's expiry warnings (the secret every refresh
 * presents). In the embedded loop, two tasks: `schedule-repair` (at most once per interval) and `secret-expiry`.
 */
export const hourlyMaintenanceWork: BackgroundKind = {
  name: JOBS.hourlyMaintenance,
  trigger: { kind: 'schedule', cron: '7 * * * *', atStart: true },
  concurrency: 1,
  pollMs: 5_000,
  queue: { policy: 'short', expireInSeconds: 600, retryLimit: 2, retryDelay: 60 },
  handle: async ({ deps, provider }) => {
    await scheduleUnscheduledAccounts(deps, { policy: provider.policy, limit: 1_000 });
    await checkClientSecretExpiry(deps);
  },
  loopTasks: ({ deps, provider, random, scheduleRepairIntervalMs }) => {
    let lastRepairAt: number | undefined;
    return [
      {
        name: 'schedule-repair',
        tickOrder: 10,
        run: async () => {
          const now = deps.clock.now();
          if (lastRepairAt !== undefined && now - lastRepairAt < scheduleRepairIntervalMs) return;
          lastRepairAt = now;
          await scheduleUnscheduledAccounts(deps, { policy: provider.policy, random });
        },
      },
      { name: 'secret-expiry', tickOrder: 40, run: async () => void (await checkClientSecretExpiry(deps)) },
    ];
  },
};
