import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Work that costs what is due, never what is queued (issue 14). Partial indexes, so that only the rows in the
// status they serve have an entry: outbox_messages gets no HOT updates (every update changes `status`), so every
// index entry is written again on each claim, mark and finish; a partial index is written only for its own rows.
// - queued, by lane and due time: `lanesWithDueWork` skips from lane to lane (one probe for the next lane with
//   queued messages, one for its earliest due time), where it read every queued row (src/outbox/pacing.ts);
// - sending, by lane and lease end: a claim's in-flight and expired counts and a pass's wake-up time read only the
//   lane's own messages in `sending`, where they filtered every lane's leases or walked the lane's queued rows;
// - held, by expiry: the held-message sweep reads only the expired ones, where it read every held message
//   (src/outbox/held-messages.ts).
// The queries that use them name the status as a literal: a plan made before the parameters are known (a
// PostgreSQL generic plan) cannot prove a partial index's predicate from `status = $1`.
//
// The key columns differ by dialect, measured with bench/due-queries.ts:
// - PostgreSQL drops a query's `status = 'queued'` once the index predicate implies it, so a `status` key column
//   would lead with no condition on it: `lane > $1` could not seek (the scan started at the index's first entry)
//   and `min(lease_until)` could not stop at the first entry. Without `status` the lane leads.
// - SQLite plans without statistics (the service never runs ANALYZE) and ranks an index by the query terms its key
//   columns match: without `status` among them it sent the skip scan's `status = 'queued' and lane > ?` to the
//   (status, lease_until) index, a read of every queued row per lane (58 s on 100,000 messages; 25 ms with it).

export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const keys = (columns: string[]) => (sqlite ? ['status', ...columns] : columns);
  await db.schema
    .createIndex('outbox_messages_queued_lane_idx')
    .on('outbox_messages')
    .columns(keys(['lane', 'next_attempt_at']))
    .where(sql.ref('status'), '=', 'queued')
    .execute();
  await db.schema
    .createIndex('outbox_messages_sending_lane_idx')
    .on('outbox_messages')
    .columns(sqlite ? ['lane', 'status', 'lease_until'] : ['lane', 'lease_until'])
    .where(sql.ref('status'), '=', 'sending')
    .execute();
  await db.schema
    .createIndex('outbox_messages_held_expiry_idx')
    .on('outbox_messages')
    .columns(keys(['held_expires_at']))
    .where(sql.ref('status'), '=', 'held')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const name of [
    'outbox_messages_held_expiry_idx',
    'outbox_messages_sending_lane_idx',
    'outbox_messages_queued_lane_idx',
  ]) {
    await db.schema.dropIndex(name).execute();
  }
}
