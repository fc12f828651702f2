import type { Kysely } from 'kysely';

// API keys learn what they may do, until when, and who made them (src/orgs/api-keys.ts). Every key made before
// this migration came from `mailbridge api-keys create`, so it is a standard key created by the CLI; none expires.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('scope', 'text', (c) => c.notNull().defaultTo('standard'))
    .execute();
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'bigint').execute();
  await db.schema
    .alterTable('api_keys')
    .addColumn('created_by', 'text', (c) => c.notNull().defaultTo('cli'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['created_by', 'expires_at', 'scope']) {
    await db.schema.alterTable('api_keys').dropColumn(column).execute();
  }
}
