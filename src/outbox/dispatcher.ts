import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { sql } from 'kysely';
import { groupCommit } from '../db/group-commit.js';
import { TurnBatches, unnestRows } from '../db/turn-batch.js';
import { newLeaseOwnerId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { type AccessTokenSource, deliverThroughGraph } from './graph-delivery.js';
import { sweepHeldMessages } from './held-messages.js';
import { DEFAULT_LANE } from './message-target.js';
import { type Claim, claimLane, claimLaneWork, lanesWithDueWork } from './pacing.js';
import { deliverThroughSmtp } from './smtp-delivery.js';

/**
 * The outbox dispatcher (issue 4 items 3–5). One call is one round:
 * 1. housekeeping of held messages (hold, release, expire; `sweepHeldMessages`);
 * 2. lanes (mailboxes) with due work, least recently served first;
 * 3. per lane, an atomic claim within its budgets (`claimLane`: concurrency, per minute, per 24 h, Retry-After), at
 *    most `perLane` messages so no mailbox's backlog delays another's message;
 * 4. the claimed messages are sent concurrently (each message's own requests in order), and each attempt ends with
 *    its outcome written, fenced by its lease.
 * Safe to run in any number of workers and processes on PostgreSQL (row locks, SKIP LOCKED, leases); on SQLite in
 * one process. Returns how many messages it worked on; a caller loops while that is positive, and waits otherwise.
 */

export interface DispatchOptions {
  /** At most this many messages in this round, over all lanes (default 20). */
  limit?: number;
  /** Who holds the leases taken in this round (a process or worker id; default: host + pid + random). */
  workerId?: string;
  /** At most this many messages per lane per round (default: the per-mailbox concurrency). */
  perLane?: number;
  /** How long a claim lasts without renewal (default MAILBRIDGE_OUTBOX_LEASE; renewed before every request). */
  leaseMs?: number;
  /** After an unknown outcome, wait this long before looking for the message in Sent Items (default 30 s). */
  lookupDelayMs?: number;
  /** A message is failed (`retries_exhausted`) after this many attempts (default 50). */
  maxAttempts?: number;
  /** The token provider (default: the service's, `deps.tokens`). */
  tokens?: AccessTokenSource;
}

/** How one claimed message is carried out: its provider, the service's clients, the attempt limits. */
function claimDelivery(
  deps: ServiceDeps,
  options: Pick<DispatchOptions, 'tokens' | 'lookupDelayMs' | 'maxAttempts'>,
): (claim: Claim) => Promise<void> {
  const maxAttempts = options.maxAttempts ?? 50;
  const graphContext = {
    tokens: options.tokens ?? deps.tokens,
    graph: deps.graph,
    lookupDelayMs: options.lookupDelayMs ?? 30_000,
    maxAttempts,
  };
  const smtpContext = { provider: deps.smtp, maxAttempts };
  return async (claim) => {
    try {
      if (claim.message.lane === DEFAULT_LANE) await deliverThroughSmtp(deps, claim, smtpContext);
      else await deliverThroughGraph(deps, claim, graphContext);
    } catch (error) {
      // A bug or the database failing mid-attempt: the lease expires and recovery takes the message again,
      // treating a request that may have left as an unknown outcome. Nothing is lost.
      deps.logger.error({ err: error, messageId: claim.message.id }, 'outbox: attempt failed unexpectedly');
    }
  };
}

export async function dispatchDueMessages(deps: ServiceDeps, options: DispatchOptions = {}): Promise<number> {
  const limit = options.limit ?? 20;
  const workerId = options.workerId ?? newLeaseOwnerId();
  const perLane = Math.max(1, options.perLane ?? deps.config.outbox.mailboxConcurrency);
  const leaseMs = options.leaseMs ?? deps.config.outbox.leaseMs;

  await sweepHeldMessages(deps);

  const lanes = await lanesWithDueWork(deps.db, deps.clock.now(), limit);
  const claims = await claimLanes(
    deps,
    lanes.map((lane) => ({ lane, max: perLane })),
    { workerId, leaseMs, room: limit },
  );
  if (claims.length === 0) return 0;
  await Promise.all(claims.map(claimDelivery(deps, options)));
  return claims.length;
}

/** Lanes whose claims share one SQLite transaction: ~6 statements each, so a slice stays short (accept latency). */
const CLAIM_SLICE = 8;

/**
 * Claims in the given lanes, in order, at most `room` messages over all of them, each lane at most its `max`. On
 * SQLite the claims of up to `CLAIM_SLICE` lanes run in one transaction, committed with whatever else is written in
 * the same turn (group commit, src/db/group-commit.ts), where each lane's claim was a commit of its own; on PostgreSQL
 * each lane's claim is its own transaction, one after another, as before.
 */
async function claimLanes(
  deps: ServiceDeps,
  lanes: ReadonlyArray<{ lane: string; max: number }>,
  options: { workerId: string; leaseMs: number; room: number },
): Promise<Claim[]> {
  const claims: Claim[] = [];
  const claimIn = async (db: ServiceDeps['db'], slice: ReadonlyArray<{ lane: string; max: number }>) => {
    const taken: Claim[] = [];
    for (const { lane, max } of slice) {
      const room = options.room - claims.length - taken.length;
      if (room <= 0) break;
      const claimOptions = { workerId: options.workerId, leaseMs: options.leaseMs, max: Math.min(max, room) };
      taken.push(...(await claimLane({ ...deps, db }, lane, claimOptions)));
    }
    return taken;
  };
  if (deps.dialect !== 'sqlite') return claimIn(deps.db, lanes);
  for (let at = 0; at < lanes.length && claims.length < options.room; at += CLAIM_SLICE) {
    const slice = lanes.slice(at, at + CLAIM_SLICE);
    claims.push(...(await groupCommit(deps.db, deps.dialect, (trx) => claimIn(trx, slice))));
  }
  return claims;
}

export interface LanePassOptions extends Pick<DispatchOptions, 'tokens' | 'lookupDelayMs'> {
  /** Who holds the leases (default: this process's lease owner, `processWorkerId`). */
  workerId?: string;
  /** Stop claiming after this long and hand the rest of the lane to a new job (default 20 s). */
  budgetMs?: number;
  /** Stop claiming when aborted (shutdown): the sends in flight finish, the rest goes to a new job. */
  signal?: AbortSignal;
  maxAttempts?: number;
}

export interface LanePass {
  /** Messages claimed and attempted in this pass. */
  attempted: number;
  /** When the lane should be looked at again (epoch ms), or null when it holds no work. */
  wakeAt: number | null;
}

/** After the recheck interval, a lane whose due work this pass could not claim is looked at again. */
const BLOCKED_RECHECK_MS = 5_000;

/**
 * One pass over one lane (the job `outbox-mailbox`, issue 5 item 2): claims its due messages within its budgets
 * (`claimLane`: per-mailbox concurrency, per minute, per 24 h, Retry-After, all in the database and shared by every
 * process) and sends them, keeping up to the mailbox's concurrency in flight and claiming again as each finishes,
 * until nothing more can be claimed or `budgetMs` is spent. Returns when to look at the lane again: now if the
 * budget ran out with work left, else `laneWakeAt`. A pass may run twice or alongside another pass of the same lane
 * (jobs are at least once): the claims make that harmless.
 */
export async function dispatchLane(deps: ServiceDeps, lane: string, options: LanePassOptions = {}): Promise<LanePass> {
  const workerId = options.workerId ?? processWorkerId;
  const perLane = Math.max(1, deps.config.outbox.mailboxConcurrency);
  const leaseMs = deps.config.outbox.leaseMs;
  const deadline = performance.now() + (options.budgetMs ?? 20_000);
  const deliver = claimDelivery(deps, options);
  const inFlight = new Set<Promise<void>>();
  let attempted = 0;
  let ended = 0;
  let outOfTime = false;
  // The last claim found fewer due messages than it had room for: claiming again as sends end would read the lane
  // for nothing (one claim transaction per pass saved, issue 14); what becomes due later wakes the lane itself.
  let exhausted = false;
  for (;;) {
    outOfTime ||= performance.now() > deadline || options.signal?.aborted === true;
    const endedBefore = ended;
    if (!outOfTime && !exhausted && inFlight.size < perLane) {
      const claimed = await claimLaneWork(deps, lane, { workerId, leaseMs, max: perLane - inFlight.size });
      exhausted = claimed.exhausted;
      for (const claim of claimed.claims) {
        attempted++;
        const sending: Promise<void> = deliver(claim).finally(() => {
          inFlight.delete(sending);
          ended++;
        });
        inFlight.add(sending);
      }
    }
    if (inFlight.size === 0) {
      // A send that ended while the claim read the lane was counted as in flight by it: claim once more, which
      // also records the pacing pause if the minute is spent. Otherwise nothing more can be claimed now.
      if (ended !== endedBefore && !outOfTime && !exhausted) continue;
      break;
    }
    // Claim again when a send ends.
    await Promise.race(inFlight);
  }
  const now = deps.clock.now();
  return { attempted, wakeAt: outOfTime ? now : await laneWakeAt(deps, lane, now) };
}

/**
 * When a lane that a pass just left needs looking at again, read from the database (the lane's indexed rows only):
 * - its earliest queued message (a retry's backoff, a scheduled `sendAt`), but not before the lane's Retry-After or
 *   pacing pause ends;
 * - the earliest lease of a message in `sending`: that holder may die, and its message is reclaimed when the lease
 *   ends (a live holder renews it and the lane is simply looked at once more);
 * - a message due now that the pass could not claim (another process's sends fill the mailbox's concurrency or
 *   minute): soon again, or when that holder wakes the lane itself after its sends.
 * Null when the lane has nothing queued or in flight: the next accepted or released message wakes it.
 */
export async function laneWakeAt(
  deps: Pick<ServiceDeps, 'db' | 'dialect'>,
  lane: string,
  now: number,
): Promise<number | null> {
  // On PostgreSQL shared with the other passes that end in the same turn (src/db/turn-batch.ts): one round trip.
  const row =
    deps.dialect === 'postgres' ? await laneWakeReads.add(deps.db, 'lanes', lane) : await readLaneWake(deps.db, lane);
  const queued = row.queued == null ? null : Number(row.queued);
  const leased = row.leased == null ? null : Number(row.leased);
  const pausedUntil = Math.max(Number(row.throttled_until ?? 0), Number(row.paced_until ?? 0));
  const times: number[] = [];
  if (queued !== null) {
    const at = Math.max(queued, pausedUntil);
    times.push(at > now ? at : now + BLOCKED_RECHECK_MS);
  }
  if (leased !== null) times.push(Math.max(leased, now + 1_000));
  return times.length === 0 ? null : Math.min(...times);
}

/** What `laneWakeAt` decides from: the lane's earliest queued and leased times and its pauses. */
interface LaneWake {
  queued: number | string | null;
  leased: number | string | null;
  throttled_until: number | string | null;
  paced_until: number | string | null;
}

const NOTHING_TO_WAKE_FOR: LaneWake = { queued: null, leased: null, throttled_until: null, paced_until: null };

/**
 * One lane's wake-up figures in one statement, each a scalar subquery. The earliest queued and leased times are
 * `min()` over a partial index of the lane's rows in that status (migration 0021; the status a literal so the plan
 * can prove it): one index probe each, not a read of every message the lane has queued (issue 14).
 */
async function readLaneWake(db: ServiceDeps['db'], lane: string): Promise<LaneWake> {
  const pause = (column: 'throttled_until' | 'paced_until') =>
    db.selectFrom('outbox_pacing').select(column).where('lane', '=', lane);
  const earliest = (status: 'queued' | 'sending', column: 'next_attempt_at' | 'lease_until') =>
    db
      .selectFrom('outbox_messages')
      .select((eb) => eb.fn.min<number | null>(column).as('at'))
      .where('lane', '=', lane)
      .where('status', '=', sql.lit(status));
  const row = await db
    .selectNoFrom([
      earliest('queued', 'next_attempt_at').as('queued'),
      earliest('sending', 'lease_until').as('leased'),
      pause('throttled_until').as('throttled_until'),
      pause('paced_until').as('paced_until'),
    ])
    .executeTakeFirst();
  return row ?? NOTHING_TO_WAKE_FOR;
}

/**
 * `readLaneWake` for several lanes in one statement on PostgreSQL (SQLite has no `unnest`, and its statements are no
 * round trips): the same probes, per lane of the input.
 */
async function readLanesWake(db: ServiceDeps['db'], lanes: readonly string[]): Promise<LaneWake[]> {
  const input = unnestRows(
    lanes.map((lane) => ({ lane })),
    [['lane', 'text']],
  );
  const { rows } = await sql<LaneWake & { lane: string }>`
    with input as (${input})
    select input.lane,
      (select min(m.next_attempt_at) from outbox_messages as m where m.lane = input.lane and m.status = 'queued')
        as queued,
      (select min(m.lease_until) from outbox_messages as m where m.lane = input.lane and m.status = 'sending')
        as leased,
      p.throttled_until, p.paced_until
    from input
    left join outbox_pacing as p on p.lane = input.lane
  `.execute(db);
  const byLane = new Map(rows.map((row) => [row.lane, row]));
  return lanes.map((lane) => byLane.get(lane) ?? NOTHING_TO_WAKE_FOR);
}

const laneWakeReads = new TurnBatches(readLanesWake);

/**
 * After a refill found less due work than it had room for, the next one waits this long (or for every send to end):
 * a refill per ended send would read the due lanes (a read that grows with the backlog, README Performance) for the
 * one or two messages accepted since. 100 ms, not the loop's 25 ms nudge debounce: in `npm run bench -- accept-latency
 * --roles start` (paced mailboxes, a growing backlog) 25 ms tripled the due-lane reads against the rounds (202 against
 * 62 in 10 s), 100 ms cut them to 146, and accept latency improved, README Performance.
 */
const REFILL_PAUSE_MS = 100;

/** This process's lease owner for the background loop's rounds and the job worker's lane passes. */
const processWorkerId = newLeaseOwnerId();

/**
 * The background loop's outbox task (`mailbridge start` and the `worker` role on SQLite): keeps up to `limit` sends in
 * flight and claims again as they end, instead of rounds that each wait for their slowest send (issue 14). A refill
 * finds due lanes and claims in them once a quarter of the room is free (or nothing is in flight), so the due-lane
 * read and the claims' commit are shared by several sends, and not sooner than `REFILL_PAUSE_MS` after one that
 * found the due work exhausted; lanes this call already fills to the per-mailbox concurrency are left out.
 * Held-message housekeeping runs before the first claim and after every `limit` claims, as the rounds did. Stops claiming after `maxRounds × limit` claims (so the loop's other tasks still get their turn)
 * and returns true then: more is probably due now. Returns false once a refill found nothing to claim and every send
 * has ended (an accept nudges the loop again).
 */
export async function runOutboxRounds(
  deps: ServiceDeps,
  options: { tokens?: AccessTokenSource; maxRounds?: number; limit?: number } = {},
): Promise<boolean> {
  const limit = Math.max(1, options.limit ?? 50);
  const budget = (options.maxRounds ?? 20) * limit;
  const perLane = Math.max(1, deps.config.outbox.mailboxConcurrency);
  const leaseMs = deps.config.outbox.leaseMs;
  const refillAt = Math.max(1, Math.ceil(limit / 4));
  const deliver = claimDelivery(deps, options.tokens ? { tokens: options.tokens } : {});
  const inFlight = new Set<Promise<void>>();
  /** Sends in flight per lane, this call's own: a lane at the per-mailbox concurrency is not worth a claim. */
  const laneLoad = new Map<string, number>();
  let claimed = 0;
  let sinceSweep = limit;
  /** When a refill last found less due work than it had room for (none left out for being full here). */
  let starvedAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    const room = Math.min(limit - inFlight.size, budget - claimed);
    const rested = performance.now() - starvedAt >= REFILL_PAUSE_MS;
    if (room > 0 && (inFlight.size === 0 || (room >= refillAt && rested))) {
      if (sinceSweep >= limit) {
        await sweepHeldMessages(deps);
        sinceSweep = 0;
      }
      const full = [...laneLoad].filter(([, load]) => load >= perLane).length;
      const found = (await lanesWithDueWork(deps.db, deps.clock.now(), room + full)).map((lane) => ({
        lane,
        max: perLane - (laneLoad.get(lane) ?? 0),
      }));
      const lanes = found.filter((each) => each.max > 0);
      const claims = await claimLanes(deps, lanes, { workerId: processWorkerId, leaseMs, room });
      if (claims.length < room && lanes.length === found.length) starvedAt = performance.now();
      claimed += claims.length;
      sinceSweep += claims.length;
      for (const claim of claims) {
        const lane = claim.message.lane;
        laneLoad.set(lane, (laneLoad.get(lane) ?? 0) + 1);
        const sending: Promise<void> = deliver(claim).finally(() => {
          inFlight.delete(sending);
          const left = (laneLoad.get(lane) ?? 1) - 1;
          if (left > 0) laneLoad.set(lane, left);
          else laneLoad.delete(lane);
        });
        inFlight.add(sending);
      }
      if (claims.length === 0 && inFlight.size === 0) return false;
    }
    if (inFlight.size === 0) {
      if (claimed >= budget) return true;
      continue;
    }
    // Until a send ends, or the pause after a starved refill is over while there is room (what was accepted since is
    // claimed then, not only when a slow send ends).
    const pauseLeft = REFILL_PAUSE_MS - (performance.now() - starvedAt);
    const roomNow = Math.min(limit - inFlight.size, budget - claimed);
    await Promise.race(roomNow >= refillAt && pauseLeft > 0 ? [...inFlight, sleep(pauseLeft)] : inFlight);
    // Sends whose answers came in the same turn end together: one refill for all of them.
    await yieldToEventLoop();
  }
}
