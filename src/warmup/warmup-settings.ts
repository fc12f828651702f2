import { z } from 'zod';
import { resolveTimeZone } from './mailbox-time-zone.js';

/**
 * Every number of the warm-up specification as a typed, validated setting (docs/warmup.md §S). `warmupSettings()`
 * gives the defaults for a provider, with the user's choices (`WarmupUserOptions`) applied on top; operators may
 * override any number through `overrides`, which passes through the same schema (so a bad value is refused, never
 * silently clamped).
 */

/** The two kinds of Microsoft mailbox, whose ramps differ (docs/warmup.md §A). */
export const WARMUP_PROVIDERS = ['microsoft365', 'outlook_com'] as const;
export type WarmupProvider = (typeof WARMUP_PROVIDERS)[number];

/** The highest daily ceiling a user may choose (docs/warmup.md §A). */
export const MAX_USER_DAILY_CEILING = 40;
/** The reply rates a user may choose (docs/warmup.md §E). */
export const REPLY_RATE_RANGE = { min: 0.2, max: 0.45 } as const;

const count = (fallback: number) => z.number().int().min(0).default(fallback);
const positive = (fallback: number) => z.number().int().min(1).default(fallback);
const probability = (fallback: number) => z.number().min(0).max(1).default(fallback);
const factor = (fallback: number) => z.number().positive().max(10).default(fallback);
/** A local clock time `HH:MM`, kept as minutes after midnight. */
const clockTime = (fallback: string) =>
  z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM')
    .default(fallback)
    .transform((value) => Number(value.slice(0, 2)) * 60 + Number(value.slice(3)));

const youngAccountSchema = z.strictObject({
  /** Until the account is this many days old, the ceiling is `ceiling` (Outlook.com: 30 days, 10/day). */
  ageDays: positive(30),
  ceiling: positive(10),
});

const volumeSchema = z
  .strictObject({
    start: positive(4),
    increment: positive(1),
    /** The increment applies once every this many warm-up days (Outlook.com: every 2 days). */
    incrementEveryDays: positive(1),
    ceiling: positive(20),
    /** An age-dependent ceiling for new accounts, or null. */
    youngAccount: youngAccountSchema.nullable().default(null),
    lightDayProbability: probability(0.15),
    lightDayFactor: factor(0.6),
    factorMin: factor(0.75),
    factorMax: factor(1.1),
    watchFactor: factor(0.7),
    throttledFactor: factor(0.5),
    /** On weekends, when the user enables them, this share of the day's volume (docs/warmup.md §B). */
    weekendFactor: factor(0.25),
    probationDays: positive(3),
    rampAgainAfterPauseDays: positive(14),
    rampAgainFraction: factor(0.5),
    /** Warm-up plus campaign mail per day for mailboxes younger than `youngMailboxAgeDays` (docs/warmup.md §G). */
    youngMailboxDailyCap: positive(50),
    youngMailboxAgeDays: positive(60),
  })
  .refine((v) => v.factorMin <= v.factorMax, { message: 'factorMin must not exceed factorMax', path: ['factorMin'] })
  .refine((v) => v.start <= v.ceiling, { message: 'start must not exceed the ceiling', path: ['start'] });

const timingSchema = z
  .strictObject({
    windowStart: clockTime('08:30'),
    windowEnd: clockTime('18:00'),
    minGapMinutes: positive(12),
    jitterMinutes: count(15),
    /** Minutes of the hour a slot never falls on (round clock times look automated). */
    avoidMinutesOfHour: z.array(z.number().int().min(0).max(59)).max(30).default([0, 30]),
    /** At most one warm-up send per this many minutes per mailbox, replies included (docs/warmup.md §G). */
    minSendIntervalMinutes: positive(10),
    maxConcurrentGraphCalls: positive(2),
  })
  .refine((v) => v.windowStart < v.windowEnd, {
    message: 'windowStart must be before windowEnd',
    path: ['windowStart'],
  })
  .refine((v) => v.minGapMinutes >= v.minSendIntervalMinutes, {
    message: 'minGapMinutes must be at least minSendIntervalMinutes',
    path: ['minGapMinutes'],
  });

const partnersSchema = z.strictObject({
  differentProviderBonus: z.number().default(20),
  recentPairPenalty: z.number().default(-15),
  recentPairDays: positive(7),
  domainSendPenalty: z.number().default(-10),
  domainSendHours: positive(72),
  establishedBonus: z.number().default(10),
  establishedAfterDays: positive(30),
  topCandidates: positive(5),
  /** A partner's inbound today stays below this multiple of its own daily target. */
  inboundTodayFactor: factor(1.3),
  balanceTolerance: probability(0.3),
  balanceWindowDays: positive(7),
  /** [GUESS] Slack on the ±30% balance while counts are small, so that day one (0 in, 0 out) can start. */
  balanceSlack: count(4),
  /** [GUESS] Weight of a top candidate = 2^(score / scoreScale): +20 makes a partner 4× as likely at 10. */
  scoreScale: z.number().positive().default(10),
});

const contentSchema = z
  .strictObject({
    minWords: positive(40),
    maxWords: positive(150),
    minTurns: positive(3),
    maxTurns: positive(5),
  })
  .refine((v) => v.minWords <= v.maxWords, { message: 'minWords must not exceed maxWords', path: ['minWords'] })
  .refine((v) => v.minTurns <= v.maxTurns, { message: 'minTurns must not exceed maxTurns', path: ['minTurns'] });

const receiveSchema = z
  .strictObject({
    rescueProbability: probability(0.9),
    readProbability: probability(0.9),
    readDelayMinMinutes: positive(1),
    readDelayMaxMinutes: positive(60),
    flagProbability: probability(0.15),
    importanceProbability: probability(0.2),
    replyRate: z.number().min(REPLY_RATE_RANGE.min).max(REPLY_RATE_RANGE.max).default(0.3),
    replyDelayMinMinutes: positive(45),
    replyDelayMaxMinutes: positive(24 * 60),
    furtherTurnProbability: probability(0.5),
    maxTurns: positive(5),
    /** A fixed per-mailbox bias on every probability, drawn once in ±bias. */
    bias: probability(0.2),
    /** [GUESS] "Nobody reads at 3 am": reads and replies happen between these local times. */
    wakingStart: clockTime('07:00'),
    wakingEnd: clockTime('22:00'),
    /** [GUESS] After the last read/flag action, the message is filed after 2–20 minutes. */
    fileDelayMinMinutes: positive(2),
    fileDelayMaxMinutes: positive(20),
    purgeAfterDays: positive(30),
  })
  .refine((v) => v.readDelayMinMinutes <= v.readDelayMaxMinutes, {
    message: 'readDelayMinMinutes must not exceed readDelayMaxMinutes',
    path: ['readDelayMinMinutes'],
  })
  .refine((v) => v.replyDelayMinMinutes <= v.replyDelayMaxMinutes, {
    message: 'replyDelayMinMinutes must not exceed replyDelayMaxMinutes',
    path: ['replyDelayMinMinutes'],
  })
  .refine((v) => v.fileDelayMinMinutes <= v.fileDelayMaxMinutes, {
    message: 'fileDelayMinMinutes must not exceed fileDelayMaxMinutes',
    path: ['fileDelayMinMinutes'],
  })
  .refine((v) => v.wakingStart < v.wakingEnd, {
    message: 'wakingStart must be before wakingEnd',
    path: ['wakingStart'],
  });

const metricsSchema = z.strictObject({
  windowsDays: z.array(z.number().int().min(1).max(90)).min(1).default([7, 30]),
  healthHalfLifeDays: z.number().positive().default(3),
  healthPenaltyPerBouncePercent: z.number().min(0).default(10),
  healthPenaltyPerComplaint: z.number().min(0).default(25),
  healthMinObservations: positive(20),
  healthMinDays: positive(3),
});

const safetySchema = z
  .strictObject({
    spamMinSamples: positive(20),
    /**
     * Spam placement is judged only once the mailbox also has this many placement samples over `spamLongWindowDays`
     * (warmbly's bands: 20 in 7 days and 100 in 30; docs/warmup.md §G).
     */
    spamMinSamplesLong: count(100),
    spamLongWindowDays: positive(30),
    /**
     * Before that, the mailbox is judged against its peers (the pool's other senders of its provider, same window):
     * their placements must number this many, and its Junk rate must lie `spamPeerZ` standard errors above theirs
     * (two-proportion z-test); the excess over their rate then meets the bands (docs/warmup.md §G).
     */
    spamPeerMinSamples: positive(20),
    spamPeerZ: factor(3),
    spamWatchRate: probability(0.1),
    spamQuarantineRate: probability(0.2),
    spamBlockRate: probability(0.4),
    bounceMinSends: positive(50),
    bounceThrottleRate: probability(0.03),
    bounceQuarantineRate: probability(0.05),
    quarantineDays: positive(7),
    blockDays: positive(30),
    throttleStormsToPause: positive(3),
    throttleStormWindowMinutes: positive(60),
    /** [GUESS] A pause for throttling ends by itself after this long; single calls follow their Retry-After. */
    throttlePauseHours: positive(24),
  })
  .refine((v) => v.spamWatchRate <= v.spamQuarantineRate && v.spamQuarantineRate <= v.spamBlockRate, {
    message: 'spam thresholds must rise: watch ≤ quarantine ≤ block',
    path: ['spamWatchRate'],
  })
  .refine((v) => v.bounceThrottleRate <= v.bounceQuarantineRate, {
    message: 'bounce thresholds must rise: throttle ≤ quarantine',
    path: ['bounceThrottleRate'],
  });

/** The user's choices, as `PUT /v1/accounts/{id}/warmup` will take them (docs/warmup.md §S). */
export const warmupUserOptionsSchema = z.strictObject({
  dailyCeiling: z.number().int().min(1).max(MAX_USER_DAILY_CEILING).optional(),
  replyRate: z.number().min(REPLY_RATE_RANGE.min).max(REPLY_RATE_RANGE.max).optional(),
  weekends: z.boolean().default(false),
  receiveOnly: z.boolean().default(false),
  /** A time zone to use instead of the mailbox's own: an IANA or Windows name that `resolveTimeZone` knows. */
  timeZone: z
    .string()
    .max(100)
    .refine((name) => resolveTimeZone(name).ok, {
      message:
        'is not a known time zone; use an IANA name such as Europe/Paris or a Windows name such as "Pacific Standard Time"',
    })
    .optional(),
});
export type WarmupUserOptions = z.output<typeof warmupUserOptionsSchema>;

const settingsSchema = z.strictObject({
  volume: volumeSchema.prefault({}),
  timing: timingSchema.prefault({}),
  partners: partnersSchema.prefault({}),
  content: contentSchema.prefault({}),
  receive: receiveSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  safety: safetySchema.prefault({}),
});

/** Resolved settings: every number present and checked. */
export type WarmupSettings = Readonly<
  z.output<typeof settingsSchema> & { weekends: boolean; receiveOnly: boolean; timeZoneOverride: string | null }
>;
/** What operators may override: any subset of any section. */
export type WarmupSettingsOverrides = {
  [K in keyof z.input<typeof settingsSchema>]?: z.input<typeof settingsSchema>[K];
};

/** Provider defaults (docs/warmup.md §A): Microsoft 365 4 +1/day to 20; Outlook.com 2 +1 every 2 days, 10 then 15. */
const PROVIDER_VOLUME: Record<WarmupProvider, z.input<typeof volumeSchema>> = {
  microsoft365: { start: 4, increment: 1, incrementEveryDays: 1, ceiling: 20, youngAccount: null },
  outlook_com: {
    start: 2,
    increment: 1,
    incrementEveryDays: 2,
    ceiling: 15,
    youngAccount: { ageDays: 30, ceiling: 10 },
  },
};

export interface SettingsIssue {
  /** Dotted path of the offending setting (`volume.start`, `dailyCeiling`). */
  path: string;
  message: string;
}
export type SettingsResult = { ok: true; settings: WarmupSettings } | { ok: false; issues: SettingsIssue[] };

function issuesOf(error: z.ZodError, prefix = ''): SettingsIssue[] {
  return error.issues.map((issue) => ({ path: prefix + issue.path.map(String).join('.'), message: issue.message }));
}

/**
 * The settings for a mailbox of `provider` with the user's `options` (unknown input, validated here) and operator
 * `overrides`. Bad input is reported as issues, never thrown and never clamped.
 */
export function warmupSettings(
  provider: WarmupProvider,
  options: unknown = {},
  overrides: WarmupSettingsOverrides = {},
): SettingsResult {
  const user = warmupUserOptionsSchema.safeParse(options);
  if (!user.success) return { ok: false, issues: issuesOf(user.error) };
  const { dailyCeiling, replyRate } = user.data;
  const volume = { ...PROVIDER_VOLUME[provider], ...overrides.volume };
  // The user's ceiling replaces the provider's; a young Outlook.com account's ceiling still caps it (§A).
  if (dailyCeiling !== undefined) volume.ceiling = dailyCeiling;
  if (dailyCeiling !== undefined && volume.start !== undefined && volume.start > dailyCeiling) {
    volume.start = dailyCeiling;
  }
  const receive = { ...overrides.receive, ...(replyRate === undefined ? {} : { replyRate }) };
  const parsed = settingsSchema.safeParse({ ...overrides, volume, receive });
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const settings: WarmupSettings = {
    ...parsed.data,
    weekends: user.data.weekends,
    receiveOnly: user.data.receiveOnly,
    timeZoneOverride: user.data.timeZone ?? null,
  };
  return { ok: true, settings: deepFreeze(settings) };
}

/** `warmupSettings` for input known to be valid (defaults, tests); throws with the issues otherwise. */
export function warmupSettingsOrThrow(
  provider: WarmupProvider,
  options: unknown = {},
  overrides: WarmupSettingsOverrides = {},
): WarmupSettings {
  const result = warmupSettings(provider, options, overrides);
  if (!result.ok) {
    throw new RangeError(`invalid warm-up settings: ${result.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  return result.settings;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
