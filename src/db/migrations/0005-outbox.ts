import type { Kysely } from 'kysely';

// The durable outbox (issue 4): messages, their attachments, the attempt log and per-mailbox pacing. Portable types
// as in 0001: text ids, bigint epoch-ms timestamps, JSON and base64 as text.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('outbox_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // An account's deletion (owner deletion) takes its messages with it: they hold the owner's mail.
    .addColumn('account_id', 'text', (c) => c.references('accounts.id').onDelete('cascade'))
    .addColumn('owner_external_id', 'text')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('recipient_count', 'integer', (c) => c.notNull())
    .addColumn('attachment_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('request_hash', 'text')
    .addColumn('internet_message_id', 'text', (c) => c.notNull().unique())
    .addColumn('send_mode', 'text')
    .addColumn('graph_draft_id', 'text')
    .addColumn('recovery', 'text')
    .addColumn('send_at', 'bigint')
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failure_reason', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('failure_remediation', 'text')
    .addColumn('held_reason', 'text')
    .addColumn('held_detail', 'text')
    .addColumn('held_since', 'bigint')
    .addColumn('held_expires_at', 'bigint')
    .addColumn('sent_at', 'bigint')
    .addColumn('canceled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    // Idempotency keys are scoped per organisation; NULLs (no key) never collide on either dialect.
    .addUniqueConstraint('outbox_messages_org_idempotency_unique', ['organization_id', 'idempotency_key'])
    .execute();
  // The dispatcher reads only what is due, per lane: queued by next attempt, sending by lease expiry.
  await db.schema
    .createIndex('outbox_messages_due_idx')
    .on('outbox_messages')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('outbox_messages_lane_idx')
    .on('outbox_messages')
    .columns(['lane', 'status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('outbox_messages_lease_idx')
    .on('outbox_messages')
    .columns(['status', 'lease_until'])
    .execute();
  await db.schema
    .createIndex('outbox_messages_account_idx')
    .on('outbox_messages')
    .columns(['account_id', 'status'])
    .execute();
  // The API lists an organisation's messages newest first (ids sort by creation time).
  await db.schema
    .createIndex('outbox_messages_org_id_idx')
    .on('outbox_messages')
    .columns(['organization_id', 'id'])
    .execute();

  await db.schema
    .createTable('outbox_attachments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('outbox_messages.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('content_base64', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('outbox_attachments_message_idx')
    .on('outbox_attachments')
    .columns(['message_id', 'position'])
    .execute();

  await db.schema
    .createTable('outbox_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('outbox_messages.id').onDelete('cascade'))
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('worker_id', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('step', 'text')
    .addColumn('recipient_count', 'integer', (c) => c.notNull())
    .addColumn('claimed_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('duration_ms', 'integer')
    .addColumn('http_status', 'integer')
    .addColumn('graph_code', 'text')
    .addColumn('request_id', 'text')
    .addColumn('client_request_id', 'text')
    .addColumn('detail', 'text')
    .addColumn('evidence', 'text')
    .addColumn('retry_after_ms', 'bigint')
    .execute();
  await db.schema
    .createIndex('outbox_attempts_message_idx')
    .on('outbox_attempts')
    .columns(['message_id', 'number'])
    .execute();
  // Pacing sums what each lane sent in the last minute / 24 h: attempts by lane and finish time.
  await db.schema
    .createIndex('outbox_attempts_lane_idx')
    .on('outbox_attempts')
    .columns(['lane', 'finished_at'])
    .execute();

  await db.schema
    .createTable('outbox_pacing')
    .addColumn('lane', 'text', (c) => c.primaryKey())
    .addColumn('throttled_until', 'bigint')
    .addColumn('paced_until', 'bigint')
    .addColumn('last_claimed_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['outbox_pacing', 'outbox_attempts', 'outbox_attachments', 'outbox_messages']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
