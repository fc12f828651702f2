import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { type Clock, isoTimeOrNull } from '../platform/clock.js';

/** The delivery log as the host API shows it (`GET /v1/webhook-deliveries`). */
export interface WebhookDeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  /** The organisation's endpoint it goes to; null: the Default organisation's WEBHOOK_URL. */
  endpointId: string | null;
  /** Where the last attempt went (the URL configured at the time). */
  url: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** When the next attempt is due (pending), else null. */
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  /** `HTTP 500`, `timeout: …`, `network error: ECONNREFUSED`: never a body, a header or a secret. */
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

export interface WebhookDeliveryFilter {
  eventId?: string;
  endpointId?: string;
  status?: WebhookDeliveryStatus;
  /** A delivery id: rows after it (ids sort by creation time). */
  after?: string;
  limit: number;
  /** Newest first (the dashboard's latest deliveries) instead of oldest first. */
  newestFirst?: boolean;
}

function baseQuery(db: Kysely<Database>, organizationId: string) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('events as e', 'e.id', 'd.event_id')
    .select([
      'd.id',
      'd.event_id',
      'e.type as event_type',
      'd.endpoint_id',
      'd.url',
      'd.status',
      'd.attempts',
      'd.next_attempt_at',
      'd.last_status_code',
      'd.last_error',
      'd.created_at',
      'd.delivered_at',
    ])
    .where('d.organization_id', '=', organizationId);
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['executeTakeFirstOrThrow']>>;

function toView(row: Row): WebhookDeliveryView {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    endpointId: row.endpoint_id,
    url: row.url,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? isoTimeOrNull(row.next_attempt_at) : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: new Date(row.created_at).toISOString(),
    deliveredAt: isoTimeOrNull(row.delivered_at),
  };
}

/** An organisation's deliveries, oldest first after `after`, optionally for one event or in one status. */
export async function listWebhookDeliveries(
  db: Kysely<Database>,
  organizationId: string,
  filter: WebhookDeliveryFilter,
): Promise<WebhookDeliveryView[]> {
  let query = baseQuery(db, organizationId);
  if (filter.eventId) query = query.where('d.event_id', '=', filter.eventId);
  if (filter.endpointId) query = query.where('d.endpoint_id', '=', filter.endpointId);
  if (filter.status) query = query.where('d.status', '=', filter.status);
  if (filter.after) query = query.where('d.id', '>', filter.after);
  const rows = await query
    .orderBy('d.id', filter.newestFirst ? 'desc' : 'asc')
    .limit(filter.limit)
    .execute();
  return rows.map(toView);
}

export async function findWebhookDeliveryOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  id: string,
): Promise<WebhookDeliveryView> {
  const row = await baseQuery(db, organizationId).where('d.id', '=', id).executeTakeFirst();
  // Another organisation's delivery is "not found" too: its existence is not ours to reveal.
  if (!row) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND', `no webhook delivery ${id}`, { status: 404 });
  return toView(row);
}

/**
 * Schedules a `failed` or `delivered` delivery for an attempt now, with a fresh retry schedule (attempts back to 0;
 * the last status code and error stay until the next attempt replaces them). A delivered event is sent again
 * (receivers dedupe by event id). A `pending` delivery is refused: it is either waiting for its next attempt or
 * being attempted right now, and bringing it forward could deliver it twice at the same time.
 */
export async function retryWebhookDeliveryOrThrow(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  id: string,
): Promise<WebhookDeliveryView> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', attempts: 0, next_attempt_at: clock.now() })
    .where('id', '=', id)
    .where('organization_id', '=', organizationId)
    .where('status', 'in', ['failed', 'delivered'])
    .executeTakeFirst();
  const view = await findWebhookDeliveryOrThrow(db, organizationId, id);
  if (Number(result.numUpdatedRows) === 0) {
    throw new AppError(
      'WEBHOOK_DELIVERY_ALREADY_PENDING',
      `webhook delivery ${id} is already scheduled (next attempt at ${view.nextAttemptAt}); only a failed or delivered one can be retried`,
      { status: 409, details: { status: view.status, nextAttemptAt: view.nextAttemptAt } },
    );
  }
  return view;
}
