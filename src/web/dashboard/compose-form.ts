import type { AppError } from '../../errors/app-error.js';

/**
 * The dashboard's "send a test email" form, turned into the send API's body, so the message goes through
 * `submitMessage` with the API's validation and its precise error messages. The form is the API's fields as a
 * person types them: address lists in one box each, a text body, an optional HTML body, an optional send time.
 */

/** What the form holds, as typed (re-rendered unchanged after an error). */
export interface ComposeFields {
  /** `account:<id>` (send from one of the user's accounts) or `preferred` (the user's preferred provider). */
  from: string;
  to: string;
  cc: string;
  bcc: string;
  replyTo: string;
  subject: string;
  text: string;
  html: string;
  /** `YYYY-MM-DDTHH:MM` from `<input type="datetime-local">`, read as UTC (the page says so). */
  sendAt: string;
  /** The rendered form's own idempotency key (hidden): a double submit finds the message the first one made. */
  formKey: string;
}

export const FROM_PREFERRED = 'preferred';
const FROM_ACCOUNT_PREFIX = 'account:';

/** The random part of a form key: what `randomToken(16)` makes (base64url), with room for longer ones. */
export const FORM_KEY_PATTERN = /^[A-Za-z0-9_-]{16,86}$/;

/** Form limits well above the API's, so that the API's own checks (and their messages) decide. */
const FIELD_MAX_LENGTH: Readonly<Record<keyof ComposeFields, number>> = {
  from: 100,
  to: 100_000,
  cc: 100_000,
  bcc: 100_000,
  replyTo: 10_000,
  subject: 10_000,
  text: 8 * 1024 * 1024,
  html: 8 * 1024 * 1024,
  sendAt: 100,
  formKey: 100,
};

const FORM_NAMES: Readonly<Record<keyof ComposeFields, string>> = {
  from: 'from',
  to: 'to',
  cc: 'cc',
  bcc: 'bcc',
  replyTo: 'reply_to',
  subject: 'subject',
  text: 'text',
  html: 'html',
  sendAt: 'send_at',
  formKey: 'form_key',
};

/** The `name` attribute of each field. */
export function formName(field: keyof ComposeFields): string {
  return FORM_NAMES[field];
}

export function emptyComposeFields(formKey: string, from: string): ComposeFields {
  return { from, to: '', cc: '', bcc: '', replyTo: '', subject: '', text: '', html: '', sendAt: '', formKey };
}

/** Reads the posted form (a field given twice counts as its first value; anything not a string as empty). */
export function readComposeForm(body: unknown): ComposeFields {
  const form = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const read = (field: keyof ComposeFields): string => {
    const raw = form[FORM_NAMES[field]];
    const value = Array.isArray(raw) ? raw[0] : raw;
    return typeof value === 'string' ? value.slice(0, FIELD_MAX_LENGTH[field]) : '';
  };
  return {
    from: read('from'),
    to: read('to'),
    cc: read('cc'),
    bcc: read('bcc'),
    replyTo: read('replyTo'),
    subject: read('subject'),
    text: read('text'),
    html: read('html'),
    sendAt: read('sendAt'),
    formKey: read('formKey'),
  };
}

export function fromAccount(accountId: string): string {
  return `${FROM_ACCOUNT_PREFIX}${accountId}`;
}

/** The account id of an `account:<id>` choice. */
export function chosenAccountId(from: string): string | undefined {
  return from.startsWith(FROM_ACCOUNT_PREFIX) ? from.slice(FROM_ACCOUNT_PREFIX.length) : undefined;
}

/**
 * Splits an address box into addresses: commas, semicolons and line breaks separate them, except inside a quoted
 * display name (`"Doe, Jane" <jane@example.com>`) or angle brackets. Each piece goes to the API as typed (trimmed),
 * so a malformed one gets the API's message naming it.
 */
function splitAddresses(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const char of value) {
    if (char === '"' && !angle) quoted = !quoted;
    else if (char === '<' && !quoted) angle = true;
    else if (char === '>' && !quoted) angle = false;
    if (!quoted && !angle && (char === ',' || char === ';' || char === '\n' || char === '\r')) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part.length > 0);
}

/** A browser posts textarea line breaks as CRLF (HTML §4.10.11); the message keeps plain line feeds. */
function normalizeLineBreaks(value: string): string {
  return value.replace(/\r\n?/g, '\n');
}

/**
 * `datetime-local` gives `YYYY-MM-DDTHH:MM[:SS[.sss]]` without a zone; the page says the time is UTC, so it gets a
 * `Z`. Anything else is passed on as typed, for the API to refuse with its own message.
 */
function sendAtFromForm(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const local = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(?:\.\d{1,3})?)?$/.exec(trimmed);
  if (local) return `${local[1]}${local[2] ?? ':00'}Z`;
  return trimmed;
}

/**
 * The send API's body for the form. Empty boxes are left out (the API then says what is missing); one address is
 * sent as a string and several as an array, so the API's messages name `to` or `to[2]` as the person sees them.
 * Deterministic: the same form gives the same body, which is what makes a double submit find the first message.
 */
export function messageBodyFromForm(fields: ComposeFields): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const addresses = (name: string, value: string) => {
    const list = splitAddresses(value);
    if (list.length === 1) body[name] = list[0];
    else if (list.length > 1) body[name] = list;
  };
  addresses('to', fields.to);
  addresses('cc', fields.cc);
  addresses('bcc', fields.bcc);
  addresses('replyTo', fields.replyTo);
  if (fields.subject !== '') body.subject = fields.subject;
  const text = normalizeLineBreaks(fields.text);
  if (text.trim() !== '') body.text = text;
  const html = normalizeLineBreaks(fields.html);
  if (html.trim() !== '') body.html = html;
  const sendAt = sendAtFromForm(fields.sendAt);
  if (sendAt !== undefined) body.sendAt = sendAt;
  return body;
}

/** The fields of the form an error can point at (their element ids are `compose-<field>`). */
export type ComposeField = 'from' | 'to' | 'cc' | 'bcc' | 'replyTo' | 'subject' | 'text' | 'html' | 'sendAt';

const BY_API_FIELD: Readonly<Record<string, ComposeField>> = {
  to: 'to',
  cc: 'cc',
  bcc: 'bcc',
  replyTo: 'replyTo',
  subject: 'subject',
  text: 'text',
  html: 'html',
  sendAt: 'sendAt',
};

const BY_CODE: Readonly<Record<string, ComposeField>> = {
  OUTBOX_NO_RECIPIENTS: 'to',
  OUTBOX_TOO_MANY_RECIPIENTS: 'to',
  OUTBOX_CONTENT_MISSING: 'text',
  OUTBOX_CONTENT_TOO_LARGE: 'text',
  OUTBOX_MESSAGE_TOO_LARGE: 'text',
  ACCOUNT_NOT_FOUND: 'from',
  OUTBOX_ACCOUNT_NOT_SENDABLE: 'from',
  OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED: 'from',
};

/** Which box an API error is about: `details.field` (`to[2]`, `replyTo.name`, `sendAt`), else its code. */
export function composeFieldOf(error: AppError): ComposeField | undefined {
  const field = error.details?.['field'];
  if (typeof field === 'string') {
    const head = /^[A-Za-z]+/.exec(field)?.[0];
    const mapped = head === undefined ? undefined : BY_API_FIELD[head];
    if (mapped) return mapped;
  }
  return BY_CODE[error.code];
}
