import type { Kysely } from 'kysely';

// A day's plan counts the warm-up mail its candidate partners received over the balance window and today
// (src/warmup/warmup-planning.ts, docs/warmup.md §C): 200 recipients, each a range of `planned_at`. The recipient
// index orders a recipient's rows by `actions_due_at`, so without this one each count read every row the
// candidates ever received.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('warmup_messages_recipient_planned_idx')
    .on('warmup_messages')
    .columns(['recipient_account_id', 'planned_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('warmup_messages_recipient_planned_idx').execute();
}
