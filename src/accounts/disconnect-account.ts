import { withTransaction } from '../db/transaction.js';
import { ownerHasMicrosoftAccount } from '../owners/owners.js';
import type { ServiceDeps } from '../services.js';
import { destroyAccountTokens } from '../vault/account-tokens.js';
import { type AccountView, accountNotFound, findAccountForOrgOrThrow, toAccountView } from './account-view.js';

export const DISCONNECT_REASON = 'user_disconnected';

/**
 * Every status but `disconnected`: an account that is broken for now (reconnect required, approval pending…) still
 * holds the owner's choice of "Personal Outlook", since reconnecting it resumes sending from it.
 */
const LIVE_STATUSES = [
  'connected',
  'degraded',
  'reconnect_required',
  'admin_approval_pending',
  'app_misconfigured',
  'mailbox_unusable',
  'unknown',
] as const;

type DisconnectDeps = Pick<ServiceDeps, 'db' | 'clock' | 'vault' | 'events' | 'dialect'>;

/**
 * Disconnects an account, in one transaction: its tokens are crypto-shredded (ciphertext and data key destroyed),
 * its status becomes `disconnected` (reason `user_disconnected`), its keep-alive and health-check schedules are
 * cleared, and `account.disconnected` is recorded. If the owner sends through Microsoft and this was their last
 * Microsoft account that is not disconnected, their provider falls back to `default` (the event says so). The
 * account row stays, so reconnecting the same mailbox later keeps its id. Idempotent: disconnecting a disconnected
 * account makes sure its tokens are gone and records nothing.
 */
export async function disconnectAccount(
  deps: DisconnectDeps,
  organizationId: string,
  accountId: string,
): Promise<AccountView> {
  return withTransaction(deps.db, async (trx) => {
    // On PostgreSQL the row lock serialises us with a token refresh of the same account (which locks it too), so a
    // refresh cannot store new tokens after we shredded them. SQLite serialises writers anyway.
    if (deps.dialect === 'postgres') {
      const locked = await trx
        .selectFrom('accounts')
        .select('id')
        .where('id', '=', accountId)
        .where('organization_id', '=', organizationId)
        .forUpdate()
        .executeTakeFirst();
      if (!locked) throw accountNotFound(accountId);
    }
    const account = await findAccountForOrgOrThrow(trx, organizationId, accountId);
    await destroyAccountTokens(trx, deps.vault, account.id);
    const now = deps.clock.now();
    const result = await trx
      .updateTable('accounts')
      .set({
        status: 'disconnected',
        status_reason: DISCONNECT_REASON,
        status_evidence: null,
        status_changed_at: now,
        access_token_expires_at: null,
        refresh_token_issued_at: null,
        next_keepalive_at: null,
        next_health_check_at: null,
        refresh_failures: 0,
        refresh_retry_at: null,
        updated_at: now,
      })
      .where('id', '=', account.id)
      .where('status', '!=', 'disconnected')
      .executeTakeFirst();

    if (Number(result.numUpdatedRows) > 0) {
      const owner = await trx
        .selectFrom('owners')
        .select(['id', 'email_provider'])
        .where('id', '=', account.owner_id)
        .executeTakeFirstOrThrow();
      let emailProviderFallback = false;
      if (
        owner.email_provider === 'microsoft' &&
        !(await ownerHasMicrosoftAccount(trx, owner.id, LIVE_STATUSES, account.id))
      ) {
        await trx
          .updateTable('owners')
          .set({ email_provider: 'default', updated_at: now })
          .where('id', '=', owner.id)
          .execute();
        emailProviderFallback = true;
      }
      await deps.events.record(trx, {
        organizationId,
        type: 'account.disconnected',
        accountId: account.id,
        ownerExternalId: account.owner_external_id,
        data: {
          accountId: account.id,
          ownerId: account.owner_external_id,
          email: account.email,
          previousStatus: account.status,
          reason: DISCONNECT_REASON,
          ...(emailProviderFallback ? { emailProvider: { from: 'microsoft', to: 'default' } } : {}),
        },
      });
    }
    return toAccountView(await findAccountForOrgOrThrow(trx, organizationId, account.id), now);
  });
}
