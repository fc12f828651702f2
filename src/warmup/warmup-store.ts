import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { findAccountForOrgOrThrow } from '../accounts/account-view.js';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { WarmupAccountsTable, WarmupMessagesTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import { isPersonalAccountTenant } from '../microsoft/tenants.js';
import { canUseDrafts } from '../outbox/message-target.js';
import { isoTimeOrNull } from '../platform/clock.js';
import type { ServiceDeps } from '../services.js';
import type { VolumeLimit } from './daily-volume-plan.js';
import { addDays, type LocalDate, localTime, type TimeZone } from './mailbox-time-zone.js';
import { warmupError } from './warmup-errors.js';
import { type WarmupMetrics, warmupMetrics } from './warmup-metrics.js';
import { observationRows, observationsOf } from './warmup-observations.js';
import type { SafetyStatus } from './warmup-safety.js';
import { type WarmupProvider, type WarmupUserOptions, warmupSettings } from './warmup-settings.js';
import { applySafetySignal, providerOf, safetyStateOf, settingsOf, stateColumns } from './warmup-state.js';

/**
 * What the interface (API, dashboard) reads and writes of warm-up (issue 12): the user's switch and settings, and
 * the views of a mailbox, its daily series, its recent activity and the organisation's pool. Everything is scoped
 * to an organisation: another organisation's account is `ACCOUNT_NOT_FOUND`, as everywhere. State changes go
 * through the core's state machine (warmup-state.ts) with their events in the same transaction.
 */

type StoreDeps = Pick<ServiceDeps, 'db' | 'clock' | 'events'>;

const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------------------------
// Writes

/** The warm-up ramp of a mailbox: Outlook.com (the consumer tenant) or Microsoft 365 (docs/warmup.md §A). */
function warmupProviderOf(account: Pick<AccountsTable, 'tenant_id'>): WarmupProvider {
  return isPersonalAccountTenant(account.tenant_id) ? 'outlook_com' : 'microsoft365';
}

/** The user's options, validated for the account's provider: 400 `WARMUP_SETTINGS_INVALID` with every issue. */
function validOptionsOrThrow(provider: WarmupProvider, options: unknown): WarmupUserOptions {
  const result = warmupSettings(provider, options ?? {});
  if (!result.ok) {
    throw warmupError('WARMUP_SETTINGS_INVALID', 'The warm-up settings are not valid; see details.issues.', {
      issues: result.issues,
    });
  }
  const { settings } = result;
  const given = (options ?? {}) as Partial<WarmupUserOptions>;
  return {
    ...(given.dailyCeiling === undefined ? {} : { dailyCeiling: given.dailyCeiling }),
    ...(given.replyRate === undefined ? {} : { replyRate: given.replyRate }),
    weekends: settings.weekends,
    receiveOnly: settings.receiveOnly,
    ...(settings.timeZoneOverride === null ? {} : { timeZone: settings.timeZoneOverride }),
  };
}

export function assertWarmupCapableOrThrow(account: AccountsTable): void {
  if (account.status === 'disconnected') {
    throw warmupError('WARMUP_ACCOUNT_DISCONNECTED', 'The account is disconnected: connect it again first.', {
      accountId: account.id,
    });
  }
  if (!canUseDrafts(account)) {
    throw warmupError(
      'WARMUP_PROFILE_REQUIRED',
      'This account was connected with the send-only profile: warm-up needs to read and file mail. Reconnect it ' +
        'through a connect session with permissionProfile "warmup" (the user approves the extra permissions once; ' +
        'the account keeps its id).',
      {
        accountId: account.id,
        permissionProfile: account.permission_profile,
        remediation: {
          title: 'Reconnect with the warm-up profile',
          user: 'Reconnect this mailbox and approve reading and managing mail, which warm-up needs.',
          operator:
            'POST /v1/connect-sessions with { ownerId, permissionProfile: "warmup" } and send the user to its url.',
        },
      },
    );
  }
}

async function warmupRow(db: Kysely<Database>, accountId: string): Promise<WarmupAccountsTable | undefined> {
  return db.selectFrom('warmup_accounts').selectAll().where('account_id', '=', accountId).executeTakeFirst();
}

/**
 * Turns warm-up on (the first time: `warmup.started`; after the user's pause: `warmup.resumed`), with the user's
 * options when given (validated; 400 `WARMUP_SETTINGS_INVALID`). A pause for throttling or a restricted sender is
 * the user's to lift: it resumes on probation (docs/warmup.md §G); a hold (quarantine, block) runs its course and
 * stays visible. 409 `WARMUP_PROFILE_REQUIRED` for a send-only account.
 */
export async function enableWarmup(
  deps: StoreDeps,
  organizationId: string,
  accountId: string,
  options?: unknown,
): Promise<WarmupAccountView> {
  const account = await findAccountForOrgOrThrow(deps.db, organizationId, accountId);
  assertWarmupCapableOrThrow(account);
  const provider = warmupProviderOf(account);
  const existing = await warmupRow(deps.db, accountId);
  const user =
    options === undefined && existing
      ? (JSON.parse(existing.settings) as WarmupUserOptions)
      : validOptionsOrThrow(provider, options);
  const now = deps.clock.now();
  const owner = { ownerExternalId: account.owner_external_id };
  await withTransaction(deps.db, async (trx) => {
    const row = await warmupRow(trx, accountId);
    if (!row) {
      const fresh: WarmupAccountsTable = {
        account_id: accountId,
        organization_id: organizationId,
        enabled: 1,
        provider,
        settings: JSON.stringify(user),
        seed: randomBytes(16).toString('base64url'),
        state: 'active',
        state_since: now,
        state_until: null,
        state_reason: null,
        remediation: null,
        throttle_storms: '[]',
        started_at: now,
        paused_at: null,
        ramp_day: 0,
        ramp_from: 0,
        plan_date: null,
        plan_target: 0,
        plan_limited_by: '[]',
        time_zone: null,
        time_zone_source: null,
        inbox_delta_link: null,
        junk_delta_link: null,
        warmup_folder_id: null,
        health: null,
        next_run_at: now,
        lease_owner: null,
        lease_until: null,
        created_at: now,
        updated_at: now,
      };
      fresh.ramp_from = settingsOf(fresh).volume.start;
      await trx.insertInto('warmup_accounts').values(fresh).execute();
      await deps.events.record(trx, {
        organizationId,
        type: 'warmup.started',
        accountId,
        ownerExternalId: owner.ownerExternalId,
        data: { accountId, state: 'active', settings: user },
      });
      return;
    }
    const wasEnabled = row.enabled === 1;
    // A mailbox taken out of the pool because its address bounced (warmup-sending.ts) comes back when enabled again.
    const bounced = row.state_reason === 'address_bounced' ? { state_reason: null, remediation: null } : {};
    await trx
      .updateTable('warmup_accounts')
      .set({ enabled: 1, settings: JSON.stringify(user), provider, ...bounced, next_run_at: now, updated_at: now })
      .where('account_id', '=', accountId)
      .execute();
    Object.assign(row, { enabled: 1, settings: JSON.stringify(user), provider, ...bounced });
    const outcome = await applySafetySignal(trx, deps, row, { kind: 'user_resume', at: now }, owner);
    // A resume that left the state as it was (a hold still running) is still the user's switch going on: say so.
    if (!wasEnabled && !outcome.changed) {
      await deps.events.record(trx, {
        organizationId,
        type: 'warmup.resumed',
        accountId,
        ownerExternalId: owner.ownerExternalId,
        data: { accountId, state: row.state, until: isoTimeOrNull(row.state_until), remediation: row.remediation },
      });
    }
  });
  return readWarmupAccount(deps.db, organizationId, accountId, now);
}

/**
 * The user's pause: the switch goes off (`warmup.paused`, reason `user`), planned sends are canceled, and nothing
 * is sent or touched until the user enables it again. Idempotent. A hold keeps running underneath (§G).
 */
export async function pauseWarmup(
  deps: StoreDeps,
  organizationId: string,
  accountId: string,
): Promise<WarmupAccountView> {
  const account = await findAccountForOrgOrThrow(deps.db, organizationId, accountId);
  const now = deps.clock.now();
  await withTransaction(deps.db, async (trx) => {
    const row = await warmupRow(trx, accountId);
    if (!row) throw warmupError('WARMUP_NOT_ENABLED', 'Warm-up was never enabled for this account.', { accountId });
    if (row.enabled === 0) return;
    await trx
      .updateTable('warmup_accounts')
      .set({ enabled: 0, paused_at: now, updated_at: now })
      .where('account_id', '=', accountId)
      .execute();
    await trx
      .updateTable('warmup_messages')
      .set({ status: 'canceled', updated_at: now })
      .where('sender_account_id', '=', accountId)
      .where('status', '=', 'planned')
      .execute();
    const before = row.state;
    const outcome = await applySafetySignal(
      trx,
      deps,
      row,
      { kind: 'user_pause', at: now },
      {
        ownerExternalId: account.owner_external_id,
      },
    );
    // The state machine reports the pause of a sending mailbox; a mailbox already held is paused by the switch.
    if (!outcome.changed) {
      await deps.events.record(trx, {
        organizationId,
        type: 'warmup.paused',
        accountId,
        ownerExternalId: account.owner_external_id,
        data: { accountId, state: before, reason: 'user', until: null, remediation: null },
      });
    }
  });
  return readWarmupAccount(deps.db, organizationId, accountId, now);
}

/** Replaces the user's options (validated; 400 `WARMUP_SETTINGS_INVALID`), whether warm-up is on or off. */
export async function updateWarmupSettings(
  deps: StoreDeps,
  organizationId: string,
  accountId: string,
  options: unknown,
): Promise<WarmupAccountView> {
  const account = await findAccountForOrgOrThrow(deps.db, organizationId, accountId);
  const user = validOptionsOrThrow(warmupProviderOf(account), options);
  const now = deps.clock.now();
  const updated = await deps.db
    .updateTable('warmup_accounts')
    .set({ settings: JSON.stringify(user), next_run_at: now, updated_at: now })
    .where('account_id', '=', accountId)
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) {
    throw warmupError('WARMUP_NOT_ENABLED', 'Warm-up was never enabled for this account.', { accountId });
  }
  return readWarmupAccount(deps.db, organizationId, accountId, now);
}

// ---------------------------------------------------------------------------------------------------------------
// Reads

export interface WarmupStateView {
  /** `off` when warm-up was never enabled; otherwise the safety status of docs/warmup.md §G. */
  status: SafetyStatus | 'off';
  since: string | null;
  until: string | null;
  reason: string | null;
  remediation: string | null;
}

export interface WarmupAccountView {
  accountId: string;
  email: string;
  /** The user's switch. */
  enabled: boolean;
  provider: WarmupProvider;
  state: WarmupStateView;
  /** The user's options as stored (defaults filled). */
  settings: WarmupUserOptions;
  /** The zone the mailbox's day runs in (IANA), and where it came from (`mailbox`, `override`, `fallback:…`). */
  timeZone: string | null;
  timeZoneSource: string | null;
  startedAt: string | null;
  pausedAt: string | null;
  /** Warm-up day on the ramp (0 before the first). */
  rampDay: number;
  today: {
    /** The mailbox's local date of the current plan (null before the first plan). */
    date: string | null;
    target: number;
    /** Warm-up messages sent today (replies included). */
    done: number;
    limitedBy: VolumeLimit[];
  };
  /** Planned send times still ahead, ISO, earliest first. */
  nextSlots: string[];
  metrics: { last7Days: WarmupMetrics; last30Days: WarmupMetrics };
  /** 0–100 once enough is observed (docs/warmup.md §F), else null. */
  health: number | null;
}

function emptyView(account: AccountsTable): WarmupAccountView {
  const provider = warmupProviderOf(account);
  return {
    accountId: account.id,
    email: account.email,
    enabled: false,
    provider,
    state: { status: 'off', since: null, until: null, reason: null, remediation: null },
    settings: validOptionsOrThrow(provider, {}),
    timeZone: null,
    timeZoneSource: null,
    startedAt: null,
    pausedAt: null,
    rampDay: 0,
    today: { date: null, target: 0, done: 0, limitedBy: [] },
    nextSlots: [],
    metrics: { last7Days: emptyMetrics(7), last30Days: emptyMetrics(30) },
    health: null,
  };
}

function emptyMetrics(windowDays: number): WarmupMetrics {
  return {
    scope: 'warmup_network',
    windowDays,
    sent: 0,
    received: 0,
    replies: 0,
    observed: 0,
    inboxRate: null,
    spamRate: null,
    savedFromSpam: 0,
    bounces: 0,
    bounceRate: null,
    complaints: 0,
    coverage: null,
    health: null,
  };
}

/** A mailbox's 7- and 30-day figures from its observation records (§F). */
async function warmupMetricsOf(
  db: Kysely<Database>,
  row: WarmupAccountsTable,
  now: number,
): Promise<{ last7Days: WarmupMetrics; last30Days: WarmupMetrics }> {
  const settings = settingsOf(row);
  const observations = observationsOf(row.account_id, await observationRows(db, row.account_id, now - 30 * DAY));
  const startedAt = Number(row.started_at ?? row.created_at);
  return {
    last7Days: warmupMetrics(observations, { now, windowDays: 7, startedAt }, settings),
    last30Days: warmupMetrics(observations, { now, windowDays: 30, startedAt }, settings),
  };
}

/** The warm-up of one account of the organisation: state and why, today's plan, next slots, metrics, health. */
export async function readWarmupAccount(
  db: Kysely<Database>,
  organizationId: string,
  accountId: string,
  now: number,
): Promise<WarmupAccountView> {
  const account = await findAccountForOrgOrThrow(db, organizationId, accountId);
  const row = await warmupRow(db, accountId);
  if (!row) return emptyView(account);
  const state = safetyStateOf(row);
  const done = row.plan_date
    ? await db
        .selectFrom('warmup_messages')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('sender_account_id', '=', accountId)
        .where('local_date', '=', row.plan_date)
        .where('status', 'in', ['sent', 'bounced'])
        .executeTakeFirstOrThrow()
    : { count: 0 };
  const slots = await db
    .selectFrom('warmup_messages')
    .select('planned_at')
    .where('sender_account_id', '=', accountId)
    .where('status', '=', 'planned')
    .orderBy('planned_at')
    .limit(50)
    .execute();
  const metrics = await warmupMetricsOf(db, row, now);
  return {
    accountId,
    email: account.email,
    enabled: row.enabled === 1,
    provider: providerOf(row),
    state: {
      status: state.status,
      since: isoTimeOrNull(row.state_since),
      until: isoTimeOrNull(row.state_until),
      reason: row.state_reason,
      remediation: row.remediation ?? stateColumns(state, settingsOf(row)).remediation,
    },
    settings: JSON.parse(row.settings) as WarmupUserOptions,
    timeZone: row.time_zone,
    timeZoneSource: row.time_zone_source,
    startedAt: isoTimeOrNull(row.started_at),
    pausedAt: isoTimeOrNull(row.paused_at),
    rampDay: row.ramp_day,
    today: {
      date: row.plan_date,
      target: row.plan_target,
      done: Number(done.count),
      limitedBy: JSON.parse(row.plan_limited_by) as VolumeLimit[],
    },
    nextSlots: slots.map((slot) => isoTimeOrNull(slot.planned_at) as string),
    metrics,
    health: metrics.last7Days.health,
  };
}

export interface WarmupPoolMember {
  accountId: string;
  email: string;
  enabled: boolean;
  state: SafetyStatus;
  reason: string | null;
  /** Warm-up messages sent and received over 7 days, and the inbox rate of this mailbox's mail (null: none seen). */
  sent7Days: number;
  received7Days: number;
  inboxRate7Days: number | null;
  health: number | null;
  todayTarget: number;
}

export interface WarmupPoolView {
  scope: 'warmup_network';
  members: WarmupPoolMember[];
  totals: {
    members: number;
    enabled: number;
    /** Members by state. */
    byState: Partial<Record<SafetyStatus, number>>;
    sent7Days: number;
    received7Days: number;
    inboxRate7Days: number | null;
  };
}

/** The organisation's warm-up pool: every member with its state and 7-day figures, and the totals. */
export async function listWarmupPool(
  db: Kysely<Database>,
  organizationId: string,
  now: number,
): Promise<WarmupPoolView> {
  const rows = await db
    .selectFrom('warmup_accounts')
    .innerJoin('accounts', 'accounts.id', 'warmup_accounts.account_id')
    .selectAll('warmup_accounts')
    .select('accounts.email')
    .where('warmup_accounts.organization_id', '=', organizationId)
    .orderBy('accounts.email')
    .execute();
  const members: WarmupPoolMember[] = [];
  let observed = 0;
  let inbox = 0;
  for (const { email, ...row } of rows) {
    const { last7Days } = await warmupMetricsOf(db, row, now);
    observed += last7Days.observed;
    inbox += Math.round((last7Days.inboxRate ?? 0) * last7Days.observed);
    members.push({
      accountId: row.account_id,
      email,
      enabled: row.enabled === 1,
      state: safetyStateOf(row).status,
      reason: row.state_reason,
      sent7Days: last7Days.sent,
      received7Days: last7Days.received,
      inboxRate7Days: last7Days.inboxRate,
      health: last7Days.health,
      todayTarget: row.plan_target,
    });
  }
  const byState: Partial<Record<SafetyStatus, number>> = {};
  for (const member of members) byState[member.state] = (byState[member.state] ?? 0) + 1;
  return {
    scope: 'warmup_network',
    members,
    totals: {
      members: members.length,
      enabled: members.filter((m) => m.enabled).length,
      byState,
      sent7Days: members.reduce((sum, m) => sum + m.sent7Days, 0),
      received7Days: members.reduce((sum, m) => sum + m.received7Days, 0),
      inboxRate7Days: observed === 0 ? null : inbox / observed,
    },
  };
}

export interface WarmupDay {
  /** The mailbox's local date. */
  date: string;
  /** Messages planned for the day (new threads and replies; canceled ones excluded). */
  planned: number;
  sent: number;
  received: number;
  /** Where partners found this mailbox's mail that day. */
  inbox: number;
  junk: number;
  /** This mailbox's mail that partners moved from Junk to the Inbox. */
  savedFromSpam: number;
  /** Of `sent`, replies. */
  replies: number;
}

/** Per local day, the last `days` days up to today (oldest first), for the volume and placement charts. */
export async function readWarmupDailySeries(
  db: Kysely<Database>,
  organizationId: string,
  accountId: string,
  options: { days: number; now: number },
): Promise<WarmupDay[]> {
  await findAccountForOrgOrThrow(db, organizationId, accountId);
  const row = await warmupRow(db, accountId);
  const zone = (row?.time_zone ?? 'UTC') as TimeZone;
  const today = localTime(options.now, zone).date;
  const first = addDays(today, -(options.days - 1));
  const series = new Map<string, WarmupDay>();
  for (let i = 0; i < options.days; i++) {
    const date = addDays(first, i);
    series.set(date, { date, planned: 0, sent: 0, received: 0, inbox: 0, junk: 0, savedFromSpam: 0, replies: 0 });
  }
  const from = options.now - (options.days + 1) * DAY;
  const dayOf = (at: number | null) => (at === null ? undefined : series.get(localTime(Number(at), zone).date));
  const mine = await db
    .selectFrom('warmup_messages')
    .select(['local_date', 'status', 'turn', 'sent_at', 'observed_at', 'landed_in', 'rescued_at'])
    .where('sender_account_id', '=', accountId)
    .where('planned_at', '>', from)
    .execute();
  for (const message of mine) {
    const planned = series.get(message.local_date as LocalDate);
    if (planned && message.status !== 'canceled') planned.planned++;
    const sent = dayOf(message.sent_at);
    if (sent) {
      sent.sent++;
      if (message.turn > 0) sent.replies++;
    }
    const seen = dayOf(message.observed_at);
    if (seen && message.landed_in === 'inbox') seen.inbox++;
    if (seen && message.landed_in === 'junkemail') seen.junk++;
    const saved = dayOf(message.rescued_at);
    if (saved) saved.savedFromSpam++;
  }
  const received = await db
    .selectFrom('warmup_messages')
    .select('observed_at')
    .where('recipient_account_id', '=', accountId)
    .where('observed_at', '>', from)
    .execute();
  for (const message of received) {
    const day = dayOf(message.observed_at);
    if (day) day.received++;
  }
  return [...series.values()];
}

export interface WarmupActivityItem {
  id: string;
  /** `sent` by this mailbox, or `received` by it. */
  direction: 'sent' | 'received';
  /** The other mailbox. */
  counterpart: { accountId: string; email: string };
  subject: string;
  /** 0 opens a thread; 1… replies. */
  turn: number;
  status: WarmupMessagesTable['status'];
  plannedAt: string;
  sentAt: string | null;
  /** Where the recipient found it (before touching it), and when. */
  landedIn: 'inbox' | 'junkemail' | null;
  observedAt: string | null;
  actions: {
    rescued: string | null;
    read: string | null;
    flagged: string | null;
    markedImportant: string | null;
    replied: string | null;
    filed: string | null;
    purged: string | null;
  };
  bounce: { status: string; at: string } | null;
}

/** The mailbox's most recent warm-up messages, both ways, newest first. */
export async function readWarmupActivity(
  db: Kysely<Database>,
  organizationId: string,
  accountId: string,
  limit: number,
): Promise<WarmupActivityItem[]> {
  await findAccountForOrgOrThrow(db, organizationId, accountId);
  const rows = await db
    .selectFrom('warmup_messages')
    .selectAll()
    .where((eb) => eb.or([eb('sender_account_id', '=', accountId), eb('recipient_account_id', '=', accountId)]))
    .where('status', '!=', 'canceled')
    .orderBy('planned_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  const others = [
    ...new Set(rows.map((r) => (r.sender_account_id === accountId ? r.recipient_account_id : r.sender_account_id))),
  ];
  const emails = new Map(
    others.length === 0
      ? []
      : (await db.selectFrom('accounts').select(['id', 'email']).where('id', 'in', others).execute()).map((a) => [
          a.id,
          a.email,
        ]),
  );
  return rows.map((row) => {
    const sent = row.sender_account_id === accountId;
    const other = sent ? row.recipient_account_id : row.sender_account_id;
    return {
      id: row.id,
      direction: sent ? 'sent' : 'received',
      counterpart: { accountId: other, email: emails.get(other) ?? '' },
      subject: row.subject,
      turn: row.turn,
      status: row.status,
      plannedAt: isoTimeOrNull(row.planned_at) as string,
      sentAt: isoTimeOrNull(row.sent_at),
      landedIn: row.landed_in === 'inbox' || row.landed_in === 'junkemail' ? row.landed_in : null,
      observedAt: isoTimeOrNull(row.observed_at),
      actions: {
        rescued: isoTimeOrNull(row.rescued_at),
        read: isoTimeOrNull(row.read_at),
        flagged: isoTimeOrNull(row.flagged_at),
        markedImportant: isoTimeOrNull(row.important_at),
        replied: isoTimeOrNull(row.replied_at),
        filed: isoTimeOrNull(row.filed_at),
        purged: isoTimeOrNull(row.purged_at),
      },
      bounce:
        row.bounce_status !== null && row.bounced_at !== null
          ? { status: row.bounce_status, at: isoTimeOrNull(row.bounced_at) as string }
          : null,
    };
  });
}
