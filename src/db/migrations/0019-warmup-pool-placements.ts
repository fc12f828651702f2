import type { Kysely } from 'kysely';

// The pool's placements over the evaluation window (src/warmup/warmup-peers.ts, docs/warmup.md §G): a mailbox
// without an established sample is judged against its peers, read as the organisation's warm-up mail observed
// since a time. Without this index that read is the whole table's; with it, the window's rows.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('warmup_messages_org_observed_idx')
    .on('warmup_messages')
    .columns(['organization_id', 'observed_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('warmup_messages_org_observed_idx').execute();
}
