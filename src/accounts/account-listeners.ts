import type { AccountStatus } from '../db/tables/accounts.js';
import { Listeners } from '../platform/listeners.js';

/**
 * What other modules hear of an account's state (ARCHITECTURE.md), inside the transaction that changed
 * it: its status changed (`recordAccountHealth`), or it was connected or reconnected (`upsertConnectedAccount`). The
 * modules that react register at composition (src/compose.ts): the outbox releases the messages it held, the connect
 * flow completes the connect session; this folder imports neither.
 */
export interface AccountListeners {
  readonly statusChanged: Listeners<AccountStatusChanged>;
  readonly connected: Listeners<AccountConnected>;
}

export interface AccountStatusChanged {
  accountId: string;
  previousStatus: AccountStatus;
  status: AccountStatus;
}

export interface AccountConnected {
  kind: 'connected' | 'reconnected';
  accountId: string;
  organizationId: string;
  /** The owner's internal id and the host product's id for them. */
  ownerId: string;
  ownerExternalId: string;
  tenantId: string;
  email: string;
  /** The connect session that produced the tokens, if any. */
  connectSessionId?: string;
  /** When the connection was stored (the service clock). */
  at: number;
}

export function createAccountListeners(): AccountListeners {
  return { statusChanged: new Listeners(), connected: new Listeners() };
}
