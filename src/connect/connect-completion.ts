import type { Kysely } from 'kysely';
import type { AccountConnected } from '../accounts/account-listeners.js';
import type { Database } from '../db/schema.js';
import type { ServiceDeps } from '../services.js';
import { removeTenantWaiter } from './admin-approval.js';
import { connectEndEvent } from './connect-ends.js';

/**
 * The connect flow's part of storing a connected mailbox, registered at composition as an account `connected`
 * listener (src/compose.ts) and so run in `upsertConnectedAccount`'s transaction: the owner leaves the tenant's
 * admin-approval wait, and the connect session that produced the tokens is completed (its approval request
 * granted, its secrets crypto-shredded, its end recorded).
 */
export async function completeConnect(
  trx: Kysely<Database>,
  deps: Pick<ServiceDeps, 'dialect' | 'vault' | 'events'>,
  connected: AccountConnected,
): Promise<void> {
  const { accountId, kind, organizationId, tenantId, at: now } = connected;
  await removeTenantWaiter(trx, deps.dialect, organizationId, tenantId, connected.ownerId);
  if (!connected.connectSessionId) return;
  await trx
    .updateTable('connect_sessions')
    .set({
      status: 'completed',
      outcome: kind,
      account_id: accountId,
      tenant_id: tenantId,
      code_verifier: null,
      updated_at: now,
    })
    .where('id', '=', connected.connectSessionId)
    .execute();
  await trx
    .updateTable('connect_approval_requests')
    .set({ status: 'granted', resolved_at: now })
    .where('session_id', '=', connected.connectSessionId)
    .where('status', '=', 'pending')
    .execute();
  // The session's secrets (PKCE verifier, admin-consent state) are spent: crypto-shred them.
  await deps.vault.destroyDataKey(trx, connected.connectSessionId);
  await deps.events.record(
    trx,
    connectEndEvent(
      { id: connected.connectSessionId, organization_id: organizationId, owner_external_id: connected.ownerExternalId },
      { status: kind, accountId, email: connected.email },
    ),
  );
}
