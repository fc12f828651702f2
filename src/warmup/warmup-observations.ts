import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WarmupMessagesTable } from '../db/tables/warmup.js';
import type { LandingFolder } from './receive-decisions.js';
import type { WarmupObservation } from './warmup-metrics.js';

/**
 * A mailbox's observation records (docs/warmup.md §F) read from `warmup_messages`: what it sent (and whether each
 * was a reply), what it received, where partners found its mail, what partners rescued from Junk for it, its
 * matched bounces. Figures are computed from these only, never estimated.
 */

type Row = Pick<
  WarmupMessagesTable,
  | 'sender_account_id'
  | 'recipient_account_id'
  | 'turn'
  | 'status'
  | 'sent_at'
  | 'observed_at'
  | 'landed_in'
  | 'rescued_at'
  | 'bounced_at'
>;

const COLUMNS = [
  'sender_account_id',
  'recipient_account_id',
  'turn',
  'status',
  'sent_at',
  'observed_at',
  'landed_in',
  'rescued_at',
  'bounced_at',
] as const;

/** The rows that may hold an observation of `accountId` after `from` (sent, or received, since then). */
export async function observationRows(db: Kysely<Database>, accountId: string, from: number): Promise<Row[]> {
  // The outbox's own record of the send counts at once: the engine copies it over only at the sender's next run,
  // and a partner may find the message before that.
  const sent = await db
    .selectFrom('warmup_messages')
    .leftJoin('outbox_messages', 'outbox_messages.id', 'warmup_messages.outbox_message_id')
    .select([
      'warmup_messages.sender_account_id',
      'warmup_messages.recipient_account_id',
      'warmup_messages.turn',
      'warmup_messages.status',
      (eb) => eb.fn.coalesce('warmup_messages.sent_at', 'outbox_messages.sent_at').as('sent_at'),
      'warmup_messages.observed_at',
      'warmup_messages.landed_in',
      'warmup_messages.rescued_at',
      'warmup_messages.bounced_at',
    ])
    .where('warmup_messages.sender_account_id', '=', accountId)
    .where('warmup_messages.planned_at', '>', from - 86_400_000)
    .where('warmup_messages.status', 'in', ['queued', 'sent', 'bounced'])
    .execute();
  const received = await db
    .selectFrom('warmup_messages')
    .select(COLUMNS)
    .where('recipient_account_id', '=', accountId)
    .where('observed_at', '>', from)
    .execute();
  return [...sent, ...received];
}

/** The observations of `accountId` in `rows`. */
export function observationsOf(accountId: string, rows: readonly Row[]): WarmupObservation[] {
  const out: WarmupObservation[] = [];
  for (const row of rows) {
    if (row.sender_account_id === accountId) {
      if (row.sent_at !== null) out.push({ kind: 'sent', at: Number(row.sent_at), reply: row.turn > 0 });
      if (row.observed_at !== null && row.landed_in !== null) {
        out.push({ kind: 'placement', at: Number(row.observed_at), folder: row.landed_in as LandingFolder });
      }
      if (row.rescued_at !== null) out.push({ kind: 'rescued', at: Number(row.rescued_at) });
      if (row.bounced_at !== null) out.push({ kind: 'bounce', at: Number(row.bounced_at) });
    } else if (row.recipient_account_id === accountId && row.observed_at !== null) {
      out.push({ kind: 'received', at: Number(row.observed_at) });
    }
  }
  return out;
}
