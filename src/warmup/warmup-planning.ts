import type { WarmupMessagesTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import { newId } from '../platform/ids.js';
import { planDailyVolume, type SendingStatus, splitTarget } from './daily-volume-plan.js';
import { addDays, localTime, startOfLocalDay } from './mailbox-time-zone.js';
import {
  balanceHeadroom,
  choosePartners,
  exclusionReason,
  type PartnerCandidate,
  type PoolMember,
} from './partner-choice.js';
import { inPoolTurn } from './pool-turns.js';
import { keyedSource, keyedUnit } from './seeded-random.js';
import { planSendSlots } from './send-slots.js';
import { planThread } from './warmup-content.js';
import type { MailboxRun } from './warmup-mailbox.js';
import { blankWarmupMessage } from './warmup-message-row.js';
import { warmupMetrics } from './warmup-metrics.js';
import { observationRows, observationsOf } from './warmup-observations.js';
import { poolPlacements } from './warmup-peers.js';
import { classifyBounce } from './warmup-safety.js';
import { applySafetySignal, providerOf, safetyStateOf, settingsOf } from './warmup-state.js';

/**
 * The start of a mailbox's local day (docs/warmup.md §A–C, §G): the day's safety evaluation and health, then the
 * day's plan: the target on the ramp, the partners, the slots, one planned row per new thread. Replies come from the
 * receiving side during the day and count toward the same target (warmup-receiving.ts).
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SENDING = new Set(['active', 'watch', 'throttled', 'probation']);
/**
 * How many pool members a day's plan considers (docs/warmup.md §W, "Partners"): a window of the pool in account order
 * from a point drawn each day from the mailbox's seed, wrapping around, plus the mailbox itself. A plan needs at most
 * 40 partners (the ceiling, §A), so 200 leave §C's filters room, and a pool up to this size is considered whole.
 * Reading the whole pool made each plan cost the pool's size: a day of a pool of N cost N² rows (bench/warmup-fleet.ts).
 */
const CANDIDATE_WINDOW = 200;

/** Plans today if the mailbox's local date moved since the last plan. Returns whether it planned. */
export async function planDayIfNew(run: MailboxRun): Promise<boolean> {
  if (run.row.plan_date === localTime(run.now, run.zone).date) return false;
  return inPoolTurn(run.row.organization_id, () => planDay(run));
}

async function planDay(run: MailboxRun): Promise<boolean> {
  const { deps, row, zone, now } = run;
  const today = localTime(now, zone).date;
  await evaluateDay(run);
  const state = safetyStateOf(row);
  const sending = row.enabled === 1 && SENDING.has(state.status) && !run.settings.receiveOnly;
  const dayStart = startOfLocalDay(today, zone);
  const candidates = await poolCandidates(run, dayStart);
  const sender: PoolMember = memberOf(run);
  const history = await senderHistory(run);
  // The partners that pass every hard filter of §C today: the target never exceeds them (§A).
  const eligible = candidates.filter((c) => exclusionReason(sender, c, false, run.settings) === null);
  const rampDay = sending ? row.ramp_day + 1 : row.ramp_day;
  const campaignSentToday = await campaignSentSince(run, dayStart);
  const plan = planDailyVolume(
    {
      seed: row.seed,
      mailboxId: row.account_id,
      date: today,
      ramp: { day: Math.max(1, rampDay), from: row.ramp_from },
      status: (SENDING.has(state.status) ? state.status : 'active') as SendingStatus,
      accountAgeDays: null,
      eligiblePartners: sending ? eligible.length : 0,
      campaignSentToday,
    },
    run.settings,
  );
  const target = sending ? plan.target : 0;
  // What held today below the ramp: the user's switch, a stop of §G, else the plan's own reasons (a receive-only
  // mailbox's plan says `receive_only`, docs/warmup.md §A).
  const limitedBy = row.enabled !== 1 ? ['user_paused'] : SENDING.has(state.status) ? plan.limitedBy : [state.status];
  const repliesToday = await repliesOn(run, today);
  const { newThreads } = splitTarget(target, repliesToday);
  // The mailbox's own side of the 7-day balance (§C): no more new threads than its outbound may grow by.
  const self = candidates.find((c) => c.id === row.account_id);
  const headroom = self ? balanceHeadroom(self.inboundInWindow, self.outboundInWindow, run.settings).send : newThreads;
  const slots = planSendSlots(
    {
      count: Math.min(newThreads, headroom),
      date: today,
      zone,
      random: keyedSource(row.seed, 'slots', today),
      notBefore: now,
    },
    run.settings,
  );
  const choice = choosePartners(
    {
      sender,
      candidates: eligible,
      history,
      count: slots.slots.length,
      poolSpansOrganizations: false,
      random: keyedSource(row.seed, 'partners', today),
    },
    run.settings,
  );
  const rows: WarmupMessagesTable[] = choice.partners.map((partner, index) => {
    const id = newId('wum', deps.clock);
    // Keyed by the thread's id: every turn, from either mailbox, draws the same topic and subject again.
    const thread = planThread(keyedSource(id, 'thread'), run.settings);
    return {
      id,
      organization_id: row.organization_id,
      sender_account_id: row.account_id,
      recipient_account_id: partner.id,
      thread_id: id,
      turn: 0,
      planned_turns: thread.turns,
      subject: thread.subject,
      status: 'planned',
      local_date: today,
      planned_at: slots.slots[index]!,
      ...blankWarmupMessage(),
      in_reply_to_id: null,
      created_at: now,
      updated_at: now,
    };
  });
  await withTransaction(deps.db, async (trx) => {
    if (rows.length > 0) await trx.insertInto('warmup_messages').values(rows).execute();
    await trx
      .updateTable('warmup_accounts')
      .set({
        plan_date: today,
        plan_target: target,
        plan_limited_by: JSON.stringify(limitedBy),
        ramp_day: rampDay,
        updated_at: now,
      })
      .where('account_id', '=', row.account_id)
      .execute();
  });
  Object.assign(row, { plan_date: today, plan_target: target, ramp_day: rampDay });
  return true;
}

function memberOf(run: MailboxRun): PoolMember {
  return {
    id: run.row.account_id,
    domain: domainOf(run.account.email),
    organizationId: run.row.organization_id,
    provider: providerOf(run.row),
  };
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * The organisation's pool with what §C filters on. The pool is the organisation's own mailboxes: warm-up mail
 * names its partners, so a pool across organisations would show one customer's addresses to another.
 */
async function poolCandidates(run: MailboxRun, dayStart: number): Promise<PartnerCandidate[]> {
  const { deps, row, now } = run;
  const members = await poolWindow(run, dayStart);
  const ids = members.map((m) => m.account_id);
  const windowStart = now - run.settings.partners.balanceWindowDays * DAY;
  const counts = async (column: 'sender_account_id' | 'recipient_account_id', since: number) => {
    const rows = await deps.db
      .selectFrom('warmup_messages')
      .select([column, (eb) => eb.fn.countAll<number>().as('count')])
      .where(column, 'in', ids)
      .where('planned_at', '>', since)
      .where('status', '!=', 'canceled')
      .groupBy(column)
      .execute();
    return new Map(rows.map((r) => [(r as Record<string, unknown>)[column] as string, Number(r.count)]));
  };
  const inbound7 = await counts('recipient_account_id', windowStart);
  const outbound7 = await counts('sender_account_id', windowStart);
  const inboundToday = await counts('recipient_account_id', dayStart);
  const fromMeToday = new Set(
    (
      await deps.db
        .selectFrom('warmup_messages')
        .select('recipient_account_id')
        .where('sender_account_id', '=', row.account_id)
        .where('planned_at', '>=', dayStart)
        .where('status', '!=', 'canceled')
        .execute()
    ).map((r) => r.recipient_account_id),
  );
  return members
    .filter((m) => m.account_status === 'connected' || m.account_status === 'degraded')
    .map((m) => {
      const settings = settingsOf(m);
      const state = safetyStateOf(m);
      return {
        id: m.account_id,
        domain: domainOf(m.email),
        organizationId: m.organization_id,
        provider: providerOf(m),
        status: state.status,
        receiveOnly: settings.receiveOnly,
        healthyDays: state.status === 'active' ? (now - state.since) / DAY : 0,
        receivedFromSenderToday: fromMeToday.has(m.account_id),
        inboundToday: inboundToday.get(m.account_id) ?? 0,
        targetToday: Math.max(m.plan_target, settings.volume.start),
        inboundInWindow: inbound7.get(m.account_id) ?? 0,
        outboundInWindow: outbound7.get(m.account_id) ?? 0,
      };
    });
}

/** The pool members a day's plan considers: `CANDIDATE_WINDOW` of them in account order from a daily point, and itself. */
async function poolWindow(run: MailboxRun, dayStart: number) {
  const { deps, row } = run;
  // The window's ids are counted and skipped in the (organization_id, account_id) index's order, without the join;
  // only its members' rows are joined to their accounts.
  const enabledMembers = () =>
    deps.db.selectFrom('warmup_accounts').where('organization_id', '=', row.organization_id).where('enabled', '=', 1);
  const windowIds = (from: number, count: number) =>
    enabledMembers().select('account_id').orderBy('account_id').offset(from).limit(count);
  const membersWhere = (ids: string[] | ReturnType<typeof windowIds>) =>
    deps.db
      .selectFrom('warmup_accounts')
      .innerJoin('accounts', 'accounts.id', 'warmup_accounts.account_id')
      .selectAll('warmup_accounts')
      .select(['accounts.email', 'accounts.status as account_status'])
      .where('warmup_accounts.account_id', 'in', ids)
      .orderBy('warmup_accounts.account_id')
      .execute();
  const size = await enabledMembers()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const poolSize = Number(size.n);
  const from = poolSize > CANDIDATE_WINDOW ? Math.floor(keyedUnit(row.seed, 'pool-window', dayStart) * poolSize) : 0;
  const members = await membersWhere(windowIds(from, CANDIDATE_WINDOW));
  if (members.length < CANDIDATE_WINDOW && from > 0) {
    members.push(...(await membersWhere(windowIds(0, Math.min(CANDIDATE_WINDOW - members.length, from)))));
  }
  if (!members.some((m) => m.account_id === row.account_id)) {
    members.push(...(await membersWhere([row.account_id])));
  }
  return members;
}

async function senderHistory(run: MailboxRun) {
  const { deps, row, now, settings } = run;
  const recent = await deps.db
    .selectFrom('warmup_messages')
    .innerJoin('accounts', 'accounts.id', 'warmup_messages.recipient_account_id')
    .select(['warmup_messages.recipient_account_id as recipient', 'warmup_messages.planned_at', 'accounts.email'])
    .where('warmup_messages.sender_account_id', '=', row.account_id)
    .where('warmup_messages.planned_at', '>', now - settings.partners.recentPairDays * DAY)
    .where('warmup_messages.status', '!=', 'canceled')
    .execute();
  const sendsToPartner = new Map<string, number>();
  const sendsToDomain = new Map<string, number>();
  const domainSince = now - settings.partners.domainSendHours * HOUR;
  for (const send of recent) {
    sendsToPartner.set(send.recipient, (sendsToPartner.get(send.recipient) ?? 0) + 1);
    if (Number(send.planned_at) > domainSince) {
      const domain = domainOf(send.email);
      sendsToDomain.set(domain, (sendsToDomain.get(domain) ?? 0) + 1);
    }
  }
  return { sendsToPartner, sendsToDomain };
}

/** The host's own mail from this mailbox since `since` (it shares the young-mailbox cap, §G). */
async function campaignSentSince(run: MailboxRun, since: number): Promise<number> {
  const row = await run.deps.db
    .selectFrom('outbox_messages')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('lane', '=', run.row.account_id)
    .where('created_at', '>=', since)
    .where('status', 'not in', ['canceled', 'failed'])
    .where((eb) =>
      eb(
        'id',
        'not in',
        eb
          .selectFrom('warmup_messages')
          .select('outbox_message_id')
          .where('sender_account_id', '=', run.row.account_id)
          .where('outbox_message_id', 'is not', null)
          .$narrowType<{ outbox_message_id: string }>(),
      ),
    )
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** This mailbox's replies already planned or sent for its local date `date` (they count toward T, §A). */
async function repliesOn(run: MailboxRun, date: string): Promise<number> {
  const row = await run.deps.db
    .selectFrom('warmup_messages')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('sender_account_id', '=', run.row.account_id)
    .where('local_date', '=', date)
    .where('status', '!=', 'canceled')
    .where('turn', '>', 0)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * The day's safety evaluation (§G: spam placement over ≥ 20 samples, sender bounces over ≥ 50 sends, in the
 * balance window), the end of holds and probation (`clock`), and the health score with `warmup.health_changed`.
 */
async function evaluateDay(run: MailboxRun): Promise<void> {
  const { deps, row, now } = run;
  const owner = { ownerExternalId: run.account.owner_external_id };
  const windowStart = now - run.settings.partners.balanceWindowDays * DAY;
  // The pool's placements include this mailbox's own: its peers are the rest. Read before the transaction (a pool
  // statistic, shared by the process's evaluations of the hour: warmup-peers.ts).
  const pool = await poolPlacements(deps.db, row.organization_id, providerOf(row), windowStart);
  await withTransaction(deps.db, async (trx) => {
    const clock = await applySafetySignal(trx, deps, row, { kind: 'clock', at: now }, owner);
    if (clock.resumedAfterDays !== null && clock.resumedAfterDays > run.settings.volume.rampAgainAfterPauseDays) {
      // A long stop ramps again from max(start, 50% of the previous target) (§A re-entry).
      const from = Math.max(
        run.settings.volume.start,
        Math.round(row.plan_target * run.settings.volume.rampAgainFraction),
      );
      await trx
        .updateTable('warmup_accounts')
        .set({ ramp_day: 0, ramp_from: from })
        .where('account_id', '=', row.account_id)
        .execute();
      Object.assign(row, { ramp_day: 0, ramp_from: from });
    }
    const longStart = now - run.settings.safety.spamLongWindowDays * DAY;
    const rows = await observationRows(trx, row.account_id, Math.min(windowStart, longStart));
    const mine = rows.filter((r) => r.sender_account_id === row.account_id);
    const observedSince = (from: number) => mine.filter((r) => r.observed_at !== null && Number(r.observed_at) > from);
    const placements = observedSince(windowStart);
    const inJunk = placements.filter((r) => r.landed_in === 'junkemail').length;
    const bounces = await trx
      .selectFrom('warmup_messages')
      .select('bounce_status')
      .where('sender_account_id', '=', row.account_id)
      .where('bounced_at', '>', windowStart)
      .execute();
    await applySafetySignal(
      trx,
      deps,
      row,
      {
        kind: 'evaluation',
        at: now,
        placementSamples: placements.length,
        placementSamplesLong: observedSince(longStart).length,
        inJunk,
        sends: mine.filter((r) => r.sent_at !== null && Number(r.sent_at) > windowStart).length,
        senderBounces: bounces.filter((b) => classifyBounce(b.bounce_status ?? '') === 'sender').length,
        peerPlacementSamples: Math.max(0, pool.samples - placements.length),
        peerInJunk: Math.max(0, pool.inJunk - inJunk),
      },
      owner,
    );
    const all = await observationRows(trx, row.account_id, now - 30 * DAY);
    const metrics = warmupMetrics(
      observationsOf(row.account_id, all),
      { now, windowDays: 7, startedAt: Number(row.started_at ?? row.created_at) },
      run.settings,
    );
    if (metrics.health !== row.health) {
      await trx
        .updateTable('warmup_accounts')
        .set({ health: metrics.health, updated_at: now })
        .where('account_id', '=', row.account_id)
        .execute();
      await deps.events.record(trx, {
        organizationId: row.organization_id,
        type: 'warmup.health_changed',
        accountId: row.account_id,
        ownerExternalId: owner.ownerExternalId,
        data: {
          accountId: row.account_id,
          scope: 'warmup_network',
          previous: row.health,
          health: metrics.health,
          inboxRate: metrics.inboxRate,
          observed: metrics.observed,
        },
      });
      row.health = metrics.health;
    }
  });
}

/** The next local midnight after `now` (plus a minute): when the next day's plan is due. */
export function nextDayStart(run: MailboxRun): number {
  const today = localTime(run.now, run.zone).date;
  return startOfLocalDay(addDays(today, 1), run.zone) + 60_000;
}
