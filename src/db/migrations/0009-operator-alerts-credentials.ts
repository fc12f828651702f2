import type { Kysely } from 'kysely';

// Which app credentials an `app.misconfigured` alert is about (a fingerprint, never the secret), so that an alert
// about one client id + secret is resolved only by a success with the same credentials, and an alert left open for
// old credentials never hides a failure of new ones. Null for alerts that are not about credentials. @see issue 10
// item 1

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operator_alerts').addColumn('credentials', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operator_alerts').dropColumn('credentials').execute();
}
