import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { removeTenantWaiter } from '../connect/admin-approval.js';
import { connectEndEvent } from '../connect/connect-ends.js';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { releaseHeldMessages } from '../outbox/held-messages.js';
import { ensureOwner } from '../owners/owners.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import type { PlaintextSecret } from '../vault/secret-types.js';
import { storeAccountTokens } from './account-tokens.js';

/** Keep-alive: refresh an idle account weekly, well inside the 90-day inactivity window. @see docs/entra.md §1.5 */
export const KEEPALIVE_INTERVAL_MS = 7 * 86_400_000;
/** ±12 h, so accounts connected in one burst do not all refresh at the same minute. */
export const KEEPALIVE_JITTER_MS = 12 * 3_600_000;
/** The first scheduled health check (refresh + GET /me) after connecting. */
export const FIRST_HEALTH_CHECK_MS = 6 * 3_600_000;

/** Who the mailbox is, from the back channel only: the verified id_token (`tid`, `oid`) and Graph `GET /me`. */
export interface ConnectedIdentity {
  tenantId: string;
  objectId: string;
  email: string;
  displayName: string | null;
}

export interface ConnectedAccountInput {
  organizationId: string;
  ownerExternalId: string;
  permissionProfile: string;
  /** As Microsoft granted them (short names). */
  grantedScopes: readonly string[];
  identity: ConnectedIdentity;
  tokens: { accessToken: PlaintextSecret; refreshToken: PlaintextSecret; expiresInSeconds: number };
  /** The connect session that produced the tokens: marked `completed` in the same transaction. */
  connectSessionId?: string;
}

export type ConnectedAccountResult =
  | { kind: 'connected' | 'reconnected'; accountId: string }
  /** The mailbox is another owner's account in this organisation: nothing changed. */
  | { kind: 'already_connected_elsewhere'; accountId: string };

type UpsertDeps = Pick<ServiceDeps, 'db' | 'vault' | 'clock' | 'events' | 'dialect'>;

/**
 * Stores a freshly connected mailbox in ONE transaction: the account (the same organisation + `tid` + `oid` is the
 * same account: a reconnect keeps its id and goes back to `connected`), its tokens sealed under the account's data
 * key, the refresh/keep-alive/health schedule, `account.connected` or `account.reconnected`, the owner's place in
 * the tenant's admin-approval wait cleared, and the connect session completed. An account belongs to one owner: the
 * same mailbox connected by another owner of the organisation is refused (`already_connected_elsewhere`), unless
 * that owner disconnected it (then nothing of theirs is left on it, and it starts afresh for the new owner).
 *
 * Two first connects of one mailbox at once meet at the (organisation, tid, oid) unique constraint: the loser retries
 * once and finds the winner's row (a reconnect).
 */
export async function upsertConnectedAccount(
  deps: UpsertDeps,
  input: ConnectedAccountInput,
): Promise<ConnectedAccountResult> {
  try {
    return await withTransaction(deps.db, (trx) => upsertInTransaction(deps, trx, input));
  } catch (error) {
    if (!isUniqueViolation(error) || deps.db.isTransaction) throw error;
    return withTransaction(deps.db, (trx) => upsertInTransaction(deps, trx, input));
  }
}

async function upsertInTransaction(
  deps: UpsertDeps,
  trx: Kysely<Database>,
  input: ConnectedAccountInput,
): Promise<ConnectedAccountResult> {
  const now = deps.clock.now();
  const owner = await ensureOwner(trx, deps.clock, input.organizationId, input.ownerExternalId);
  let query = trx
    .selectFrom('accounts')
    .selectAll()
    .where('organization_id', '=', input.organizationId)
    .where('tenant_id', '=', input.identity.tenantId)
    .where('object_id', '=', input.identity.objectId);
  if (deps.dialect === 'postgres') query = query.forUpdate();
  const existing = await query.executeTakeFirst();

  if (existing && existing.owner_id !== owner.id && existing.status !== 'disconnected') {
    return { kind: 'already_connected_elsewhere', accountId: existing.id };
  }

  const schedule = {
    access_token_expires_at: now + Math.max(0, input.tokens.expiresInSeconds) * 1000,
    refresh_token_issued_at: now,
    last_refreshed_at: now,
    next_keepalive_at: now + KEEPALIVE_INTERVAL_MS + randomInt(-KEEPALIVE_JITTER_MS, KEEPALIVE_JITTER_MS + 1),
    next_health_check_at: now + FIRST_HEALTH_CHECK_MS,
    refresh_failures: 0,
    refresh_retry_at: null,
  };
  const identity = {
    email: input.identity.email,
    display_name: input.identity.displayName,
    permission_profile: input.permissionProfile,
    granted_scopes: JSON.stringify(input.grantedScopes),
  };

  let accountId: string;
  let kind: 'connected' | 'reconnected';
  if (existing) {
    accountId = existing.id;
    // Another owner's disconnected account starts afresh for this owner: for them it is a new connection.
    kind = existing.owner_id === owner.id ? 'reconnected' : 'connected';
    await trx
      .updateTable('accounts')
      .set({
        ...identity,
        ...schedule,
        owner_id: owner.id,
        status: 'connected',
        status_reason: null,
        status_evidence: null,
        status_changed_at: existing.status === 'connected' ? existing.status_changed_at : now,
        connected_at: now,
        updated_at: now,
      })
      .where('id', '=', existing.id)
      .execute();
  } else {
    accountId = newId('acc', deps.clock);
    kind = 'connected';
    const row: AccountsTable = {
      id: accountId,
      organization_id: input.organizationId,
      owner_id: owner.id,
      provider: 'microsoft',
      tenant_id: input.identity.tenantId,
      object_id: input.identity.objectId,
      ...identity,
      ...schedule,
      status: 'connected',
      status_reason: null,
      status_evidence: null,
      status_changed_at: now,
      connected_at: now,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('accounts').values(row).execute();
  }

  await storeAccountTokens(trx, deps.vault, deps.clock, accountId, {
    accessToken: input.tokens.accessToken,
    refreshToken: input.tokens.refreshToken,
  });

  await deps.events.record(trx, {
    organizationId: input.organizationId,
    type: kind === 'connected' ? 'account.connected' : 'account.reconnected',
    accountId,
    ownerExternalId: input.ownerExternalId,
    data: {
      accountId,
      ownerId: input.ownerExternalId,
      provider: 'microsoft',
      email: input.identity.email,
      tenantId: input.identity.tenantId,
      permissionProfile: input.permissionProfile,
      scopes: [...input.grantedScopes],
      ...(input.connectSessionId ? { connectSessionId: input.connectSessionId } : {}),
    },
  });

  await removeTenantWaiter(trx, deps.dialect, input.organizationId, input.identity.tenantId, owner.id);
  // Messages held while the account needed reconnecting go out now. @see src/outbox/held-messages.ts
  await releaseHeldMessages(trx, deps, accountId);

  if (input.connectSessionId) {
    await trx
      .updateTable('connect_sessions')
      .set({
        status: 'completed',
        outcome: kind,
        account_id: accountId,
        tenant_id: input.identity.tenantId,
        code_verifier: null,
        updated_at: now,
      })
      .where('id', '=', input.connectSessionId)
      .execute();
    await trx
      .updateTable('connect_approval_requests')
      .set({ status: 'granted', resolved_at: now })
      .where('session_id', '=', input.connectSessionId)
      .where('status', '=', 'pending')
      .execute();
    // The session's secrets (PKCE verifier, admin-consent state) are spent: crypto-shred them.
    await deps.vault.destroyDataKey(trx, input.connectSessionId);
    await deps.events.record(
      trx,
      connectEndEvent(
        { id: input.connectSessionId, organization_id: input.organizationId, owner_external_id: input.ownerExternalId },
        { status: kind, accountId, email: input.identity.email },
      ),
    );
  }
  return { kind, accountId };
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
