import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountStatus, AccountsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { type AppAlertDeps, raiseAppMisconfiguredAlert } from '../health/app-alerts.js';
import type { Health } from '../health/health.js';
import { remediationFor } from '../health/remediation.js';
import { type ErrorEvidence, storableEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';

/** The account columns `recordAccountHealth` reads. */
export type AccountHealthRow = Pick<
  AccountsTable,
  'id' | 'organization_id' | 'owner_id' | 'email' | 'status' | 'status_reason' | 'status_evidence' | 'status_changed_at'
>;

export interface RecordedHealth {
  /** Whether status or reason changed (and so `account.status_changed` was recorded). */
  changed: boolean;
  status: AccountStatus;
  reason: string | null;
  /** Whether this call opened an operator alert (app misconfigured). */
  alertRaised: boolean;
}

/** `Partial` listeners: unit tests record health with small deps and no listeners (nothing then reacts). */
type HealthDeps = AppAlertDeps & Partial<Pick<ServiceDeps, 'accountListeners'>>;

function reasonOf(health: Health): string | null {
  return 'reason' in health ? health.reason : null;
}

function evidenceOf(health: Health): ErrorEvidence | undefined {
  return 'evidence' in health ? health.evidence : undefined;
}

/**
 * The one place an account's status changes. Writes status, reason and structured evidence (never a description),
 * moves `status_changed_at` when the status changes, and records `account.status_changed` (with reason and
 * remediation) in the same transaction, only when status or reason actually changed.
 *
 * - `app_misconfigured` is about the operator's app, not the account: it opens **one** operator alert (and one
 *   `app.misconfigured` event per organisation) and leaves every account as it is. Accounts then keep their status
 *   and recover by themselves when the app is fixed, with nothing to undo; the token provider cools them down
 *   meanwhile so Microsoft is not hammered. @see docs/entra.md §2 (7000215, 7000222, 700016)
 * - `unknown` is stored as such with its evidence; the token provider and the health check try the account again
 *   later, so it is never silently permanent.
 * - A disconnected account stays disconnected: a late answer for it (a refresh that was in flight) changes nothing.
 */
export async function recordAccountHealth(
  trx: Kysely<Database>,
  deps: HealthDeps,
  account: AccountHealthRow,
  health: Health,
): Promise<RecordedHealth> {
  return withTransaction(trx, async (t) => {
    const unchanged: RecordedHealth = {
      changed: false,
      status: account.status,
      reason: account.status_reason,
      alertRaised: false,
    };
    if (health.status === 'app_misconfigured') {
      const alertRaised = await raiseAppMisconfiguredAlert(t, deps, {
        reason: health.reason,
        remediation: remediationFor(health),
        evidence: health.evidence,
      });
      return { ...unchanged, alertRaised };
    }
    if (account.status === 'disconnected' && health.status !== 'disconnected') return unchanged;

    const now = deps.clock.now();
    const reason = reasonOf(health);
    const evidence = evidenceOf(health);
    const evidenceJson = evidence === undefined ? null : JSON.stringify(storableEvidence(evidence));
    const statusChanged = account.status !== health.status;
    const changed = statusChanged || account.status_reason !== reason;
    if (!changed && account.status_evidence === evidenceJson) return unchanged;

    await t
      .updateTable('accounts')
      .set({
        status: health.status,
        status_reason: reason,
        status_evidence: evidenceJson,
        updated_at: now,
        ...(statusChanged ? { status_changed_at: now } : {}),
      })
      .where('id', '=', account.id)
      .execute();
    // Healthy again: the outbox releases the messages it held for this account (its listener; no-op otherwise).
    if (statusChanged) {
      await deps.accountListeners?.statusChanged.emit(t, {
        accountId: account.id,
        previousStatus: account.status,
        status: health.status,
      });
    }
    if (!changed) return { ...unchanged, status: health.status, reason };

    const owner = await t
      .selectFrom('owners')
      .select('external_id')
      .where('id', '=', account.owner_id)
      .executeTakeFirst();
    await deps.events.record(t, {
      organizationId: account.organization_id,
      type: 'account.status_changed',
      accountId: account.id,
      ownerExternalId: owner?.external_id ?? null,
      data: {
        accountId: account.id,
        email: account.email,
        status: health.status,
        reason,
        previousStatus: account.status,
        previousReason: account.status_reason,
        remediation: remediationFor(health),
        ...(evidence === undefined ? {} : { evidence: storableEvidence(evidence) }),
      },
    });
    deps.logger.info(
      { accountId: account.id, status: health.status, reason, previousStatus: account.status },
      'account status changed',
    );
    return { changed: true, status: health.status, reason, alertRaised: false };
  });
}
