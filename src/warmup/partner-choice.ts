import type { RandomSource } from './seeded-random.js';
import { weightedIndex } from './seeded-random.js';
import type { WarmupProvider, WarmupSettings } from './warmup-settings.js';

/**
 * Who a mailbox sends its warm-up threads to today (docs/warmup.md §C): hard filters, a score, then a weighted
 * random choice among the top candidates, one partner at a time (each choice counts against the domain for the next).
 */

export interface PoolMember {
  readonly id: string;
  /** Lower-case domain of the mailbox's address. */
  readonly domain: string;
  readonly organizationId: string;
  readonly provider: WarmupProvider;
}

/** The statuses in which a partner receives warm-up mail: healthy, on watch, or re-entering on probation. */
const RECEIVING_STATUSES = new Set(['active', 'watch', 'probation']);

export interface PartnerCandidate extends PoolMember {
  /** The partner's safety status (docs/warmup.md §G). */
  readonly status: 'active' | 'watch' | 'throttled' | 'probation' | 'quarantined' | 'blocked' | 'paused';
  readonly receiveOnly: boolean;
  /** Days the partner has been continuously healthy. */
  readonly healthyDays: number;
  readonly receivedFromSenderToday: boolean;
  readonly inboundToday: number;
  /** The partner's own T today (for a receive-only partner, the T it would send). */
  readonly targetToday: number;
  /** Warm-up mail the partner received and sent over the balance window (7 days). */
  readonly inboundInWindow: number;
  readonly outboundInWindow: number;
}

/** What the sender did recently, by partner and by domain. */
export interface SenderHistory {
  /** Sends to each partner id over the last `recentPairDays` (7). */
  readonly sendsToPartner: ReadonlyMap<string, number>;
  /** Sends to each domain over the last `domainSendHours` (72). */
  readonly sendsToDomain: ReadonlyMap<string, number>;
}

export type ExclusionReason =
  | 'self'
  | 'not_receiving'
  | 'same_domain'
  | 'same_organization'
  | 'already_received_today'
  | 'inbound_full_today'
  | 'inbound_over_balance';

export interface PartnerChoice {
  readonly partners: readonly PartnerCandidate[];
  readonly excluded: readonly { id: string; reason: ExclusionReason }[];
  /** Sends asked for that found no partner. */
  readonly unfilled: number;
}

/**
 * How many more messages a mailbox may send (`send`) or receive (`receive`) and keep its inbound and outbound
 * counts within ±tolerance (30%) of each other over the window, with a small slack while the counts are small.
 */
export function balanceHeadroom(
  inbound: number,
  outbound: number,
  settings: WarmupSettings,
): { send: number; receive: number } {
  const { balanceTolerance, balanceSlack } = settings.partners;
  const room = (mine: number, theirs: number) =>
    Math.max(0, Math.floor((1 + balanceTolerance) * theirs + balanceSlack - mine));
  return { send: room(outbound, inbound), receive: room(inbound, outbound) };
}

/** The first hard filter a candidate fails, or null if it may receive from `sender` today. */
export function exclusionReason(
  sender: PoolMember,
  candidate: PartnerCandidate,
  poolSpansOrganizations: boolean,
  settings: WarmupSettings,
): ExclusionReason | null {
  if (candidate.id === sender.id) return 'self';
  if (!RECEIVING_STATUSES.has(candidate.status)) return 'not_receiving';
  if (candidate.domain === sender.domain) return 'same_domain';
  if (poolSpansOrganizations && candidate.organizationId === sender.organizationId) return 'same_organization';
  if (candidate.receivedFromSenderToday) return 'already_received_today';
  if (!(candidate.inboundToday < settings.partners.inboundTodayFactor * candidate.targetToday)) {
    return 'inbound_full_today';
  }
  // A receive-only partner sends nothing, so only senders are held to the balance.
  if (!candidate.receiveOnly) {
    const headroom = balanceHeadroom(candidate.inboundInWindow, candidate.outboundInWindow, settings);
    if (headroom.receive < 1) return 'inbound_over_balance';
  }
  return null;
}

/** The §C score: +20 other provider, −15 pair used in 7 days, −10 per send to the domain in 72 h, +10 established. */
export function partnerScore(
  sender: PoolMember,
  candidate: PartnerCandidate,
  history: SenderHistory,
  settings: WarmupSettings,
): number {
  const p = settings.partners;
  let score = 0;
  if (candidate.provider !== sender.provider) score += p.differentProviderBonus;
  if ((history.sendsToPartner.get(candidate.id) ?? 0) > 0) score += p.recentPairPenalty;
  score += p.domainSendPenalty * (history.sendsToDomain.get(candidate.domain) ?? 0);
  if (candidate.healthyDays > p.establishedAfterDays) score += p.establishedBonus;
  return score;
}

function shuffled<T>(items: readonly T[], random: RandomSource): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Up to `count` distinct partners for `sender` today. Candidates that pass the filters are ranked by score (ties in
 * random order, so no mailbox is favoured by its id); one of the top `topCandidates` (5) is drawn with weight
 * 2^(score / scoreScale); the domain count is raised before the next draw.
 */
export function choosePartners(
  request: {
    readonly sender: PoolMember;
    readonly candidates: readonly PartnerCandidate[];
    readonly history: SenderHistory;
    readonly count: number;
    readonly poolSpansOrganizations: boolean;
    readonly random: RandomSource;
  },
  settings: WarmupSettings,
): PartnerChoice {
  const { sender, history, random } = request;
  const excluded: { id: string; reason: ExclusionReason }[] = [];
  let eligible: PartnerCandidate[] = [];
  for (const candidate of request.candidates) {
    const reason = exclusionReason(sender, candidate, request.poolSpansOrganizations, settings);
    if (reason === null) eligible.push(candidate);
    else excluded.push({ id: candidate.id, reason });
  }
  eligible = shuffled(eligible, random);
  const sendsToDomain = new Map(history.sendsToDomain);
  const partners: PartnerCandidate[] = [];
  while (partners.length < request.count && eligible.length > 0) {
    const current = { sendsToPartner: history.sendsToPartner, sendsToDomain };
    const ranked = eligible
      .map((candidate) => ({ candidate, score: partnerScore(sender, candidate, current, settings) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, settings.partners.topCandidates);
    const best = ranked[0]!.score;
    // Relative to the best, so that large negative scores cannot underflow every weight to zero.
    const weights = ranked.map(({ score }) => 2 ** ((score - best) / settings.partners.scoreScale));
    const { candidate } = ranked[weightedIndex(random, weights)]!;
    partners.push(candidate);
    eligible = eligible.filter((other) => other !== candidate);
    sendsToDomain.set(candidate.domain, (sendsToDomain.get(candidate.domain) ?? 0) + 1);
  }
  return { partners, excluded, unfilled: request.count - partners.length };
}
