import type { Kysely } from 'kysely';

// The warm-up engine's storage (issue 12, docs/warmup.md). `warmup_accounts` is one row per mailbox in warm-up: the
// user's switch and settings, the safety state of §G with its reason and remediation, where the mailbox is on its
// ramp (§A), today's plan, the Graph delta links of its Inbox and Junk Email (cursors, never credentials) and the
// id of its "Warm-up" folder, and the due column the engine claims under a lease (indexed, so a fleet costs what
// falls due). `warmup_messages` is one row per warm-up message, from the slot it was planned for to its purge:
// sender and recipient, thread and turn, the outbox message and the internetMessageId recorded at send time, where
// the recipient first found it (the placement signal, recorded before anything touched it) and what was done.
// Daily figures are computed from these rows (docs/warmup.md §F: from observations only).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('warmup_accounts')
    .addColumn('account_id', 'text', (c) => c.primaryKey().references('accounts.id').onDelete('cascade'))
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // The user's switch (docs/warmup.md §G: stored apart from the safety state), 1 on, 0 off.
    .addColumn('enabled', 'integer', (c) => c.notNull())
    // `microsoft365` or `outlook_com` (the ramp differs, §A).
    .addColumn('provider', 'text', (c) => c.notNull())
    // The user's options as given (JSON, validated by warmup-settings.ts before it is written).
    .addColumn('settings', 'text', (c) => c.notNull())
    // Seed of the mailbox's random draws (§R): a run is reproducible from it.
    .addColumn('seed', 'text', (c) => c.notNull())
    // The safety state (§G): status, since, until (holds), reason, and the remediation shown with it.
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_since', 'bigint', (c) => c.notNull())
    .addColumn('state_until', 'bigint')
    .addColumn('state_reason', 'text')
    .addColumn('remediation', 'text')
    // Recent 429/503 storms (JSON array of epoch ms), for "three storms within an hour".
    .addColumn('throttle_storms', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('started_at', 'bigint')
    .addColumn('paused_at', 'bigint')
    // The ramp (§A): warm-up day and its starting volume; the local date the day counter last moved.
    .addColumn('ramp_day', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ramp_from', 'integer', (c) => c.notNull())
    // Today's plan in the mailbox's zone: the date, the target, why it is what it is (JSON array).
    .addColumn('plan_date', 'text')
    .addColumn('plan_target', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('plan_limited_by', 'text', (c) => c.notNull().defaultTo('[]'))
    // The IANA zone from mailboxSettings (fetched once), and what Microsoft said when it was not usable.
    .addColumn('time_zone', 'text')
    .addColumn('time_zone_source', 'text')
    // Graph delta links of the two folders the receive side reads (§E).
    .addColumn('inbox_delta_link', 'text')
    .addColumn('junk_delta_link', 'text')
    .addColumn('warmup_folder_id', 'text')
    // The last health score reported (warmup.health_changed fires when it moves).
    .addColumn('health', 'integer')
    // The engine's schedule: when the mailbox has work next (indexed), and who holds it now.
    .addColumn('next_run_at', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('warmup_accounts_due_idx').on('warmup_accounts').column('next_run_at').execute();
  await db.schema
    .createIndex('warmup_accounts_org_idx')
    .on('warmup_accounts')
    .columns(['organization_id', 'account_id'])
    .execute();

  await db.schema
    .createTable('warmup_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('sender_account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('recipient_account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('thread_id', 'text', (c) => c.notNull())
    .addColumn('turn', 'integer', (c) => c.notNull())
    .addColumn('planned_turns', 'integer', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    // planned → queued (in the outbox) → sent | failed | bounced; planned → canceled.
    .addColumn('status', 'text', (c) => c.notNull())
    // The sender's local date the message was planned for (its day in the daily figures), and the slot.
    .addColumn('local_date', 'text', (c) => c.notNull())
    .addColumn('planned_at', 'bigint', (c) => c.notNull())
    .addColumn('outbox_message_id', 'text')
    .addColumn('internet_message_id', 'text', (c) => c.unique())
    .addColumn('sent_at', 'bigint')
    // When the sender's own copy left its Sent Items (warm-up must not clutter it, docs/warmup.md §E).
    .addColumn('sent_copy_removed_at', 'bigint')
    // The message this one replies to (turn > 0).
    .addColumn('in_reply_to_id', 'text')
    // Receive side (§E): when the recipient found it and where (inbox | junkemail), Graph's receivedDateTime,
    // the id of the recipient's copy as last seen (it changes on every move).
    .addColumn('observed_at', 'bigint')
    .addColumn('landed_in', 'text')
    .addColumn('received_at', 'bigint')
    .addColumn('graph_message_id', 'text')
    // What was done, each when it was done.
    .addColumn('rescued_at', 'bigint')
    .addColumn('read_at', 'bigint')
    .addColumn('flagged_at', 'bigint')
    .addColumn('important_at', 'bigint')
    .addColumn('replied_at', 'bigint')
    .addColumn('filed_at', 'bigint')
    .addColumn('purged_at', 'bigint')
    .addColumn('bounced_at', 'bigint')
    .addColumn('bounce_status', 'text')
    // The recipient's actions still to do (JSON of the core's ReceiveAction list) and when the next is due.
    .addColumn('pending_actions', 'text')
    .addColumn('actions_due_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('warmup_messages_sender_idx')
    .on('warmup_messages')
    .columns(['sender_account_id', 'planned_at'])
    .execute();
  await db.schema
    .createIndex('warmup_messages_recipient_idx')
    .on('warmup_messages')
    .columns(['recipient_account_id', 'actions_due_at'])
    .execute();
  await db.schema.createIndex('warmup_messages_outbox_idx').on('warmup_messages').column('outbox_message_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('warmup_messages').ifExists().execute();
  await db.schema.dropTable('warmup_accounts').ifExists().execute();
}
