import type { Kysely } from 'kysely';
import { sql } from 'kysely';

// Webhook endpoints per organisation (src/webhooks/webhook-endpoints.ts): each with its URL, the event types it
// wants (JSON array; null = every type), on/off, and its signing secret sealed by the vault (subject = the endpoint
// id), plus the previous secret while a rotation's overlap lasts. Deliveries fan out per endpoint, so a delivery
// names its endpoint; `endpoint_id` null is the Default organisation's WEBHOOK_URL from the environment (the only
// kind of delivery before this migration).
//
// Connect sessions the user never came back to get a `connect.failed` (status `expired`) once they expire
// (src/connect/connect-expiry.ts): `expiry_recorded_at` says it was recorded, and a partial index holds only the
// unfinished sessions still waiting for it, ordered by expiry, so the sweep reads only what is due.

/** Sessions the user left before Microsoft's answer was handled (connect-sessions.ts lists every status). */
const UNFINISHED_STATUSES = ['created', 'started', 'callback'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('event_types', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('previous_secret_sealed', 'text')
    .addColumn('previous_secret_expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_org_idx')
    .on('webhook_endpoints')
    .columns(['organization_id', 'id'])
    .execute();

  await db.schema.alterTable('webhook_deliveries').addColumn('endpoint_id', 'text').execute();

  await db.schema.alterTable('connect_sessions').addColumn('expiry_recorded_at', 'bigint').execute();
  await db.schema
    .createIndex('connect_sessions_expiry_due_idx')
    .on('connect_sessions')
    .column('expires_at')
    .where((eb) =>
      eb.and([eb(sql.ref('status'), 'in', [...UNFINISHED_STATUSES]), eb(sql.ref('expiry_recorded_at'), 'is', null)]),
    )
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('connect_sessions_expiry_due_idx').ifExists().execute();
  await db.schema.alterTable('connect_sessions').dropColumn('expiry_recorded_at').execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('endpoint_id').execute();
  await db.schema.dropTable('webhook_endpoints').ifExists().execute();
}
