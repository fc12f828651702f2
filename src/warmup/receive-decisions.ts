import { addDays, instantOf, localTime, type TimeZone } from './mailbox-time-zone.js';
import type { RandomSource } from './seeded-random.js';
import { chance, keyedUnit, uniform } from './seeded-random.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * What the receiving mailbox does with a warm-up message it found, and when (docs/warmup.md §E): record where it
 * landed before touching it, rescue it only if it is in Junk, read, flag, mark important, reply in the thread, file
 * it into the "Warm-up" folder, purge it after 30 days. Every probability carries the mailbox's fixed bias.
 * Never: mark as junk, report, or touch mail that is not warm-up (the caller only hands warm-up mail in).
 */

export type LandingFolder = 'inbox' | 'junkemail';

export interface FoundWarmupMessage {
  readonly landedIn: LandingFolder;
  /** When Microsoft delivered it (`receivedDateTime`). */
  readonly receivedAt: number;
  /** When this mailbox found it; nothing happens before. */
  readonly foundAt: number;
  /** Its turn in the thread: 0 for an opening, 1 for the first reply… */
  readonly turn: number;
  /** The turns its thread was planned with (3–5, §D). */
  readonly plannedTurns: number;
}

export interface ReceiverContext {
  readonly zone: TimeZone;
  /** The mailbox's fixed bias (`mailboxBias`). */
  readonly bias: number;
  /** False when the mailbox may not send (receive-only, or not in a sending state): no replies. */
  readonly canReply: boolean;
  readonly random: RandomSource;
}

export type ReceiveAction =
  | { readonly kind: 'record_placement'; readonly at: number; readonly folder: LandingFolder }
  | { readonly kind: 'move_to_inbox'; readonly at: number }
  | { readonly kind: 'mark_read'; readonly at: number }
  | { readonly kind: 'flag'; readonly at: number }
  | { readonly kind: 'mark_important'; readonly at: number }
  | { readonly kind: 'file_to_warmup_folder'; readonly at: number }
  | { readonly kind: 'reply'; readonly at: number; readonly turn: number }
  | { readonly kind: 'purge'; readonly at: number };

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The mailbox's bias, uniform in ±`receive.bias` (±20%), the same every time for the mailbox. */
export function mailboxBias(seed: string, mailboxId: string, settings: WarmupSettings): number {
  return (keyedUnit(seed, 'receive-bias', mailboxId) * 2 - 1) * settings.receive.bias;
}

/** A probability with the bias applied, kept in [0, 1]. */
export function biased(p: number, bias: number): number {
  return Math.min(1, Math.max(0, p * (1 + bias)));
}

/**
 * `at` if the recipient is awake then (wakingStart–wakingEnd local), else a moment after they next wake up:
 * nobody reads or replies at 3 am.
 */
export function withinWakingHours(at: number, zone: TimeZone, settings: WarmupSettings, random: RandomSource): number {
  const { wakingStart, wakingEnd } = settings.receive;
  const local = localTime(at, zone);
  if (local.minuteOfDay >= wakingStart && local.minuteOfDay < wakingEnd) return at;
  const day = local.minuteOfDay < wakingStart ? local.date : addDays(local.date, 1);
  // [GUESS] within the first half hour of the day, as people go through the night's mail.
  return instantOf(day, wakingStart, zone) + Math.floor(uniform(random, 0, 30)) * MINUTE;
}

/** The actions for one found message, in the order they happen. */
export function decideReceiveActions(
  message: FoundWarmupMessage,
  context: ReceiverContext,
  settings: WarmupSettings,
): readonly ReceiveAction[] {
  const r = settings.receive;
  const { random, bias, zone } = context;
  if (message.foundAt < message.receivedAt) throw new RangeError('a message cannot be found before it was received');
  const actions: ReceiveAction[] = [{ kind: 'record_placement', at: message.foundAt, folder: message.landedIn }];

  // The moment the recipient opens the message: 1–60 min after delivery, mostly short (squared uniform).
  const delay = r.readDelayMinMinutes + (r.readDelayMaxMinutes - r.readDelayMinMinutes) * random.next() ** 2;
  const seenAt = withinWakingHours(
    Math.max(message.foundAt, message.receivedAt + Math.round(delay * MINUTE)),
    zone,
    settings,
    random,
  );
  // Rescue only what is really in Junk (§E.2), as the recipient opens it.
  if (message.landedIn === 'junkemail' && chance(random, biased(r.rescueProbability, bias))) {
    actions.push({ kind: 'move_to_inbox', at: seenAt });
  }
  if (chance(random, biased(r.readProbability, bias))) actions.push({ kind: 'mark_read', at: seenAt });
  let lastTouch = seenAt;
  // [GUESS] flagging and importance follow reading by half a minute to three minutes.
  if (chance(random, biased(r.flagProbability, bias))) {
    lastTouch = seenAt + Math.round(uniform(random, 0.5, 3) * MINUTE);
    actions.push({ kind: 'flag', at: lastTouch });
  }
  if (chance(random, biased(r.importanceProbability, bias))) {
    lastTouch = Math.max(lastTouch, seenAt + Math.round(uniform(random, 0.5, 3) * MINUTE));
    actions.push({ kind: 'mark_important', at: lastTouch });
  }
  const fileAt = lastTouch + Math.round(uniform(random, r.fileDelayMinMinutes, r.fileDelayMaxMinutes) * MINUTE);
  actions.push({ kind: 'file_to_warmup_folder', at: fileAt });

  const replyTurn = message.turn + 1;
  const lastTurn = Math.min(message.plannedTurns, r.maxTurns) - 1;
  const replyProbability = message.turn === 0 ? r.replyRate : r.furtherTurnProbability;
  if (context.canReply && replyTurn <= lastTurn && chance(random, biased(replyProbability, bias))) {
    const wait = uniform(random, r.replyDelayMinMinutes, r.replyDelayMaxMinutes) * MINUTE;
    const at = withinWakingHours(
      Math.max(seenAt + MINUTE, message.receivedAt + Math.round(wait)),
      zone,
      settings,
      random,
    );
    actions.push({ kind: 'reply', at, turn: replyTurn });
  }
  actions.push({ kind: 'purge', at: fileAt + r.purgeAfterDays * DAY });
  // A reply may come before the filing; the sort is stable, so equal times keep the order above.
  return actions.sort((a, b) => a.at - b.at);
}
