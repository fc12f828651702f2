import type { WarmupSettings } from './warmup-settings.js';

/**
 * The safety rules as a pure state machine (docs/warmup.md §G): a mailbox's warm-up state, the signals that move
 * it, the reason and remediation of every pause, quarantine and block (never a silent stop), and re-entry on
 * probation. Throttling is a pause for the mailbox, never a failure; a partner's bad address removes the partner,
 * not the sender's standing.
 */

export type PauseReason = 'restricted_sender' | 'grant_revoked' | 'throttling_storms' | 'user';
export type PlacementReason = 'spam_placement' | 'sender_bounces';

export type SafetyState =
  | { readonly status: 'active'; readonly since: number }
  | { readonly status: 'watch'; readonly since: number; readonly reason: 'spam_placement' }
  | { readonly status: 'throttled'; readonly since: number; readonly reason: 'sender_bounces' }
  | { readonly status: 'probation'; readonly since: number; readonly until: number }
  | { readonly status: 'quarantined'; readonly since: number; readonly until: number; readonly reason: PlacementReason }
  | { readonly status: 'blocked'; readonly since: number; readonly until: number; readonly reason: 'spam_placement' }
  /** `until` null: only an action ends it (a reconnect, the user's resume). */
  | { readonly status: 'paused'; readonly since: number; readonly until: number | null; readonly reason: PauseReason };

export type SafetyStatus = SafetyState['status'];

export type SafetySignal =
  /** A non-delivery report for a warm-up send, with its RFC 3463 enhanced status code and the failed recipient. */
  | { readonly kind: 'bounce'; readonly at: number; readonly enhancedStatus: string; readonly recipient: string }
  | { readonly kind: 'grant_revoked'; readonly at: number }
  | { readonly kind: 'reconnected'; readonly at: number }
  /** A 429/503 storm began at `at`; `stormsStartedAt` lists the mailbox's recent storms, this one included. */
  | { readonly kind: 'throttle_storm'; readonly at: number; readonly stormsStartedAt: readonly number[] }
  /**
   * The counts of the evaluation window: partners' placement samples and the mailbox's own sends and bounces; the
   * placement samples of the longer window (30 days) that say whether the mailbox has an established sample; and its
   * peers' placement samples over the same window (the pool's other senders of its provider), against which a
   * mailbox without an established sample is judged.
   */
  | ({ readonly kind: 'evaluation'; readonly at: number } & EvaluationCounts)
  | { readonly kind: 'clock'; readonly at: number }
  | { readonly kind: 'user_pause'; readonly at: number }
  | { readonly kind: 'user_resume'; readonly at: number };

export interface SafetyAlert {
  readonly status: 'paused' | 'quarantined' | 'blocked';
  readonly reason: PauseReason | PlacementReason;
  readonly remediation: string;
}

export interface SafetyOutcome {
  readonly state: SafetyState;
  readonly changed: boolean;
  /** Set whenever warm-up stops for a reason other than the user's own pause: it must be raised, never swallowed. */
  readonly alert: SafetyAlert | null;
  /** A partner address that bounced as unknown or unusable: it leaves the pool; the sender is not penalised. */
  readonly removePartner: string | null;
  /** When a pause, quarantine or block ended: how long it lasted, for `rampAfterPause` (§A). */
  readonly resumedAfterDays: number | null;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export type BounceClass = 'restricted_sender' | 'recipient' | 'sender' | 'transient';

/**
 * What a bounce says about whom, by its enhanced status code (RFC 3463 class.subject.detail): 5.1.8 ("bad outbound
 * sender", Microsoft's restricted sender) and 5.7.x (security or policy) stop the sender at once (§G); other 5.1.x
 * (addressing) and 5.2.x (the recipient's mailbox) are the partner's problem, except 5.1.90, Microsoft's "daily
 * recipient limit reached", which is the sender's; other 5.x.x count as the sender's bounces; 4.x.x are transient.
 * @see docs/standards.md §11, docs/graph.md §3.5
 */
export function classifyBounce(enhancedStatus: string): BounceClass {
  const match = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(enhancedStatus.trim());
  if (match === null || match[1] !== '5') return 'transient';
  const subject = Number(match[2]);
  const detail = Number(match[3]);
  if ((subject === 1 && detail === 8) || subject === 7) return 'restricted_sender';
  if (subject === 1 && detail === 90) return 'sender';
  if (subject === 1 || subject === 2) return 'recipient';
  return 'sender';
}

/** The remediation shown with each stop. */
export function remediationFor(reason: PauseReason | PlacementReason, settings: WarmupSettings): string {
  const s = settings.safety;
  switch (reason) {
    case 'restricted_sender':
      return (
        'Microsoft has restricted this mailbox from sending (a 5.1.8 or 5.7.x bounce). A Microsoft 365 administrator ' +
        'must release it from the Restricted entities page of the Microsoft Defender portal (Outlook.com: sign in ' +
        'and complete the verification Microsoft asks for); then resume warm-up, which restarts on probation.'
      );
    case 'grant_revoked':
      return 'The permission to this mailbox was revoked. Reconnect the mailbox; warm-up resumes on probation after the reconnect.';
    case 'throttling_storms':
      return (
        `Microsoft throttled this mailbox ${s.throttleStormsToPause} times within ${s.throttleStormWindowMinutes} minutes. ` +
        `Warm-up pauses for ${s.throttlePauseHours} hours and then resumes on probation; nothing needs fixing.`
      );
    case 'spam_placement':
      return (
        'Too much warm-up mail from this mailbox landed in Junk. Check that the sending domain passes SPF, DKIM and ' +
        'DMARC and that other mail sent from this mailbox is wanted; warm-up restarts on probation when the hold ends.'
      );
    case 'sender_bounces':
      return (
        'Too many warm-up messages from this mailbox bounced. Check the bounce notices in its Inbox for the cause; ' +
        'warm-up restarts on probation when the hold ends.'
      );
    case 'user':
      return 'Paused by you. Resume warm-up when you are ready.';
  }
}

export interface EvaluationCounts {
  readonly placementSamples: number;
  readonly placementSamplesLong: number;
  readonly inJunk: number;
  readonly sends: number;
  readonly senderBounces: number;
  readonly peerPlacementSamples: number;
  readonly peerInJunk: number;
}

type Verdict =
  | { status: 'active' }
  | { status: 'watch'; reason: 'spam_placement' }
  | { status: 'throttled'; reason: 'sender_bounces' }
  | { status: 'quarantined'; reason: PlacementReason }
  | { status: 'blocked'; reason: 'spam_placement' };

const SEVERITY: Record<Verdict['status'], number> = { active: 0, watch: 1, throttled: 2, quarantined: 3, blocked: 4 };

/**
 * The status the evaluation window calls for (thresholds are inclusive; too few samples say nothing). Spam placement
 * is judged on `spamMinSamples` (20) in the window. With an established sample (`spamMinSamplesLong`, 100 over
 * `spamLongWindowDays`, warmbly's bands) the mailbox's own Junk rate meets the bands. Before that it is judged
 * against its peers (docs/warmup.md §G): a mailbox starting warm-up in Junk with the rest of its pool is what
 * warm-up is for, but one far worse than its peers over the same window is doing something of its own (sending at
 * full volume, say), so the part of its Junk rate above theirs meets the bands, once that excess is significant.
 */
export function evaluationVerdict(counts: EvaluationCounts, settings: WarmupSettings): Verdict {
  const s = settings.safety;
  let spam: Verdict = { status: 'active' };
  if (counts.placementSamples >= s.spamMinSamples) {
    const rate = counts.inJunk / counts.placementSamples;
    const judged = counts.placementSamplesLong >= s.spamMinSamplesLong ? rate : junkAbovePeers(counts, settings);
    if (judged >= s.spamBlockRate) spam = { status: 'blocked', reason: 'spam_placement' };
    else if (judged >= s.spamQuarantineRate) spam = { status: 'quarantined', reason: 'spam_placement' };
    else if (judged >= s.spamWatchRate) spam = { status: 'watch', reason: 'spam_placement' };
  }
  let bounces: Verdict = { status: 'active' };
  if (counts.sends >= s.bounceMinSends) {
    const rate = counts.senderBounces / counts.sends;
    if (rate >= s.bounceQuarantineRate) bounces = { status: 'quarantined', reason: 'sender_bounces' };
    else if (rate >= s.bounceThrottleRate) bounces = { status: 'throttled', reason: 'sender_bounces' };
  }
  return SEVERITY[bounces.status] > SEVERITY[spam.status] ? bounces : spam;
}

/**
 * How far the mailbox's Junk rate lies above its peers', or 0 when that is not significant: peers with fewer than
 * `spamPeerMinSamples` placements say nothing, and the difference must reach `spamPeerZ` standard errors (the
 * one-sided two-proportion z-test, with the pooled rate; at 3, about 1 in 740 evaluations of a mailbox placed like
 * its peers trips it by chance, while a small pool's uncertain rate widens the error instead of being taken as exact).
 */
export function junkAbovePeers(counts: EvaluationCounts, settings: WarmupSettings): number {
  const s = settings.safety;
  const n = counts.placementSamples;
  const m = counts.peerPlacementSamples;
  if (m < s.spamPeerMinSamples || n === 0) return 0;
  const pooled = (counts.inJunk + counts.peerInJunk) / (n + m);
  if (pooled === 0 || pooled === 1) return 0;
  const excess = counts.inJunk / n - counts.peerInJunk / m;
  const z = excess / Math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m));
  return z >= s.spamPeerZ ? excess : 0;
}

const unchanged = (state: SafetyState): SafetyOutcome => ({
  state,
  changed: false,
  alert: null,
  removePartner: null,
  resumedAfterDays: null,
});

function stop(state: SafetyState, settings: WarmupSettings): SafetyOutcome {
  const alert =
    state.status === 'paused' || state.status === 'quarantined' || state.status === 'blocked'
      ? state.reason === 'user'
        ? null
        : { status: state.status, reason: state.reason, remediation: remediationFor(state.reason, settings) }
      : null;
  return { state, changed: true, alert, removePartner: null, resumedAfterDays: null };
}

function reenter(from: SafetyState, at: number, settings: WarmupSettings, probation: boolean): SafetyOutcome {
  const state: SafetyState = probation
    ? { status: 'probation', since: at, until: at + settings.volume.probationDays * DAY }
    : { status: 'active', since: at };
  return { state, changed: true, alert: null, removePartner: null, resumedAfterDays: (at - from.since) / DAY };
}

/** States in which the mailbox sends warm-up mail. */
const SENDING = new Set<SafetyStatus>(['active', 'watch', 'throttled', 'probation']);

/** The next state after `signal`, and what the caller must do about it. */
export function nextSafetyState(state: SafetyState, signal: SafetySignal, settings: WarmupSettings): SafetyOutcome {
  const s = settings.safety;
  const at = signal.at;
  const pause = (reason: PauseReason, until: number | null) =>
    stop({ status: 'paused', since: at, until, reason }, settings);

  switch (signal.kind) {
    case 'bounce': {
      const kind = classifyBounce(signal.enhancedStatus);
      if (kind === 'recipient') return { ...unchanged(state), removePartner: signal.recipient };
      if (kind === 'restricted_sender' && !(state.status === 'paused' && state.reason === 'restricted_sender')) {
        return pause('restricted_sender', null);
      }
      // A sender bounce counts through the next evaluation; a transient one counts nowhere.
      return unchanged(state);
    }
    case 'grant_revoked':
      // Sending states and a throttling pause (which would end by itself) wait for the reconnect. Other stops keep
      // their own way out: a hold runs its course (a revoke and reconnect must not cut a quarantine short), and the
      // user's or an administrator's resume leads to a send that reports the revoked grant again.
      return SENDING.has(state.status) || (state.status === 'paused' && state.reason === 'throttling_storms')
        ? pause('grant_revoked', null)
        : unchanged(state);
    case 'reconnected':
      return state.status === 'paused' && state.reason === 'grant_revoked'
        ? reenter(state, at, settings, true)
        : unchanged(state);
    case 'throttle_storm': {
      if (!SENDING.has(state.status)) return unchanged(state);
      const windowStart = at - s.throttleStormWindowMinutes * 60_000;
      const recent = signal.stormsStartedAt.filter((t) => t > windowStart && t <= at).length;
      return recent >= s.throttleStormsToPause
        ? pause('throttling_storms', at + s.throttlePauseHours * HOUR)
        : unchanged(state);
    }
    case 'evaluation':
      return evaluate(state, evaluationVerdict(signal, settings), at, settings);
    case 'clock':
      if ((state.status === 'quarantined' || state.status === 'blocked') && at >= state.until) {
        return reenter(state, at, settings, true);
      }
      if (state.status === 'paused' && state.until !== null && at >= state.until)
        return reenter(state, at, settings, true);
      if (state.status === 'probation' && at >= state.until) {
        return { ...unchanged({ status: 'active', since: at }), changed: true };
      }
      return unchanged(state);
    case 'user_pause':
      return SENDING.has(state.status) ? pause('user', null) : unchanged(state);
    case 'user_resume':
      if (state.status !== 'paused') return unchanged(state);
      if (state.reason === 'user') return reenter(state, at, settings, false);
      // The user says the restriction was lifted, or does not want to wait out a throttling pause: on probation.
      if (state.reason === 'restricted_sender' || state.reason === 'throttling_storms') {
        return reenter(state, at, settings, true);
      }
      // A revoked grant needs a reconnect: resuming cannot work without one.
      return unchanged(state);
  }
}

function evaluate(state: SafetyState, verdict: Verdict, at: number, settings: WarmupSettings): SafetyOutcome {
  if (!SENDING.has(state.status)) return unchanged(state);
  if (verdict.status === 'quarantined' || verdict.status === 'blocked') {
    const days = verdict.status === 'blocked' ? settings.safety.blockDays : settings.safety.quarantineDays;
    return stop({ ...verdict, since: at, until: at + days * DAY }, settings);
  }
  // On probation the volume is already the minimum: milder verdicts wait for its end.
  if (state.status === 'probation') return unchanged(state);
  if (verdict.status === state.status) return unchanged(state);
  const next: SafetyState = verdict.status === 'active' ? { status: 'active', since: at } : { ...verdict, since: at };
  return { ...unchanged(next), changed: true };
}
