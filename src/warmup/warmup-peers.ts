import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WarmupProvider } from './warmup-settings.js';
import { providerOf } from './warmup-state.js';

/**
 * Where the pool's warm-up mail landed over a window, by the sender's provider: what a mailbox without an
 * established sample is judged against (docs/warmup.md §G). A pool statistic, not a mailbox's: every mailbox of an
 * organisation evaluated in the same hour reads the same figures, so a process reads them once per organisation and
 * hour (the window's start rounded down to the hour) instead of once per mailbox, which would cost each evaluation
 * the whole pool's week of mail. Kept per database, bounded, and dropped with the database.
 */

export interface PlacementCounts {
  readonly samples: number;
  readonly inJunk: number;
}

const HOUR = 3_600_000;
const ORGANISATIONS_MAX = 1_000;
const byDatabase = new WeakMap<Kysely<Database>, Map<string, Promise<Map<WarmupProvider, PlacementCounts>>>>();

/** The organisation's placements observed after `from` (to the hour), for senders of `provider`. */
export async function poolPlacements(
  db: Kysely<Database>,
  organizationId: string,
  provider: WarmupProvider,
  from: number,
): Promise<PlacementCounts> {
  const hourFrom = Math.floor(from / HOUR) * HOUR;
  const key = `${organizationId}\u0000${hourFrom}`;
  const known = byDatabase.get(db) ?? new Map();
  byDatabase.set(db, known);
  let counts = known.get(key);
  if (!counts) {
    if (known.size >= ORGANISATIONS_MAX) known.clear();
    counts = readPoolPlacements(db, organizationId, hourFrom);
    known.set(key, counts);
    // A failed read is not remembered: the next evaluation asks again.
    counts.catch(() => known.delete(key));
  }
  return (await counts).get(provider) ?? { samples: 0, inJunk: 0 };
}

/** One grouped read over the (organization_id, observed_at) index. */
async function readPoolPlacements(
  db: Kysely<Database>,
  organizationId: string,
  from: number,
): Promise<Map<WarmupProvider, PlacementCounts>> {
  const rows = await db
    .selectFrom('warmup_messages')
    .innerJoin('warmup_accounts', 'warmup_accounts.account_id', 'warmup_messages.sender_account_id')
    .select((eb) => [
      'warmup_accounts.provider',
      eb.fn.countAll<number>().as('samples'),
      eb.fn.sum<number>(eb.case().when('warmup_messages.landed_in', '=', 'junkemail').then(1).else(0).end()).as('junk'),
    ])
    .where('warmup_messages.organization_id', '=', organizationId)
    .where('warmup_messages.observed_at', '>', from)
    .where('warmup_messages.landed_in', 'is not', null)
    .groupBy('warmup_accounts.provider')
    .execute();
  const counts = new Map<WarmupProvider, PlacementCounts>();
  for (const row of rows) {
    const provider = providerOf(row);
    const before = counts.get(provider) ?? { samples: 0, inJunk: 0 };
    counts.set(provider, {
      samples: before.samples + Number(row.samples),
      inJunk: before.inJunk + Number(row.junk),
    });
  }
  return counts;
}
