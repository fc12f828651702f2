import type { Kysely } from 'kysely';

// Non-delivery reports (issue 9 item 3): a sent message can later become `bounced` (status is free text, so the new
// state needs no column change), with when and the report's enhanced status code; the reason, message and remediation
// reuse the failure columns. `bounce_scans` is the reader's per-account state: where the last look at the Inbox got
// to (a receivedDateTime watermark, so each look costs what arrived since) and when the next look is due (indexed, so
// an idle fleet costs one index probe per sweep).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox_messages').addColumn('bounced_at', 'bigint').execute();
  await db.schema.alterTable('outbox_messages').addColumn('bounce_status', 'text').execute();
  await db.schema
    .createTable('bounce_scans')
    .addColumn('account_id', 'text', (c) => c.primaryKey().references('accounts.id').onDelete('cascade'))
    // Epoch ms of the newest receivedDateTime already examined; the next look asks for `ge` this.
    .addColumn('watermark', 'bigint', (c) => c.notNull())
    // When the next look is due; null: no look planned (nothing sent recently).
    .addColumn('next_scan_at', 'bigint')
    // Looks continue until then (reports arrive up to days after a send); each send moves it on.
    .addColumn('active_until', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('bounce_scans_due_idx').on('bounce_scans').column('next_scan_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('bounce_scans').ifExists().execute();
  await db.schema.alterTable('outbox_messages').dropColumn('bounce_status').execute();
  await db.schema.alterTable('outbox_messages').dropColumn('bounced_at').execute();
}
