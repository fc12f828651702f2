import type { BackgroundKind } from '../jobs/background-kind.js';
import { JOBS } from '../jobs/job-engine.js';
import { deliverDueWebhooks, deliverWebhookBatches } from './webhook-dispatcher.js';

/** One webhook delivery (its first attempt, or a retry at its `next_attempt_at`). */
export const webhookDeliveryWork: BackgroundKind = {
  name: JOBS.webhookDelivery,
  trigger: { kind: 'enqueue' },
  concurrency: 8,
  pollMs: 1_000,
  queue: { policy: 'short', expireInSeconds: 300, retryLimit: 5, retryDelay: 10, retryBackoff: true },
  handle: async ({ deps }, data) => {
    const deliveryId = data['deliveryId'];
    if (!deliveryId) return;
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
  loopTasks: ({ deps }) => [
    // Up to 4 batches of 50 per tick, so a burst of events does not hold up the other tasks for long.
    {
      name: 'webhook-delivery',
      tickOrder: 70,
      run: async () => void (await deliverWebhookBatches(deps, { batches: 4, limit: 50 })),
    },
  ],
};
