import type { Kysely } from 'kysely';
import { type AccountWithOwner, accountNotFound, findAccountForOrgOrThrow } from '../accounts/account-view.js';
import type { Database } from '../db/schema.js';
import type { AccountStatus, AccountsTable } from '../db/tables/accounts.js';
import type { MessageProvider } from '../db/tables/outbox.js';
import { AppError } from '../errors/app-error.js';
import type { ServiceDeps } from '../services.js';
import type { Carrier } from './message-input.js';
import { outboxError } from './outbox-errors.js';

/** The lane of the default provider: one relay, one pacing row. */
export const DEFAULT_LANE = 'default';

/** Account statuses whose messages wait (held) for a person to act, and are released when the account is healthy. */
export const HOLDING_STATUSES: ReadonlySet<AccountStatus> = new Set(['reconnect_required', 'admin_approval_pending']);

/** Account statuses that cannot send and will not recover by themselves: new messages are refused. */
export const REFUSING_STATUSES: ReadonlySet<AccountStatus> = new Set(['disconnected', 'mailbox_unusable']);

/** Where a message goes and how it travels, decided at acceptance. */
export interface MessageTarget {
  organizationId: string;
  provider: MessageProvider;
  lane: string;
  account: AccountsTable | undefined;
  ownerExternalId: string | null;
  fromAddress: string;
  carrier: Carrier;
}

export function grantedScopes(account: Pick<AccountsTable, 'granted_scopes'>): string[] {
  try {
    const parsed: unknown = JSON.parse(account.granted_scopes);
    return Array.isArray(parsed) ? parsed.filter((scope): scope is string => typeof scope === 'string') : [];
  } catch {
    // A malformed column reads as "no scopes": the account then sends inline only, the safe choice.
    return [];
  }
}

/**
 * Whether the account's grant includes Mail.ReadWrite (the `warmup` profile): then the outbox sends through a
 * draft carrying our Message-ID, can look for it after an unknown outcome, and can upload large attachments.
 * Scopes may come back fully qualified (`https://graph.microsoft.com/Mail.ReadWrite`).
 */
export function canUseDrafts(account: Pick<AccountsTable, 'granted_scopes'>): boolean {
  return grantedScopes(account).some(
    (scope) => scope.slice(scope.lastIndexOf('/') + 1).toLowerCase() === 'mail.readwrite',
  );
}

function accountTarget(account: AccountsTable, ownerExternalId: string | null): Omit<MessageTarget, 'organizationId'> {
  return {
    provider: 'microsoft',
    lane: account.id,
    account,
    ownerExternalId,
    fromAddress: account.email,
    carrier: canUseDrafts(account) ? 'graph_draft' : 'graph_inline',
  };
}

function assertSendableOrThrow(account: AccountsTable): void {
  if (REFUSING_STATUSES.has(account.status)) {
    throw outboxError(
      'OUTBOX_ACCOUNT_NOT_SENDABLE',
      account.status === 'disconnected'
        ? 'The account is disconnected: connect it again to send from it.'
        : `The mailbox cannot send (${account.status_reason ?? account.status}); see the account's remediation.`,
      { accountId: account.id, status: account.status, reason: account.status_reason },
    );
  }
}

/**
 * `POST /v1/accounts/{id}/messages`: the account, in the caller's organisation only (404 otherwise). `read`: the
 * account as the caller read it in that organisation (null: none), when it did (the API reads it with the key).
 */
export async function resolveAccountTargetOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  accountId: string,
  read?: AccountWithOwner | null,
): Promise<MessageTarget> {
  // Another organisation's account is exactly as invisible as one that does not exist.
  if (read === null) throw accountNotFound(accountId);
  const row = read ?? (await findAccountForOrgOrThrow(db, organizationId, accountId));
  const { owner_external_id: ownerExternalId, ...account } = row;
  assertSendableOrThrow(account);
  return { organizationId, ...accountTarget(account, ownerExternalId) };
}

/** Preference order among an owner's Microsoft accounts: one that can send now, then the most recently connected. */
const STATUS_RANK: Partial<Record<AccountStatus, number>> = { connected: 0, degraded: 1, unknown: 2 };

/**
 * `POST /v1/owners/{ownerId}/messages`: the owner's preferred provider. `microsoft` ("Personal Outlook") sends from
 * their connected Microsoft account (held if it needs reconnecting); otherwise, or when the owner has no account
 * left that can send, the operator's default provider. An owner the host never registered has chosen nothing: the
 * default provider. @see issue 4 item 1, docs/product.md §3
 */
export async function resolveOwnerTargetOrThrow(
  deps: Pick<ServiceDeps, 'db' | 'config'>,
  organizationId: string,
  ownerExternalId: string,
): Promise<MessageTarget> {
  const owner = await deps.db
    .selectFrom('owners')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('external_id', '=', ownerExternalId)
    .executeTakeFirst();
  // As `GET /v1/owners/{ownerId}`: an owner exists once a connect session or the email-provider route named it. A
  // mistyped id must not quietly send through the relay.
  if (!owner) {
    throw new AppError('OWNER_NOT_FOUND', `No owner ${ownerExternalId.slice(0, 64)} in this organisation.`, {
      status: 404,
    });
  }
  if (owner.email_provider === 'microsoft') {
    const accounts = await deps.db
      .selectFrom('accounts')
      .selectAll()
      .where('owner_id', '=', owner.id)
      .where('provider', '=', 'microsoft')
      .execute();
    const candidates = accounts
      .filter((account) => !REFUSING_STATUSES.has(account.status))
      .sort(
        (a, b) =>
          (STATUS_RANK[a.status] ?? 3) - (STATUS_RANK[b.status] ?? 3) ||
          Number(b.connected_at) - Number(a.connected_at),
      );
    const chosen = candidates[0];
    if (chosen) return { organizationId, ...accountTarget(chosen, ownerExternalId) };
  }
  return { organizationId, ...defaultTargetOrThrow(deps, ownerExternalId) };
}

function defaultTargetOrThrow(
  deps: Pick<ServiceDeps, 'config'>,
  ownerExternalId: string,
): Omit<MessageTarget, 'organizationId'> {
  const smtp = deps.config.smtp;
  if (!smtp) {
    throw outboxError(
      'OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED',
      'This owner sends through the default provider, but no SMTP relay is configured: the operator sets SMTP_URL and SMTP_FROM.',
    );
  }
  return {
    provider: 'default',
    lane: DEFAULT_LANE,
    account: undefined,
    ownerExternalId,
    fromAddress: smtp.from,
    carrier: 'smtp',
  };
}
