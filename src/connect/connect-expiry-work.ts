import type { BackgroundKind } from '../jobs/background-kind.js';
import { CONNECT_EXPIRY_BATCH, recordExpiredConnectSessions } from './connect-expiry.js';

/** The registered name of the sweep (a pg-boss queue: stable once deployed). */
const CONNECT_EXPIRY_SWEEP = 'connect-expiry-sweep';

/**
 * Once a minute: a `connect.failed` (status `expired`) for each connect session its user never came back to
 * (connect-expiry.ts). A full batch asks for another run right after, on either runner.
 */
export const connectExpirySweepWork: BackgroundKind = {
  name: CONNECT_EXPIRY_SWEEP,
  trigger: { kind: 'due-rows', cron: '* * * * *' },
  concurrency: 1,
  pollMs: 2_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 2, retryDelay: 30 },
  handle: async ({ deps }) => {
    if ((await recordExpiredConnectSessions(deps)) >= CONNECT_EXPIRY_BATCH) {
      await deps.jobs.enqueue(deps.db, CONNECT_EXPIRY_SWEEP, {}, { singletonKey: CONNECT_EXPIRY_SWEEP });
    }
  },
  loopTasks: ({ deps }) => [
    {
      name: 'connect-expiry',
      tickOrder: 55,
      run: async () => ((await recordExpiredConnectSessions(deps)) >= CONNECT_EXPIRY_BATCH ? 'more' : undefined),
    },
  ],
};
