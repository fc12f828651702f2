import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import type { ServiceDeps } from '../services.js';
import { connectExpiredEvent } from './connect-ends.js';

/**
 * Connect sessions the user never came back to: created, or sent to Microsoft, and never answered before
 * `expires_at` (a crash between Microsoft's answer and its handling, status `callback`, counts too). Each gets one
 * `connect.failed` with status `expired` (connect-ends.ts says why that event), so the host hears of every
 * session's end by webhook, not only of those whose user came back.
 *
 * Cost of what is due: the partial index `connect_sessions_expiry_due_idx` (migration 0013) holds only unfinished
 * sessions not yet recorded, ordered by expiry, so an idle service reads nothing. Safe in several processes at once:
 * the mark is a conditional UPDATE in the event's transaction, so one process records each session, once.
 */

/** Sessions one call records; a full batch is followed by another on the next run. */
export const CONNECT_EXPIRY_BATCH = 100;
const UNFINISHED_STATUSES = ['created', 'started', 'callback'] as const;

/** The sessions due for their expiry event at `now`, oldest expiry first (the partial index's order). */
export function dueExpiredSessionsQuery(db: Kysely<Database>, now: number, limit: number) {
  return (
    db
      .selectFrom('connect_sessions')
      .select(['id', 'organization_id', 'owner_external_id'])
      // Literals, not parameters: a planner may use a partial index only when it can see that the query's condition
      // implies the index's, and SQLite never sees it through a bound parameter (test/connect/connect-expiry.test.ts).
      .where(
        'status',
        'in',
        UNFINISHED_STATUSES.map((status) => sql.lit(status)),
      )
      .where('expiry_recorded_at', 'is', null)
      .where('expires_at', '<=', now)
      .orderBy('expires_at')
      .limit(limit)
  );
}

export async function recordExpiredConnectSessions(deps: ServiceDeps, limit = CONNECT_EXPIRY_BATCH): Promise<number> {
  const now = deps.clock.now();
  const due = await dueExpiredSessionsQuery(deps.db, now, limit).execute();
  let recorded = 0;
  for (const session of due) {
    const marked = await withTransaction(deps.db, async (trx) => {
      const result = await trx
        .updateTable('connect_sessions')
        .set({ expiry_recorded_at: now })
        .where('id', '=', session.id)
        .where('status', 'in', [...UNFINISHED_STATUSES])
        .where('expiry_recorded_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await deps.events.record(trx, connectExpiredEvent(session));
      return true;
    });
    if (marked) recorded++;
  }
  return recorded;
}
