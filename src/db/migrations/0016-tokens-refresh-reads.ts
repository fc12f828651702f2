import { type Kysely, sql } from 'kysely';

// Two things the token refresh reads on every refresh (issue 14):
// - The open operator alerts by kind and reason. Every successful token refresh looks for open `app.misconfigured`
//   alerts to resolve (src/health/app-alerts.ts), and raising or resolving an alert looks for an open one of its kind
//   and reason: without an index each of those read the whole table (resolved alerts included, which accumulate).
//   Partial: only open alerts are in it, so it stays as small as what is open.
// - A generation on the refresh lease (src/tokens/refresh-lease.ts): a release now keeps the row (lease_until 0)
//   and counts up, so a process that read the lease before taking it knows whether a refresh ended in between and
//   can skip reading the account again.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('operator_alerts_open_idx')
    .on('operator_alerts')
    .columns(['kind', 'reason'])
    .where(sql.ref('resolved_at'), 'is', null)
    .execute();
  await db.schema
    .alterTable('account_refresh_leases')
    .addColumn('generation', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('account_refresh_leases').dropColumn('generation').execute();
  await db.schema.dropIndex('operator_alerts_open_idx').execute();
}
