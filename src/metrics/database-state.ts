import { type Kysely, sql } from 'kysely';
import { Gauge } from 'prom-client';
import type { Database } from '../db/schema.js';
import { HEALTH_STATUSES } from '../health/health.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { ServiceMetrics } from './service-metrics.js';

/**
 * Gauges of what the database holds, read when Prometheus scrapes (not on every change, so no write path pays for
 * them), each read cached a few seconds so that many scrapers or a fast scrape interval cost one query per window:
 * - `mailbridge_outbox_messages{state}` and `mailbridge_outbox_oldest_message_age_seconds{state}` for the states a
 *   message waits in (queued, sending, held). One grouped query restricted to those states, which the indexes
 *   leading with `status` (0005-outbox) find without reading the sent/failed history: its cost follows the live
 *   queue, not the table.
 * - `mailbridge_accounts{status}`: a grouped count over the accounts table (a full read: 100,000 rows take a few
 *   ms, hence the longer cache).
 * - `mailbridge_database_up`: 0 when those reads failed (the other gauges are then absent, not stale).
 * Every process of one database reports the same values: aggregate them with `max`, not `sum`.
 */

const OUTBOX_WAITING_STATES = ['queued', 'sending', 'held'] as const;
type OutboxWaitingState = (typeof OUTBOX_WAITING_STATES)[number];

interface OutboxState {
  count: Record<OutboxWaitingState, number>;
  /** Seconds: queued = since the most overdue message became due (0 if none is due); sending = since the oldest
   * claim or lease renewal; held = since the longest-held message was held. */
  oldestAgeSeconds: Record<OutboxWaitingState, number>;
}

interface DatabaseStateOptions {
  /** How long one outbox read is reused (default 5 s). */
  outboxCacheMs?: number;
  /** How long one accounts read is reused (default 30 s). */
  accountsCacheMs?: number;
}

/** Reads the outbox's waiting states: one query, counts and the oldest timestamp that matters per state. */
async function readOutboxState(db: Kysely<Database>, now: number): Promise<OutboxState> {
  const rows = await db
    .selectFrom('outbox_messages')
    .select((eb) => [
      'status',
      eb.fn.countAll<number>().as('n'),
      sql<
        number | null
      >`min(case when status = 'queued' then next_attempt_at when status = 'held' then held_since else updated_at end)`.as(
        'oldest',
      ),
    ])
    .where('status', 'in', [...OUTBOX_WAITING_STATES])
    .groupBy('status')
    .execute();
  const state: OutboxState = {
    count: { queued: 0, sending: 0, held: 0 },
    oldestAgeSeconds: { queued: 0, sending: 0, held: 0 },
  };
  for (const row of rows) {
    const key = row.status as OutboxWaitingState;
    state.count[key] = Number(row.n);
    if (row.oldest !== null) state.oldestAgeSeconds[key] = Math.max(0, (now - Number(row.oldest)) / 1000);
  }
  return state;
}

async function readAccountsByStatus(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('accounts')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const counts: Record<string, number> = Object.fromEntries(HEALTH_STATUSES.map((status) => [status, 0]));
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** A value read at most once per `ttlMs` (concurrent callers share the read); undefined when the read failed. */
function cachedRead<T>(ttlMs: number, read: () => Promise<T>, onError: (error: unknown) => void) {
  let value: { at: number; result: T | undefined } | undefined;
  let inFlight: Promise<T | undefined> | undefined;
  return (): Promise<T | undefined> => {
    if (value && performance.now() - value.at < ttlMs) return Promise.resolve(value.result);
    inFlight ??= read()
      .catch((error: unknown) => {
        onError(error);
        return undefined;
      })
      .then((result) => {
        value = { at: performance.now(), result };
        inFlight = undefined;
        return result;
      });
    return inFlight;
  };
}

/** Registers the database gauges on `metrics.registry`. */
export function trackDatabaseState(
  metrics: ServiceMetrics,
  deps: { db: Kysely<Database>; clock: Clock; logger: Logger },
  options: DatabaseStateOptions = {},
): void {
  const registers = [metrics.registry];
  let lastWarning = Number.NEGATIVE_INFINITY;
  const onError = (error: unknown) => {
    // A scrape every few seconds while the database is down would flood the log: one line a minute is enough.
    if (performance.now() - lastWarning < 60_000) return;
    lastWarning = performance.now();
    deps.logger.warn({ err: error }, 'metrics: reading the database state failed');
  };
  const outbox = cachedRead(options.outboxCacheMs ?? 5_000, () => readOutboxState(deps.db, deps.clock.now()), onError);
  const accounts = cachedRead(options.accountsCacheMs ?? 30_000, () => readAccountsByStatus(deps.db), onError);

  new Gauge({
    name: 'mailbridge_database_up',
    help: '1 when the scrape-time reads of the database (outbox, accounts) succeeded, 0 when they failed.',
    registers,
    async collect() {
      const [queue, byStatus] = await Promise.all([outbox(), accounts()]);
      this.set(queue !== undefined && byStatus !== undefined ? 1 : 0);
    },
  });
  const outboxGauges: Array<[name: string, help: string, pick: (queue: OutboxState) => Record<string, number>]> = [
    [
      'mailbridge_outbox_messages',
      'Messages waiting in the outbox, by state (queued includes scheduled sends), across all processes.',
      (queue) => queue.count,
    ],
    [
      'mailbridge_outbox_oldest_message_age_seconds',
      'Per state, how long the longest-waiting message has waited: queued since it became due (0 when nothing ' +
        'is due), sending since its claim or last lease renewal, held since it was held.',
      (queue) => queue.oldestAgeSeconds,
    ],
  ];
  for (const [name, help, pick] of outboxGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const queue = await outbox();
        if (!queue) return;
        for (const state of OUTBOX_WAITING_STATES) this.set({ state }, pick(queue)[state]!);
      },
    });
  }
  new Gauge({
    name: 'mailbridge_accounts',
    help: 'Connected mailboxes by status, across all processes.',
    labelNames: ['status'],
    registers,
    async collect() {
      this.reset();
      const byStatus = await accounts();
      if (!byStatus) return;
      for (const [status, count] of Object.entries(byStatus)) this.set({ status }, count);
    },
  });
}
