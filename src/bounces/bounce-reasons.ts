import { HEALTH_REMEDIATION, type Remediation } from '../health/remediation.js';

/**
 * What a non-delivery report's enhanced status code means for mailbridge. Codes and their meaning:
 * docs/graph.md §3.5, docs/standards.md §11
 * (5.1.1 bad destination mailbox, 5.1.10 recipient not found, 5.1.8 "Access denied, bad outbound sender", 5.1.90
 * daily recipient limit) and RFC 3463 (X.2.2 mailbox full).
 */
export const BOUNCE_REASONS = [
  'recipient_unknown',
  'restricted_sender',
  'daily_limit',
  'mailbox_full',
  'rejected',
] as const;
export type BounceReason = (typeof BOUNCE_REASONS)[number];

/** The mailbox-wide consequence of a bounce, besides the message's own `bounced` state. */
export type BounceEffect =
  | { kind: 'none' }
  /** The account can no longer send: `mailbox_unusable` with the operator's remediation. */
  | { kind: 'account_unusable' }
  /** Exchange blocks the mailbox until its rolling 24-hour window frees: the outbox pauses the lane. */
  | { kind: 'pause_lane' };

export function bounceReasonFor(status: string): BounceReason {
  switch (status) {
    case '5.1.1':
    case '5.1.10':
      return 'recipient_unknown';
    case '5.1.8':
      return 'restricted_sender';
    case '5.1.90':
      return 'daily_limit';
    case '5.2.2':
      return 'mailbox_full';
    default:
      return 'rejected';
  }
}

export function bounceEffectOf(reason: BounceReason): BounceEffect {
  if (reason === 'restricted_sender') return { kind: 'account_unusable' };
  if (reason === 'daily_limit') return { kind: 'pause_lane' };
  return { kind: 'none' };
}

export const BOUNCE_REMEDIATION: Readonly<Record<BounceReason, Remediation>> = {
  recipient_unknown: {
    title: 'Recipient address does not exist',
    user: "The recipient's mail system says this address does not exist. Check the address; sending again will fail the same way.",
    operator:
      'Non-delivery report 5.1.1 / 5.1.10 (recipient not found). Remove or correct the address at the host; mailbridge does not retry a bounce.',
  },
  restricted_sender: HEALTH_REMEDIATION['mailbox_unusable:restricted_sender'],
  daily_limit: {
    title: 'Daily recipient limit reached',
    user: "This mailbox reached Microsoft's daily limit for message recipients. This message was not delivered; sending resumes by itself within 24 hours.",
    operator:
      "Non-delivery report 550 5.1.90 (daily recipient limit, a rolling 24 hours). mailbridge pauses the mailbox's sending for 24 hours after the bounced send. Lower the per-mailbox daily recipient budget (MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY / MAILBRIDGE_PERSONAL_MAILBOX_RECIPIENTS_PER_DAY) if this repeats: other apps may be sending from the same mailbox.",
  },
  mailbox_full: {
    title: "Recipient's mailbox is full",
    user: "The recipient's mailbox is full. Try again later or contact the recipient another way.",
    operator:
      'Non-delivery report 5.2.2 (mailbox full). mailbridge does not retry a bounce; the host may resend later.',
  },
  rejected: {
    title: 'Not delivered',
    user: "The recipient's mail system refused this message. See the report's status code for why.",
    operator:
      'A non-delivery report with a permanent status code mailbridge has no specific handling for; see `bounce.status`.',
  },
};
