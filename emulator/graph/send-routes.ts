import type { FastifyInstance } from 'fastify';
import { type AddressObject, type ParsedMail, simpleParser } from 'mailparser';
import type { EmulatorContext } from '../context.js';
import type { FileAttachment, InternetMessageHeader, MailMessage, Recipient } from '../state/model.js';
import { type DeliveryOutcome, deliverSubmission, type SubmittedMessage } from './delivery.js';
import { GraphError, invalidValue, requestTooLarge } from './graph-error.js';
import { checkSendingLimits, recordSend } from './limits.js';
import {
  createMessage,
  findMessageOrThrow,
  isoNow,
  newInternetMessageId,
  wellKnownFolderOrThrow,
} from './mail-store.js';
import {
  isPlainObject,
  MAX_INLINE_ATTACHMENT_BYTES,
  type MessageInput,
  parseMessageInputOrThrow,
  validateRecipientsOrThrow,
  validateSenderOrThrow,
} from './message-input.js';
import { renderMessage } from './message-view.js';
import { type GraphCall, graphRoute, jsonBodyOrThrow, SCOPES } from './pipeline.js';

/**
 * Sending (docs/graph.md §3.1): `POST /me/sendMail` (JSON or base64 MIME), `POST /me/messages/{id}/send`,
 * `reply`/`replyAll` (all Mail.Send, 202 with an empty body; 202 is acceptance, delivery happens in the emulated
 * transport), and `createReply`/`createReplyAll` (Mail.ReadWrite, 201 with the draft).
 */

function ownerRecipient(call: GraphCall): Recipient {
  return { emailAddress: { name: call.user.displayName, address: call.user.email } };
}

function allRecipients(
  message: Pick<SubmittedMessage, 'toRecipients' | 'ccRecipients' | 'bccRecipients'>,
): Recipient[] {
  return [...message.toRecipients, ...message.ccRecipients, ...message.bccRecipients];
}

/** Validates recipients, applies the sending limits, and hands the message to the transport. */
export function submitOrThrow(
  call: GraphCall,
  via: 'sendMail' | 'sendMailMime' | 'draftSend' | 'reply',
  message: SubmittedMessage,
  options: { saveToSentItems: boolean; draft?: MailMessage; replyToImmutableId?: string | null },
): DeliveryOutcome {
  const recipients = allRecipients(message);
  validateRecipientsOrThrow(recipients);
  const verdict = checkSendingLimits(call.ctx, call.user, call.usage, recipients.length);
  if (verdict.outcome === 'reject') {
    call.request.emulatorNote = `limit:${verdict.kind}`;
    throw new GraphError(verdict.status, verdict.code, verdict.message, {
      ...(verdict.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: verdict.retryAfterSeconds }),
    });
  }
  if (verdict.outcome === 'deliver') {
    if (verdict.delayed) call.request.emulatorNote = 'limit:messagesPerMinute:delayed';
    recordSend(call.ctx, call.usage, recipients.length, verdict.deliverAt);
  } else {
    call.request.emulatorNote = `limit:${verdict.kind}:ndr`;
  }
  const transport = verdict.outcome === 'deliver' ? { deliverAt: verdict.deliverAt } : { report: verdict.reason };
  return deliverSubmission(
    call.ctx,
    {
      via,
      sender: call.user,
      from: { name: call.user.displayName, address: call.user.email },
      message,
      saveToSentItems: options.saveToSentItems,
      ...(options.draft ? { draft: options.draft } : {}),
      replyToImmutableId: options.replyToImmutableId ?? null,
    },
    transport,
  );
}

function submittedFromInput(input: MessageInput): SubmittedMessage {
  return {
    subject: input.subject ?? '',
    body: input.body ?? { contentType: 'text', content: '' },
    toRecipients: input.toRecipients ?? [],
    ccRecipients: input.ccRecipients ?? [],
    bccRecipients: input.bccRecipients ?? [],
    replyTo: input.replyTo ?? [],
    internetMessageHeaders: input.internetMessageHeaders ?? [],
    attachments: input.attachments ?? [],
    importance: input.importance ?? 'normal',
    ...(input.categories ? { categories: input.categories } : {}),
    ...(input.internetMessageId ? { internetMessageId: input.internetMessageId } : {}),
  };
}

function invalidParameter(name: string, operation: string): GraphError {
  return new GraphError(
    400,
    'RequestBodyRead',
    `The parameter '${name}' in the request payload is not a valid parameter for the operation '${operation}'.`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// sendMail

async function sendMailJson(call: GraphCall, body: unknown) {
  if (!isPlainObject(body))
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'Message' is empty.");
  let rawMessage: unknown;
  let saveToSentItems = true;
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (lower === 'message') rawMessage = value;
    else if (lower === 'savetosentitems') {
      if (typeof value === 'boolean') saveToSentItems = value;
      else if (typeof value === 'string' && /^(true|false)$/i.test(value))
        saveToSentItems = value.toLowerCase() === 'true';
      else if (value !== null) throw invalidValue('SaveToSentItems', 'Edm.Boolean');
    } else if (!key.startsWith('@odata')) throw invalidParameter(key, 'sendMail');
  }
  if (rawMessage === undefined || rawMessage === null) {
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'Message' is empty.");
  }
  const input = parseMessageInputOrThrow(call.ctx, rawMessage);
  // The sender is always the mailbox owner; naming anyone else needs send-as rights (docs/graph.md §3.2).
  validateSenderOrThrow(call.user.email, input.from, input.sender);
  submitOrThrow(call, 'sendMail', submittedFromInput(input), { saveToSentItems });
  return { status: 202 };
}

function addressesOf(value: AddressObject | AddressObject[] | undefined): Recipient[] {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  const out: Recipient[] = [];
  const visit = (entries: AddressObject['value']) => {
    for (const entry of entries) {
      if (entry.group) visit(entry.group);
      else if (entry.address) {
        out.push({
          emailAddress: entry.name ? { name: entry.name, address: entry.address } : { address: entry.address },
        });
      }
    }
  };
  for (const each of list) visit(each.value);
  return out;
}

function customHeadersOf(parsed: ParsedMail): InternetMessageHeader[] {
  const headers: InternetMessageHeader[] = [];
  for (const line of parsed.headerLines) {
    if (/^x-/i.test(line.key)) {
      const colon = line.line.indexOf(':');
      headers.push({ name: line.line.slice(0, colon).trim(), value: line.line.slice(colon + 1).trim() });
    }
  }
  return headers;
}

/** Turns a parsed MIME message into what the transport carries (shared with the SMTP sink). */
export function submittedFromMime(ctx: EmulatorContext, parsed: ParsedMail): SubmittedMessage {
  const attachments: FileAttachment[] = parsed.attachments.map((attachment) => ({
    id: `AAMkAtt${ctx.random.token(24)}`,
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: attachment.filename ?? 'attachment',
    contentType: attachment.contentType || 'application/octet-stream',
    size: attachment.content.length,
    isInline: attachment.contentDisposition === 'inline',
    contentBytes: attachment.content.toString('base64'),
    lastModifiedDateTime: isoNow(ctx),
  }));
  const importanceHeader = String(
    parsed.headers.get('importance') ?? parsed.headers.get('x-priority') ?? '',
  ).toLowerCase();
  const importance: MailMessage['importance'] =
    importanceHeader.startsWith('high') || importanceHeader.startsWith('1')
      ? 'high'
      : importanceHeader.startsWith('low') || importanceHeader.startsWith('5')
        ? 'low'
        : 'normal';
  const messageId = parsed.messageId && /^<[^<>\s@]+@[^<>\s@]+>$/.test(parsed.messageId) ? parsed.messageId : undefined;
  return {
    subject: parsed.subject ?? '',
    body:
      typeof parsed.html === 'string' && parsed.html
        ? { contentType: 'html', content: parsed.html }
        : { contentType: 'text', content: parsed.text ?? '' },
    toRecipients: addressesOf(parsed.to),
    ccRecipients: addressesOf(parsed.cc),
    bccRecipients: addressesOf(parsed.bcc),
    replyTo: addressesOf(parsed.replyTo),
    internetMessageHeaders: customHeadersOf(parsed),
    attachments,
    importance,
    ...(messageId ? { internetMessageId: messageId } : {}),
    inReplyTo: parsed.inReplyTo ?? null,
  };
}

const BASE64_BODY = /^[A-Za-z0-9+/\r\n]+={0,2}[\r\n]*$/;

async function sendMailMime(call: GraphCall, body: string) {
  const compact = body.trim();
  if (!compact || !BASE64_BODY.test(compact) || compact.replace(/[\r\n]/g, '').length % 4 === 1) {
    throw new GraphError(400, 'ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.');
  }
  const mime = Buffer.from(compact, 'base64');
  const parsed = await simpleParser(mime);
  const message = submittedFromMime(call.ctx, parsed);
  if (message.attachments.some((attachment) => attachment.size > MAX_INLINE_ATTACHMENT_BYTES)) {
    throw requestTooLarge();
  }
  // Raw-MIME sendMail ignores `From`: the mailbox owner sends (docs/graph.md §3.1).
  submitOrThrow(call, 'sendMailMime', message, { saveToSentItems: true });
  return { status: 202 };
}

// ---------------------------------------------------------------------------------------------------------------
// Replies

function stripReplyPrefix(subject: string): string {
  return subject.replace(/^\s*(re|aw|sv)\s*:\s*/i, '');
}

function quotedOriginal(original: MailMessage): string {
  const from = original.from?.emailAddress;
  const to = original.toRecipients.map((each) => each.emailAddress.name ?? each.emailAddress.address).join('; ');
  const text = original.body.contentType === 'html' ? original.bodyPreview : original.body.content;
  return [
    '________________________________',
    `From: ${from ? (from.name ?? from.address) : ''}`,
    `Sent: ${new Date(original.sentDateTime ?? original.receivedDateTime).toUTCString()}`,
    `To: ${to}`,
    `Subject: ${original.subject}`,
    '',
    text,
  ].join('\r\n');
}

interface ReplyInput {
  comment: string | undefined;
  message: MessageInput | undefined;
}

function readReplyInputOrThrow(call: GraphCall, body: unknown, operation: string): ReplyInput {
  if (body === undefined || body === null) return { comment: undefined, message: undefined };
  if (!isPlainObject(body)) throw invalidValue(operation, 'Edm.Untyped');
  let comment: string | undefined;
  let message: MessageInput | undefined;
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (lower === 'comment') {
      if (value !== null && typeof value !== 'string') throw invalidValue('Comment', 'Edm.String');
      comment = value ?? undefined;
    } else if (lower === 'message') {
      if (value !== null) message = parseMessageInputOrThrow(call.ctx, value);
    } else if (!key.startsWith('@odata')) throw invalidParameter(key, operation);
  }
  if (comment !== undefined && message?.body !== undefined) {
    // Documented for reply/createReply: comment and message.body together are a 400 [code: GUESS].
    throw new GraphError(
      400,
      'ErrorInvalidRequest',
      "The 'comment' parameter and the 'body' property of the 'message' parameter cannot both be specified.",
    );
  }
  return { comment, message };
}

/** The reply Exchange composes: to the original's replyTo (or sender), `RE: ` subject, threaded. */
function composeReply(call: GraphCall, original: MailMessage, input: ReplyInput, all: boolean): SubmittedMessage {
  const me = call.user.email.toLowerCase();
  const to =
    input.message?.toRecipients ??
    (original.replyTo.length > 0 ? original.replyTo : original.from ? [original.from] : []).map((each) => ({
      emailAddress: { ...each.emailAddress },
    }));
  let cc = input.message?.ccRecipients ?? [];
  if (all && !input.message?.ccRecipients) {
    const taken = new Set(to.map((each) => each.emailAddress.address.toLowerCase()));
    cc = [...original.toRecipients, ...original.ccRecipients]
      .filter((each) => {
        const address = each.emailAddress.address.toLowerCase();
        if (address === me || taken.has(address)) return false;
        taken.add(address);
        return true;
      })
      .map((each) => ({ emailAddress: { ...each.emailAddress } }));
  }
  const content = input.message?.body?.content ?? `${input.comment ?? ''}\r\n\r\n${quotedOriginal(original)}`;
  return {
    subject: input.message?.subject ?? `RE: ${stripReplyPrefix(original.subject)}`,
    body: input.message?.body ?? { contentType: 'text', content },
    toRecipients: to,
    ccRecipients: cc,
    bccRecipients: input.message?.bccRecipients ?? [],
    replyTo: input.message?.replyTo ?? [],
    internetMessageHeaders: input.message?.internetMessageHeaders ?? [],
    attachments: input.message?.attachments ?? [],
    importance: input.message?.importance ?? 'normal',
    conversationId: original.conversationId,
    inReplyTo: original.internetMessageId,
  };
}

export function registerSendRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(scope, ctx, { method: 'POST', path: '/sendMail', scopes: SCOPES.mailSend, send: true }, async (call) => {
    const body = call.request.body;
    // `Content-Type: text/plain` carries base64 MIME (docs/graph.md §3.1).
    if (typeof body === 'string') return sendMailMime(call, body);
    return sendMailJson(call, jsonBodyOrThrow(call));
  });

  graphRoute(
    scope,
    ctx,
    { method: 'POST', path: '/messages/:messageId/send', scopes: SCOPES.mailSend, send: true },
    (call) => {
      const draft = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      if (!draft.isDraft) {
        // [GUESS] code and wording: Exchange refuses to submit an item that was already sent.
        throw new GraphError(400, 'ErrorInvalidRequest', 'Only a draft message can be sent.');
      }
      validateSenderOrThrow(call.user.email, draft.from, draft.sender);
      submitOrThrow(
        call,
        'draftSend',
        {
          subject: draft.subject,
          body: draft.body,
          toRecipients: draft.toRecipients,
          ccRecipients: draft.ccRecipients,
          bccRecipients: draft.bccRecipients,
          replyTo: draft.replyTo,
          internetMessageHeaders: draft.internetMessageHeaders,
          attachments: draft.attachments,
          importance: draft.importance,
          categories: draft.categories,
          internetMessageId: draft.internetMessageId,
          conversationId: draft.conversationId,
          inReplyTo: draft.inReplyTo,
        },
        { saveToSentItems: true, draft, replyToImmutableId: draft.replyToImmutableId ?? null },
      );
      return { status: 202 };
    },
  );

  for (const [operation, all] of [
    ['reply', false],
    ['replyAll', true],
  ] as const) {
    graphRoute(
      scope,
      ctx,
      { method: 'POST', path: `/messages/:messageId/${operation}`, scopes: SCOPES.mailSend, send: true },
      (call) => {
        const input = readReplyInputOrThrow(call, jsonBodyOrThrow(call), operation);
        const original = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
        const message = composeReply(call, original, input, all);
        submitOrThrow(call, 'reply', message, { saveToSentItems: true, replyToImmutableId: original.immutableId });
        return { status: 202 };
      },
    );
  }

  for (const [operation, all] of [
    ['createReply', false],
    ['createReplyAll', true],
  ] as const) {
    graphRoute(
      scope,
      ctx,
      { method: 'POST', path: `/messages/:messageId/${operation}`, scopes: SCOPES.mailWrite },
      (call) => {
        const input = readReplyInputOrThrow(call, jsonBodyOrThrow(call), operation);
        const original = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
        const reply = composeReply(call, original, input, all);
        const draft = createMessage(call.ctx, call.mailbox, {
          folder: wellKnownFolderOrThrow(call.mailbox, 'drafts'),
          subject: reply.subject,
          body: reply.body,
          from: ownerRecipient(call),
          sender: ownerRecipient(call),
          toRecipients: reply.toRecipients,
          ccRecipients: reply.ccRecipients,
          bccRecipients: reply.bccRecipients,
          replyTo: reply.replyTo,
          internetMessageHeaders: reply.internetMessageHeaders,
          attachments: reply.attachments,
          // Exchange gives a draft its Message-ID when it is saved, and keeps it when the draft is sent.
          internetMessageId: newInternetMessageId(call.ctx, call.user.kind === 'personal'),
          conversationId: original.conversationId,
          isDraft: true,
          isRead: true,
          importance: reply.importance,
          sentDateTime: null,
          inReplyTo: original.internetMessageId,
          replyToImmutableId: original.immutableId,
        });
        return {
          status: 201,
          body: renderMessage(draft, { ...call.prefs, context: `${call.contextBase}/messages/$entity` }),
        };
      },
    );
  }
}
