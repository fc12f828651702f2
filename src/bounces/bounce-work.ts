import type { BackgroundKind } from '../jobs/background-kind.js';
import { ACCOUNT_BATCH, sweepDueAccounts } from '../jobs/due-account-sweep.js';
import { JOBS } from '../jobs/job-engine.js';
import { runBounceScans } from './bounce-scan.js';

/** Once a minute (fanned out as the keep-alive sweep): Inbox looks for non-delivery reports that are due. */
export const bounceSweepWork: BackgroundKind = {
  name: JOBS.bounceSweep,
  trigger: { kind: 'due-rows', cron: '* * * * *' },
  concurrency: 2,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 2, retryDelay: 30 },
  handle: async (context) => {
    await sweepDueAccounts(context, JOBS.bounceSweep, async () => {
      return (await runBounceScans(context.deps, context.provider, { batchSize: ACCOUNT_BATCH })).claimed;
    });
  },
  // Non-delivery reports in the Inbox of accounts that sent recently and can read mail; a full batch asks for
  // another right after.
  loopTasks: ({ deps, provider }) => [
    {
      name: 'bounce-scan',
      tickOrder: 50,
      run: async () =>
        (await runBounceScans(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed >= ACCOUNT_BATCH
          ? 'more'
          : undefined,
    },
  ],
};
