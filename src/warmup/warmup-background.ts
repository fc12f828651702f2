import type { BackgroundKind } from '../jobs/background-kind.js';
import { ACCOUNT_BATCH, sweepDueAccounts } from '../jobs/due-account-sweep.js';
import { runWarmupDue } from './warmup-work.js';

/** The registered name of the sweep (a pg-boss queue: stable once deployed). */
export const WARMUP_SWEEP = 'warmup-sweep';

/**
 * Once a minute (fanned out as the keep-alive sweep while batches come back full): warm-up mailboxes whose work is
 * due (warmup-work.ts). The in-process loop runs the same batches every tick; a full batch asks for another right
 * after.
 */
export const warmupSweepWork: BackgroundKind = {
  name: WARMUP_SWEEP,
  trigger: { kind: 'due-rows', cron: '* * * * *' },
  concurrency: 2,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 2, retryDelay: 30 },
  handle: async (context) => {
    await sweepDueAccounts(context, WARMUP_SWEEP, async () => {
      return (await runWarmupDue(context.deps, context.provider, { batchSize: ACCOUNT_BATCH })).claimed;
    });
  },
  loopTasks: ({ deps, provider }) => [
    {
      name: 'warmup',
      tickOrder: 52,
      run: async () =>
        (await runWarmupDue(deps, provider, { batchSize: ACCOUNT_BATCH })).claimed >= ACCOUNT_BATCH
          ? 'more'
          : undefined,
    },
  ],
};
