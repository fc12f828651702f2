import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountStatus, OwnersTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { AppError } from '../errors/app-error.js';
import type { Clock } from '../platform/clock.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { destroyAccountTokens } from '../vault/account-tokens.js';

/**
 * Owners: the host product's users, known by the host's own id (`externalId`, the API's `ownerId`). An owner has
 * mailboxes (accounts) and chooses which provider sends their mail: `microsoft` ("Personal Outlook", one of their
 * connected Microsoft accounts) or `default` (the operator's SMTP relay).
 */
export type EmailProvider = OwnersTable['email_provider'];
export const EMAIL_PROVIDERS = ['microsoft', 'default'] as const satisfies readonly EmailProvider[];

export interface OwnerView {
  ownerId: string;
  emailProvider: EmailProvider;
  createdAt: string;
  updatedAt: string;
}

/** Statuses in which a Microsoft account can send now (a degraded one only waits out a blip). */
export const SENDING_STATUSES = ['connected', 'degraded'] as const satisfies readonly AccountStatus[];

type OwnerDeps = Pick<ServiceDeps, 'db' | 'clock'>;
type OwnerDeletionDeps = Pick<ServiceDeps, 'db' | 'clock' | 'vault' | 'events' | 'dialect'>;

export function toOwnerView(row: OwnersTable): OwnerView {
  return {
    ownerId: row.external_id,
    emailProvider: row.email_provider,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  };
}

/**
 * The owner row for `externalId` in the organisation, created on first use. Race-safe on both dialects: the insert
 * yields to the (organization_id, external_id) unique constraint, then the row is read back, so two concurrent
 * first uses end with one row and both callers see it.
 */
export async function ensureOwner(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  externalId: string,
): Promise<OwnersTable> {
  const existing = await getOwner(db, organizationId, externalId);
  if (existing) return existing;
  const now = clock.now();
  await db
    .insertInto('owners')
    .values({
      id: newId('own', clock),
      organization_id: organizationId,
      external_id: externalId,
      email_provider: 'default',
      created_at: now,
      updated_at: now,
    })
    .onConflict((conflict) => conflict.columns(['organization_id', 'external_id']).doNothing())
    .execute();
  const row = await getOwner(db, organizationId, externalId);
  if (!row) throw new Error(`owner ${externalId} vanished right after it was created`);
  return row;
}

export async function getOwner(
  db: Kysely<Database>,
  organizationId: string,
  externalId: string,
): Promise<OwnersTable | undefined> {
  return db
    .selectFrom('owners')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('external_id', '=', externalId)
    .executeTakeFirst();
}

/** The owner, or 404 `OWNER_NOT_FOUND` (also when the id belongs to another organisation). */
export async function getOwnerOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  externalId: string,
): Promise<OwnersTable> {
  const row = await getOwner(db, organizationId, externalId);
  if (!row) {
    throw new AppError('OWNER_NOT_FOUND', `No owner ${externalId.slice(0, 64)} in this organisation.`, {
      status: 404,
    });
  }
  return row;
}

/** Whether the owner has a Microsoft account other than `exceptAccountId` in one of `statuses`. */
export async function ownerHasMicrosoftAccount(
  db: Kysely<Database>,
  ownerId: string,
  statuses: readonly AccountStatus[],
  exceptAccountId?: string,
): Promise<boolean> {
  let query = db
    .selectFrom('accounts')
    .select('id')
    .where('owner_id', '=', ownerId)
    .where('provider', '=', 'microsoft')
    .where('status', 'in', statuses);
  if (exceptAccountId !== undefined) query = query.where('id', '!=', exceptAccountId);
  return (await query.limit(1).executeTakeFirst()) !== undefined;
}

/**
 * Chooses the provider that sends the owner's mail. `microsoft` ("Personal Outlook") needs a Microsoft account that
 * can send now (connected, or degraded by a blip): otherwise 409 `OWNER_NO_CONNECTED_ACCOUNT`, as the dashboard
 * offers "Personal Outlook" only once an account is connected. `default` is always possible (and creates the owner
 * if the host never used it before, so the call is a plain "set").
 */
export async function setOwnerEmailProvider(
  deps: OwnerDeps,
  organizationId: string,
  externalId: string,
  provider: EmailProvider,
): Promise<OwnerView> {
  return withTransaction(deps.db, async (trx) => {
    let owner: OwnersTable | undefined;
    if (provider === 'microsoft') {
      owner = await getOwner(trx, organizationId, externalId);
      if (!owner || !(await ownerHasMicrosoftAccount(trx, owner.id, SENDING_STATUSES))) {
        throw new AppError(
          'OWNER_NO_CONNECTED_ACCOUNT',
          'The owner has no connected Microsoft account: connect one first (POST /v1/connect-sessions), then choose "microsoft".',
          { status: 409 },
        );
      }
    } else {
      owner = await ensureOwner(trx, deps.clock, organizationId, externalId);
    }
    if (owner.email_provider !== provider) {
      const now = deps.clock.now();
      await trx
        .updateTable('owners')
        .set({ email_provider: provider, updated_at: now })
        .where('id', '=', owner.id)
        .execute();
      owner = { ...owner, email_provider: provider, updated_at: now };
    }
    return toOwnerView(owner);
  });
}

export interface OwnerDeletion {
  /** Whether anything of the owner existed (and was deleted). */
  deleted: boolean;
  accountIds: string[];
  connectSessions: number;
}

/**
 * Deletes everything mailbridge holds about an owner, in one transaction: each account (its tokens crypto-shredded:
 * ciphertext and data key), the owner's earlier events (they carry email addresses), its connect sessions (and their
 * data keys, subject = session id) and admin-approval hand-offs, its place in tenant-approval waits, its messages
 * (with attachments and attempt logs), and the owner row; then records
 * `owner.deleted`, which names nothing but the owner id and the deleted account ids. Idempotent: deleting an owner
 * that does not exist changes nothing and records nothing.
 */
export async function deleteOwner(
  deps: OwnerDeletionDeps,
  organizationId: string,
  externalId: string,
): Promise<OwnerDeletion> {
  return withTransaction(deps.db, async (trx) => {
    const owner = await getOwner(trx, organizationId, externalId);
    const accountIds = owner
      ? (
          await trx
            .selectFrom('accounts')
            .select('id')
            .where('owner_id', '=', owner.id)
            .where('organization_id', '=', organizationId)
            .orderBy('id')
            .execute()
        ).map((account) => account.id)
      : [];
    // Rows that name the owner or one of the owner's accounts.
    const ofOwner = (eb: ExpressionBuilder<Database, 'events' | 'outbox_messages'>) =>
      accountIds.length > 0
        ? eb.or([eb('owner_external_id', '=', externalId), eb('account_id', 'in', accountIds)])
        : eb('owner_external_id', '=', externalId);

    // Crypto-shredding first: ciphertext and data key of every account.
    for (const accountId of accountIds) await destroyAccountTokens(trx, deps.vault, accountId);

    const sessions = await trx
      .selectFrom('connect_sessions')
      .select('id')
      .where('organization_id', '=', organizationId)
      .where('owner_external_id', '=', externalId)
      .execute();
    for (const session of sessions) await deps.vault.destroyDataKey(trx, session.id);
    // The "ask my IT admin" hand-offs hang off the sessions (and would go by cascade); deleted by name, not by luck.
    const handOffs = await trx
      .deleteFrom('connect_approval_requests')
      .where('organization_id', '=', organizationId)
      .where('owner_external_id', '=', externalId)
      .executeTakeFirst();
    if (sessions.length > 0) {
      await trx
        .deleteFrom('connect_sessions')
        .where('organization_id', '=', organizationId)
        .where('owner_external_id', '=', externalId)
        .execute();
    }
    const waitsChanged = await removeFromTenantApprovalWaits(trx, deps.dialect, organizationId, [
      externalId,
      ...(owner ? [owner.id] : []),
    ]);
    // Messages: the owner's through the default provider and every message of their accounts (attachments and
    // attempt logs go with them by cascade).
    const messages = await trx
      .deleteFrom('outbox_messages')
      .where('organization_id', '=', organizationId)
      .where(ofOwner)
      .executeTakeFirst();
    // The owner's earlier events hold their email addresses; the owner.deleted event below replaces them.
    const events = await trx
      .deleteFrom('events')
      .where('organization_id', '=', organizationId)
      .where(ofOwner)
      .executeTakeFirst();
    if (accountIds.length > 0) {
      await trx.deleteFrom('outbox_pacing').where('lane', 'in', accountIds).execute();
      await trx.deleteFrom('accounts').where('id', 'in', accountIds).execute();
    }
    if (owner) await trx.deleteFrom('owners').where('id', '=', owner.id).execute();

    const deleted =
      owner !== undefined ||
      sessions.length > 0 ||
      waitsChanged ||
      Number(handOffs.numDeletedRows) > 0 ||
      Number(messages.numDeletedRows) > 0 ||
      Number(events.numDeletedRows) > 0;
    if (!deleted) return { deleted: false, accountIds: [], connectSessions: 0 };
    await deps.events.record(trx, {
      organizationId,
      type: 'owner.deleted',
      ownerExternalId: externalId,
      data: { ownerId: externalId, accountIds },
    });
    return { deleted: true, accountIds, connectSessions: sessions.length };
  });
}

/**
 * Takes the owner out of every tenant's list of users waiting for admin approval. A wait left with nobody in it is
 * removed; a granted approval stays (it belongs to the tenant, not to a user).
 */
async function removeFromTenantApprovalWaits(
  trx: Kysely<Database>,
  dialect: ServiceDeps['dialect'],
  organizationId: string,
  ownerIds: readonly string[],
): Promise<boolean> {
  // One row per tenant that ever needed approval in the organisation: few enough to filter here, and JSON matching
  // in SQL differs between the dialects.
  let query = trx.selectFrom('tenant_approvals').selectAll().where('organization_id', '=', organizationId);
  // On PostgreSQL, lock the rows so a concurrent connect adding a waiter is not lost; SQLite writers are serialised.
  if (dialect === 'postgres') query = query.forUpdate();
  const rows = await query.execute();
  let changed = false;
  for (const row of rows) {
    const waiting = parseIdList(row.waiting_owner_ids);
    const remaining = waiting.filter((id) => !ownerIds.includes(id));
    if (remaining.length === waiting.length) continue;
    changed = true;
    const where = { organization_id: row.organization_id, tenant_id: row.tenant_id };
    if (remaining.length === 0 && row.status === 'pending') {
      await trx
        .deleteFrom('tenant_approvals')
        .where('organization_id', '=', where.organization_id)
        .where('tenant_id', '=', where.tenant_id)
        .execute();
    } else {
      await trx
        .updateTable('tenant_approvals')
        .set({ waiting_owner_ids: JSON.stringify(remaining) })
        .where('organization_id', '=', where.organization_id)
        .where('tenant_id', '=', where.tenant_id)
        .execute();
    }
  }
  return changed;
}

function parseIdList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    // A corrupt list names nobody we could remove; leaving it is the conservative choice.
    return [];
  }
}
