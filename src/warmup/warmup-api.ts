import { z } from 'zod';
import type { ApiOperation } from '../api/openapi.js';
import { BODY_ERRORS } from '../http/common-errors.js';
import { accountParams, apiComponents, timestamp } from '../http/common-schemas.js';
import type { VolumeLimit } from './daily-volume-plan.js';
import type { SafetyStatus } from './warmup-safety.js';
import { WARMUP_PROVIDERS, warmupUserOptionsSchema } from './warmup-settings.js';

/**
 * Warm-up in the host API (issue 12): request and response shapes (zod, registered for the OpenAPI document) and
 * the operations. The routes are in warmup-api-routes.ts; the composition root hands both to the API as a feature.
 */

/** `off` before warm-up was ever enabled, else the safety status of docs/warmup.md §G. */
export const WARMUP_STATES = [
  'off',
  'active',
  'watch',
  'throttled',
  'probation',
  'quarantined',
  'blocked',
  'paused',
] as const satisfies readonly (SafetyStatus | 'off')[];

/** What can hold today's target below the ramp (docs/warmup.md §A). */
export const VOLUME_LIMITS = [
  'receive_only',
  'weekend_off',
  'weekend',
  'probation',
  'young_account_ceiling',
  'light_day',
  'health_watch',
  'health_throttled',
  'partners',
  'young_mailbox_cap',
] as const satisfies readonly VolumeLimit[];

// Compile-time: the lists above name every state and limit of the core (a new one must be documented).
type Missing<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : Exclude<All, Listed>;
const everyState: Missing<SafetyStatus, (typeof WARMUP_STATES)[number]> = true;
const everyLimit: Missing<VolumeLimit, (typeof VOLUME_LIMITS)[number]> = true;
void everyState;
void everyLimit;

const STATE_DESCRIPTION =
  '`off` (never enabled); `active`; `watch` (spam placement ≥ 10%: volume ×0.7); `throttled` (sender bounces ≥ 3%: ' +
  'volume ×0.5); `probation` (3 days at the start volume after a hold, a reconnect or a resume); `quarantined` ' +
  '(7 days: spam placement ≥ 20% or bounces ≥ 5%); `blocked` (30 days: spam placement ≥ 40%); `paused` (by you, ' +
  'a restricted sender, a revoked grant or repeated throttling). docs/warmup.md §G.';

/** The user's choices as the body takes them (validated by warmup-settings.ts's own schema, docs/warmup.md §S). */
const settingsBody = warmupUserOptionsSchema.meta({
  description:
    'Your choices. Sending `settings` replaces all of them: an omitted field takes its default (the provider’s ' +
    'ceiling, a reply rate of 0.3, weekends off, not receive-only, the mailbox’s own time zone).',
});

/** The user's choices as stored and shown (defaults filled in). */
const settingsView = z
  .object({
    dailyCeiling: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Messages a day at most, 1–40 (absent: the provider’s).' }),
    replyRate: z
      .number()
      .optional()
      .meta({ description: 'Share of received messages answered, 0.2–0.45 (absent: 0.3).' }),
    weekends: z.boolean().meta({ description: 'Also on Saturdays and Sundays, at 25% volume.' }),
    receiveOnly: z.boolean().meta({ description: 'Receive and engage, never send.' }),
    timeZone: z.string().optional().meta({ description: 'A time zone used instead of the mailbox’s own.' }),
  })
  .register(apiComponents, { id: 'WarmupSettings' });

export const putWarmupBody = z
  .strictObject({
    enabled: z
      .boolean()
      .optional()
      .meta({
        description:
          '`true` enables warm-up (or resumes it after your pause, or after a restricted-sender or throttling pause, ' +
          'on probation); `false` pauses it. Omit to change the settings only. A quarantine or block runs its course ' +
          'whatever you send.',
      }),
    settings: settingsBody.optional(),
  })
  .refine((body) => body.enabled !== undefined || body.settings !== undefined, {
    message: 'send `enabled`, `settings` or both',
  })
  .register(apiComponents, { id: 'PutWarmup' });

const rate = z.number().min(0).max(1).nullable().meta({ description: 'A share 0–1; null with nothing to divide.' });

export const warmupMetricsSchema = z
  .object({
    scope: z.literal('warmup_network').meta({
      description: 'Every figure is within the warm-up network: it says nothing certain about other recipients.',
    }),
    windowDays: z.number().int(),
    sent: z.number().int().meta({ description: 'Warm-up messages this mailbox sent, replies included.' }),
    received: z.number().int(),
    replies: z.number().int().meta({ description: 'Of `sent`, replies.' }),
    observed: z.number().int().meta({ description: "This mailbox's messages that partners found and recorded." }),
    inboxRate: rate.meta({ description: 'Found in the Inbox ÷ observed.' }),
    spamRate: rate.meta({ description: 'Found in Junk Email ÷ observed.' }),
    savedFromSpam: z.number().int().meta({ description: 'Moved by partners from Junk Email to the Inbox.' }),
    bounces: z.number().int(),
    bounceRate: rate.meta({ description: 'Matched bounce notices ÷ sent.' }),
    complaints: z.number().int(),
    coverage: rate.meta({ description: 'Observed ÷ sent.' }),
    health: z.number().int().min(0).max(100).nullable(),
  })
  .register(apiComponents, { id: 'WarmupMetrics' });

export const warmupAccountSchema = z
  .object({
    accountId: z.string(),
    email: z.string(),
    enabled: z.boolean().meta({ description: 'Your switch: false after you paused warm-up (or before enabling it).' }),
    provider: z.enum(WARMUP_PROVIDERS).meta({
      description:
        '`microsoft365` (start 4 a day, +1 a day, ceiling 20) or `outlook_com` (start 2, +1 every 2 days, ceiling 10 ' +
        'for the first 30 days, then 15): docs/warmup.md §A.',
    }),
    state: z
      .object({
        status: z.enum(WARMUP_STATES).meta({ description: STATE_DESCRIPTION }),
        since: timestamp.nullable(),
        until: timestamp.nullable().meta({ description: 'When a hold or a timed pause ends by itself.' }),
        reason: z.string().nullable().meta({
          description:
            '`user`, `restricted_sender`, `grant_revoked`, `throttling_storms`, `spam_placement`, `sender_bounces`.',
        }),
        remediation: z.string().nullable().meta({ description: 'What to do about it, in plain words.' }),
      })
      .meta({ description: 'Where warm-up stands and why.' }),
    settings: settingsView,
    timeZone: z.string().nullable().meta({ description: 'The zone the mailbox’s day runs in (IANA).' }),
    timeZoneSource: z.string().nullable().meta({
      description: '`mailbox` (its mailboxSettings), `override` (your setting) or why a fallback was used.',
    }),
    startedAt: timestamp.nullable(),
    pausedAt: timestamp.nullable(),
    rampDay: z.number().int().meta({ description: 'Warm-up day on the ramp (0 before the first).' }),
    today: z.object({
      date: z.string().nullable().meta({ description: "The mailbox's local date of today's plan." }),
      target: z.number().int().meta({ description: 'Warm-up messages planned today, replies included.' }),
      done: z.number().int().meta({ description: 'Of them, sent so far.' }),
      limitedBy: z.array(z.string()).meta({
        description:
          `What held today below the ramp (docs/warmup.md §A): ${VOLUME_LIMITS.map((l) => `\`${l}\``).join(', ')}; ` +
          'on a day warm-up does not send, why: `user_paused` or the state (`quarantined`, `blocked`, `paused`).',
      }),
    }),
    nextSlots: z.array(timestamp).meta({ description: 'Planned send times still ahead, earliest first.' }),
    metrics: z.object({ last7Days: warmupMetricsSchema, last30Days: warmupMetricsSchema }),
    health: z
      .number()
      .int()
      .min(0)
      .max(100)
      .nullable()
      .meta({
        description:
          '0–100: the inbox rate weighted by recency (half-life 3 days), less bounces and complaints; null until 20 ' +
          'observations or 3 days of warm-up. Within the warm-up network.',
      }),
  })
  .register(apiComponents, { id: 'WarmupAccount' });

export const warmupPoolSchema = z
  .object({
    scope: z.literal('warmup_network'),
    members: z.array(
      z.object({
        accountId: z.string(),
        email: z.string(),
        enabled: z.boolean(),
        state: z.enum(WARMUP_STATES),
        reason: z.string().nullable(),
        sent7Days: z.number().int(),
        received7Days: z.number().int(),
        inboxRate7Days: rate,
        health: z.number().int().min(0).max(100).nullable(),
        todayTarget: z.number().int(),
      }),
    ),
    totals: z.object({
      members: z.number().int(),
      enabled: z.number().int(),
      byState: z.partialRecord(z.enum(WARMUP_STATES), z.number().int()).meta({ description: 'Members by state.' }),
      sent7Days: z.number().int(),
      received7Days: z.number().int(),
      inboxRate7Days: rate,
    }),
  })
  .register(apiComponents, { id: 'WarmupPool' });

export const WARMUP_API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/accounts/{id}/warmup',
    operationId: 'getAccountWarmup',
    summary: "An account's warm-up",
    description:
      'Where warm-up stands and why (with the remediation of any pause, quarantine or block), today’s target and ' +
      'what was sent of it, the next planned sends, the 7- and 30-day figures and the health score. Every figure is ' +
      'within the warm-up network (placement of this mailbox’s mail as partners found it). An account connected ' +
      'with the `send` profile, for which warm-up was never enabled, answers 409 `WARMUP_PROFILE_REQUIRED` with how ' +
      'to reconnect it; a disconnected one shows `off`.',
    authenticated: true,
    params: accountParams,
    response: { status: 200, description: 'The warm-up of the account.', schema: warmupAccountSchema },
    errors: ['REQUEST_INVALID', 'ACCOUNT_NOT_FOUND', 'WARMUP_PROFILE_REQUIRED'],
  },
  {
    method: 'put',
    path: '/v1/accounts/{id}/warmup',
    operationId: 'putAccountWarmup',
    summary: 'Enable, pause or configure warm-up',
    description:
      'Warm-up is opt-in. `{"enabled": true}` starts it (`warmup.started`) or resumes it (`warmup.resumed`); ' +
      '`{"enabled": false}` pauses it (`warmup.paused`, reason `user`): nothing is sent or touched until you enable ' +
      'it again. `settings` replaces your choices: daily ceiling 1–40, reply rate 0.2–0.45, weekends (at 25% ' +
      'volume), receive-only, a time zone override. The account needs the warm-up permissions: one connected with ' +
      'the `send` profile answers 409 `WARMUP_PROFILE_REQUIRED`; reconnect it through `POST /v1/connect-sessions` ' +
      'with `permissionProfile: "warmup"` (the user approves the extra permissions once; the account keeps its id).',
    authenticated: true,
    params: accountParams,
    body: putWarmupBody,
    response: { status: 200, description: 'The warm-up of the account, as changed.', schema: warmupAccountSchema },
    errors: [
      ...BODY_ERRORS,
      'ACCOUNT_NOT_FOUND',
      'WARMUP_SETTINGS_INVALID',
      'WARMUP_PROFILE_REQUIRED',
      'WARMUP_ACCOUNT_DISCONNECTED',
      'WARMUP_NOT_ENABLED',
    ],
  },
  {
    method: 'get',
    path: '/v1/warmup',
    operationId: 'getWarmupPool',
    summary: "The organisation's warm-up pool",
    description:
      'Every account of the organisation that warm-up was ever enabled for, with its state and 7-day figures, and ' +
      'the totals. Within the warm-up network.',
    authenticated: true,
    response: { status: 200, description: 'The pool.', schema: warmupPoolSchema },
    errors: [],
  },
];
