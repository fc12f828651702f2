import type { EmulatorContext, MailboxUsage, SendingLimits } from '../context.js';
import type { User } from '../state/model.js';
import { NDR_REASONS, type NdrReason } from './non-delivery.js';
import { type GraphRuntime, graphRuntime, type SendWindow } from './runtime.js';

/**
 * Outlook's per app + mailbox budgets and Exchange Online / Outlook.com sending limits (docs/graph.md §3.3),
 * counted in `ctx.usage` so tests can assert that a client never broke them. Every check is O(1) amortised:
 * windows are sorted arrays found by binary search and trimmed in batches.
 */

const TEN_MINUTES_MS = 10 * 60_000;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 3600_000;

/** Outlook answers an over-budget concurrency 429 quickly; a short fractional wait is the honest hint. */
const CONCURRENCY_RETRY_AFTER_SECONDS = 0.5;

export type LimitKind = keyof MailboxUsage['throttled'];

export type LimitVerdict =
  | { ok: true }
  | {
      ok: false;
      kind: LimitKind | 'recipientsPerMessage';
      status: number;
      code: string;
      message: string;
      retryAfterSeconds?: number;
    };

export function usageKey(clientId: string, userId: string): string {
  return `${clientId}|${userId}`;
}

/** The usage record of one app + mailbox pair, created on first use. */
export function usageFor(ctx: EmulatorContext, clientId: string, userId: string): MailboxUsage {
  const key = usageKey(clientId, userId);
  let usage = ctx.usage[key];
  if (!usage) {
    usage = {
      clientId,
      userId,
      inFlight: 0,
      maxInFlight: 0,
      recentRequests: [],
      recentSends: [],
      throttled: { concurrency: 0, requestRate: 0, messagesPerMinute: 0, recipientsPer24h: 0 },
    };
    ctx.usage[key] = usage;
  }
  // Records that predate the runtime (a restored snapshot, a dropped runtime) are indexed on first use.
  const runtime = graphRuntime(ctx);
  if (!runtime.indexedUsages.has(usage)) {
    runtime.indexedUsages.add(usage);
    const list = runtime.usagesByUser.get(userId) ?? [];
    list.push({ key, usage });
    runtime.usagesByUser.set(userId, list);
  }
  return usage;
}

/** Index of the first element with `at(i) > cutoff` in an ascending array. */
function firstAfter(length: number, at: (index: number) => number, cutoff: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (at(mid) > cutoff) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Drops expired request times in batches (so one request never pays for a long splice). */
function requestsInWindow(usage: MailboxUsage, now: number): number {
  const times = usage.recentRequests;
  const start = firstAfter(times.length, (i) => times[i]!, now - TEN_MINUTES_MS);
  if (start > 0 && (start >= 1024 || start * 2 >= times.length)) {
    times.splice(0, start);
    return times.length;
  }
  return times.length - start;
}

/**
 * Admits a Graph request against the 4-concurrent and 10,000-per-10-minutes budgets of its app + mailbox
 * (docs/graph.md §3.3). On success the request is counted in flight until `releaseRequest`. Throttled requests
 * are not counted against the rate window, so a client that honours Retry-After gets through.
 */
export function admitRequest(ctx: EmulatorContext, usage: MailboxUsage): LimitVerdict {
  const limits = ctx.settings.limits;
  const now = ctx.clock.now();
  if (usage.inFlight >= limits.concurrentRequestsPerMailbox) {
    usage.throttled.concurrency += 1;
    return {
      ok: false,
      kind: 'concurrency',
      status: 429,
      code: 'ApplicationThrottled',
      message: 'Application is over its MailboxConcurrency limit.',
      retryAfterSeconds: CONCURRENCY_RETRY_AFTER_SECONDS,
    };
  }
  const inWindow = requestsInWindow(usage, now);
  if (inWindow >= limits.requestsPer10Minutes) {
    usage.throttled.requestRate += 1;
    const times = usage.recentRequests;
    const oldest = times[times.length - inWindow] ?? now;
    return {
      ok: false,
      kind: 'requestRate',
      status: 429,
      code: 'ApplicationThrottled',
      // The concurrency message is [OBS]; this one follows its pattern for the request-rate budget [GUESS].
      message: 'Application is over its MailboxRequests limit.',
      retryAfterSeconds: roundUpSeconds(oldest + TEN_MINUTES_MS - now),
    };
  }
  usage.recentRequests.push(now);
  usage.inFlight += 1;
  if (usage.inFlight > usage.maxInFlight) usage.maxInFlight = usage.inFlight;
  return { ok: true };
}

export function releaseRequest(usage: MailboxUsage): void {
  if (usage.inFlight > 0) usage.inFlight -= 1;
}

/** Exchange Online limits for work accounts, Outlook.com limits for personal accounts. */
export function sendingLimitsFor(ctx: EmulatorContext, user: User): SendingLimits {
  return user.kind === 'personal' ? ctx.settings.limits.outlook : ctx.settings.limits.exchange;
}

function sendWindowOf(runtime: GraphRuntime, usage: MailboxUsage, now: number): SendWindow {
  let window = runtime.sendWindows.get(usage);
  if (!window || window.sends !== usage.recentSends || window.head > usage.recentSends.length) {
    window = { sends: usage.recentSends, head: 0, recipients: 0 };
    for (const send of usage.recentSends) window.recipients += send.recipients;
    runtime.sendWindows.set(usage, window);
  }
  const sends = window.sends;
  while (window.head < sends.length && sends[window.head]!.at <= now - DAY_MS) {
    window.recipients -= sends[window.head]!.recipients;
    window.head += 1;
  }
  if (window.head > 0 && (window.head >= 1024 || window.head * 2 >= sends.length)) {
    sends.splice(0, window.head);
    window.head = 0;
  }
  return window;
}

/** Every usage record of this user's mailbox (sending limits are per mailbox, whichever app sends). */
function mailboxUsages(ctx: EmulatorContext, userId: string): MailboxUsage[] {
  const runtime = graphRuntime(ctx);
  if (!runtime.usagesScanned) {
    // Once per runtime: index records that came with the world (snapshot restore) before any request named them.
    runtime.usagesScanned = true;
    for (const usage of Object.values(ctx.usage)) usageFor(ctx, usage.clientId, usage.userId);
  }
  const list = runtime.usagesByUser.get(userId) ?? [];
  const live = list.filter((entry) => ctx.usage[entry.key] === entry.usage);
  if (live.length !== list.length) runtime.usagesByUser.set(userId, live);
  return live.map((entry) => entry.usage);
}

function roundUpSeconds(ms: number): number {
  return Math.max(0.001, Math.ceil(Math.max(ms, 1)) / 1000);
}

/**
 * What the sending limits make of one submission (docs/graph.md §3.3):
 * - `deliver`: 202; the transport hands it on at `deliverAt` (now, or later when the mailbox is over its messages per
 *   minute: Exchange delays the excess into the following minutes instead of refusing it);
 * - `report`: 202; never delivered, the sender gets a non-delivery report (a restricted sender: 5.1.8; over the
 *   rolling 24-hour recipient limit: 5.1.90);
 * - `reject`: an error answer (too many recipients in one message, and every limit when the opt-in setting
 *   `limits.rejectOverLimitSends` asks for the errors some clients were written against).
 */
export type SendingVerdict =
  | { outcome: 'deliver'; deliverAt: number; delayed: boolean }
  | { outcome: 'report'; kind: 'restrictedSender' | 'recipientsPer24h'; reason: NdrReason }
  | ({ outcome: 'reject' } & Extract<LimitVerdict, { ok: false }>);

/**
 * The earliest time, not before any send already counted (held mail goes first, in order), at which the mailbox has
 * sent fewer than `perMinute` messages in the minute before. Only the sends of the last minute before that time are
 * read, so the cost is bounded by the per-minute limit, not by the day's volume.
 */
function nextMinuteSlot(ctx: EmulatorContext, userId: string, now: number, perMinute: number): number {
  const runtime = graphRuntime(ctx);
  const usages = mailboxUsages(ctx, userId);
  let candidate = now;
  for (const each of usages) {
    const window = sendWindowOf(runtime, each, now);
    const last = window.sends[window.sends.length - 1];
    if (last && window.sends.length > window.head) candidate = Math.max(candidate, last.at);
  }
  const times: number[] = [];
  for (const each of usages) {
    const sends = each.recentSends;
    for (let i = firstAfter(sends.length, (index) => sends[index]!.at, candidate - MINUTE_MS); i < sends.length; i++) {
      times.push(sends[i]!.at);
    }
  }
  if (times.length < perMinute) return candidate;
  times.sort((a, b) => a - b);
  // The send at this index must leave the minute for the count to drop below the limit.
  return times[times.length - perMinute]! + MINUTE_MS;
}

/**
 * Checks a submission of `recipients` recipients against the sending limits of the mailbox (docs/graph.md §3.3).
 * Error answers (`reject`):
 * - recipients per message: 400 `ErrorExceededMaxRecipientLimit` (the Outlook.com/WASCL code in EWS's list; Exchange
 *   Online would NDR 5.5.3 later, [GUESS] that answering at once is the useful, stricter model);
 * - with `limits.rejectOverLimitSends` only (an opt-in fault, not Microsoft's default behaviour):
 *   messages per minute: 429 `ErrorSubmissionQuotaExceeded` with Retry-After; work accounts over the recipients per
 *   24 h: 429 `ErrorSubmissionQuotaExceeded`, Retry-After until the rolling window frees; personal accounts: 403
 *   `ErrorExceededMessageLimit` "Cannot send mail. Daily Message/Recipient limit exceeded…" [OBS, client code
 *   matching Outlook.com answers], no Retry-After.
 */
export function checkSendingLimits(
  ctx: EmulatorContext,
  user: User,
  usage: MailboxUsage,
  recipients: number,
): SendingVerdict {
  const limits = sendingLimitsFor(ctx, user);
  const rejectOverLimit = ctx.settings.limits.rejectOverLimitSends;
  if (recipients > limits.recipientsPerMessage) {
    return {
      outcome: 'reject',
      ok: false,
      kind: 'recipientsPerMessage',
      status: 400,
      code: 'ErrorExceededMaxRecipientLimit',
      message: `The message exceeds the maximum number of recipients per message (${limits.recipientsPerMessage}).`,
    };
  }
  // A restricted sender's submissions are accepted and reported undeliverable ([DOC] NDR 5.1.8, docs/graph.md §3.3).
  if (user.restrictedSender) {
    return { outcome: 'report', kind: 'restrictedSender', reason: NDR_REASONS.restrictedSender };
  }
  const now = ctx.clock.now();
  const runtime = graphRuntime(ctx);
  let lastMinute = 0;
  let oldestInMinute = Number.POSITIVE_INFINITY;
  let dayRecipients = 0;
  let oldestInDay = Number.POSITIVE_INFINITY;
  for (const each of mailboxUsages(ctx, user.id)) {
    const window = sendWindowOf(runtime, each, now);
    dayRecipients += window.recipients;
    const sends = window.sends;
    if (window.head < sends.length) oldestInDay = Math.min(oldestInDay, sends[window.head]!.at);
    const start = firstAfter(sends.length, (i) => sends[i]!.at, now - MINUTE_MS);
    lastMinute += sends.length - start;
    if (start < sends.length) oldestInMinute = Math.min(oldestInMinute, sends[start]!.at);
  }
  if (dayRecipients + recipients > limits.recipientsPer24h) {
    usage.throttled.recipientsPer24h += 1;
    if (!rejectOverLimit) {
      return { outcome: 'report', kind: 'recipientsPer24h', reason: NDR_REASONS.dailyRecipientLimit };
    }
    if (user.kind === 'personal') {
      return {
        outcome: 'reject',
        ok: false,
        kind: 'recipientsPer24h',
        status: 403,
        code: 'ErrorExceededMessageLimit',
        message:
          'Cannot send mail. Daily Message/Recipient limit exceeded. Follow the instructions in your Inbox to verify your account.',
      };
    }
    return {
      outcome: 'reject',
      ok: false,
      kind: 'recipientsPer24h',
      status: 429,
      code: 'ErrorSubmissionQuotaExceeded',
      message:
        "The message couldn't be sent because the sender's submission quota was exceeded. Please try again later.",
      retryAfterSeconds: roundUpSeconds((Number.isFinite(oldestInDay) ? oldestInDay : now) + DAY_MS - now),
    };
  }
  if (lastMinute >= limits.messagesPerMinute) {
    usage.throttled.messagesPerMinute += 1;
    if (rejectOverLimit) {
      return {
        outcome: 'reject',
        ok: false,
        kind: 'messagesPerMinute',
        status: 429,
        code: 'ErrorSubmissionQuotaExceeded',
        message:
          "The message couldn't be sent because the sender's submission quota was exceeded. Please try again later.",
        retryAfterSeconds: roundUpSeconds(oldestInMinute + MINUTE_MS - now),
      };
    }
  }
  const deliverAt = nextMinuteSlot(ctx, user.id, now, limits.messagesPerMinute);
  return { outcome: 'deliver', deliverAt, delayed: deliverAt > now };
}

/**
 * Counts an accepted submission in the sender's 1-minute and 24-hour windows, at the time the transport hands it on
 * (`at`, never before a send already counted, so each window stays sorted).
 */
export function recordSend(ctx: EmulatorContext, usage: MailboxUsage, recipients: number, at?: number): void {
  const now = ctx.clock.now();
  const window = sendWindowOf(graphRuntime(ctx), usage, now);
  window.sends.push({ at: at ?? now, recipients });
  window.recipients += recipients;
}
