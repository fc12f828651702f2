import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { EmulatorContext } from '../../emulator/context.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { addTenant, addUser } from '../../emulator/state/builders.js';
import type { MailMessage, User } from '../../emulator/state/model.js';
import { runBounceScans } from '../../src/bounces/bounce-scan.js';
import type { Database, DbDialect } from '../../src/db/schema.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { jobHandler } from '../../src/jobs/job-handlers.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import {
  addDays,
  type LocalDate,
  localTime,
  parseLocalDate,
  type TimeZone,
} from '../../src/warmup/mailbox-time-zone.js';
import { WARMUP_SWEEP } from '../../src/warmup/warmup-background.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { builtInTasks } from '../../src/worker/background-work.js';
import type { ApiAnswer } from '../acceptance/support/acceptance-world.js';
import { startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { startProcessRuntime } from './warmup-simulation-processes.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

/**
 * The acceptance run of issue 12 (docs/warmup.md §V): warm-up mailboxes of two Microsoft 365 tenants and
 * Outlook.com, connected through the real connect flow with the warm-up profile, starting with poor reputation
 * (about 40% of their mail in Junk), warm each other up for a number of days on the emulator's clock. Every
 * property is a named check with the figures it compared, so the suite's cut-down test asserts them and
 * `bench/warmup-30-days.ts` prints them. The emulator's delivery log and mailboxes are the oracle throughout.
 */

const DAY = 86_400_000;
const MINUTE = 60_000;

export interface WarmupSimulationOptions {
  dialect: DbDialect;
  /**
   * PostgreSQL only: run the service as one `mailbridge api` and one `mailbridge worker` process on the emulator's
   * clock (warmup-simulation-processes.ts) instead of in this process.
   */
  processes?: boolean;
  /** Mailboxes, spread round-robin over the three tenants (a multiple of 3). */
  mailboxes: number;
  days: number;
  /** The day (1-based) from which at least 90% of warm-up mail must land in the Inbox. */
  inboxByDay: number;
  /**
   * The loop's cadence in simulated minutes: work falling due within one step runs together at the step's end (the
   * real runners poll every minute; a longer step only delays steps, which the engine's own rules still space).
   */
  stepMinutes?: number;
  /**
   * One more mailbox that starts at full volume, with no ramp: its own mail, 120 messages every weekday to outside
   * recipients from day 1 (warm-up itself cannot skip the ramp: §C's balance holds its sends near what it
   * receives). Its placement must fall, and §G must quarantine it with its alert and webhook.
   */
  fullVolume?: boolean;
  /**
   * Whether the bounce reader runs (default true). Off only where nothing can bounce: a bounce it would have read
   * then still shows, as reported bounces below the oracle's count.
   */
  bounceReader?: boolean;
  /** Progress lines (one per simulated day). */
  log?: (line: string) => void;
}

export interface SimulationCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SimulationReport {
  checks: SimulationCheck[];
  /** The oracle's Inbox share of warm-up mail per simulated day (1-based), null on a day without warm-up mail. */
  inboxByDay: Array<number | null>;
  warmupSent: number;
  simulatedDays: number;
  steps: number;
  /** Wall time of the loop's phases (ms): warmup, outbox, bounces in this process; jobs with processes. */
  wallMs: Record<string, number>;
}

/**
 * What the simulation runs the service on: in this process (`startInProcessRuntime`), or as api and worker
 * processes (warmup-simulation-processes.ts). One clock for the emulator and the service.
 */
export interface SimulationRuntime {
  ctx: EmulatorContext;
  clock: { now(): number; set(epochMs: number): void };
  /** The service's database (read by the checks). */
  db: Kysely<Database>;
  organizationId: string;
  /** A call of the organisation's API. */
  call(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  send(path: string, body: unknown): Promise<ApiAnswer>;
  connect(email: string, options: { profile: 'warmup'; ownerId: string }): Promise<string>;
  /** Sends what the outbox holds that is due (without moving the clock). */
  drain(): Promise<unknown>;
  /**
   * Runs the work due at the clock's time as the runners would (warm-up, the outbox, the bounce reader when asked,
   * webhook deliveries), calling `lap` after each phase it times.
   */
  runDue(lap: (phase: string) => void, options: { bounceReader: boolean }): Promise<void>;
  /** Delivers every webhook still due. */
  deliverWebhooks(): Promise<void>;
  close(): Promise<void>;
}

interface Member {
  email: string;
  user: User;
  accountId: string;
  zone: TimeZone;
  provider: 'microsoft365' | 'outlook_com';
  receiveOnly: boolean;
  fullVolume: boolean;
}

/** The full-volume mailbox's own mail per weekday (above the emulator's volume-spike floor of 50, README). */
const FULL_VOLUME_PER_DAY = 120;

const TENANTS = [
  { domain: 'contoso.com', tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47' },
  { domain: 'northwind.example', tenantId: 'new' },
  { domain: 'outlook.com', tenantId: null },
] as const;
const ZONES: Array<[windows: string, iana: TimeZone]> = [
  ['W. Europe Standard Time', 'Europe/Berlin' as TimeZone],
  ['UTC', 'UTC' as TimeZone],
  ['Eastern Standard Time', 'America/New_York' as TimeZone],
  ['GMT Standard Time', 'Europe/London' as TimeZone],
];

function mailboxOf(ctx: EmulatorContext, user: User) {
  const mailbox = ctx.world.mailboxes[user.id];
  assert.ok(mailbox, `${user.email} has a mailbox`);
  return mailbox;
}

function folderOf(ctx: EmulatorContext, user: User, message: MailMessage): string {
  const folder = mailboxOf(ctx, user).folders[message.parentFolderId];
  return folder?.wellKnownName ?? folder?.displayName ?? '?';
}

const share = (part: number, whole: number) => (whole === 0 ? null : part / whole);
const percent = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);

/** The checks every run makes besides its Inbox share (whose name says from which day) and the full-volume one. */
export const COMMON_CHECKS = [
  'partner rules (§C): outbox, other domain, one new thread per pair a day',
  'ramp (§A): daily sends within the ramp',
  'slots (§B): working hours, no round times, 10 minutes apart',
  'balance (§C): 7-day in/out within ±30% (+4) at every new thread',
  'reported figures equal the emulator’s delivery log (30-day window)',
  'host mail untouched',
  'no warm-up clutter in Sent Items or the Inbox',
  'receive-only plan is limited by receive_only',
  'every warm-up event delivered as a signed webhook, stops with a reason (§G)',
] as const;

/** Runs the simulation and returns its checks; the service is stopped before it returns. */
export async function runWarmupSimulation(options: WarmupSimulationOptions): Promise<SimulationReport> {
  const secret = randomBytes(32).toString('hex');
  let h: SimulationRuntime | undefined;
  const receiver = await startWebhookReceiver({ secret, nowSeconds: () => Math.floor((h?.clock.now() ?? 0) / 1000) });
  try {
    const webhook = { url: receiver.url, secret };
    if (options.processes && options.dialect !== 'postgres') throw new Error('processes: PostgreSQL only');
    h = options.processes ? await startProcessRuntime(webhook) : await startInProcessRuntime(options.dialect, webhook);
    return await simulate(h, receiver, options);
  } finally {
    await h?.close();
    await receiver.close();
  }
}

/** The service in this process (test/outbox/outbox-test-kit.ts), its loop's work called directly. */
async function startInProcessRuntime(
  dialect: DbDialect,
  webhook: { url: string; secret: string },
): Promise<SimulationRuntime> {
  const h = await startOutboxHarness(dialect);
  try {
    // The organisation's own webhook endpoint (WEBHOOK_URL serves the Default organisation only).
    const admin = await createApiKey(h.service.deps.db, h.clock, h.client.organization.id, 'sim', { scope: 'admin' });
    const endpoint = await fetch(`${h.service.url}/v1/webhook-endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(webhook),
    });
    assert.equal(endpoint.status, 201, await endpoint.text());
  } catch (error) {
    await h.close();
    throw error;
  }
  const { deps } = h.service;
  const provider = deps.tokens;
  let runWarmup: () => Promise<unknown>;
  if (dialect === 'postgres') {
    const handle = jobHandler(deps, { provider });
    runWarmup = () => handle(WARMUP_SWEEP, {});
  } else {
    const task = builtInTasks(deps, provider).find((each) => each.name === 'warmup');
    assert.ok(task, 'the in-process loop has a warmup task');
    runWarmup = () => task.run();
  }
  const deliverWebhooks = async () => {
    while ((await deliverDueWebhooks(deps, { limit: 50 })) === 50) {}
  };
  return {
    ctx: h.ctx,
    clock: h.clock,
    db: deps.db,
    organizationId: h.client.organization.id,
    call: (method, path, body) => h.client.call(method, path, body),
    send: (path, body) => h.send(path, body),
    connect: (email, options) => h.connect(email, options),
    drain: () => h.drain(),
    async runDue(lap, { bounceReader }) {
      await runWarmup();
      lap('warmup');
      await h.drain();
      lap('outbox');
      if (bounceReader) await runBounceScans(deps, provider);
      lap('bounces');
      // The worker's webhook task: events go out as they happen (a delivery not made within its window expires).
      await deliverWebhooks();
    },
    deliverWebhooks,
    close: () => h.close(),
  };
}

async function simulate(
  h: SimulationRuntime,
  receiver: WebhookReceiver,
  options: WarmupSimulationOptions,
): Promise<SimulationReport> {
  const { ctx } = h;
  const northwind = addTenant(ctx, { displayName: 'Northwind', domains: ['northwind.example'] });
  // The full-volume mailbox has a domain of its own (a new sender, as such a blast usually is): every pool member
  // can be its partner, so its warm-up ramp is not held by the partners of its domain and reaches §G's 20 samples.
  const spring = options.fullVolume ? addTenant(ctx, { displayName: 'Spring', domains: ['spring.example'] }) : null;
  const members: Member[] = [];
  const count = options.mailboxes + (options.fullVolume ? 1 : 0);
  for (let i = 0; i < count; i++) {
    const own = i === options.mailboxes && spring !== null;
    const tenant = own ? { domain: 'spring.example', tenantId: spring.id } : TENANTS[i % 3]!;
    const email = `wm${i}.sim@${tenant.domain}`;
    const tenantId = tenant.tenantId === 'new' ? northwind.id : tenant.tenantId;
    const user = addUser(ctx, {
      email,
      password: DEMO_PASSWORD,
      displayName: `Member${i} Tester`,
      ...(tenantId ? { tenantId } : { kind: 'personal' as const }),
    });
    const [, zone] = ZONES[i % ZONES.length]!;
    members.push({
      email,
      user,
      accountId: '',
      zone,
      provider: tenantId ? 'microsoft365' : 'outlook_com',
      // One work mailbox only receives (§A): its plan must say so (`receive_only`), and it sends nothing.
      receiveOnly: i === options.mailboxes - 2,
      fullVolume: i === options.mailboxes,
    });
  }
  for (const [index, member] of members.entries()) {
    member.accountId = await h.connect(member.email, { profile: 'warmup', ownerId: `owner-${member.email}` });
    mailboxOf(ctx, member.user).settings.timeZone = ZONES[index % ZONES.length]![0];
  }
  // Poor reputation to start with, as the emulator models it (emulator/README.md, Reputation model): the junk
  // probability is junkBase × (1 − r), so junkBase 0.8 and r = 0.5 put about 40% of each sender's mail in Junk.
  ctx.settings.delivery.junkBase = 0.8;
  for (const member of members) mailboxOf(ctx, member.user).reputation = 0.5;

  // The host's own mail, one message into every mailbox before warm-up: warm-up must never touch it (§E).
  const hostMessages = new Map<string, { folder: string; lastModified: string }>();
  for (const [index, member] of members.entries()) {
    const to = members[(index + 1) % members.length]!;
    const sent = await h.send(`/v1/accounts/${member.accountId}/messages`, {
      to: [to.email],
      subject: `Quarterly figures ${index}`,
      text: 'The numbers you asked for are on the shared drive.',
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
  }
  await h.drain();
  for (const member of members) {
    for (const message of Object.values(mailboxOf(ctx, member.user).messages)) {
      if (!message.subject.startsWith('Quarterly figures')) continue;
      hostMessages.set(`${member.user.id}|${message.id}`, {
        folder: folderOf(ctx, member.user, message),
        lastModified: message.lastModifiedDateTime,
      });
    }
  }

  // Start on a Monday just after midnight UTC, so day 1 is a whole working day in every zone.
  const now = h.clock.now();
  const toMonday = ((8 - new Date(now).getUTCDay()) % 7 || 7) * DAY;
  const monday = new Date(now + toMonday);
  const start = Date.UTC(monday.getUTCFullYear(), monday.getUTCMonth(), monday.getUTCDate(), 0, 1);
  h.clock.set(start);
  for (const member of members) {
    const enabled = await h.call('PUT', `/v1/accounts/${member.accountId}/warmup`, {
      enabled: true,
      settings: member.receiveOnly ? { receiveOnly: true } : {},
    });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  }

  // The loop the runners run: warm-up work, the outbox, the bounce reader, at the first step (of `stepMinutes`,
  // on a grid) at or after the next instant something is due, so instants closer together are one step and empty
  // stretches are skipped.
  const db = h.db;
  const end = start + options.days * DAY;
  let steps = 0;
  let reportedDay = 0;
  const blasted = new Set<string>();
  const wallMs: Record<string, number> = {};
  for (;;) {
    for (const member of members.filter((m) => m.fullVolume)) {
      const local = localTime(h.clock.now(), member.zone);
      if (local.weekday > 5 || local.minuteOfDay < 9 * 60 || blasted.has(local.date)) continue;
      blasted.add(local.date);
      for (let n = 0; n < FULL_VOLUME_PER_DAY; n++) {
        const sent = await h.send(`/v1/accounts/${member.accountId}/messages`, {
          to: [`customer${n}@fabrikam.example`],
          subject: `Spring offer ${local.date} ${n}`,
          text: 'Our spring offer is on until the end of the month.',
        });
        assert.equal(sent.status, 202, JSON.stringify(sent.body));
      }
    }
    let mark = performance.now();
    const lap = (phase: string) => {
      const now = performance.now();
      wallMs[phase] = (wallMs[phase] ?? 0) + now - mark;
      mark = now;
    };
    await h.runDue(lap, { bounceReader: options.bounceReader !== false });
    steps++;
    const at = h.clock.now();
    const day = Math.floor((at - start) / DAY) + 1;
    if (day > reportedDay) {
      reportedDay = day;
      const ms = Object.entries(wallMs).map(([phase, value]) => `${phase} ${(value / 1000).toFixed(0)} s`);
      options.log?.(`day ${day}: ${steps} steps so far; ${ms.join(', ')}`);
      options.log?.(`  ${await memberDiagnostics(h, members)}`);
    }
    const next = await nextWarmupWorkAt(db, end);
    if (next >= end) break;
    // The grid is offset by 7 minutes: warm-up submits at the step it falls due in, and a grid on :00 and :30
    // would itself put sends on the round times §B avoids (the row keeps the submission time as `planned_at`).
    const step = (options.stepMinutes ?? 1) * MINUTE;
    const offset = 7 * MINUTE;
    h.clock.set(Math.ceil((Math.max(next, at + 1) - offset) / step) * step + offset);
  }
  h.clock.set(end);
  await h.deliverWebhooks();

  const report = await judge(h, receiver, members, hostMessages, start, options, steps);
  return { ...report, wallMs };
}

async function judge(
  h: SimulationRuntime,
  receiver: WebhookReceiver,
  members: Member[],
  hostMessages: Map<string, { folder: string; lastModified: string }>,
  start: number,
  options: WarmupSimulationOptions,
  steps: number,
): Promise<SimulationReport> {
  const { ctx } = h;
  const checks: SimulationCheck[] = [];
  const check = (name: string, failures: string[], detail: string) =>
    checks.push({
      name,
      ok: failures.length === 0,
      detail: failures.length === 0 ? detail : `${failures.slice(0, 5).join('; ')} (${detail})`,
    });

  // The engine's rows, each with the Message-ID it really carried (the outbox records a reply's own at once).
  const rows = (
    await h.db
      .selectFrom('warmup_messages')
      .leftJoin('outbox_messages', 'outbox_messages.id', 'warmup_messages.outbox_message_id')
      .selectAll('warmup_messages')
      .select('outbox_messages.internet_message_id as carried')
      .execute()
  ).map(({ carried, ...row }) => ({ ...row, internet_message_id: carried ?? row.internet_message_id }));
  const byId = new Map(members.map((m) => [m.accountId, m]));
  const warmupIds = new Set(rows.map((r) => r.internet_message_id).filter((id): id is string => id !== null));
  const deliveries = new Map(
    ctx.world.deliveries.filter((d) => warmupIds.has(d.internetMessageId)).map((d) => [d.internetMessageId, d]),
  );
  const sent = rows.filter((r) => r.status === 'sent' || r.status === 'bounced');
  const landed = (id: string | null) => deliveries.get(id ?? '')?.placements[0]?.outcome;

  // Placement by day, from the oracle alone: where the emulator put every warm-up message submitted that day.
  const fullVolume = members.find((m) => m.fullVolume);
  const pooled = [...deliveries.values()].filter((d) => d.from.toLowerCase() !== fullVolume?.email);
  const inboxByDay: Array<number | null> = [];
  for (let day = 0; day < options.days; day++) {
    const ofDay = pooled.filter((d) => d.submittedAt >= start + day * DAY && d.submittedAt < start + (day + 1) * DAY);
    inboxByDay.push(share(ofDay.filter((d) => d.placements[0]?.outcome === 'inbox').length, ofDay.length));
  }
  const firstWorkingDays = inboxByDay.slice(0, 5).filter((v): v is number => v !== null);
  const fromTarget = pooled.filter((d) => d.submittedAt >= start + (options.inboxByDay - 1) * DAY);
  const targetShare = share(fromTarget.filter((d) => d.placements[0]?.outcome === 'inbox').length, fromTarget.length);
  check(
    `inbox placement ≥ 90% from day ${options.inboxByDay}`,
    targetShare !== null && targetShare >= 0.9 ? [] : [`from day ${options.inboxByDay}: ${percent(targetShare)}`],
    `days 1–5 ${firstWorkingDays.map(percent).join(' ')}; from day ${options.inboxByDay}: ${percent(targetShare)} of ${fromTarget.length}`,
  );

  // Every send went through the outbox, was delivered by the emulator from its sender to one partner of another
  // domain; at most one new thread per pair and local day (§C).
  {
    const failures: string[] = [];
    const pairs = new Set<string>();
    for (const row of sent) {
      const sender = byId.get(row.sender_account_id)!;
      const recipient = byId.get(row.recipient_account_id)!;
      const delivery = deliveries.get(row.internet_message_id ?? '');
      if (!row.outbox_message_id) failures.push(`${row.id} not through the outbox`);
      if (!delivery) failures.push(`${row.internet_message_id} not delivered`);
      else if (delivery.from.toLowerCase() !== sender.email || delivery.recipients.join() !== recipient.email) {
        failures.push(`${row.internet_message_id} from ${delivery.from} to ${delivery.recipients.join()}`);
      }
      if (sender.email.split('@')[1] === recipient.email.split('@')[1]) failures.push(`${row.id} same domain`);
      if (sender.receiveOnly) failures.push(`${sender.email} is receive-only but sent`);
      if (row.turn === 0) {
        const pair = `${row.sender_account_id}|${row.recipient_account_id}|${row.local_date}`;
        if (pairs.has(pair)) failures.push(`${pair} twice`);
        pairs.add(pair);
      }
    }
    check('partner rules (§C): outbox, other domain, one new thread per pair a day', failures, `${sent.length} sends`);
  }

  // The ramp (§A): a sender's warm-up sends on its k-th local day (replies included) stay within
  // min(ceiling, round((start + increment·⌊(k − 1)/every⌋) × factorMax)); and its last week sends more than its first.
  {
    const failures: string[] = [];
    const growth: string[] = [];
    for (const member of members.filter((m) => !m.receiveOnly && !m.fullVolume)) {
      const volume = warmupSettingsOrThrow(member.provider).volume;
      const ceiling = Math.min(volume.ceiling, volume.youngAccount?.ceiling ?? volume.ceiling);
      // Ramp day 1 is the local date warm-up was enabled on (a Sunday evening west of UTC; weekends count, §A).
      const firstDate = parseLocalDate(localTime(start, member.zone).date)!;
      const perDay = new Map<string, number>();
      for (const row of sent.filter((r) => r.sender_account_id === member.accountId)) {
        perDay.set(row.local_date, (perDay.get(row.local_date) ?? 0) + 1);
      }
      for (let k = 1; k <= options.days; k++) {
        const date: LocalDate = addDays(firstDate, k - 1);
        const t0 = Math.min(ceiling, volume.start + volume.increment * Math.floor((k - 1) / volume.incrementEveryDays));
        const bound = Math.min(ceiling, Math.max(volume.start, Math.round(t0 * volume.factorMax)));
        const count = perDay.get(date) ?? 0;
        if (count > bound) failures.push(`${member.email} day ${k}: ${count} > ${bound}`);
      }
      const week = (from: number) =>
        Array.from({ length: 7 }, (_, i) => perDay.get(addDays(firstDate, from + i)) ?? 0).reduce((a, b) => a + b, 0);
      const first = week(0);
      const last = week(options.days - 7);
      growth.push(`${first}→${last}`);
    }
    // Growth is reported, not asserted: a mailbox §G holds sends nothing for the hold's days.
    check('ramp (§A): daily sends within the ramp', failures, `first week → last week: ${growth.join(' ')}`);
  }

  // Slots (§B): new threads planned Mon–Fri 08:30–18:00 in the sender's zone (from mailboxSettings), never on :00
  // or :30; sent no earlier than planned; at most one warm-up send per 10 minutes per mailbox, replies included.
  {
    const failures: string[] = [];
    for (const row of sent.filter((r) => r.turn === 0)) {
      const zone = byId.get(row.sender_account_id)!.zone;
      const local = localTime(Number(row.planned_at), zone);
      if (local.minuteOfDay < 8 * 60 + 30 || local.minuteOfDay > 18 * 60 || local.weekday > 5) {
        failures.push(`${row.id} planned at ${local.date} minute ${local.minuteOfDay} weekday ${local.weekday}`);
      }
      if (local.minuteOfDay % 30 === 0) failures.push(`${row.id} planned on a round time`);
      const delivery = deliveries.get(row.internet_message_id ?? '');
      if (delivery && delivery.submittedAt < Number(row.planned_at)) failures.push(`${row.id} sent before its slot`);
    }
    for (const member of members) {
      const times = sent
        .filter((r) => r.sender_account_id === member.accountId)
        .map((r) => deliveries.get(r.internet_message_id ?? '')?.submittedAt ?? 0)
        .sort((a, b) => a - b);
      for (let i = 1; i < times.length; i++) {
        if (times[i]! - times[i - 1]! < 10 * MINUTE - 1_000) failures.push(`${member.email} two sends within 10 min`);
      }
    }
    check('slots (§B): working hours, no round times, 10 minutes apart', failures, `${sent.length} sends`);
  }

  // The 7-day balance (§C), where it is decided: at every new thread handed to the outbox, over the 7 days before it
  // (what both mailboxes handed to the outbox, replies included), the sender's outbound and the partner's inbound,
  // this thread included, stay within ±30% of the other direction, with the slack (4) that lets day one start.
  // A hand-over records its instant, and a run hands over all it has due at one instant, so the order within an
  // instant is not recorded. Every new thread of the thread's instant counts: new threads are handed over one at a
  // time, each reading the ones before, so they fit together or one of them broke the rule. A reply of that instant
  // (§C does not hold replies to it) may have come before the thread or after it, so each side is judged with the
  // order that favours it: for the sender the replies it received then count and the ones it sent do not, for the
  // partner the other way round. Receive-only mailboxes are not held to it. The largest imbalance over windows
  // ending at UTC midnights is printed too (partners that stop sending after a thread was opened move those,
  // docs/warmup.md §V).
  {
    const failures: string[] = [];
    const handed = rows.filter((r) => r.status === 'queued' || r.status === 'sent' || r.status === 'bounced');
    const within = (from: number, to: number) =>
      handed.filter((r) => Number(r.planned_at) > from && Number(r.planned_at) <= to);
    const counts = (list: typeof handed, accountId: string) => ({
      out: list.filter((r) => r.sender_account_id === accountId).length,
      inbound: list.filter((r) => r.recipient_account_id === accountId).length,
    });
    /** `accountId`'s counts at `at`, with the replies of that instant that `accountId` sent or received. */
    const countsWithRepliesOfInstant = (
      at: number,
      accountId: string,
      column: 'sender_account_id' | 'recipient_account_id',
    ) =>
      counts(
        within(at - 7 * DAY, at).filter((r) => r.turn === 0 || Number(r.planned_at) < at || r[column] === accountId),
        accountId,
      );
    const over = (mine: number, theirs: number) => mine > Math.floor(1.3 * theirs + 4);
    let checked = 0;
    for (const thread of handed.filter((r) => r.turn === 0)) {
      const at = Number(thread.planned_at);
      const sender = countsWithRepliesOfInstant(at, thread.sender_account_id, 'recipient_account_id');
      const partner = countsWithRepliesOfInstant(at, thread.recipient_account_id, 'sender_account_id');
      const partnerMember = byId.get(thread.recipient_account_id)!;
      if (over(sender.out, sender.inbound)) {
        failures.push(
          `${byId.get(thread.sender_account_id)!.email} at ${new Date(at).toISOString()}: out ${sender.out}, in ${sender.inbound}`,
        );
      }
      if (!partnerMember.receiveOnly && over(partner.inbound, partner.out)) {
        failures.push(
          `${partnerMember.email} at ${new Date(at).toISOString()}: in ${partner.inbound}, out ${partner.out}`,
        );
      }
      checked++;
    }
    let worst = '';
    let worstRatio = 0;
    for (const member of members.filter((m) => !m.receiveOnly)) {
      for (let day = 7; day <= options.days; day++) {
        const to = start + day * DAY;
        const { out, inbound } = counts(within(to - 7 * DAY, to), member.accountId);
        const ratio = Math.max(out, inbound) / Math.max(1, Math.min(out, inbound)) - 1;
        if (Math.max(out, inbound) > 4 && ratio > worstRatio) {
          worstRatio = ratio;
          worst = `${member.email} to day ${day}: out ${out}, in ${inbound}`;
        }
      }
    }
    check(
      'balance (§C): 7-day in/out within ±30% (+4) at every new thread',
      failures,
      `${checked} new threads checked; largest imbalance over 7 days ending at a UTC midnight: ${percent(worstRatio)} (${worst || 'none'})`,
    );
  }

  // Every figure mailbridge reports through GET /v1/accounts/{id}/warmup over 30 days equals the oracle's count.
  {
    const failures: string[] = [];
    let totals = { sent: 0, observed: 0, inbox: 0, junk: 0, saved: 0, replies: 0, bounces: 0 };
    for (const member of members) {
      const answer = await h.call('GET', `/v1/accounts/${member.accountId}/warmup`);
      const metrics = (answer.body as { metrics: { last30Days: Record<string, number | null> } }).metrics.last30Days;
      const mine = [...deliveries.values()].filter((d) => d.from.toLowerCase() === member.email);
      const observed = rows.filter((r) => r.sender_account_id === member.accountId && r.observed_at !== null);
      const oracle = {
        sent: mine.length,
        observed: observed.length,
        inbox: observed.filter((r) => landed(r.internet_message_id) === 'inbox').length,
        junk: observed.filter((r) => landed(r.internet_message_id) === 'junkemail').length,
        saved: observed.filter((r) => {
          const recipient = byId.get(r.recipient_account_id)!;
          return Object.values(mailboxOf(ctx, recipient.user).messages).some(
            (m) => m.internetMessageId === r.internet_message_id && (m.engagement?.includes('rescue') ?? false),
          );
        }).length,
        // A reply is what the recipient's copy says it is: threaded on an earlier message (In-Reply-To).
        replies: mine.filter((d) =>
          Object.values(ctx.world.mailboxes).some((mailbox) =>
            Object.values(mailbox.messages).some(
              (m) => m.internetMessageId === d.internetMessageId && Boolean(m.inReplyTo) && !m.isDraft,
            ),
          ),
        ).length,
        bounces: mine.filter((d) => d.placements.some((p) => p.outcome === 'ndr')).length,
      };
      const reported = {
        sent: metrics.sent,
        observed: metrics.observed,
        inbox: metrics.inboxRate === null ? 0 : Math.round(Number(metrics.inboxRate) * Number(metrics.observed)),
        junk: metrics.spamRate === null ? 0 : Math.round(Number(metrics.spamRate) * Number(metrics.observed)),
        saved: metrics.savedFromSpam,
        replies: metrics.replies,
        bounces: metrics.bounces,
      };
      for (const key of Object.keys(oracle) as Array<keyof typeof oracle>) {
        if (reported[key] !== oracle[key])
          failures.push(`${member.email} ${key}: reported ${reported[key]}, oracle ${oracle[key]}`);
      }
      // Nothing is cherry-picked: every message the emulator delivered a day before the end was observed.
      const unobserved = mine.filter(
        (d) =>
          d.submittedAt < start + (options.days - 1) * DAY &&
          !observed.some((r) => r.internet_message_id === d.internetMessageId),
      );
      if (unobserved.length > 0) failures.push(`${member.email}: ${unobserved.length} delivered but never observed`);
      totals = {
        sent: totals.sent + oracle.sent,
        observed: totals.observed + oracle.observed,
        inbox: totals.inbox + oracle.inbox,
        junk: totals.junk + oracle.junk,
        saved: totals.saved + oracle.saved,
        replies: totals.replies + oracle.replies,
        bounces: totals.bounces + oracle.bounces,
      };
    }
    check(
      'reported figures equal the emulator’s delivery log (30-day window)',
      failures,
      `sent ${totals.sent}, observed ${totals.observed}, inbox ${totals.inbox} (${percent(share(totals.inbox, totals.observed))}), spam ${totals.junk} (${percent(share(totals.junk, totals.observed))}), saved from spam ${totals.saved}, replies ${totals.replies}, bounces ${totals.bounces}`,
    );
  }

  // Host mail: never read, flagged, marked important, moved or otherwise changed (§E).
  {
    const failures: string[] = [];
    for (const member of members) {
      for (const message of Object.values(mailboxOf(ctx, member.user).messages)) {
        const before = hostMessages.get(`${member.user.id}|${message.id}`);
        if (!before) continue;
        const where = folderOf(ctx, member.user, message);
        if (where !== before.folder) failures.push(`${member.email}: host mail moved ${before.folder} → ${where}`);
        if (message.lastModifiedDateTime !== before.lastModified) failures.push(`${member.email}: host mail changed`);
        if (
          where !== 'sentitems' &&
          (message.isRead || message.flag.flagStatus !== 'notFlagged' || message.importance !== 'normal')
        ) {
          failures.push(`${member.email}: host mail read, flagged or marked important`);
        }
      }
    }
    const found = [...hostMessages.keys()].filter((key) => {
      const [userId, id] = key.split('|');
      return ctx.world.mailboxes[userId!]?.messages[id!] !== undefined;
    }).length;
    if (found !== hostMessages.size) failures.push(`host mail gone: ${hostMessages.size - found}`);
    check('host mail untouched', failures, `${hostMessages.size} host messages (sent and received copies) unchanged`);
  }

  // No warm-up clutter: nothing in Sent Items; in the Inbox or Junk only mail still on its way to "Warm-up".
  {
    const failures: string[] = [];
    let filed = 0;
    let waiting = 0;
    for (const member of members) {
      for (const message of Object.values(mailboxOf(ctx, member.user).messages)) {
        const where = folderOf(ctx, member.user, message);
        if (where === 'Warm-up') {
          filed++;
          if (!warmupIds.has(message.internetMessageId)) failures.push(`${member.email}: non-warm-up mail filed`);
        }
        if (!warmupIds.has(message.internetMessageId)) continue;
        if (where === 'sentitems') failures.push(`${member.email}: warm-up copy in Sent Items`);
        if (where === 'inbox' || where === 'junkemail') {
          const row = rows.find(
            (r) => r.internet_message_id === message.internetMessageId && r.recipient_account_id === member.accountId,
          );
          const pending =
            row &&
            row.filed_at === null &&
            (row.observed_at === null || row.pending_actions?.includes('file_to_warmup_folder'));
          if (!pending) failures.push(`${member.email}: warm-up mail left in ${where}`);
          else waiting++;
        }
      }
    }
    check(
      'no warm-up clutter in Sent Items or the Inbox',
      failures,
      `${filed} filed in Warm-up, ${waiting} still within their reading time`,
    );
  }

  // The receive-only mailbox: its stored plan says why it sends nothing (§A `limitedBy`).
  {
    const failures: string[] = [];
    for (const member of members.filter((m) => m.receiveOnly)) {
      const row = await h.db
        .selectFrom('warmup_accounts')
        .select('plan_limited_by')
        .where('account_id', '=', member.accountId)
        .executeTakeFirstOrThrow();
      if (row.plan_limited_by !== JSON.stringify(['receive_only'])) {
        failures.push(`${member.email}: limitedBy ${row.plan_limited_by}`);
      }
    }
    check('receive-only plan is limited by receive_only', failures, 'limitedBy ["receive_only"]');
  }

  // Every stop of §G is an event with its reason, delivered as a signed webhook (never silent).
  const events = await listEvents(h.db, h.organizationId, { limit: 10_000 });
  const warmupEvents = events.filter((e) => e.type.startsWith('warmup.'));
  {
    const failures: string[] = [];
    const delivered = new Set(receiver.acceptedEventIds());
    for (const event of warmupEvents.filter((e) => e.type !== 'warmup.health_changed')) {
      if (!delivered.has(event.id)) failures.push(`${event.type} ${event.id} not delivered as a webhook`);
      if (event.type === 'warmup.paused' || event.type === 'warmup.quarantined') {
        if (!event.data.reason) failures.push(`${event.type} ${event.id} without a reason`);
      }
    }
    const byType = new Map<string, number>();
    for (const event of warmupEvents) byType.set(event.type, (byType.get(event.type) ?? 0) + 1);
    const counts = [...byType].map(([type, n]) => `${type} ${n}`).join(', ');
    check('every warm-up event delivered as a signed webhook, stops with a reason (§G)', failures, counts);
  }

  // The full-volume mailbox: its placement falls (the emulator's volume rule: each message of a day beyond its
  // established volume costs reputation), and §G holds it: a `warmup.quarantined` event with its reason and
  // remediation, delivered as a signed webhook, and the hold shown with its remediation where the user looks.
  if (fullVolume) {
    const failures: string[] = [];
    const mine = [...deliveries.values()].filter((d) => d.from.toLowerCase() === fullVolume.email);
    const days = (from: number, to: number) =>
      mine.filter((d) => d.submittedAt >= start + from * DAY && d.submittedAt < start + to * DAY);
    const inboxShare = (list: typeof mine) =>
      share(list.filter((d) => d.placements[0]?.outcome === 'inbox').length, list.length);
    const perDay = Array.from({ length: options.days }, (_, day) => {
      const ofDay = days(day, day + 1);
      return `${ofDay.filter((d) => d.placements[0]?.outcome === 'inbox').length}/${ofDay.length}`;
    });
    const rest = inboxShare(days(1, options.days));
    const pool = inboxShare(pooled);
    const reputation = mailboxOf(ctx, fullVolume.user).reputation;
    check(
      'full volume from day 1: placement falls below the pool’s',
      rest === null || pool === null || rest >= pool - 0.1
        ? [`its inbox share ${percent(rest)} vs the pool's ${percent(pool)}, less than 10 points below`]
        : [],
      `Inbox/sent per day ${perDay.join(' ')}; from day 2 ${percent(rest)} (pool ${percent(pool)}); ` +
        `reputation 0.50 → ${reputation.toFixed(2)}`,
    );
    const holds = warmupEvents.filter((e) => e.type === 'warmup.quarantined' && e.accountId === fullVolume.accountId);
    if (holds.length === 0) failures.push('never quarantined');
    const delivered = new Set(receiver.acceptedEventIds());
    for (const hold of holds) {
      if (!hold.data.reason || !hold.data.remediation) failures.push(`${hold.id} without reason or remediation`);
      if (!delivered.has(hold.id)) failures.push(`${hold.id} not delivered as a signed webhook`);
    }
    // What the user sees (GET /v1/accounts/{id}/warmup): a hold still running, with its reason and remediation, or
    // its end (`warmup.resumed`, on probation).
    const answer = await h.call('GET', `/v1/accounts/${fullVolume.accountId}/warmup`);
    const state = (answer.body as { state: { status: string; reason: string | null; remediation: string | null } })
      .state;
    const held = state.status === 'quarantined' || state.status === 'blocked';
    if (held && (!state.reason || !state.remediation)) failures.push(`shown ${state.status} without its remediation`);
    const resumed = warmupEvents.some((e) => e.type === 'warmup.resumed' && e.accountId === fullVolume.accountId);
    if (holds.length > 0 && !held && !resumed) failures.push(`shown ${state.status}, and no hold ended`);
    check(
      'full volume from day 1: held by §G with its alert and webhook',
      failures,
      `${holds.map((e) => `${String(e.data.state)} (${String(e.data.reason)}) at ${e.createdAt.slice(0, 16)}`).join(', ') || 'no hold'}; ` +
        `shown ${state.status}${state.reason ? ` (${state.reason})` : ''}`,
    );
  }

  return {
    checks,
    inboxByDay,
    warmupSent: sent.length,
    simulatedDays: options.days,
    steps,
    wallMs: {},
  };
}

/**
 * Where each mailbox stands at a day's first step, for the progress log: its sender reputation in the emulator's
 * model, its safety status, today's target and what held it below the ramp (docs/warmup.md §A `limitedBy`).
 */
async function memberDiagnostics(h: SimulationRuntime, members: Member[]): Promise<string> {
  const rows = await h.db
    .selectFrom('warmup_accounts')
    .select(['account_id', 'state', 'plan_target', 'plan_limited_by'])
    .execute();
  const byAccount = new Map(rows.map((r) => [r.account_id, r]));
  return members
    .map((member, index) => {
      const row = byAccount.get(member.accountId);
      const limits = (JSON.parse(row?.plan_limited_by ?? '[]') as string[]).join('+');
      const reputation = mailboxOf(h.ctx, member.user).reputation.toFixed(2);
      return `m${index} r${reputation} ${row?.state ?? '?'} T${row?.plan_target ?? '?'}${limits ? ` ${limits}` : ''}`;
    })
    .join(' | ');
}

/**
 * When the engine or the outbox next has work: the earliest warm-up mailbox due or queued message due, or `end` when
 * neither is (the simulations jump the clock there instead of stepping through empty minutes).
 */
export async function nextWarmupWorkAt(db: Kysely<Database>, end: number): Promise<number> {
  const dues = await Promise.all([
    db
      .selectFrom('warmup_accounts')
      .select((eb) => eb.fn.min('next_run_at').as('at'))
      .executeTakeFirst(),
    db
      .selectFrom('outbox_messages')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'queued')
      .executeTakeFirst(),
  ]);
  return Math.min(...dues.map((d) => (d?.at === null || d?.at === undefined ? end : Number(d.at))));
}
