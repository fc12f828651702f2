import { parseIsoDateTime } from '../platform/iso-date-time.js';
import { outboxError } from './outbox-errors.js';

/**
 * The send API's body, validated at the edge with a precise code per problem (outbox-errors.ts). Pure: no I/O, no
 * clock but the `now` it is given. What the account can carry (attachment sizes per permission profile) is checked
 * afterwards by `checkFitsProviderOrThrow`, once the target is known. @see issue 4 item 1, docs/graph.md §3.1
 */

export interface MailAddress {
  address: string;
  name?: string;
}

export interface CustomHeader {
  name: string;
  value: string;
}

export interface ValidatedAttachment {
  name: string;
  contentType: string;
  /** Canonical base64 (no whitespace). */
  contentBase64: string;
  sizeBytes: number;
}

/** What is stored in `outbox_messages.payload` (attachments live in their own table). */
export interface StoredPayload {
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  replyTo: MailAddress[];
  subject: string;
  text?: string;
  html?: string;
  headers: CustomHeader[];
  /**
   * Only for messages the warm-up engine submits (src/warmup/; never from the API): the Graph id, in the sending
   * mailbox, of the message this one answers. The draft is then made with `createReply`, so Exchange threads it
   * (In-Reply-To, conversation) as a person's reply would be (docs/warmup.md §E).
   */
  replyToGraphId?: string;
}

export interface ValidatedMessage extends StoredPayload {
  attachments: ValidatedAttachment[];
  /** Epoch ms, when the caller asked for a later send. */
  sendAt?: number;
  recipientCount: number;
  contentBytes: number;
  attachmentBytes: number;
}

export interface MessageLimits {
  /** Microsoft's per-message recipient limit (500 by default, configurable). @see docs/graph.md §3.3 */
  maxRecipientsPerMessage: number;
}

/** `text` + `html`, UTF-8. Graph takes about 4 MB per request (docs/graph.md §3.1), attachments included. */
export const MAX_CONTENT_BYTES = 3 * 1024 * 1024;
/** Inline attachments must stay under 3 MB; larger ones need a draft + upload session. @see docs/graph.md §3.1 */
export const MAX_INLINE_ATTACHMENT_BYTES = 3 * 1024 * 1024;
/**
 * The practical ceiling of a whole inline Graph request (JSON, base64 attachments included). [GUESS] docs/graph.md
 * §3.1
 */
export const MAX_INLINE_REQUEST_BYTES = 4 * 1024 * 1024;
/**
 * Upload sessions take 3–150 MB per attachment (docs/graph.md §3.1); a whole message is capped lower, as relays
 * are.
 */
export const MAX_UPLOAD_ATTACHMENT_BYTES = 150 * 1024 * 1024;
export const MAX_MESSAGE_BYTES = 35 * 1024 * 1024;
/** The route's JSON body limit: a maximal message in base64, plus room for the rest. */
export const MAX_REQUEST_BODY_BYTES = Math.ceil((MAX_MESSAGE_BYTES * 4) / 3) + 1024 * 1024;
export const MAX_HEADERS = 5;
export const MAX_ATTACHMENTS = 50;
export const MAX_REPLY_TO = 10;
export const MAX_SUBJECT_LENGTH = 998;
const MAX_NAME_LENGTH = 256;
const MAX_HEADER_NAME_LENGTH = 76;
const MAX_HEADER_VALUE_LENGTH = 998;
const MAX_SEND_AT_AHEAD_MS = 365 * 86_400_000;
/** A `sendAt` a little in the past is clock skew between the host and us, not a mistake. */
const SEND_AT_SKEW_MS = 60_000;

/** The body's fields (the OpenAPI schema in message-api.ts is checked against these by the tests). */
export const MESSAGE_FIELDS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'replyTo',
  'subject',
  'text',
  'html',
  'attachments',
  'headers',
  'sendAt',
]);
export const ATTACHMENT_FIELDS: ReadonlySet<string> = new Set(['name', 'contentType', 'contentBase64']);
const ADDRESS_FIELDS = new Set(['address', 'name']);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;
// RFC 5322 field-name: printable US-ASCII except colon. @see docs/standards.md §3
const HEADER_NAME = /^[\u0021-\u0039\u003b-\u007e]+$/;
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/i;

/**
 * RFC 5321 mailbox syntax as Exchange resolves it: a dot-atom local part (no leading, trailing or double dot) and a
 * dotted domain with an alphabetic top-level label. Quoted local parts and IP literals are refused: Exchange Online
 * does not resolve them either.
 */
export function isValidMailboxAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1 || address.length > 254) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(local)) return false;
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  return /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/.test(domain);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(field: string, expected: string): never {
  throw outboxError('OUTBOX_FIELD_INVALID', `${field} must be ${expected}.`, { field, expected });
}

function readOptionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(field, 'a string');
  return value;
}

function readAddress(value: unknown, field: string): MailAddress {
  let address: string;
  let name: string | undefined;
  if (typeof value === 'string') {
    // `Name <address>` or a bare address.
    const named = /^\s*(?:"([^"]*)"|([^<>"]*?))\s*<([^<>]*)>\s*$/.exec(value);
    if (named) {
      name = (named[1] ?? named[2] ?? '').trim() || undefined;
      address = (named[3] ?? '').trim();
    } else {
      address = value.trim();
    }
    if (name !== undefined && CONTROL.test(name)) {
      throw outboxError('OUTBOX_ADDRESS_NAME_INVALID', `${field}: the display name contains a control character.`, {
        field,
      });
    }
  } else if (isRecord(value)) {
    for (const key of Object.keys(value)) {
      if (!ADDRESS_FIELDS.has(key)) {
        throw outboxError('OUTBOX_FIELD_UNKNOWN', `${field}.${key} is not a field of an address.`, {
          field: `${field}.${key}`,
        });
      }
    }
    if (typeof value.address !== 'string') invalid(`${field}.address`, 'a string');
    address = value.address.trim();
    if (value.name !== undefined && value.name !== null) {
      if (typeof value.name !== 'string') invalid(`${field}.name`, 'a string');
      if (CONTROL.test(value.name) || value.name.length > MAX_NAME_LENGTH) {
        throw outboxError(
          'OUTBOX_ADDRESS_NAME_INVALID',
          `${field}.name must be at most ${MAX_NAME_LENGTH} characters without line breaks or control characters.`,
          { field: `${field}.name` },
        );
      }
      name = value.name.trim() || undefined;
    }
  } else {
    return invalid(field, 'an address string or { address, name }');
  }
  if (name !== undefined && name.length > MAX_NAME_LENGTH) {
    throw outboxError(
      'OUTBOX_ADDRESS_NAME_INVALID',
      `${field}: the display name is over ${MAX_NAME_LENGTH} characters.`,
      {
        field,
      },
    );
  }
  if (!isValidMailboxAddress(address)) {
    throw outboxError('OUTBOX_ADDRESS_INVALID', `${field}: "${address.slice(0, 100)}" is not a valid email address.`, {
      field,
      address: address.slice(0, 254),
    });
  }
  return name === undefined ? { address } : { address, name };
}

function readAddresses(body: Record<string, unknown>, field: string): MailAddress[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((each, index) => readAddress(each, `${field}[${index}]`));
  return [readAddress(value, field)];
}

function readHeaders(value: unknown): CustomHeader[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) invalid('headers', 'an object of header names to string values');
  const entries = Object.entries(value);
  if (entries.length > MAX_HEADERS) {
    throw outboxError(
      'OUTBOX_TOO_MANY_HEADERS',
      `At most ${MAX_HEADERS} custom headers per message (got ${entries.length}).`,
      { limit: MAX_HEADERS, count: entries.length },
    );
  }
  const seen = new Set<string>();
  return entries.map(([name, headerValue]) => {
    const field = `headers.${name}`;
    if (!HEADER_NAME.test(name) || name.length > MAX_HEADER_NAME_LENGTH) {
      throw outboxError(
        'OUTBOX_HEADER_NAME_INVALID',
        `The header name "${name.slice(0, 80)}" is not valid: printable ASCII without spaces or colons.`,
        { field },
      );
    }
    if (!/^x-/i.test(name)) {
      throw outboxError('OUTBOX_HEADER_NAME_NOT_CUSTOM', `The header "${name}" must start with "x-" or "X-".`, {
        field,
      });
    }
    if (seen.has(name.toLowerCase())) {
      throw outboxError('OUTBOX_HEADER_DUPLICATE', `The header "${name}" is given twice.`, { field });
    }
    seen.add(name.toLowerCase());
    if (typeof headerValue !== 'string') invalid(field, 'a string');
    if (CONTROL.test(headerValue.replaceAll('\t', ' ')) || headerValue.length > MAX_HEADER_VALUE_LENGTH) {
      throw outboxError(
        'OUTBOX_HEADER_VALUE_INVALID',
        `The value of "${name}" must be at most ${MAX_HEADER_VALUE_LENGTH} characters without line breaks.`,
        { field },
      );
    }
    return { name, value: headerValue };
  });
}

/** Strict base64 (standard alphabet, padding optional, whitespace tolerated): the bytes and their canonical form. */
function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) return undefined;
  const bytes = Buffer.from(compact, 'base64');
  // Node ignores what it cannot decode; a round trip proves nothing was dropped.
  if (bytes.toString('base64').replace(/=+$/, '') !== compact.replace(/=+$/, '')) return undefined;
  return bytes;
}

function readAttachments(value: unknown): ValidatedAttachment[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid('attachments', 'an array of { name, contentType, contentBase64 }');
  if (value.length > MAX_ATTACHMENTS) {
    throw outboxError('OUTBOX_TOO_MANY_ATTACHMENTS', `At most ${MAX_ATTACHMENTS} attachments (got ${value.length}).`, {
      limit: MAX_ATTACHMENTS,
      count: value.length,
    });
  }
  return value.map((each: unknown, index) => {
    const field = `attachments[${index}]`;
    if (!isRecord(each)) invalid(field, 'an object { name, contentType, contentBase64 }');
    for (const key of Object.keys(each)) {
      if (!ATTACHMENT_FIELDS.has(key)) {
        throw outboxError('OUTBOX_FIELD_UNKNOWN', `${field}.${key} is not a field of an attachment.`, {
          field: `${field}.${key}`,
        });
      }
    }
    const name = each.name;
    if (
      typeof name !== 'string' ||
      name.trim() === '' ||
      name.length > 255 ||
      CONTROL.test(name) ||
      /[/\\]/.test(name)
    ) {
      throw outboxError(
        'OUTBOX_ATTACHMENT_NAME_INVALID',
        `${field}.name must be 1 to 255 characters without control characters or path separators.`,
        { field: `${field}.name` },
      );
    }
    const contentType = each.contentType ?? 'application/octet-stream';
    if (typeof contentType !== 'string' || CONTROL.test(contentType) || !MIME_TYPE.test(contentType)) {
      throw outboxError(
        'OUTBOX_ATTACHMENT_TYPE_INVALID',
        `${field}.contentType must be a MIME type such as text/plain.`,
        {
          field: `${field}.contentType`,
        },
      );
    }
    if (typeof each.contentBase64 !== 'string') invalid(`${field}.contentBase64`, 'a base64 string');
    const bytes = decodeBase64(each.contentBase64);
    if (!bytes) {
      throw outboxError('OUTBOX_ATTACHMENT_BASE64_INVALID', `${field}.contentBase64 is not valid base64.`, {
        field: `${field}.contentBase64`,
      });
    }
    if (bytes.byteLength === 0) {
      throw outboxError('OUTBOX_ATTACHMENT_EMPTY', `${field} has no content.`, { field: `${field}.contentBase64` });
    }
    if (bytes.byteLength > MAX_UPLOAD_ATTACHMENT_BYTES) {
      throw outboxError('OUTBOX_ATTACHMENT_TOO_LARGE', `${field} is over ${MAX_UPLOAD_ATTACHMENT_BYTES} bytes.`, {
        field,
        reason: 'over_limit',
        sizeBytes: bytes.byteLength,
        limitBytes: MAX_UPLOAD_ATTACHMENT_BYTES,
      });
    }
    return { name: name.trim(), contentType, contentBase64: bytes.toString('base64'), sizeBytes: bytes.byteLength };
  });
}

function readSendAt(value: unknown, now: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = typeof value === 'string' ? parseIsoDateTime(value, { timeRequired: true }) : undefined;
  if (parsed === undefined || (!parsed.ok && parsed.kind === 'shape')) {
    throw outboxError(
      'OUTBOX_SEND_AT_INVALID',
      'sendAt must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T09:00:00Z.',
      { field: 'sendAt' },
    );
  }
  // An impossible date is refused before the range checks: it is not "in the past" or "too far", it is no day.
  if (!parsed.ok) {
    throw outboxError('OUTBOX_SEND_AT_IMPOSSIBLE', `sendAt is not a real date-time: ${parsed.why}.`, {
      field: 'sendAt',
      reason: parsed.kind,
    });
  }
  const time = parsed.time;
  if (time < now - SEND_AT_SKEW_MS) {
    throw outboxError('OUTBOX_SEND_AT_IN_PAST', `sendAt (${value}) is in the past; omit it to send now.`, {
      field: 'sendAt',
      now: new Date(now).toISOString(),
    });
  }
  if (time > now + MAX_SEND_AT_AHEAD_MS) {
    throw outboxError('OUTBOX_SEND_AT_TOO_FAR', 'sendAt is more than 365 days ahead.', { field: 'sendAt' });
  }
  return time <= now ? undefined : time;
}

/**
 * Validates a send request's body. Throws the first problem as an `AppError` with its precise code (4xx); returns
 * the normalised message otherwise. Rules: docs/graph.md §3.1 (x- headers, at most 5; addresses Exchange resolves;
 * sizes) and §3.3 (recipients per message), plus header-injection safety (no CR/LF anywhere a header is built from).
 */
export function validateMessageOrThrow(body: unknown, limits: MessageLimits, now: number): ValidatedMessage {
  if (!isRecord(body)) throw outboxError('OUTBOX_BODY_INVALID', 'The body must be a JSON object.');
  for (const key of Object.keys(body)) {
    if (!MESSAGE_FIELDS.has(key)) {
      throw outboxError('OUTBOX_FIELD_UNKNOWN', `"${key}" is not a field of a message.`, { field: key });
    }
  }
  const to = readAddresses(body, 'to');
  const cc = readAddresses(body, 'cc');
  const bcc = readAddresses(body, 'bcc');
  const replyTo = readAddresses(body, 'replyTo');
  if (replyTo.length > MAX_REPLY_TO) invalid('replyTo', `at most ${MAX_REPLY_TO} addresses`);
  const recipientCount = to.length + cc.length + bcc.length;
  if (recipientCount === 0) {
    throw outboxError('OUTBOX_NO_RECIPIENTS', 'The message has no recipients: give to, cc or bcc.');
  }
  if (recipientCount > limits.maxRecipientsPerMessage) {
    throw outboxError(
      'OUTBOX_TOO_MANY_RECIPIENTS',
      `The message has ${recipientCount} recipients; at most ${limits.maxRecipientsPerMessage} per message.`,
      { count: recipientCount, limit: limits.maxRecipientsPerMessage },
    );
  }

  const subject = readOptionalString(body, 'subject') ?? '';
  if (CONTROL.test(subject.replaceAll('\t', ' '))) {
    throw outboxError('OUTBOX_SUBJECT_INVALID', 'The subject must not contain line breaks or control characters.', {
      field: 'subject',
    });
  }
  if (subject.length > MAX_SUBJECT_LENGTH) {
    throw outboxError('OUTBOX_SUBJECT_TOO_LONG', `The subject is longer than ${MAX_SUBJECT_LENGTH} characters.`, {
      field: 'subject',
      limit: MAX_SUBJECT_LENGTH,
    });
  }

  const text = readOptionalString(body, 'text');
  const html = readOptionalString(body, 'html');
  if ((text ?? '') === '' && (html ?? '') === '') {
    throw outboxError('OUTBOX_CONTENT_MISSING', 'The message has no content: give text and/or html.');
  }
  const contentBytes = Buffer.byteLength(text ?? '') + Buffer.byteLength(html ?? '');
  if (contentBytes > MAX_CONTENT_BYTES) {
    throw outboxError(
      'OUTBOX_CONTENT_TOO_LARGE',
      `text + html are ${contentBytes} bytes; at most ${MAX_CONTENT_BYTES}. Send large content as an attachment.`,
      { sizeBytes: contentBytes, limitBytes: MAX_CONTENT_BYTES },
    );
  }

  const headers = readHeaders(body.headers);
  const attachments = readAttachments(body.attachments);
  const attachmentBytes = attachments.reduce((sum, each) => sum + each.sizeBytes, 0);
  if (contentBytes + attachmentBytes > MAX_MESSAGE_BYTES) {
    throw outboxError(
      'OUTBOX_MESSAGE_TOO_LARGE',
      `The message is ${contentBytes + attachmentBytes} bytes; at most ${MAX_MESSAGE_BYTES}.`,
      { reason: 'over_limit', sizeBytes: contentBytes + attachmentBytes, limitBytes: MAX_MESSAGE_BYTES },
    );
  }
  const sendAt = readSendAt(body.sendAt, now);

  return {
    to,
    cc,
    bcc,
    replyTo,
    subject,
    ...(text === undefined || text === '' ? {} : { text }),
    ...(html === undefined || html === '' ? {} : { html }),
    headers,
    attachments,
    ...(sendAt === undefined ? {} : { sendAt }),
    recipientCount,
    contentBytes,
    attachmentBytes,
  };
}

/** How the target can carry a message: Graph without Mail.ReadWrite (inline only), Graph with it, or the relay. */
export type Carrier = 'graph_inline' | 'graph_draft' | 'smtp';

/**
 * Size rules that depend on how the message will travel (docs/graph.md §3.1): a send-only account (Mail.Send) can
 * only send inline: each attachment under 3 MB and the whole request under about 4 MB. With Mail.ReadWrite, larger
 * attachments go through a draft and an upload session.
 */
export function checkFitsCarrierOrThrow(message: ValidatedMessage, carrier: Carrier): void {
  if (carrier !== 'graph_inline') return;
  message.attachments.forEach((attachment, index) => {
    if (attachment.sizeBytes >= MAX_INLINE_ATTACHMENT_BYTES) {
      throw outboxError(
        'OUTBOX_ATTACHMENT_TOO_LARGE',
        `attachments[${index}] is ${attachment.sizeBytes} bytes. Microsoft Graph takes attachments of 3 MB or more ` +
          'only through an upload session on a draft, which needs Mail.ReadWrite: this account was connected with ' +
          'the send-only profile. Reconnect it with the warmup profile, or send files under 3 MB.',
        {
          field: `attachments[${index}]`,
          reason: 'needs_mail_readwrite',
          sizeBytes: attachment.sizeBytes,
          limitBytes: MAX_INLINE_ATTACHMENT_BYTES - 1,
        },
      );
    }
  });
  // base64 grows attachments by 4/3; the JSON around them is small next to that.
  const requestBytes = message.contentBytes + Math.ceil((message.attachmentBytes * 4) / 3) + 16 * 1024;
  if (requestBytes > MAX_INLINE_REQUEST_BYTES) {
    throw outboxError(
      'OUTBOX_MESSAGE_TOO_LARGE',
      'With its attachments the message exceeds the about 4 MB Microsoft Graph takes in one request; a send-only ' +
        'account cannot use a draft and upload sessions (they need Mail.ReadWrite, the warmup profile).',
      { reason: 'inline_request_limit', sizeBytes: requestBytes, limitBytes: MAX_INLINE_REQUEST_BYTES },
    );
  }
}

/** Validates the `Idempotency-Key` header: absent, or 1–255 printable ASCII characters. */
export function readIdempotencyKeyOrThrow(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!/^[\u0021-\u007e]{1,255}$/.test(value)) {
    throw outboxError(
      'OUTBOX_IDEMPOTENCY_KEY_INVALID',
      'The Idempotency-Key header must be 1 to 255 printable ASCII characters (a UUID is a good choice).',
    );
  }
  return value;
}
