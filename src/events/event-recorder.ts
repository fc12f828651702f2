import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { EventsTable } from '../db/tables/accounts.js';
import { JOBS, type JobEngine } from '../jobs/job-engine.js';
import type { Clock } from '../platform/clock.js';
import { newId } from '../platform/ids.js';

/** Every event type mailbridge emits (stored for `GET /v1/events` and delivered as signed webhooks). */
export const EVENT_TYPES = [
  'account.connected',
  'account.reconnected',
  'account.status_changed',
  'account.disconnected',
  'owner.deleted',
  'connect.completed',
  'connect.failed',
  'connect.cancelled',
  'tenant.admin_approval_requested',
  'tenant.admin_consent_granted',
  'app.misconfigured',
  'app.recovered',
  'app.secret_expiring',
  'message.sent',
  'message.failed',
  'message.held',
  'message.released',
  'message.canceled',
  'message.bounced',
  // The warm-up engine (src/warmup/, docs/warmup.md §G): every stop but the user's own carries its reason and
  // remediation, so warm-up never stops silently.
  'warmup.started',
  'warmup.paused',
  'warmup.resumed',
  'warmup.quarantined',
  'warmup.health_changed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NewEvent {
  organizationId: string;
  type: EventType;
  accountId?: string | null;
  ownerExternalId?: string | null;
  /** Delivered as-is to webhooks: never a token, code, secret or password. */
  data: Record<string, unknown>;
}

export interface EventView {
  id: string;
  type: string;
  createdAt: string;
  accountId: string | null;
  ownerId: string | null;
  data: Record<string, unknown>;
}

/**
 * Records events in the caller's transaction (so an event exists exactly when the change it reports committed) and,
 * when a webhook URL is configured, a pending delivery for the webhook dispatcher in the same transaction, with its
 * `webhook-delivery` job when a job engine is given (src/jobs/; on SQLite the in-process loop finds the row itself).
 */
export class EventRecorder {
  readonly #clock: Clock;
  readonly #webhookUrl: string | undefined;
  readonly #jobs: JobEngine | undefined;

  constructor(options: { clock: Clock; webhookUrl?: string | undefined; jobs?: JobEngine | undefined }) {
    this.#clock = options.clock;
    this.#webhookUrl = options.webhookUrl;
    this.#jobs = options.jobs;
  }

  async record(db: Kysely<Database>, event: NewEvent): Promise<EventView> {
    const now = this.#clock.now();
    const row: EventsTable = {
      id: newId('evt', this.#clock),
      organization_id: event.organizationId,
      type: event.type,
      account_id: event.accountId ?? null,
      owner_external_id: event.ownerExternalId ?? null,
      data: JSON.stringify(event.data),
      created_at: now,
    };
    await db.insertInto('events').values(row).execute();
    if (this.#webhookUrl) {
      const deliveryId = newId('whd', this.#clock);
      await db
        .insertInto('webhook_deliveries')
        .values({
          id: deliveryId,
          event_id: row.id,
          organization_id: row.organization_id,
          url: this.#webhookUrl,
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          last_error: null,
          created_at: now,
          delivered_at: null,
        })
        .execute();
      await this.#jobs?.enqueue(db, JOBS.webhookDelivery, { deliveryId }, { singletonKey: deliveryId });
    }
    return toEventView(row);
  }
}

export function toEventView(row: EventsTable): EventView {
  return {
    id: row.id,
    type: row.type,
    createdAt: new Date(row.created_at).toISOString(),
    accountId: row.account_id,
    ownerId: row.owner_external_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

/** An organisation's events, oldest first after `after` (an event id), optionally filtered. */
export async function listEvents(
  db: Kysely<Database>,
  organizationId: string,
  filter: { after?: string; limit: number; type?: string; accountId?: string },
): Promise<EventView[]> {
  let query = db.selectFrom('events').selectAll().where('organization_id', '=', organizationId);
  if (filter.after) query = query.where('id', '>', filter.after);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  const rows = await query.orderBy('id', 'asc').limit(filter.limit).execute();
  return rows.map(toEventView);
}
