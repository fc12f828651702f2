import type { EmulatorContext } from '../context.js';
import type { EmailAddress, Recipient, User } from '../state/model.js';
import { applyInboxRules } from './inbox-rules.js';
import {
  conversationIdFor,
  createMessage,
  isoNow,
  newInternetMessageId,
  wellKnownFolderOrThrow,
} from './mail-store.js';

/**
 * Exchange's non-delivery reports (NDRs), as the sender finds them in its Inbox through Graph.
 *
 * What Microsoft shows (sources):
 * - The Graph `message` of an NDR: `from`/`sender` "Microsoft Outlook" <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@
 *   {the organisation's domain}>, subject `Undeliverable: {original subject}`, body starting "Delivery has failed to
 *   these recipients or groups:", `toRecipients` naming the recipients that failed (not the sender)
 *   docs/graph.md §3.5.
 * - The body's "Diagnostic information for administrators" section: generating server, each rejected recipient with
 *   the enhanced status code and SMTP response, then "Original message headers:" holding the rejected message's
 *   header fields, `Message-ID` among them (docs/graph.md §3.5). That section is how a client reaches the original
 *   Message-ID.
 * - The status texts are the same page's table (5.1.8, 5.1.90, 5.1.10).
 * - [GUESS] Outlook.com (personal accounts) NDRs come from `postmaster@outlook.com`; the report also carries
 *   `In-Reply-To: <original Message-ID>` and `X-MS-Exchange-Message-Is-Ndr` in its internet headers (Exchange threads
 *   an NDR with its original); a client should rely on the "Original message headers" section.
 */

export interface NdrReason {
  /** Enhanced status code (RFC 3463), e.g. `5.1.90`. */
  status: string;
  /** The SMTP response in the diagnostic section. */
  smtpResponse: string;
  /** The sentence the user information section shows. */
  userText: string;
}

/** The reasons the emulator reports, with Exchange Online's texts (see the module comment for sources). */
export const NDR_REASONS = {
  recipientNotFound: {
    status: '5.1.10',
    smtpResponse: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    userText:
      "The email address you entered couldn't be found. Please check the recipient's email address and try to resend the message.",
  },
  restrictedSender: {
    status: '5.1.8',
    smtpResponse: '550 5.1.8 Access denied, bad outbound sender',
    userText:
      "Your message couldn't be delivered because you weren't recognized as a valid sender. The most common reason for this is that your email address is suspected of sending spam and it's no longer allowed to send messages outside of your organization.",
  },
  dailyRecipientLimit: {
    status: '5.1.90',
    smtpResponse:
      "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients",
    userText: "Your message can't be sent because you've reached your daily limit for message recipients.",
  },
  /**
   * [OBS] Exchange's report for a recipient over quota, as recorded in the wild: "The recipient's mailbox is full and
   * can't accept messages now. Please try resending this message later, or contact the recipient directly." with
   * "Remote Server returned '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException…'".
   */
  mailboxFull: {
    status: '5.2.2',
    smtpResponse:
      '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception',
    userText:
      "The recipient's mailbox is full and can't accept messages now. Please try resending this message later, or contact the recipient directly.",
  },
} as const satisfies Record<string, NdrReason>;

/** The fixed local part of Exchange Online's system mailbox that sends NDRs (docs/graph.md §3.5). */
export const EXCHANGE_NDR_MAILBOX = 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e';

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Who an NDR comes from: Exchange Online's system mailbox for work accounts, postmaster for Outlook.com [GUESS]. */
export function ndrSender(sender: User): EmailAddress {
  const domain = domainOf(sender.email);
  return {
    name: 'Microsoft Outlook',
    address: sender.kind === 'personal' ? `postmaster@${domain}` : `${EXCHANGE_NDR_MAILBOX}@${domain}`,
  };
}

export interface RejectedMessage {
  from: EmailAddress;
  subject: string;
  internetMessageId: string;
  /** The `To` header of the original (its recipients as written). */
  to: string[];
  /** When it was submitted (epoch ms). */
  submittedAt: number;
}

/** Puts one NDR for `failed` recipients of `original` into `sender`'s Inbox (inbox rules apply, as to any mail). */
export function deliverNonDeliveryReport(
  ctx: EmulatorContext,
  sender: User,
  original: RejectedMessage,
  failed: string[],
  reason: NdrReason,
): void {
  const mailbox = ctx.world.mailboxes[sender.id];
  if (!mailbox) return;
  const from: Recipient = { emailAddress: ndrSender(sender) };
  const generatingServer = domainOf(sender.email);
  const fromHeader = original.from.name ? `${original.from.name} <${original.from.address}>` : original.from.address;
  const lines = [
    'Delivery has failed to these recipients or groups:',
    '',
    ...failed.map((address) => `${address} (${address})`),
    reason.userText,
    '',
    'Diagnostic information for administrators:',
    '',
    `Generating server: ${generatingServer}`,
    '',
    ...failed.flatMap((address) => [address, `Remote server returned '${reason.smtpResponse}'`, '']),
    'Original message headers:',
    '',
    `From: ${fromHeader}`,
    `To: ${original.to.join(', ')}`,
    `Subject: ${original.subject}`,
    `Date: ${new Date(original.submittedAt).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${original.internetMessageId}`,
    'MIME-Version: 1.0',
  ];
  const ndrId = newInternetMessageId(ctx, sender.kind === 'personal');
  const report = createMessage(ctx, mailbox, {
    folder: wellKnownFolderOrThrow(mailbox, 'inbox'),
    subject: `Undeliverable: ${original.subject}`,
    body: { contentType: 'text', content: lines.join('\r\n') },
    from,
    sender: from,
    // Graph lists the failed recipients here, not the NDR's addressee ([OBS] docs/graph.md §3.5).
    toRecipients: failed.map((address) => ({ emailAddress: { name: address, address } })),
    ccRecipients: [],
    bccRecipients: [],
    replyTo: [],
    internetMessageHeaders: [
      { name: 'Message-ID', value: ndrId },
      { name: 'In-Reply-To', value: original.internetMessageId },
      { name: 'X-MS-Exchange-Message-Is-Ndr', value: '' },
    ],
    attachments: [],
    internetMessageId: ndrId,
    conversationId: conversationIdFor(original.internetMessageId),
    isDraft: false,
    isRead: false,
    importance: 'normal',
    sentDateTime: isoNow(ctx),
    inReplyTo: original.internetMessageId,
    senderUserId: null,
  });
  applyInboxRules(ctx, mailbox, report, sender.email);
}
