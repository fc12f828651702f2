import { addDays, instantOf, isWeekend, type LocalDate, localTime, type TimeZone } from './mailbox-time-zone.js';
import type { RandomSource } from './seeded-random.js';
import { uniform } from './seeded-random.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * When a mailbox sends its new warm-up threads on a local date (docs/warmup.md §B): inside the sending window
 * (08:30–18:00 local), spread with ±15 min of jitter, at least 12 min apart, never on :00 or :30.
 *
 * The slots are placed on a timeline of the window's allowed minutes only (the avoided minutes of the hour taken
 * out), so "never on :00/:30" cannot break the minimum gap: two allowed minutes are at least as far apart in real
 * time as on that timeline.
 */

const MINUTE = 60_000;

export interface SlotRequest {
  readonly count: number;
  readonly date: LocalDate;
  readonly zone: TimeZone;
  readonly random: RandomSource;
  /** No slot before this instant (planning in the middle of the day). */
  readonly notBefore?: number;
}

export interface SlotPlan {
  /** Instants, ascending. */
  readonly slots: readonly number[];
  /** How many of the requested slots did not fit (window too short, or past for today). */
  readonly unplaced: number;
}

/** The minutes of the local day a slot may take, from `notBeforeMinute` on. */
function allowedMinutes(settings: WarmupSettings, notBeforeMinute: number): number[] {
  const { windowStart, windowEnd, avoidMinutesOfHour } = settings.timing;
  const avoid = new Set(avoidMinutesOfHour);
  const minutes: number[] = [];
  for (let minute = Math.max(windowStart, notBeforeMinute); minute <= windowEnd; minute++) {
    if (!avoid.has(minute % 60)) minutes.push(minute);
  }
  return minutes;
}

/** Sorted positions in [0, last], each at least `gap` after the one before (needs (count − 1)·gap ≤ last). */
function spreadPositions(count: number, last: number, gap: number, jitter: number, random: RandomSource): number[] {
  const spacing = (last + 1) / count;
  const positions = Array.from({ length: count }, (_, i) => {
    const jittered = spacing * (i + 0.5) + uniform(random, -jitter, jitter);
    return Math.min(last, Math.max(0, Math.round(jittered)));
  }).sort((a, b) => a - b);
  for (let i = 1; i < count; i++) positions[i] = Math.max(positions[i]!, positions[i - 1]! + gap);
  positions[count - 1] = Math.min(positions[count - 1]!, last);
  for (let i = count - 2; i >= 0; i--) positions[i] = Math.min(positions[i]!, positions[i + 1]! - gap);
  return positions;
}

/** The slots for `count` new threads on `date` in the mailbox's zone. */
export function planSendSlots(request: SlotRequest, settings: WarmupSettings): SlotPlan {
  const { minGapMinutes, jitterMinutes } = settings.timing;
  if (!Number.isInteger(request.count) || request.count < 0) {
    throw new RangeError(`slot count must be a non-negative integer, got ${request.count}`);
  }
  let notBeforeMinute = 0;
  if (request.notBefore !== undefined) {
    const now = localTime(request.notBefore, request.zone);
    if (now.date > request.date) return { slots: [], unplaced: request.count };
    // A whole minute after "now", so that a slot is never in the past.
    if (now.date === request.date) notBeforeMinute = now.minuteOfDay + 1;
  }
  const minutes = allowedMinutes(settings, notBeforeMinute);
  const fits = minutes.length === 0 ? 0 : Math.floor((minutes.length - 1) / minGapMinutes) + 1;
  const count = Math.min(request.count, fits);
  if (count === 0) return { slots: [], unplaced: request.count };

  const positions = spreadPositions(count, minutes.length - 1, minGapMinutes, jitterMinutes, request.random);
  const slots: number[] = [];
  for (const position of positions) {
    const minute = minutes[position]!;
    const instant = instantOf(request.date, minute, request.zone);
    // A wall time a DST change skipped shows another minute; a change inside the window could shorten a gap.
    // Neither happens in any zone today (changes are at night), but a slot that breaks a rule is dropped, not sent.
    const shown = localTime(instant, request.zone);
    const previous = slots.at(-1);
    if (shown.minuteOfDay !== minute || (previous !== undefined && instant - previous < minGapMinutes * MINUTE)) {
      continue;
    }
    slots.push(instant);
  }
  return { slots, unplaced: request.count - slots.length };
}

/**
 * The earliest instant at or after `wanted` that keeps every warm-up send of the mailbox (`scheduled`, replies
 * included) at least `minSendIntervalMinutes` apart (docs/warmup.md §G: at most one warm-up send per 10 min).
 */
export function earliestSendAt(wanted: number, scheduled: readonly number[], settings: WarmupSettings): number {
  const interval = settings.timing.minSendIntervalMinutes * MINUTE;
  const sorted = [...scheduled].sort((a, b) => a - b);
  let candidate = wanted;
  for (const other of sorted) {
    if (other <= candidate - interval) continue;
    if (other >= candidate + interval) break;
    candidate = other + interval;
  }
  return candidate;
}

/** The local date after `date` on which the mailbox sends: weekends are skipped unless the user sends on them (§B). */
export function nextWorkingDate(date: LocalDate, weekends: boolean): LocalDate {
  let next = addDays(date, 1);
  while (!weekends && isWeekend(next)) next = addDays(next, 1);
  return next;
}

/**
 * Where a send that cannot go on its own day goes (§B): the next working day, at the time of day of `at` if that is
 * inside the sending window, else at a time as far into the window as `at` is past its start (wrapping round), so
 * that sends moved from the evening spread over the next day instead of piling up at its last minute.
 */
export function sameTimeNextWorkingDay(at: number, zone: TimeZone, settings: WarmupSettings): number {
  const local = localTime(at, zone);
  const { windowStart, windowEnd } = settings.timing;
  const span = windowEnd - windowStart;
  const minute = windowStart + ((((local.minuteOfDay - windowStart) % span) + span) % span);
  return instantOf(nextWorkingDate(local.date, settings.weekends), minute, zone);
}

/** Whether a send planned for the local date `date` may still go at `now`: on that date, before the window closes. */
export function withinSendingDay(date: string, now: number, zone: TimeZone, settings: WarmupSettings): boolean {
  const local = localTime(now, zone);
  return local.date === date && local.minuteOfDay < settings.timing.windowEnd;
}
