import type { Kysely } from 'kysely';

// Drops `outbox_messages_due_idx` (status, next_attempt_at): since migration 0021 no statement of the service uses
// it, and every status change and retry rewrites its entry (outbox_messages gets no HOT updates, see 0021). Each
// statement that reads outbox_messages (outbox, sweeps, lease release, bounces, warm-up, metrics, API and dashboard
// lists, owner deletion) was planned on 100,000 waiting and 300,000 sent/failed messages over 1,000 lanes, with and
// without it: no plan changed on either dialect. The due-work reads use 0021's partial indexes; the only reads by
// `status` alone (the metrics' waiting counts, the shutdown's lease release) use `outbox_messages_lease_idx`, as
// before (PostgreSQL: 99,801 rows, 2,850 buffers and 1,004 rows, ~1,010 buffers, before and after; SQLite: 29 ms
// and 0.33 ms, same plans). Kept: the lease index (the due-lane scan's expired-lease range, and the metrics: without
// both it reads every message, 400,000 rows), the lane index (warm-up's campaign count: 400 rows against a
// sequential scan of 400,000), the account index (sweeps, account filters, the account delete's cascade) and the
// organisation index (the SQLite message list).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('outbox_messages_due_idx').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('outbox_messages_due_idx')
    .on('outbox_messages')
    .columns(['status', 'next_attempt_at'])
    .execute();
}
