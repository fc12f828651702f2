import type { Kysely } from 'kysely';

// Browsers a dashboard user has signed in from (src/dashboard-auth/known-devices.ts): OWASP's device cookies, so a
// stranger's failed guesses cannot lock the user out of their own browser.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('dashboard_known_devices')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('dashboard_users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dashboard_known_devices_user').on('dashboard_known_devices').column('user_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('dashboard_known_devices').ifExists().execute();
}
