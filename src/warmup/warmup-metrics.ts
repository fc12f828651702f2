import type { LandingFolder } from './receive-decisions.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * A mailbox's warm-up figures over a window (docs/warmup.md §F), computed from what was observed, never estimated:
 * placement comes from where partners found this mailbox's mail, so every rate describes mail inside the warm-up
 * network only (the `scope` says so wherever the figures go).
 */

/** What happened to or for one mailbox, as recorded by the engine. */
export type WarmupObservation =
  | { readonly kind: 'sent'; readonly at: number; readonly reply: boolean }
  | { readonly kind: 'received'; readonly at: number }
  /** A partner found one of this mailbox's messages, in this folder, before touching it. */
  | { readonly kind: 'placement'; readonly at: number; readonly folder: LandingFolder }
  /** A partner moved one of this mailbox's messages from Junk to the Inbox. */
  | { readonly kind: 'rescued'; readonly at: number }
  /** A bounce notice matched to one of this mailbox's sends. */
  | { readonly kind: 'bounce'; readonly at: number }
  | { readonly kind: 'complaint'; readonly at: number };

export interface WarmupMetrics {
  readonly scope: 'warmup_network';
  readonly windowDays: number;
  readonly sent: number;
  readonly received: number;
  /** Of `sent`, how many were replies. */
  readonly replies: number;
  readonly observed: number;
  /** Rates are null when their denominator is zero (nothing to divide, not 0%). */
  readonly inboxRate: number | null;
  readonly spamRate: number | null;
  readonly savedFromSpam: number;
  readonly bounces: number;
  readonly bounceRate: number | null;
  readonly complaints: number;
  readonly coverage: number | null;
  /** 0–100, or null until ≥ 20 observations or 3 days of warm-up (and at least one observation). */
  readonly health: number | null;
}

const DAY = 86_400_000;

const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/**
 * The figures over the `windowDays` before `now` (a record at exactly `now − windowDays` is outside).
 * `startedAt` is when warm-up began for the mailbox (for the 3-day rule of the health score).
 */
export function warmupMetrics(
  observations: readonly WarmupObservation[],
  window: { readonly now: number; readonly windowDays: number; readonly startedAt: number },
  settings: WarmupSettings,
): WarmupMetrics {
  const { now, windowDays } = window;
  const from = now - windowDays * DAY;
  const inWindow = observations.filter((o) => o.at > from && o.at <= now);
  const count = (predicate: (o: WarmupObservation) => boolean) => inWindow.filter(predicate).length;
  const sent = count((o) => o.kind === 'sent');
  const placements = inWindow.filter((o) => o.kind === 'placement');
  const observed = placements.length;
  const inbox = placements.filter((o) => o.folder === 'inbox').length;
  const bounces = count((o) => o.kind === 'bounce');
  const complaints = count((o) => o.kind === 'complaint');
  const bounceRate = ratio(bounces, sent);
  return {
    scope: 'warmup_network',
    windowDays,
    sent,
    received: count((o) => o.kind === 'received'),
    replies: count((o) => o.kind === 'sent' && o.reply),
    observed,
    inboxRate: ratio(inbox, observed),
    spamRate: ratio(observed - inbox, observed),
    savedFromSpam: count((o) => o.kind === 'rescued'),
    bounces,
    bounceRate,
    complaints,
    coverage: ratio(observed, sent),
    health: healthScore(placements, { now, startedAt: window.startedAt, bounceRate, complaints }, settings),
  };
}

/**
 * 100 × inbox rate weighted by recency (half-life 3 days), minus 10 per bounce percent, minus 25 per complaint,
 * in 0–100; null until there are ≥ 20 observations or 3 days of warm-up, and while nothing was observed.
 */
export function healthScore(
  placements: readonly { readonly at: number; readonly folder: LandingFolder }[],
  facts: {
    readonly now: number;
    readonly startedAt: number;
    readonly bounceRate: number | null;
    readonly complaints: number;
  },
  settings: WarmupSettings,
): number | null {
  const m = settings.metrics;
  const enough = placements.length >= m.healthMinObservations || facts.now - facts.startedAt >= m.healthMinDays * DAY;
  if (!enough || placements.length === 0) return null;
  let weighted = 0;
  let total = 0;
  for (const placement of placements) {
    const weight = 0.5 ** (Math.max(0, facts.now - placement.at) / (m.healthHalfLifeDays * DAY));
    total += weight;
    if (placement.folder === 'inbox') weighted += weight;
  }
  const score =
    (100 * weighted) / total -
    m.healthPenaltyPerBouncePercent * 100 * (facts.bounceRate ?? 0) -
    m.healthPenaltyPerComplaint * facts.complaints;
  return Math.round(Math.min(100, Math.max(0, score)));
}
