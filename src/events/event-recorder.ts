import { type Compilable, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { RowTemplates } from '../db/statement-template.js';
import type { EventsTable } from '../db/tables/accounts.js';
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
  /** The organisation it belongs to: with per-organisation endpoints, a receiver may serve several. */
  organizationId: string;
  createdAt: string;
  accountId: string | null;
  ownerId: string | null;
  data: Record<string, unknown>;
}

/**
 * What happens to a recorded event in the recording transaction besides its row: the webhook fan-out
 * (src/webhooks/webhook-fan-out.ts), registered at composition so the event log does not import its readers.
 */
export interface EventRecordedListener {
  /**
   * A value the listener needs, read in the event's own INSERT (`RETURNING`) and handed to `recorded`: a listener
   * that usually has nothing to do learns it without a round trip of its own (issue 14: one statement per event).
   */
  readonly readWithInsert?: (eb: ExpressionBuilder<Database, 'events'>, event: EventsTable) => Expression<unknown>;
  recorded(db: Kysely<Database>, event: EventsTable, read: unknown): Promise<void>;
  /**
   * A condition under which `recorded` has nothing to do for an event of the organisation, or null when it may always
   * have: an event recorded within a statement that requires it needs no listener (`EventRecorder.quietly`).
   */
  readonly idleWhere?: (organizationId: string) => Expression<SqlBool> | null;
}

/** An event to insert within the caller's own statement, which must require `onlyIf` (`EventRecorder.quietly`). */
export interface QuietEvent {
  row: EventsTable;
  onlyIf: Expression<SqlBool>;
}

/**
 * Records events in the caller's transaction (so an event exists exactly when the change it reports committed) and
 * runs the `onRecorded` listener in the same transaction (the webhook deliveries it queues exist exactly when the
 * event does).
 */
export class EventRecorder {
  readonly #clock: Clock;
  readonly #onRecorded: EventRecordedListener | undefined;

  /** Every event's INSERT, reading the listener's value in its `RETURNING` (issue 14: a template). */
  readonly #insert: RowTemplates<EventsTable, { read?: unknown }>;

  constructor(options: { clock: Clock; onRecorded?: EventRecordedListener | undefined }) {
    this.#clock = options.clock;
    this.#onRecorded = options.onRecorded;
    const readWithInsert = options.onRecorded?.readWithInsert;
    this.#insert = new RowTemplates(
      (db, row: EventsTable): Compilable<{ read?: unknown }> =>
        readWithInsert === undefined
          ? db.insertInto('events').values(row)
          : db
              .insertInto('events')
              .values(row)
              .returning((eb) => sql`(${readWithInsert(eb, row)})`.as('read')),
    );
  }

  async record(db: Kysely<Database>, event: NewEvent): Promise<EventView> {
    const row = this.#rowOf(event);
    const inserted = await this.#insert.of(row).firstRow(db, row);
    await this.#onRecorded?.recorded(db, row, inserted?.read);
    return toEventView(row);
  }

  /**
   * The event's row for the caller to insert within a statement of its own that changes nothing unless `onlyIf`
   * holds, the condition under which the listener would have nothing to do; null when it may always have (the
   * event must then go through `record`). A statement that commits by itself then records the change and its event
   * in one round trip (issue 14), with the event existing exactly when the change does.
   */
  quietly(event: NewEvent): QuietEvent | null {
    const listener = this.#onRecorded;
    const onlyIf = listener === undefined ? sql<SqlBool>`true` : (listener.idleWhere?.(event.organizationId) ?? null);
    return onlyIf === null ? null : { row: this.#rowOf(event), onlyIf };
  }

  #rowOf(event: NewEvent): EventsTable {
    return {
      id: newId('evt', this.#clock),
      organization_id: event.organizationId,
      type: event.type,
      account_id: event.accountId ?? null,
      owner_external_id: event.ownerExternalId ?? null,
      data: JSON.stringify(event.data),
      created_at: this.#clock.now(),
    };
  }
}

export function toEventView(row: EventsTable): EventView {
  return {
    id: row.id,
    type: row.type,
    organizationId: row.organization_id,
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
