import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { EventsTable } from '../db/tables/accounts.js';
import type { EventRecordedListener } from '../events/event-recorder.js';
import { JOBS, type JobEngine } from '../jobs/job-engine.js';
import { DEFAULT_ORGANIZATION_ID } from '../orgs/organizations.js';
import type { Clock } from '../platform/clock.js';
import { newId } from '../platform/ids.js';
import { anyEnabledEndpoint, endpointsWanting, noEnabledEndpoint } from './webhook-endpoints.js';

export interface WebhookFanOutOptions {
  clock: Clock;
  /** The environment's WEBHOOK_URL: the Default organisation's endpoint. */
  defaultWebhookUrl?: string | undefined;
  jobs?: JobEngine | undefined;
}

/**
 * The event log's listener (registered at composition): in the event's transaction, one pending delivery per webhook
 * endpoint that wants it: each enabled endpoint of the event's organisation whose event-type filter matches
 * (webhook-endpoints.ts), and the environment's WEBHOOK_URL for the Default organisation (`endpoint_id` null). Each
 * delivery gets its `webhook-delivery` job when a job engine is given (pg-boss: in the same transaction; in-process:
 * a nudge), so it is attempted at once rather than at the dispatcher's next sweep.
 */
export function webhookFanOut(options: WebhookFanOutOptions): EventRecordedListener {
  return {
    // Whether the organisation has an enabled endpoint at all, read with the event (most have none, and then their
    // endpoints need no read of their own). Read committed, as the endpoint read itself is.
    readWithInsert: (eb, event) => anyEnabledEndpoint(eb, event.organization_id),
    // Nothing to deliver while the organisation has no enabled endpoint, unless WEBHOOK_URL serves it.
    idleWhere: (organizationId) =>
      options.defaultWebhookUrl && organizationId === DEFAULT_ORGANIZATION_ID
        ? null
        : noEnabledEndpoint(organizationId),
    recorded: (db, event, read) => queueWebhookDeliveries(db, options, event, read != null),
  };
}

async function queueWebhookDeliveries(
  db: Kysely<Database>,
  options: WebhookFanOutOptions,
  event: EventsTable,
  anyEndpoint: boolean,
): Promise<void> {
  const endpoints = anyEndpoint ? await endpointsWanting(db, event.organization_id, event.type) : [];
  const targets: Array<{ endpointId: string | null; url: string }> = endpoints.map((endpoint) => ({
    endpointId: endpoint.id,
    url: endpoint.url,
  }));
  if (options.defaultWebhookUrl && event.organization_id === DEFAULT_ORGANIZATION_ID) {
    targets.unshift({ endpointId: null, url: options.defaultWebhookUrl });
  }
  for (const target of targets) {
    const deliveryId = newId('whd', options.clock);
    await db
      .insertInto('webhook_deliveries')
      .values({
        id: deliveryId,
        event_id: event.id,
        organization_id: event.organization_id,
        endpoint_id: target.endpointId,
        url: target.url,
        status: 'pending',
        attempts: 0,
        next_attempt_at: event.created_at,
        last_status_code: null,
        last_error: null,
        created_at: event.created_at,
        delivered_at: null,
      })
      .execute();
    await options.jobs?.enqueue(db, JOBS.webhookDelivery, { deliveryId }, { singletonKey: deliveryId });
  }
}
