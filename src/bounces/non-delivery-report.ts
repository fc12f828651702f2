import type { GraphMessage } from '../graph/graph-types.js';

/**
 * Recognises an Exchange non-delivery report (NDR) among Inbox messages and reads what it says. Pure: no I/O.
 *
 * What an NDR looks like through Graph (the emulator's emulator/graph/non-delivery.ts follows the same sources):
 * - sender "Microsoft Outlook" `MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{the sender's domain}`, subject
 *   `Undeliverable: {original subject}` (docs/graph.md §3.5). Outlook.com's come from
 *   `postmaster@{domain}` [GUESS];
 * - the body's "Diagnostic information for administrators" section names each rejected recipient with the enhanced
 *   status code and SMTP response, and "Original message headers" holds the original's header fields, `Message-ID`
 *   among them (docs/graph.md §3.5). That Message-ID is how a report is matched to the message that caused it.
 * Only a report from the mailbox's own domain counts (Exchange generates the NDR for its own sender), so mail from
 * anyone else dressed as a bounce is ignored.
 */

export interface NonDeliveryReport {
  /** The rejected message's Message-ID, `<…>` as written in its headers. */
  originalMessageId: string;
  /** The first permanent (5.x.x) enhanced status code of the diagnostic section, e.g. `5.1.90`. */
  status: string;
  /** The SMTP response that carried it, for people (capped). */
  detail: string;
}

/** Exchange Online's system mailbox that sends NDRs (docs/graph.md §3.5), and the classic postmaster names. */
const NDR_SENDER_LOCAL_PARTS = new Set([
  'microsoftexchange329e71ec88ae4615bbc36ab6ce41109e',
  'postmaster',
  'mailer-daemon',
]);

const SUBJECT = /^\s*undeliverable\s*:/i;
const MESSAGE_ID_HEADER = /^message-id:\s*(<[^<>\s]+>)\s*$/im;
const PERMANENT_STATUS = /\b(5\.\d{1,3}\.\d{1,3})\b/;
const DETAIL_MAX = 300;

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Whether the listing's fields (no body) make this a candidate worth fetching the body of. */
export function looksLikeNonDeliveryReport(
  message: Pick<GraphMessage, 'subject' | 'from'>,
  mailboxAddress: string,
): boolean {
  const from = message.from?.emailAddress?.address?.toLowerCase() ?? '';
  const at = from.lastIndexOf('@');
  if (at <= 0) return false;
  return (
    SUBJECT.test(message.subject ?? '') &&
    NDR_SENDER_LOCAL_PARTS.has(from.slice(0, at)) &&
    domainOf(from) === domainOf(mailboxAddress)
  );
}

/**
 * Reads a candidate's text body (asked for with `Prefer: outlook.body-content-type="text"`). Null when it is not a
 * report we can use: not from the mailbox's domain, no original Message-ID, or no permanent status code (a 4.x.x
 * "delayed" notice is not a bounce).
 */
export function parseNonDeliveryReport(
  message: Pick<GraphMessage, 'subject' | 'from' | 'body'>,
  mailboxAddress: string,
): NonDeliveryReport | null {
  if (!looksLikeNonDeliveryReport(message, mailboxAddress)) return null;
  const text = (message.body?.content ?? '').replace(/\r\n/g, '\n');
  const headersAt = text.search(/^original message headers:?\s*$/im);
  if (headersAt < 0) return null;
  const originalMessageId = MESSAGE_ID_HEADER.exec(text.slice(headersAt))?.[1];
  if (!originalMessageId) return null;
  const diagnosticAt = text.search(/^diagnostic information for administrators:?\s*$/im);
  const diagnostic = text.slice(Math.max(diagnosticAt, 0), headersAt);
  const status = PERMANENT_STATUS.exec(diagnostic)?.[1];
  if (!status) return null;
  const line = diagnostic.split('\n').find((each) => each.includes(status)) ?? status;
  return { originalMessageId, status, detail: line.trim().slice(0, DETAIL_MAX) };
}
