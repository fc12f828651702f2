import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';
import type { EventType, NewEvent } from '../events/event-recorder.js';
import type { ServiceDeps } from '../services.js';

export type MessageEventType = Extract<EventType, `message.${string}`>;

type MessageEventRow = Pick<
  OutboxMessagesTable,
  'id' | 'organization_id' | 'account_id' | 'owner_external_id' | 'provider' | 'internet_message_id' | 'attempts'
>;

/**
 * Records a `message.*` event in the caller's transaction, so the event (and its webhook delivery) exists exactly
 * when the state change it reports committed. Data never holds message content: ids, status, reason, remediation.
 */
export async function recordMessageEvent(
  trx: Kysely<Database>,
  deps: Pick<ServiceDeps, 'events'>,
  row: MessageEventRow,
  type: MessageEventType,
  data: Record<string, unknown>,
): Promise<void> {
  await deps.events.record(trx, messageEvent(row, type, data));
}

/** A `message.*` event of `row`: its ids, provider, Message-ID and attempts, with `data`. */
export function messageEvent(row: MessageEventRow, type: MessageEventType, data: Record<string, unknown>): NewEvent {
  return {
    organizationId: row.organization_id,
    type,
    accountId: row.account_id,
    ownerExternalId: row.owner_external_id,
    data: {
      messageId: row.id,
      accountId: row.account_id,
      ownerId: row.owner_external_id,
      provider: row.provider,
      internetMessageId: row.internet_message_id,
      attempts: row.attempts,
      ...data,
    },
  };
}
