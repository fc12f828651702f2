import type { BackgroundKind } from '../jobs/background-kind.js';
import { ACCOUNT_BATCH, sweepDueAccounts } from '../jobs/due-account-sweep.js';
import { JOBS } from '../jobs/job-engine.js';
import { runHealthChecks } from './health-check.js';

/** Once a minute (fanned out as the keep-alive sweep): health checks that are due. */
export const healthSweepWork: BackgroundKind = {
  name: JOBS.healthSweep,
  trigger: { kind: 'due-rows', cron: '* * * * *' },
  concurrency: 2,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 2, retryDelay: 30 },
  handle: async (context) => {
    await sweepDueAccounts(context, JOBS.healthSweep, async () => {
      return (await runHealthChecks(context.deps, context.provider, { batchSize: ACCOUNT_BATCH })).claimed;
    });
  },
  loopTasks: ({ deps, provider, random }) => [
    { name: 'health-check', tickOrder: 30, run: async () => void (await runHealthChecks(deps, provider, { random })) },
  ],
};
