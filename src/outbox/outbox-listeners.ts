import type { AccountsTable } from '../db/tables/accounts.js';
import { Listeners } from '../platform/listeners.js';

/**
 * What other modules hear of the outbox (ARCHITECTURE.md), inside the transaction that records it:
 * Microsoft accepted a message sent through Graph from `account` (the bounce reader registers at composition,
 * src/compose.ts, to read that mailbox's Inbox for non-delivery reports); a sent message became `bounced` (the
 * bounce reader emits it; warm-up registers to bring the sender's run forward). The outbox imports neither.
 */
export interface OutboxListeners {
  readonly sentThroughGraph: Listeners<SentThroughGraph>;
  readonly bounced: Listeners<MessageBounced>;
}

export interface SentThroughGraph {
  /** When the send was recorded (the service clock). */
  at: number;
  account: Pick<AccountsTable, 'id' | 'granted_scopes'>;
}

export interface MessageBounced {
  /** The outbox message that bounced. */
  messageId: string;
  /** When the bounce was recorded (the service clock). */
  at: number;
}

export function createOutboxListeners(): OutboxListeners {
  return { sentThroughGraph: new Listeners(), bounced: new Listeners() };
}
