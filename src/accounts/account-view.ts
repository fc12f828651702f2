import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { StatementTemplate } from '../db/statement-template.js';
import type { AccountStatus, AccountsTable } from '../db/tables/accounts.js';
import { AppError } from '../errors/app-error.js';
import {
  ADMIN_APPROVAL_REASONS,
  APP_MISCONFIGURED_REASONS,
  DEGRADED_REASONS,
  type Health,
  MAILBOX_UNUSABLE_REASONS,
  RECONNECT_REASONS,
} from '../health/health.js';
import { type Remediation, remediationFor } from '../health/remediation.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { isoTime, isoTimeOrNull } from '../platform/clock.js';

/** A refresh token unused for 90 days dies. @see docs/entra.md §1 (refresh token lifetime) */
export const REFRESH_TOKEN_INACTIVITY_MS = 90 * 24 * 60 * 60 * 1000;

/** An account row with its owner's external id (the id the host product knows the owner by). */
export type AccountWithOwner = AccountsTable & { owner_external_id: string };

/** An account as the host API and the dashboard show it. Never a token. */
export interface AccountView {
  id: string;
  /** The host product's id of the owner. */
  ownerId: string;
  provider: 'microsoft';
  email: string;
  displayName: string | null;
  /** Microsoft's tenant id (`tid`); `9188040d-6c67-4c5b-b112-36a304b66dad` for personal accounts. */
  tenantId: string;
  permissionProfile: string;
  scopes: string[];
  status: AccountStatus;
  reason: string | null;
  remediation: Remediation;
  /** The structured evidence behind a failing status (error codes, Graph code, trace ids), for diagnosis. */
  evidence: ErrorEvidence | null;
  connectedAt: string;
  lastRefreshedAt: string | null;
  accessTokenExpiresAt: string | null;
  /** The refresh token dies if unused until then (keep-alive refreshes well before). Null without a token. */
  expiresIfUnusedBy: string | null;
  statusChangedAt: string;
  createdAt: string;
  updatedAt: string;
}

export function toAccountView(row: AccountWithOwner, now: number): AccountView {
  const evidence = parseEvidence(row.status_evidence);
  return {
    id: row.id,
    ownerId: row.owner_external_id,
    provider: row.provider,
    email: row.email,
    displayName: row.display_name,
    tenantId: row.tenant_id,
    permissionProfile: row.permission_profile,
    scopes: parseScopes(row.granted_scopes),
    status: row.status,
    reason: row.status_reason,
    remediation: remediationFor(healthOf(row, evidence, now)),
    evidence,
    connectedAt: isoTime(row.connected_at),
    lastRefreshedAt: isoTimeOrNull(row.last_refreshed_at),
    accessTokenExpiresAt: isoTimeOrNull(row.access_token_expires_at),
    expiresIfUnusedBy:
      row.status === 'disconnected' || row.refresh_token_issued_at === null
        ? null
        : isoTime(Number(row.refresh_token_issued_at) + REFRESH_TOKEN_INACTIVITY_MS),
    statusChangedAt: isoTime(row.status_changed_at),
    createdAt: isoTime(row.created_at),
    updatedAt: isoTime(row.updated_at),
  };
}

/**
 * The `Health` value a stored status + reason stand for, so the view shows the same remediation text as the code
 * that set the status. A reason that does not belong to its status (a row written by an older version) reads as
 * `unknown`: its text says to look at the evidence, which is the honest answer.
 */
export function healthOf(
  row: Pick<AccountsTable, 'status' | 'status_reason' | 'refresh_retry_at'>,
  evidence: ErrorEvidence | null,
  now: number,
): Health {
  const ev: ErrorEvidence = evidence ?? { source: 'network', errorCodes: [], requestSent: 'unknown' };
  const reason = row.status_reason;
  switch (row.status) {
    case 'connected':
      return { status: 'connected' };
    case 'disconnected':
      return { status: 'disconnected' };
    case 'degraded':
      if (isOneOf(DEGRADED_REASONS, reason)) {
        const retryAt = row.refresh_retry_at === null ? now : Number(row.refresh_retry_at);
        return { status: 'degraded', reason, retryAfterMs: Math.max(0, retryAt - now), evidence: ev };
      }
      break;
    case 'reconnect_required':
      if (isOneOf(RECONNECT_REASONS, reason)) return { status: 'reconnect_required', reason, evidence: ev };
      break;
    case 'admin_approval_pending':
      if (isOneOf(ADMIN_APPROVAL_REASONS, reason)) return { status: 'admin_approval_pending', reason, evidence: ev };
      break;
    case 'app_misconfigured':
      if (isOneOf(APP_MISCONFIGURED_REASONS, reason)) return { status: 'app_misconfigured', reason, evidence: ev };
      break;
    case 'mailbox_unusable':
      if (isOneOf(MAILBOX_UNUSABLE_REASONS, reason)) return { status: 'mailbox_unusable', reason, evidence: ev };
      break;
    case 'unknown':
      break;
  }
  return { status: 'unknown', evidence: ev };
}

/** Selects accounts with their owner's external id. */
function selectAccounts(db: Kysely<Database>) {
  return db
    .selectFrom('accounts')
    .innerJoin('owners', 'owners.id', 'accounts.owner_id')
    .selectAll('accounts')
    .select('owners.external_id as owner_external_id');
}

/** Read by every API request about an account, each accepted message's included: a template (issue 14). */
const accountOfOrg = new StatementTemplate((db, slots: { accountId: string; organizationId: string }) =>
  selectAccounts(db)
    .where('accounts.id', '=', slots.accountId)
    .where('accounts.organization_id', '=', slots.organizationId),
);

/**
 * The organisation's account, or 404 `ACCOUNT_NOT_FOUND`: also for another organisation's account, so an API key
 * never learns that an id exists elsewhere.
 */
export async function findAccountForOrgOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  accountId: string,
): Promise<AccountWithOwner> {
  const row = await accountOfOrg.firstRow(db, { accountId, organizationId });
  if (!row) throw accountNotFound(accountId);
  return row;
}

export function accountNotFound(accountId: string): AppError {
  return new AppError('ACCOUNT_NOT_FOUND', `No account ${accountId.slice(0, 64)} in this organisation.`, {
    status: 404,
  });
}

export interface AccountListFilter {
  ownerExternalId?: string | undefined;
  status?: AccountStatus | undefined;
  limit: number;
  /** An account id: the list continues after it (ids sort by creation time). */
  after?: string | undefined;
}

export interface AccountPage {
  data: AccountWithOwner[];
  /** Pass as `after` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** One page of the organisation's accounts in id (creation) order. */
export async function listAccounts(
  db: Kysely<Database>,
  organizationId: string,
  filter: AccountListFilter,
): Promise<AccountPage> {
  let query = selectAccounts(db).where('accounts.organization_id', '=', organizationId);
  if (filter.ownerExternalId !== undefined) query = query.where('owners.external_id', '=', filter.ownerExternalId);
  if (filter.status !== undefined) query = query.where('accounts.status', '=', filter.status);
  if (filter.after !== undefined) query = query.where('accounts.id', '>', filter.after);
  const rows = await query
    .orderBy('accounts.id', 'asc')
    .limit(filter.limit + 1)
    .execute();
  const data = rows.slice(0, filter.limit);
  return { data, nextCursor: rows.length > filter.limit ? (data.at(-1)?.id ?? null) : null };
}

function isOneOf<T extends string>(list: readonly T[], value: string | null): value is T {
  return value !== null && (list as readonly string[]).includes(value);
}

function parseScopes(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.filter((scope): scope is string => typeof scope === 'string');
  } catch {
    // Older rows may hold the space-separated string Microsoft returns: read it as such.
  }
  return text.split(' ').filter((scope) => scope.length > 0);
}

function parseEvidence(text: string | null): ErrorEvidence | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as ErrorEvidence) : null;
  } catch {
    // Evidence is for diagnosis only; unreadable evidence is shown as none rather than failing the whole view.
    return null;
  }
}
