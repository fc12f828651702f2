import type { AccountsTable } from '../db/tables/accounts.js';
import { Listeners } from '../platform/listeners.js';

/**
 * What other modules hear of the outbox (ARCHITECTURE.md), inside the transaction that records it:
 * Microsoft accepted a message sent through Graph from `account`. The bounce reader registers at composition
 * (src/compose.ts) to read that mailbox's Inbox for non-delivery reports; the outbox does not import it.
 */
export interface OutboxListeners {
  readonly sentThroughGraph: Listeners<SentThroughGraph>;
}

export interface SentThroughGraph {
  /** When the send was recorded (the service clock). */
  at: number;
  account: Pick<AccountsTable, 'id' | 'granted_scopes'>;
}

export function createOutboxListeners(): OutboxListeners {
  return { sentThroughGraph: new Listeners() };
}
