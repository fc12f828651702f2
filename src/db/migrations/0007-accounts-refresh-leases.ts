import type { Kysely } from 'kysely';

// Who is refreshing an account's tokens right now, across processes (src/tokens/refresh-lease.ts). A row exists
// while a refresh is in progress (and until its lease ends, if its process died); it replaces a PostgreSQL advisory
// lock held in a transaction across the token request, which kept a pooled connection busy for the request's
// whole round trip to Microsoft.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account_refresh_leases')
    // No foreign key: a lease may outlive its account for a moment (a disconnect during a refresh); it holds no secret.
    .addColumn('account_id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account_refresh_leases').ifExists().execute();
}
