import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountStatus, AccountsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import type { EventType } from '../events/event-recorder.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { releaseHeldMessages } from '../outbox/held-messages.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { type AppAlertDeps, raiseAppMisconfiguredAlert } from './app-alerts.js';
import type { Health } from './health.js';
import { remediationFor } from './remediation.js';

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

type HealthDeps = AppAlertDeps;

/**
 * What is kept of evidence on the account row and in events: the structured fields only. The free-text description
 * is dropped: Microsoft's text is not ours to vouch for (it may echo a request value), and nothing decides on it.
 */
export function storableEvidence(evidence: ErrorEvidence): Omit<ErrorEvidence, 'description'> {
  const { description: _description, ...structured } = evidence;
  return structured;
}

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
    // Healthy again: the outbox releases the messages it held for this account (no-op otherwise).
    if (statusChanged) await releaseHeldMessages(t, deps, account.id);
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

// ---------------------------------------------------------------------------------------------------------------
// Operator alerts

export type OperatorAlertKind = 'app.misconfigured' | 'app.secret_expiring' | 'account.refresh_failing';

export interface NewOperatorAlert {
  kind: OperatorAlertKind;
  reason: string;
  /** For the operator: what is wrong and how to fix it. Never a secret. */
  detail: string;
  /** An event to record in every organisation when (and only when) the alert opens. */
  event?: { type: EventType; data: Record<string, unknown> };
  /** Raise it only if no alert of this kind and reason ever existed (even resolved): a one-time warning. */
  once?: boolean;
  /**
   * For alerts about the app's credentials: their fingerprint (app-alerts.ts). An open alert hides only a repeat
   * about the same credentials, never one about others.
   */
  credentials?: string | null;
}

/** Namespace of the PostgreSQL advisory locks taken here (the other key is a hash of kind + reason). */
const ALERT_LOCK_NAMESPACE = 0x4d41; // 'MA'

/**
 * Opens an operator alert unless one of the same kind and reason (and credentials, when given) is open (or, with
 * `once`, ever existed). Check-then-insert is made atomic across processes by an advisory lock on PostgreSQL; SQLite
 * transactions already take the write lock at BEGIN IMMEDIATE.
 * The event (if any) goes to every organisation: the operator's app is shared by all of them. Returns whether it
 * opened one.
 */
export async function raiseOperatorAlert(
  db: Kysely<Database>,
  deps: Pick<ServiceDeps, 'clock' | 'dialect' | 'events' | 'logger'>,
  alert: NewOperatorAlert,
): Promise<boolean> {
  return withTransaction(db, async (trx) => {
    if (deps.dialect === 'postgres') {
      const key = `${alert.kind}:${alert.reason}:${alert.credentials ?? ''}`;
      await sql`select pg_advisory_xact_lock(${ALERT_LOCK_NAMESPACE}, hashtext(${key}))`.execute(trx);
    }
    const existing = await trx
      .selectFrom('operator_alerts')
      .select('id')
      .where('kind', '=', alert.kind)
      .where('reason', '=', alert.reason)
      .$if(!alert.once, (query) => query.where('resolved_at', 'is', null))
      .$if(alert.credentials != null, (query) => query.where('credentials', '=', alert.credentials ?? ''))
      .executeTakeFirst();
    if (existing) return false;
    const now = deps.clock.now();
    await trx
      .insertInto('operator_alerts')
      .values({
        id: newId('alert', deps.clock),
        kind: alert.kind,
        reason: alert.reason,
        detail: alert.detail,
        credentials: alert.credentials ?? null,
        created_at: now,
        resolved_at: null,
      })
      .execute();
    if (alert.event) {
      const organizations = await trx.selectFrom('organizations').select('id').orderBy('id').execute();
      for (const organization of organizations) {
        await deps.events.record(trx, {
          organizationId: organization.id,
          type: alert.event.type,
          data: alert.event.data,
        });
      }
    }
    deps.logger.warn({ kind: alert.kind, reason: alert.reason }, `operator alert: ${alert.detail}`);
    return true;
  });
}

/** Resolves the open alerts of a kind (optionally only some reasons). Returns how many. */
export async function resolveOperatorAlerts(
  db: Kysely<Database>,
  deps: Pick<ServiceDeps, 'clock'>,
  kind: OperatorAlertKind,
  filter: { reason?: string; exceptReasons?: readonly string[] } = {},
): Promise<number> {
  let query = db
    .updateTable('operator_alerts')
    .set({ resolved_at: deps.clock.now() })
    .where('kind', '=', kind)
    .where('resolved_at', 'is', null);
  if (filter.reason !== undefined) query = query.where('reason', '=', filter.reason);
  if (filter.exceptReasons !== undefined && filter.exceptReasons.length > 0) {
    query = query.where('reason', 'not in', [...filter.exceptReasons]);
  }
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}
