import type { Kysely } from 'kysely';
import type { Database, DbDialect } from '../db/schema.js';

/** The schedule columns the worker claims from (both indexed by migration 0002). */
export type ScheduleColumn = 'next_keepalive_at' | 'next_health_check_at';

/**
 * Claims up to `limit` accounts whose `column` is due, by moving it to `now + leaseMs` in one statement, and returns
 * their ids, earliest first. Only what is due is read (the column is indexed). A worker that dies mid-batch leaves
 * the lease to expire, and the account is claimed again. Two workers never claim the same account: the outer
 * `column <= now` is re-checked against the row as updated by a concurrent claim (PostgreSQL re-evaluates it under
 * READ COMMITTED; `FOR UPDATE SKIP LOCKED` also lets them pass each other), and SQLite runs one writer at a time.
 */
export async function claimDueAccounts(
  db: Kysely<Database>,
  dialect: DbDialect,
  column: ScheduleColumn,
  options: { now: number; limit: number; leaseMs: number },
): Promise<string[]> {
  const { now, limit, leaseMs } = options;
  const rows = await db
    .updateTable('accounts')
    .set({ [column]: now + leaseMs })
    .where('id', 'in', (eb) => {
      const due = eb
        .selectFrom('accounts')
        .select('id')
        .where(column, 'is not', null)
        .where(column, '<=', now)
        .orderBy(column)
        .limit(limit);
      return dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
    })
    .where(column, '<=', now)
    .returning(['id', column])
    .execute();
  return rows.map((row) => row.id);
}
