import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import type { EventType } from '../events/event-recorder.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';

/**
 * Operator alerts: problems for the person running mailbridge (the app's credentials, a refresh failing for too
 * long), one open alert per kind and reason, with an event in every organisation when one opens.
 */
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
