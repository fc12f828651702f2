import { type Expression, type Kysely, type QueryCreator, type RawBuilder, sql } from 'kysely';
import type { Database, DbDialect } from '../db/schema.js';
import { StatementTemplate } from '../db/statement-template.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';
import { withTransaction } from '../db/transaction.js';
import { TurnBatches } from '../db/turn-batch.js';
import { isPersonalAccountTenant } from '../microsoft/tenants.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import type { LanePause } from './lane-wakeup.js';
import { DEFAULT_LANE } from './message-target.js';

/**
 * Pacing and claiming, per lane (a mailbox, or the default relay), enforced through the database so that every
 * process and worker shares one budget (issue 4 item 4, docs/graph.md §3.3):
 * - at most `concurrency` messages in flight: messages in `sending` with a live lease (a message's Graph requests run
 *   one after the other, so this bounds concurrent requests to the mailbox);
 * - at most `messagesPerMinute` sends and `recipientsPerDay` recipients in any window, counted from the attempt log:
 *   every attempt that may have reached Microsoft counts (claimed, started, accepted, unknown) until a minute (a
 *   day) after it finished. The finish time is after Microsoft received it, so our window never ends before
 *   Microsoft's does;
 * - `Retry-After` of a 429/503 for this lane only (`outbox_pacing.throttled_until`).
 * A claim happens in a transaction that first upserts the lane's pacing row (which locks it on PostgreSQL; SQLite's
 * BEGIN IMMEDIATE serialises writers), reads the counts, and moves the chosen messages to `sending` with a lease
 * (`FOR UPDATE SKIP LOCKED` on the messages), so two processes can never both spend the last slot. On SQLite the
 * transaction is the lane's own; on PostgreSQL the claims of the lanes asked for in the same turn share it, and
 * its statements (`claimLanesPostgres`).
 */

/** Attempt outcomes that may have counted against the mailbox's sending limits. */
const COUNTED_OUTCOMES = ['claimed', 'started', 'accepted', 'unknown'] as const;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export interface LaneLimits {
  concurrency: number;
  messagesPerMinute: number;
  recipientsPerDay: number;
}

function laneLimits(config: ServiceDeps['config'], account: Pick<AccountsTable, 'tenant_id'> | undefined): LaneLimits {
  const outbox = config.outbox;
  if (!account) {
    // The relay's own limits are the operator's to know; only concurrency is bounded here.
    return {
      concurrency: outbox.mailboxConcurrency,
      messagesPerMinute: Number.POSITIVE_INFINITY,
      recipientsPerDay: Number.POSITIVE_INFINITY,
    };
  }
  return {
    concurrency: outbox.mailboxConcurrency,
    messagesPerMinute: outbox.messagesPerMinute,
    recipientsPerDay:
      // Outlook.com accounts have the lower daily recipient limit. @see docs/graph.md §3.3
      isPersonalAccountTenant(account.tenant_id) ? outbox.personalRecipientsPerDay : outbox.recipientsPerDay,
  };
}

/** A message this worker now holds the lease of, with the attempt written for it. */
export interface Claim {
  message: OutboxMessagesTable;
  attemptId: string;
  /** The message's attempt number (`attempts` after the claim): part of the fence of every later write. */
  attemptNumber: number;
  workerId: string;
  leaseMs: number;
  /** How the previous attempt ended (after a crash: `unknown` if its request may have left). */
  previousOutcome: string | null;
  /** The lane's account as the claim read it (undefined for the default relay, or an account deleted since). */
  account: AccountsTable | undefined;
}

export interface ClaimOptions {
  workerId: string;
  leaseMs: number;
  /** At most this many messages of the lane in this round (fairness between lanes). */
  max: number;
}

/**
 * Lanes with due work, least recently served first (round robin: a lane with 10,000 queued messages takes at most
 * `max` per round, after every other lane with work). Lanes waiting out a Retry-After or their own budget are
 * skipped without taking any lock.
 *
 * It runs every round of `start`'s loop and every minute's sweep, so it reads what is due, not what is queued
 * (issue 14): a skip scan over the lanes with queued messages (a recursive CTE; each step one probe of the queued
 * index, migration 0021, for the next lane; then one probe for that lane's earliest due time), plus the lanes of
 * expired leases (a range of the lease index that holds only the expired ones). A lane costs two probes whatever it
 * has queued, where a scan of the messages read every queued row. Same lanes, same order as that scan (kept in
 * bench/due-queries.ts as the baseline, and compared there).
 */
export async function lanesWithDueWork(db: Kysely<Database>, now: number, maxLanes: number): Promise<string[]> {
  // The statuses are literals: the partial indexes of migration 0021 are chosen only for a predicate the plan can
  // prove. `min(...)` over an index prefix is a one-row index probe on both PostgreSQL and SQLite.
  const { rows } = await sql<{ lane: string }>`
    with recursive queued_lanes (lane) as (
      select min(lane) from outbox_messages where status = 'queued'
      union all
      select (select min(m.lane) from outbox_messages as m where m.status = 'queued' and m.lane > q.lane)
      from queued_lanes as q
      where q.lane is not null
    ),
    due_lanes (lane) as (
      select q.lane from queued_lanes as q
      where q.lane is not null
        and (select min(m.next_attempt_at) from outbox_messages as m where m.status = 'queued' and m.lane = q.lane)
          <= ${now}
      union
      select m.lane from outbox_messages as m where m.status = 'sending' and m.lease_until < ${now}
    )
    select d.lane, coalesce(p.last_claimed_at, 0) as served
    from due_lanes as d
    left join outbox_pacing as p on p.lane = d.lane
    where (p.throttled_until is null or p.throttled_until <= ${now})
      and (p.paced_until is null or p.paced_until <= ${now})
    order by served, d.lane
    limit ${maxLanes}
  `.execute(db);
  return rows.map((row) => row.lane);
}

interface LaneUsage {
  inFlight: number;
  /** Messages of the lane in `sending` whose lease ended (their worker died): taken again first. */
  expired: number;
  lastMinute: number;
  /** When the oldest send of the last minute leaves the window (null if one is still in flight). */
  minuteFreesAt: number | null;
  lastDayRecipients: number;
}

/**
 * The lane's usage read: its messages in `sending` (live leases and expired ones, from the lane index) as scalar
 * subqueries beside both windows of its counted attempts (one pass over the last day's attempts; the minute's figures
 * are conditional aggregates). One row, whatever the lane holds. On PostgreSQL it is a LATERAL subquery of the
 * claims' read (`usageAndQueuedPostgres`), or a CTE of the read of a lane with an expired lease (`usageAndDuePostgres`).
 */
function laneUsageQuery(db: QueryCreator<Database>, { lane, now, minuteAgo, dayAgo }: LaneWindow) {
  const sendingCount = (live: boolean) =>
    db
      .selectFrom('outbox_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('lane', '=', lane)
      // A literal, so that the plan can use the partial index of the lane's messages in `sending` (migration 0021).
      .where('status', '=', sql.lit('sending'))
      .where('lease_until', live ? '>=' : '<', now);
  return db
    .selectFrom('outbox_attempts')
    .where('lane', '=', lane)
    .where('outcome', 'in', [...COUNTED_OUTCOMES])
    .where((eb) => eb.or([eb('finished_at', 'is', null), eb('finished_at', '>', dayAgo)]))
    .select((eb) => {
      const finishedInMinute = eb('finished_at', '>', minuteAgo);
      return [
        sendingCount(true).as('in_flight'),
        sendingCount(false).as('expired'),
        eb.fn
          .sum<number | null>(
            eb
              .case()
              .when(eb.or([eb('finished_at', 'is', null), finishedInMinute]))
              .then(1)
              .else(0)
              .end(),
          )
          .as('minute_n'),
        eb.fn.sum<number | null>(eb.case().when(finishedInMinute).then(1).else(0).end()).as('minute_finished'),
        eb.fn.min<number | null>(eb.case().when(finishedInMinute).then(eb.ref('finished_at')).end()).as('oldest'),
        eb.fn.sum<number | null>('recipient_count').as('recipients'),
      ];
    });
}

/** The lane and the instants its usage is counted from (values, so that the SQLite read can be a template). */
interface LaneWindow {
  /** A value, or a column of the statement that reads several lanes (`usageAndQueuedPostgres`). */
  lane: string | Expression<string>;
  now: number;
  minuteAgo: number;
  dayAgo: number;
}

function laneWindow(lane: LaneWindow['lane'], now: number): LaneWindow {
  return { lane, now, minuteAgo: now - MINUTE_MS, dayAgo: now - DAY_MS };
}

type LaneUsageRow = Awaited<ReturnType<ReturnType<typeof laneUsageQuery>['executeTakeFirstOrThrow']>>;

function toLaneUsage(row: LaneUsageRow): LaneUsage {
  const lastMinute = Number(row.minute_n ?? 0);
  return {
    inFlight: Number(row.in_flight ?? 0),
    expired: Number(row.expired ?? 0),
    lastMinute,
    minuteFreesAt:
      row.oldest !== null && Number(row.minute_finished ?? 0) === lastMinute ? Number(row.oldest) + MINUTE_MS : null,
    lastDayRecipients: Number(row.recipients ?? 0),
  };
}

/** How many messages the lane may take now: within `max`, its free concurrency and the minute's room. */
function laneSlots(limits: LaneLimits, usage: LaneUsage, max: number): number {
  return Math.min(max, limits.concurrency - usage.inFlight, limits.messagesPerMinute - usage.lastMinute);
}

/** A due message as the claim reads it. */
type DueMessage = Pick<OutboxMessagesTable, 'id' | 'status' | 'recipient_count' | 'attempts'>;

/** The lane's usage, then (if it has room) its due messages, in statements of their own: cheap on SQLite. */
async function usageThenDue(
  trx: Kysely<Database>,
  lane: string,
  now: number,
  limits: LaneLimits,
  max: number,
): Promise<{ usage: LaneUsage; due: DueMessage[] }> {
  const row = await claimStatements.usage.firstRow(trx, laneWindow(lane, now));
  if (!row) throw new Error('the usage read returns one row');
  const usage = toLaneUsage(row);
  const slots = laneSlots(limits, usage, max);
  return { usage, due: slots > 0 ? await selectDue(trx, lane, now, slots, usage.expired > 0) : [] };
}

/**
 * The lane's usage and its due messages in one statement on PostgreSQL, expired leases first: the read of a lane
 * whose usage counts an expired lease (`claimLanesPostgres`; other lanes are read together, `usageAndQueuedPostgres`),
 * after the lane's lock was granted (the statement before it took the lock, and this one takes its snapshot when it
 * starts). The usage is a CTE; the due reads are `selectDue`'s two, locked (FOR UPDATE SKIP LOCKED),
 * with `laneSlots` computed from that CTE as their LIMIT (0 takes and locks nothing), the expired leases read only
 * when the usage counted one. The usage comes back even when nothing is due: the due rows are left-joined to it.
 */
async function usageAndDuePostgres(
  trx: Kysely<Database>,
  lane: string,
  now: number,
  limits: LaneLimits,
  max: number,
): Promise<{ usage: LaneUsage; due: DueMessage[] }> {
  const rows = await claimStatements.usageAndDue.rows(trx, {
    ...laneWindow(lane, now),
    max,
    concurrency: limits.concurrency,
    perMinute: perMinuteOrNull(limits),
  });
  const first = rows[0];
  if (!first) throw new Error('the usage CTE returns one row');
  const due = rows.flatMap(({ id, status, recipient_count, attempts }) =>
    id === null || status === null || recipient_count === null || attempts === null
      ? []
      : [{ id, status, recipient_count, attempts }],
  );
  return { usage: toLaneUsage(first), due };
}

/** `usageAndDuePostgres`'s statement: the lane's window, and what bounds its slots (`laneSlots`'s terms). */
function usageAndDueQuery(
  trx: Kysely<Database>,
  values: LaneWindow & { max: number; concurrency: number; perMinute: number | null },
) {
  const { lane, now, max, concurrency, perMinute } = values;
  const slots = laneSlotsSql(sql.val(max), sql.val(concurrency), sql.val(perMinute), 'usage');
  return (
    trx
      .with('usage', (db) => laneUsageQuery(db, values))
      .with('slots', (db) => db.selectFrom('usage').select(slots.as('n')))
      .with('expired', (db) =>
        expiredLeasesOfLane(db, lane, now)
          .select([sql.lit(0).as('part'), 'lease_until as due_at'])
          .where(sql<boolean>`(select expired from usage) > 0`)
          .limit(sql<number>`(select n from slots)`)
          .forUpdate()
          .skipLocked(),
      )
      .with('queued', (db) =>
        queuedDueOfLane(db, lane, now)
          .select([sql.lit(1).as('part'), 'next_attempt_at as due_at'])
          .limit(sql<number>`(select n from slots) - (select count(*) from expired)`)
          .forUpdate()
          .skipLocked(),
      )
      .selectFrom('usage')
      .leftJoin(
        (eb) => eb.selectFrom('expired').selectAll().unionAll(eb.selectFrom('queued').selectAll()).as('due'),
        (join) => join.onTrue(),
      )
      .selectAll('usage')
      .select(['due.id', 'due.status', 'due.recipient_count', 'due.attempts'])
      // Expired leases first, then queued messages by due time, as `selectDue` returns them.
      .orderBy('due.part')
      .orderBy('due.due_at')
      .orderBy('due.id')
  );
}

/** A lane's per-minute limit for SQL: null for the relay lane, which has none (Infinity in `laneLimits`). */
function perMinuteOrNull(limits: LaneLimits): number | null {
  return Number.isFinite(limits.messagesPerMinute) ? limits.messagesPerMinute : null;
}

/**
 * `laneSlots` in SQL, from the usage relation `usage` (`in_flight`, `minute_n`), never below 0 (a LIMIT cannot be
 * negative). least() ignores nulls: the relay lane passes a null per-minute limit. `minute_n` is a sum, null without
 * counted attempts.
 */
function laneSlotsSql(
  max: Expression<number>,
  concurrency: Expression<number>,
  perMinute: Expression<number | null>,
  usage: string,
): RawBuilder<number> {
  const column = (name: string) => sql.ref(`${usage}.${name}`);
  return sql<number>`greatest(0, least(
    ${max}, ${concurrency} - ${column('in_flight')}, ${perMinute} - coalesce(${column('minute_n')}, 0)
  ))`;
}

/** When enough of the last 24 h's recipients leave the window for `needed` more (approximately: re-checked then). */
async function dayFreesAt(trx: Kysely<Database>, lane: string, now: number): Promise<number | null> {
  const oldest = await trx
    .selectFrom('outbox_attempts')
    .select((eb) => eb.fn.min<number>('finished_at').as('at'))
    .where('lane', '=', lane)
    .where('outcome', 'in', [...COUNTED_OUTCOMES])
    .where('finished_at', '>', now - DAY_MS)
    .executeTakeFirst();
  return oldest?.at == null ? null : Number(oldest.at) + DAY_MS;
}

/**
 * Claims up to `options.max` due messages of one lane within its budgets, atomically (see the module comment).
 * A message whose lease expired (its worker died) is taken again first; its unfinished attempt is closed as
 * `unknown` if its request may have left (`started`), or `abandoned` if it never did (`claimed`), so the new
 * attempt knows to look before it sends (or to apply the unknown-outcome policy).
 */
export async function claimLane(
  deps: Pick<ServiceDeps, 'db' | 'dialect' | 'clock' | 'config'>,
  lane: string,
  options: ClaimOptions,
): Promise<Claim[]> {
  return (await claimLaneWork(deps, lane, options)).claims;
}

/** What a claim took, and whether the lane had no more due messages than it took (see `claimLaneWork`). */
export interface LaneClaim {
  claims: Claim[];
  /**
   * The lane's due messages (those not locked by another claim) were fewer than the claim had room for: nothing more
   * is due now, so a pass need not claim again as its sends end. A message accepted or released later asks for a pass
   * of its own (`wakeLane`), and one due later is found by `laneWakeAt`.
   */
  exhausted: boolean;
}

/** `claimLane`, also saying whether the lane's due work ran out (a lane pass stops claiming then). */
export async function claimLaneWork(deps: ClaimDeps, lane: string, options: ClaimOptions): Promise<LaneClaim> {
  // On PostgreSQL the claims asked for in the same turn (the passes of one job fetch, those whose sends ended
  // together) are claimed together, in one transaction and the same statements for all their lanes (issue 14).
  if (deps.dialect === 'postgres') {
    return laneClaims.add(deps.db, `${options.workerId}\u0000${options.leaseMs}`, { deps, lane, options });
  }
  return withTransaction(deps.db, async (trx) => {
    const now = deps.clock.now();
    const { pacing, account } = await lockLaneReadAccountSqlite(trx, lane, now);
    if (isPaused(pacing, now)) return NO_CLAIM;
    const limits = laneLimits(deps.config, account);
    const { usage, due } = await usageThenDue(trx, lane, now, limits, options.max);
    const choice = await chooseDue(trx, lane, now, limits, usage, due, options.max);
    const taken = await takeChosen(trx, deps, [{ lane, account, choice }], now, options);
    return taken.get(lane) ?? NO_CLAIM;
  });
}

type ClaimDeps = Pick<ServiceDeps, 'db' | 'dialect' | 'clock' | 'config'>;

const NO_CLAIM: LaneClaim = { claims: [], exhausted: false };

/** A lane's claim asked for on PostgreSQL, waiting for the others of its turn (`claimLanesPostgres`). */
interface LaneClaimRequest {
  deps: ClaimDeps;
  lane: string;
  options: ClaimOptions;
}

/** At most 16 lanes per claim transaction: the locks of a batch are held until its move commits. */
const laneClaims = new TurnBatches(
  (db: Kysely<Database>, requests: readonly LaneClaimRequest[]) => claimLanesPostgres(db, requests),
  16,
);

/**
 * The claims of several lanes on PostgreSQL in one transaction, whatever their number: one statement locks every
 * lane's pacing row (in lane order, the lock order of every claim, so two processes' batches cannot deadlock) and
 * reads their accounts, one reads every open lane's usage and its due queued messages (locked, FOR UPDATE SKIP
 * LOCKED), one moves every chosen message to `sending` and writes its attempt. A lane whose usage counts an expired
 * lease reads its due messages again on its own (`usageAndDuePostgres` takes those first: rare, after a crash), as
 * do the rare checks of the day's recipient budget and of earlier attempts (`chooseDue`). The batch's requests share
 * a worker and a lease (the batch key); a lane asked for twice in one batch fails the batch, and `TurnBatches` then
 * claims each lane in a transaction of its own.
 */
async function claimLanesPostgres(db: Kysely<Database>, requests: readonly LaneClaimRequest[]): Promise<LaneClaim[]> {
  const first = requests[0];
  if (!first) return [];
  const { deps, options } = first;
  const lanes = requests.map((request) => request.lane).sort();
  if (new Set(lanes).size !== lanes.length) throw new Error('a lane was asked for twice in one claim batch');
  return withTransaction(db, async (trx) => {
    const now = deps.clock.now();
    const locked = await lockLanesReadAccounts(trx, lanes, now);
    const open = requests.flatMap((request) => {
      const lock = locked.get(request.lane);
      if (!lock || isPaused(lock.pacing, now)) return [];
      return [{ ...request, account: lock.account, limits: laneLimits(deps.config, lock.account) }];
    });
    const read = await usageAndQueuedPostgres(trx, open, now);
    const choices: LaneChoice[] = [];
    for (const lane of open) {
      const reading = read.get(lane.lane);
      if (!reading) continue;
      const { usage, due } =
        reading.usage.expired > 0
          ? await usageAndDuePostgres(trx, lane.lane, now, lane.limits, lane.options.max)
          : reading;
      const choice = await chooseDue(trx, lane.lane, now, lane.limits, usage, due, lane.options.max);
      choices.push({ lane: lane.lane, account: lane.account, choice });
    }
    const taken = await takeChosen(trx, deps, choices, now, options);
    return requests.map((request) => taken.get(request.lane) ?? NO_CLAIM);
  });
}

function isPaused(pacing: LanePause, now: number): boolean {
  return Number(pacing.throttled_until ?? 0) > now || Number(pacing.paced_until ?? 0) > now;
}

/** What a lane's claim chose: its messages (with how their previous attempts ended) and whether its due work ran out. */
interface Choice {
  chosen: DueMessage[];
  previousOutcomes: Map<string, string | null>;
  exhausted: boolean;
}

interface LaneChoice {
  lane: string;
  account: AccountsTable | undefined;
  choice: Choice;
}

const NOTHING_CHOSEN: Choice = { chosen: [], previousOutcomes: new Map(), exhausted: false };

/**
 * The lane's messages to take now, from its usage and due messages: within the minute's room (a full minute pauses
 * the lane until it frees), its free concurrency and the rolling day's recipient budget (which pauses it too).
 * Nothing is due (and nothing locked) when the lane has no room: the checks return before using `due`.
 */
async function chooseDue(
  trx: Kysely<Database>,
  lane: string,
  now: number,
  limits: LaneLimits,
  usage: LaneUsage,
  due: readonly DueMessage[],
  max: number,
): Promise<Choice> {
  if (limits.messagesPerMinute - usage.lastMinute <= 0) {
    if (usage.minuteFreesAt !== null) await setPacedUntil(trx, lane, usage.minuteFreesAt, now);
    return NOTHING_CHOSEN;
  }
  const slots = laneSlots(limits, usage, max);
  if (slots <= 0) return NOTHING_CHOSEN;

  const chosen: DueMessage[] = [];
  let dayRecipients = usage.lastDayRecipients;
  for (const candidate of due) {
    if (dayRecipients + candidate.recipient_count > limits.recipientsPerDay) {
      // Over the rolling 24 h budget: wait until the window frees (Exchange would block the mailbox).
      const freesAt = await dayFreesAt(trx, lane, now);
      if (freesAt !== null) await setPacedUntil(trx, lane, freesAt, now);
      break;
    }
    dayRecipients += candidate.recipient_count;
    chosen.push(candidate);
  }
  const previousOutcomes = new Map<string, string | null>();
  for (const candidate of chosen) {
    // Only after a crash or a retry (rare): how the message's previous attempt ended.
    if (candidate.status === 'sending')
      previousOutcomes.set(candidate.id, await closeStaleAttempt(trx, candidate.id, now));
    else if (candidate.attempts > 0) previousOutcomes.set(candidate.id, await lastOutcome(trx, candidate.id));
  }
  // Ran out: fewer due than the room, every one of them taken (a claim cut short by the day's recipient budget did
  // not run out: its pause is recorded, and the next claim says so).
  return { chosen, previousOutcomes, exhausted: due.length < slots && chosen.length === due.length };
}

/**
 * Moves the chosen messages of every lane to `sending` together and writes their attempts together, then tells each
 * lane what it took. The rows cannot have changed since they were read: on PostgreSQL they are locked (FOR UPDATE)
 * by this transaction, on SQLite the transaction holds the write lock.
 */
async function takeChosen(
  trx: Kysely<Database>,
  deps: ClaimDeps,
  choices: readonly LaneChoice[],
  now: number,
  options: Pick<ClaimOptions, 'workerId' | 'leaseMs'>,
): Promise<Map<string, LaneClaim>> {
  const attemptIds = new Map(
    choices.flatMap(({ choice }) =>
      choice.chosen.map((candidate) => [candidate.id, newId('att', deps.clock)] as const),
    ),
  );
  const moved = attemptIds.size === 0 ? [] : await moveToSending(trx, deps.dialect, attemptIds, { now, ...options });
  const byId = new Map(moved.map((message) => [message.id, message]));
  const taken = new Map<string, LaneClaim>();
  for (const { lane, account, choice } of choices) {
    const claims: Claim[] = [];
    for (const candidate of choice.chosen) {
      const message = byId.get(candidate.id);
      const attemptId = attemptIds.get(candidate.id);
      if (!message || !attemptId) continue;
      claims.push({
        message,
        attemptId,
        attemptNumber: message.attempts,
        workerId: options.workerId,
        leaseMs: options.leaseMs,
        previousOutcome: choice.previousOutcomes.get(candidate.id) ?? null,
        account,
      });
    }
    taken.set(lane, { claims, exhausted: choice.exhausted });
  }
  return taken;
}

/**
 * Creates the lanes' pacing rows if needed and locks them, in lane order (an upsert that updates takes the row lock,
 * as FOR UPDATE would), and reads their accounts, in one statement on PostgreSQL. Examined counts as served for round
 * robin: a lane full of other processes' sends, or paused, goes to the back of the line instead of taking a place at
 * its front every round. The accounts are read from the statement's snapshot, taken before the locks were granted,
 * which is as good as a read just before them; what the locks protect (the lanes' usage and due messages) is read by
 * later statements, after them.
 */
async function lockLanesReadAccounts(
  trx: Kysely<Database>,
  lanes: readonly string[],
  now: number,
): Promise<Map<string, { pacing: LanePause; account: AccountsTable | undefined }>> {
  const { rows } = await sql<
    {
      pacing_lane: string;
      pacing_throttled_until: number | null;
      pacing_paced_until: number | null;
    } & Nullable<AccountsTable>
  >`
    with pacing as (
      insert into outbox_pacing (lane, throttled_until, paced_until, last_claimed_at, updated_at)
      select lane, null, null, ${now}::bigint, ${now}::bigint from unnest(${lanes}::text[]) as input (lane) order by lane
      on conflict (lane) do update set last_claimed_at = excluded.last_claimed_at, updated_at = excluded.updated_at
      returning lane, throttled_until, paced_until
    )
    select pacing.lane as pacing_lane, pacing.throttled_until as pacing_throttled_until,
      pacing.paced_until as pacing_paced_until, accounts.*
    from pacing left join accounts on accounts.id = pacing.lane
  `.execute(trx);
  return new Map(
    rows.map(({ pacing_lane, pacing_throttled_until, pacing_paced_until, ...account }) => [
      pacing_lane,
      {
        pacing: { throttled_until: pacing_throttled_until, paced_until: pacing_paced_until },
        account: account.id === null ? undefined : (account as AccountsTable),
      },
    ]),
  );
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

/**
 * Every open lane's usage and its due queued messages (up to its `laneSlots`, locked FOR UPDATE SKIP LOCKED), in one
 * statement on PostgreSQL: `laneUsageQuery` and `queuedDueOfLane` per lane, as LATERAL subqueries of the lanes'
 * list. Expired leases are not read here (see `claimLanesPostgres`).
 */
async function usageAndQueuedPostgres(
  trx: Kysely<Database>,
  lanes: ReadonlyArray<{ lane: string; limits: LaneLimits; options: ClaimOptions }>,
  now: number,
): Promise<Map<string, { usage: LaneUsage; due: DueMessage[] }>> {
  if (lanes.length === 0) return new Map();
  const lane = sql.ref<string>('input.lane');
  const slots = laneSlotsSql(sql.ref('input.max'), sql.ref('input.concurrency'), sql.ref('input.per_minute'), 'usage');
  const { rows } = await sql<LaneUsageRow & { lane: string } & Nullable<DueMessage>>`
    select input.lane, usage.*, due.id, due.status, due.recipient_count, due.attempts
    from unnest(
      ${lanes.map((each) => each.lane)}::text[], ${lanes.map((each) => each.options.max)}::integer[],
      ${lanes.map((each) => each.limits.concurrency)}::integer[], ${lanes.map((each) => perMinuteOrNull(each.limits))}::integer[]
    ) as input (lane, max, concurrency, per_minute)
    cross join lateral (${laneUsageQuery(trx, laneWindow(lane, now))}) as usage
    left join lateral (
      ${queuedDueOfLane(trx, lane, now).select('next_attempt_at as due_at').limit(slots).forUpdate().skipLocked()}
    ) as due on true
    order by input.lane, due.due_at, due.id
  `.execute(trx);
  const read = new Map<string, { usage: LaneUsage; due: DueMessage[] }>();
  for (const { lane: rowLane, id, status, recipient_count, attempts, ...usage } of rows) {
    let reading = read.get(rowLane);
    if (!reading) {
      reading = { usage: toLaneUsage(usage as LaneUsageRow), due: [] };
      read.set(rowLane, reading);
    }
    if (id !== null && status !== null && recipient_count !== null && attempts !== null)
      reading.due.push({ id, status, recipient_count, attempts });
  }
  return read;
}

/**
 * Creates the lane's pacing row if needed (its lock: SQLite's BEGIN IMMEDIATE already serialises writers; examined
 * counts as served for round robin, as in `lockLanesReadAccounts`) and reads the lane's account.
 */
async function lockLaneReadAccountSqlite(
  trx: Kysely<Database>,
  lane: string,
  now: number,
): Promise<{ pacing: LanePause; account: AccountsTable | undefined }> {
  const pacing = await claimStatements.lockLane.firstRow(trx, { lane, now });
  if (!pacing) throw new Error('the pacing upsert returns its row');
  if (lane === DEFAULT_LANE) return { pacing, account: undefined };
  return { pacing, account: await claimStatements.account.firstRow(trx, { lane }) };
}

/** The pacing row's upsert that locks the lane on SQLite (`lockLaneReadAccountSqlite`). */
function lockLaneQuery(db: QueryCreator<Database>, { lane, now }: { lane: string; now: number }) {
  return db
    .insertInto('outbox_pacing')
    .values({ lane, throttled_until: null, paced_until: null, last_claimed_at: now, updated_at: now })
    .onConflict((conflict) => conflict.column('lane').doUpdateSet({ last_claimed_at: now, updated_at: now }))
    .returning(['throttled_until', 'paced_until']);
}

/** A claim's statements whose text never changes: templates (issue 14, src/db/statement-template.ts). */
const claimStatements = {
  lockLane: new StatementTemplate((db, slots: { lane: string; now: number }) => lockLaneQuery(db, slots)),
  usageAndDue: new StatementTemplate((db, slots: Parameters<typeof usageAndDueQuery>[1]) =>
    usageAndDueQuery(db, slots),
  ),
  account: new StatementTemplate((db, slots: { lane: string }) =>
    db.selectFrom('accounts').selectAll().where('id', '=', slots.lane),
  ),
  usage: new StatementTemplate((db, slots: LaneWindow) => laneUsageQuery(db, slots)),
  expired: new StatementTemplate((db, slots: { lane: string; now: number; limit: number }) =>
    expiredLeasesOfLane(db, slots.lane, slots.now).limit(slots.limit),
  ),
  queued: new StatementTemplate((db, slots: { lane: string; now: number; limit: number }) =>
    queuedDueOfLane(db, slots.lane, slots.now).limit(slots.limit),
  ),
};

/**
 * Moves the chosen messages (`attemptIds`: message id → its new attempt's id) to `sending` under the claim's lease
 * and writes their `claimed` attempts: one statement on PostgreSQL (the attempts are inserted from the UPDATE's
 * RETURNING), two on SQLite, whatever the claim's size.
 */
async function moveToSending(
  trx: Kysely<Database>,
  dialect: DbDialect,
  attemptIds: ReadonlyMap<string, string>,
  claim: Pick<ClaimOptions, 'workerId' | 'leaseMs'> & { now: number },
): Promise<OutboxMessagesTable[]> {
  const { now, workerId } = claim;
  const move = (db: QueryCreator<Database>) =>
    db
      .updateTable('outbox_messages')
      .set((eb) => ({
        status: 'sending',
        lease_owner: workerId,
        lease_until: now + claim.leaseMs,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', 'in', [...attemptIds.keys()])
      .returningAll();
  if (dialect === 'postgres') {
    // The attempt's other columns stay null until it starts and ends.
    return trx
      .with('moved', (db) => move(db))
      .with('logged', (db) =>
        db
          .insertInto('outbox_attempts')
          .columns(['id', 'message_id', 'lane', 'number', 'worker_id', 'outcome', 'recipient_count', 'claimed_at'])
          .expression((eb) =>
            eb
              .selectFrom('moved')
              .select((inner) => [
                attemptIdOf(inner.ref('moved.id'), attemptIds).as('id'),
                'moved.id as message_id',
                'moved.lane',
                'moved.attempts',
                sql.val(workerId).as('worker_id'),
                sql.lit('claimed').as('outcome'),
                'moved.recipient_count',
                sql.val(now).as('claimed_at'),
              ]),
          )
          .returning('id'),
      )
      .selectFrom('moved')
      .selectAll()
      .execute();
  }
  const moved = await move(trx).execute();
  if (moved.length > 0) {
    await trx
      .insertInto('outbox_attempts')
      .values(
        moved.map((message) => ({
          id: attemptIds.get(message.id) ?? '',
          message_id: message.id,
          lane: message.lane,
          number: message.attempts,
          worker_id: workerId,
          outcome: 'claimed',
          recipient_count: message.recipient_count,
          claimed_at: now,
          step: null,
          started_at: null,
          finished_at: null,
          duration_ms: null,
          http_status: null,
          graph_code: null,
          request_id: null,
          client_request_id: null,
          detail: null,
          evidence: null,
          retry_after_ms: null,
        })),
      )
      .execute();
  }
  return moved;
}

/** `case <message id> when … then <its attempt id> … end`: each moved row's new attempt id, inside the statement. */
function attemptIdOf(messageId: Expression<string>, attemptIds: ReadonlyMap<string, string>) {
  const cases = [...attemptIds].map(([message, attempt]) => sql`when ${message} then ${attempt}`);
  return sql<string>`case ${messageId} ${sql.join(cases, sql` `)} end`;
}

/**
 * Up to `limit` due messages of the lane (SQLite; `usageAndDuePostgres` reads the same on PostgreSQL): those whose
 * lease expired first (a message whose worker died has waited longest; looked for only when the usage read counted
 * one), then queued ones by due time. Each read walks the lane index in order and stops at `limit`.
 */
async function selectDue(
  trx: Kysely<Database>,
  lane: string,
  now: number,
  limit: number,
  anyExpired: boolean,
): Promise<DueMessage[]> {
  const expired = anyExpired ? await claimStatements.expired.rows(trx, { lane, now, limit }) : [];
  if (expired.length >= limit) return expired;
  const queued = await claimStatements.queued.rows(trx, { lane, now, limit: limit - expired.length });
  return [...expired, ...queued];
}

// The two reads of a lane's due messages (`selectDue`, the CTEs of `usageAndDuePostgres`, the LATERAL subquery of
// `usageAndQueuedPostgres`). Literal statuses, so that a generic plan can use migration 0021's partial indexes.

/** The lane's messages in `status`, as a claim reads them (`DueMessage`). */
function laneMessagesIn(db: QueryCreator<Database>, lane: string | Expression<string>, status: 'sending' | 'queued') {
  return db
    .selectFrom('outbox_messages')
    .select(['id', 'status', 'recipient_count', 'attempts'])
    .where('lane', '=', lane)
    .where('status', '=', sql.lit(status));
}

/** The lane's messages in `sending` whose lease ended (their worker died), oldest lease first. */
function expiredLeasesOfLane(db: QueryCreator<Database>, lane: string | Expression<string>, now: number) {
  return laneMessagesIn(db, lane, 'sending').where('lease_until', '<', now).orderBy('lease_until');
}

/** The lane's queued messages that are due, earliest first. */
function queuedDueOfLane(db: QueryCreator<Database>, lane: string | Expression<string>, now: number) {
  return laneMessagesIn(db, lane, 'queued')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .orderBy('id');
}

async function setPacedUntil(trx: Kysely<Database>, lane: string, until: number, now: number): Promise<void> {
  await trx
    .updateTable('outbox_pacing')
    .set({ paced_until: until, updated_at: now })
    .where('lane', '=', lane)
    .execute();
}

async function lastOutcome(trx: Kysely<Database>, messageId: string): Promise<string | null> {
  const row = await trx
    .selectFrom('outbox_attempts')
    .select('outcome')
    .where('message_id', '=', messageId)
    .orderBy('number', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.outcome ?? null;
}

/** Closes the attempt of a worker that died: `started` may have sent (unknown), `claimed` never did (abandoned). */
async function closeStaleAttempt(trx: Kysely<Database>, messageId: string, now: number): Promise<string | null> {
  const stale = await trx
    .selectFrom('outbox_attempts')
    .select(['id', 'outcome'])
    .where('message_id', '=', messageId)
    .orderBy('number', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!stale) return null;
  if (stale.outcome !== 'claimed' && stale.outcome !== 'started') return stale.outcome;
  const outcome = stale.outcome === 'started' ? 'unknown' : 'abandoned';
  await trx
    .updateTable('outbox_attempts')
    .set({
      outcome,
      finished_at: now,
      detail:
        outcome === 'unknown'
          ? 'The worker stopped (lease expired) after the request may have left: outcome unknown.'
          : 'The worker stopped (lease expired) before sending anything.',
    })
    .where('id', '=', stale.id)
    .execute();
  return outcome;
}
