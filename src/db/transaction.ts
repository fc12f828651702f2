import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. Called with a transaction
 * already open, it joins it, so data functions can say "atomically" without knowing whether their caller already
 * began one. Inside `fn` use only `trx`: on SQLite the single connection is held by the transaction, and a query on
 * the outer `db` would wait for it forever.
 */
export async function withTransaction<T>(
  db: Kysely<Database>,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<Database>);
  return db.transaction().execute(fn);
}
