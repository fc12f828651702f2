import { AppError } from '../errors/app-error.js';

/**
 * Every error code the message API answers with (besides the API's common ones: authentication, JSON, content
 * type, body size, `ACCOUNT_NOT_FOUND`), its HTTP status and what it means. Bad input changes nothing: each of these
 * is thrown before anything is written. `details.field` names the offending field (`to[2]`, `headers.X-Tag`,
 * `attachments[0].contentBase64`) where there is one.
 */
export const OUTBOX_ERRORS = {
  OUTBOX_BODY_INVALID: { status: 400, description: 'The body must be a JSON object.' },
  OUTBOX_FIELD_UNKNOWN: {
    status: 400,
    description: 'A field the API does not know (`details.field`): check its spelling.',
  },
  OUTBOX_FIELD_INVALID: {
    status: 400,
    description: 'A field has the wrong type or shape (`details.field`, `details.expected`).',
  },
  OUTBOX_ADDRESS_INVALID: {
    status: 400,
    description:
      'An address is not a valid mailbox (`local@domain.tld`, or `Name <local@domain.tld>`); `details.field` names it.',
  },
  OUTBOX_ADDRESS_NAME_INVALID: {
    status: 400,
    description: 'A display name contains a line break or another control character, or is over 256 characters.',
  },
  OUTBOX_NO_RECIPIENTS: { status: 400, description: 'A message needs at least one recipient in `to`, `cc` or `bcc`.' },
  OUTBOX_TOO_MANY_RECIPIENTS: {
    status: 400,
    description:
      "More recipients than one message may have (Microsoft's per-message limit, 500 by default; " +
      '`details.limit`). Split the message.',
  },
  OUTBOX_SUBJECT_INVALID: {
    status: 400,
    description: 'The subject contains a line break or another control character (header injection).',
  },
  OUTBOX_SUBJECT_TOO_LONG: { status: 400, description: 'The subject is longer than 998 characters.' },
  OUTBOX_CONTENT_MISSING: { status: 400, description: 'Give `text` and/or `html`: the message has no content.' },
  OUTBOX_CONTENT_TOO_LARGE: {
    status: 413,
    description:
      '`text` + `html` exceed the body size limit (`details.limitBytes`); send large content as attachments.',
  },
  OUTBOX_TOO_MANY_HEADERS: { status: 400, description: 'At most 5 custom headers (Microsoft Graph refuses more).' },
  OUTBOX_HEADER_NAME_NOT_CUSTOM: {
    status: 400,
    description: 'Custom header names must start with `x-` or `X-` (Microsoft Graph refuses others).',
  },
  OUTBOX_HEADER_NAME_INVALID: {
    status: 400,
    description: 'A header name must be printable ASCII without spaces or colons, at most 76 characters.',
  },
  OUTBOX_HEADER_VALUE_INVALID: {
    status: 400,
    description:
      'A header value contains a line break or another control character (header injection), or is over 998 characters.',
  },
  OUTBOX_HEADER_DUPLICATE: { status: 400, description: 'The same header is given twice (names are case-insensitive).' },
  OUTBOX_TOO_MANY_ATTACHMENTS: { status: 400, description: 'At most 50 attachments per message.' },
  OUTBOX_ATTACHMENT_NAME_INVALID: {
    status: 400,
    description: 'An attachment name is 1 to 255 characters without control characters, `/` or `\\`.',
  },
  OUTBOX_ATTACHMENT_TYPE_INVALID: {
    status: 400,
    description: 'An attachment `contentType` must be a MIME type such as `application/pdf`.',
  },
  OUTBOX_ATTACHMENT_BASE64_INVALID: { status: 400, description: '`contentBase64` is not valid base64.' },
  OUTBOX_ATTACHMENT_EMPTY: { status: 400, description: 'An attachment has no content.' },
  OUTBOX_ATTACHMENT_TOO_LARGE: {
    status: 413,
    description:
      'An attachment is too large for this account. `details.reason`: `needs_mail_readwrite` (over 3 MB needs an ' +
      'upload session, which needs the `warmup` permission profile with Mail.ReadWrite: reconnect with it), or ' +
      '`over_limit` (over `details.limitBytes`).',
  },
  OUTBOX_MESSAGE_TOO_LARGE: {
    status: 413,
    description:
      'The message as a whole is too large (`details.limitBytes`). On a send-only account Microsoft takes at most ' +
      'about 4 MB in one request (`details.reason` = `inline_request_limit`).',
  },
  OUTBOX_SEND_AT_INVALID: {
    status: 400,
    description: '`sendAt` must be an ISO 8601 date-time with a time zone, e.g. `2030-01-01T09:00:00Z`.',
  },
  OUTBOX_SEND_AT_IMPOSSIBLE: {
    status: 400,
    description:
      '`sendAt` is well formed but names a date or time that does not exist (`2027-02-30`, hour `24`, minute `60`; ' +
      '`details.reason` = `no_such_date` or `no_such_time`). It is refused, never moved to another day.',
  },
  OUTBOX_SEND_AT_IN_PAST: { status: 400, description: '`sendAt` is in the past; omit it to send now.' },
  OUTBOX_SEND_AT_TOO_FAR: { status: 400, description: '`sendAt` is more than 365 days ahead.' },
  OUTBOX_IDEMPOTENCY_KEY_INVALID: {
    status: 400,
    description: 'The `Idempotency-Key` header must be 1 to 255 printable ASCII characters.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 409,
    description:
      'This `Idempotency-Key` was already used in your organisation with a different request (another body or ' +
      'target). The same key with the same request returns the original message (200).',
  },
  OUTBOX_ACCOUNT_NOT_SENDABLE: {
    status: 409,
    description:
      'The account cannot send (`details.status`: `disconnected`, or `mailbox_unusable` with `details.reason`); ' +
      'connect it again or fix the mailbox. Accounts that only need reconnecting or admin approval accept messages ' +
      'and hold them.',
  },
  OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED: {
    status: 409,
    description: 'The message would go through the default provider, but no SMTP relay is configured (SMTP_URL).',
  },
  OUTBOX_MESSAGE_NOT_FOUND: { status: 404, description: 'No message with this id in your organisation.' },
  OUTBOX_MESSAGE_NOT_CANCELABLE: {
    status: 409,
    description:
      'Only `queued` or `held` messages can be canceled (`details.status` says where it is; `sending` is in flight).',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type OutboxErrorCode = keyof typeof OUTBOX_ERRORS;

/** An API error of the outbox, with the status of its table entry. */
export function outboxError(code: OutboxErrorCode, message: string, details?: Record<string, unknown>): AppError {
  return new AppError(code, message, { status: OUTBOX_ERRORS[code].status, ...(details ? { details } : {}) });
}
