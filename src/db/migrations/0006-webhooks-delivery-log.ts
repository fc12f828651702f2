import type { Kysely } from 'kysely';

// The webhook delivery log as the API reads it: an organisation's deliveries in id (= creation) order, and the
// deliveries of one event (also what the foreign key's ON DELETE CASCADE looks up when events are deleted).
// 0002 only indexed what the dispatcher needs (status, next_attempt_at).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('webhook_deliveries_org_id_idx')
    .on('webhook_deliveries')
    .columns(['organization_id', 'id'])
    .execute();
  await db.schema.createIndex('webhook_deliveries_event_idx').on('webhook_deliveries').columns(['event_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_event_idx').ifExists().execute();
  await db.schema.dropIndex('webhook_deliveries_org_id_idx').ifExists().execute();
}
