import type { Kysely } from 'kysely';

// The connect flow's admin-approval hand-offs (src/connect/admin-approval.ts): one row per "ask my IT admin" link.
// Deleted with their connect session (owner deletion deletes sessions).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('connect_approval_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('session_id', 'text', (c) => c.notNull().references('connect_sessions.id').onDelete('cascade'))
    .addColumn('owner_external_id', 'text', (c) => c.notNull())
    .addColumn('state_hash', 'text', (c) => c.notNull().unique())
    .addColumn('state_sealed', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('resolved_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('connect_approval_requests_session_idx')
    .on('connect_approval_requests')
    .columns(['session_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('connect_approval_requests').ifExists().execute();
}
