import type { LocalDate } from './mailbox-time-zone.js';
import { isWeekend } from './mailbox-time-zone.js';
import { keyedUnit } from './seeded-random.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * How many warm-up messages (new threads and replies together) a mailbox sends on one local date
 * (docs/warmup.md §A): the ramp T0, the daily factor, the health factors, and the caps that no setting can lift.
 */

/** Where a mailbox is on its ramp: `day` 1 sends `from` (the start volume, or more after a long pause). */
export interface RampPosition {
  /** 1-based count of warm-up days since the ramp (re)started, today included. */
  readonly day: number;
  readonly from: number;
}

/** The safety states in which a mailbox sends (docs/warmup.md §G); the others send nothing. */
export type SendingStatus = 'active' | 'watch' | 'throttled' | 'probation';

export interface DailyVolumeInput {
  readonly seed: string;
  readonly mailboxId: string;
  /** Today in the mailbox's time zone. */
  readonly date: LocalDate;
  readonly ramp: RampPosition;
  readonly status: SendingStatus;
  /** Age of the Microsoft account in days; null when unknown, which counts as young (the cautious side). */
  readonly accountAgeDays: number | null;
  /** Partners that pass every hard filter of §C today. */
  readonly eligiblePartners: number;
  /** Mail the host sent today outside warm-up (counts against the young-mailbox cap, §G). */
  readonly campaignSentToday: number;
}

/** What held today's target below the ramp, for `GET …/warmup` ("why only 3 today"). */
export type VolumeLimit =
  | 'receive_only'
  | 'weekend_off'
  | 'weekend'
  | 'probation'
  | 'young_account_ceiling'
  | 'light_day'
  | 'health_watch'
  | 'health_throttled'
  | 'partners'
  | 'young_mailbox_cap';

export interface DailyVolumePlan {
  readonly target: number;
  /** The ramp's value for today before the daily factor. */
  readonly t0: number;
  readonly factor: number;
  readonly limitedBy: readonly VolumeLimit[];
}

export interface DailyFactor {
  readonly factor: number;
  readonly lightDay: boolean;
}

/**
 * The daily factor of a mailbox on a local date: `lightDayFactor` (0.6) on ~15% of days, otherwise uniform in
 * [0.75, 1.10]. A keyed hash of (mailbox, date), so it is the same however often or in whichever order it is asked.
 */
export function dailyFactor(seed: string, mailboxId: string, date: LocalDate, settings: WarmupSettings): DailyFactor {
  const { lightDayProbability, lightDayFactor, factorMin, factorMax } = settings.volume;
  if (keyedUnit(seed, 'daily-light', mailboxId, date) < lightDayProbability) {
    return { factor: lightDayFactor, lightDay: true };
  }
  const unit = keyedUnit(seed, 'daily-factor', mailboxId, date);
  return { factor: factorMin + unit * (factorMax - factorMin), lightDay: false };
}

/** The ceiling that applies to an account of this age: the young-account ceiling while it is young (Outlook.com). */
export function effectiveCeiling(settings: WarmupSettings, accountAgeDays: number | null): number {
  const { ceiling, youngAccount } = settings.volume;
  const young = youngAccount !== null && (accountAgeDays === null || accountAgeDays < youngAccount.ageDays);
  return young ? Math.min(ceiling, youngAccount.ceiling) : ceiling;
}

/** T0 = min(ceiling, from + increment · ⌊(day − 1) / incrementEveryDays⌋). */
export function rampValue(ramp: RampPosition, ceiling: number, settings: WarmupSettings): number {
  const { increment, incrementEveryDays } = settings.volume;
  if (!Number.isInteger(ramp.day) || ramp.day < 1) throw new RangeError(`ramp day must be ≥ 1, got ${ramp.day}`);
  return Math.min(ceiling, ramp.from + increment * Math.floor((ramp.day - 1) / incrementEveryDays));
}

/** Today's target and why it is what it is. */
export function planDailyVolume(input: DailyVolumeInput, settings: WarmupSettings): DailyVolumePlan {
  const { volume } = settings;
  const ceiling = effectiveCeiling(settings, input.accountAgeDays);
  const start = Math.min(volume.start, ceiling);
  const t0 = rampValue(input.ramp, ceiling, settings);
  const { factor, lightDay } = dailyFactor(input.seed, input.mailboxId, input.date, settings);
  const limitedBy: VolumeLimit[] = [];

  if (settings.receiveOnly) return { target: 0, t0, factor, limitedBy: ['receive_only'] };
  const weekend = isWeekend(input.date);
  if (weekend && !settings.weekends) return { target: 0, t0, factor, limitedBy: ['weekend_off'] };
  if (ceiling < volume.ceiling) limitedBy.push('young_account_ceiling');

  let target: number;
  if (input.status === 'probation') {
    // Re-entry runs at the start volume, without the daily factor (§G).
    target = start;
    limitedBy.push('probation');
  } else {
    // T = max(start, round(T0 · f)), never above the ceiling the user or provider set.
    target = Math.min(ceiling, Math.max(start, Math.round(t0 * factor)));
    if (lightDay) limitedBy.push('light_day');
  }
  if (input.status === 'watch') {
    target = Math.max(1, Math.round(target * volume.watchFactor));
    limitedBy.push('health_watch');
  } else if (input.status === 'throttled') {
    target = Math.max(1, Math.round(target * volume.throttledFactor));
    limitedBy.push('health_throttled');
  }
  if (weekend) {
    target = Math.max(1, Math.round(target * volume.weekendFactor));
    limitedBy.push('weekend');
  }
  if (target > input.eligiblePartners) {
    target = Math.max(0, input.eligiblePartners);
    limitedBy.push('partners');
  }
  const young = input.accountAgeDays === null || input.accountAgeDays < volume.youngMailboxAgeDays;
  const youngRoom = Math.max(0, volume.youngMailboxDailyCap - input.campaignSentToday);
  if (young && target > youngRoom) {
    target = youngRoom;
    limitedBy.push('young_mailbox_cap');
  }
  return { target, t0, factor, limitedBy };
}

/** Replies count toward T: what is left for new threads after the replies already due today. */
export function splitTarget(target: number, repliesDue: number): { replies: number; newThreads: number } {
  const replies = Math.min(target, Math.max(0, repliesDue));
  return { replies, newThreads: target - replies };
}

/**
 * The ramp after a pause ends (docs/warmup.md §G re-entry): a pause of more than `rampAgainAfterPauseDays` (14)
 * ramps again from max(start, 50% of the previous target); a shorter one continues where the ramp was.
 */
export function rampAfterPause(
  current: RampPosition,
  previousTarget: number,
  pausedDays: number,
  settings: WarmupSettings,
): RampPosition {
  const { start, rampAgainAfterPauseDays, rampAgainFraction } = settings.volume;
  if (pausedDays <= rampAgainAfterPauseDays) return current;
  return { day: 1, from: Math.max(start, Math.round(previousTarget * rampAgainFraction)) };
}
