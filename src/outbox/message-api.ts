import { z } from 'zod';
import type { ApiErrorCode } from '../api/api-errors.js';
import type { ApiOperation } from '../api/openapi.js';
import { accountParams, apiComponents, ownerIdSchema, ownerParams } from '../http/common-schemas.js';
import { MAX_ATTACHMENTS, MAX_HEADERS, MAX_REPLY_TO } from './message-input.js';
import { MESSAGE_STATUSES } from './message-store.js';
import type { OutboxErrorCode } from './outbox-errors.js';

/**
 * The message API in the OpenAPI document (`src/api/openapi.ts` lists these operations with its own). The body is
 * validated by `validateMessageOrThrow` (precise codes per problem, which zod's generic issues cannot give); the
 * schema here describes the same fields, and a test checks the two name the same fields.
 */

const timestamp = z.iso.datetime().meta({ description: 'ISO 8601, UTC.' });

const addressSchema = z
  .union([
    z.string().meta({ description: '`address@example.com` or `Display Name <address@example.com>`.' }),
    z.strictObject({ address: z.string(), name: z.string().optional() }),
  ])
  .meta({ description: 'A mailbox: no line breaks anywhere.' });
const addressesSchema = z.union([addressSchema, z.array(addressSchema)]);

export const sendMessageBody = z
  .strictObject({
    to: addressesSchema.optional(),
    cc: addressesSchema.optional(),
    bcc: addressesSchema.optional(),
    replyTo: addressesSchema.optional().meta({ description: `At most ${MAX_REPLY_TO} addresses.` }),
    subject: z.string().max(998).optional(),
    text: z.string().optional().meta({ description: 'Plain-text body. Give `text` and/or `html`.' }),
    html: z.string().optional().meta({
      description: 'HTML body. Microsoft Graph carries one body: the HTML when both are given (the relay sends both).',
    }),
    attachments: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(255),
          contentType: z.string().optional().meta({ description: 'Default `application/octet-stream`.' }),
          contentBase64: z.string(),
        }),
      )
      .max(MAX_ATTACHMENTS)
      .optional()
      .meta({
        description:
          'Under 3 MB each on a send-only account (and about 4 MB for the whole message); up to 150 MB each ' +
          '(35 MB per message) on an account with Mail.ReadWrite (warmup profile), sent through an upload session.',
      }),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .meta({
        description:
          `Up to ${MAX_HEADERS} custom headers whose names start with \`x-\`. Use a fixed set of names and put what ` +
          'varies in the values: Exchange keeps every distinct header name as a named property of the mailbox, for ' +
          'good, and once that quota is full messages needing a new name are refused (ErrorQuotaExceeded "Cannot get ID from name.").',
      }),
    sendAt: z.iso.datetime({ offset: true }).optional().meta({ description: 'Send at this time (not in the past).' }),
  })
  .meta({ description: 'At least one recipient (to, cc or bcc, 500 at most) and some content (text or html).' })
  .register(apiComponents, { id: 'SendMessage' });

const mailAddressSchema = z.object({ address: z.string(), name: z.string().optional() });

export const messageAttemptSchema = z
  .object({
    number: z.number().int(),
    outcome: z.string().meta({
      description:
        '`claimed`, `started` (in progress), `accepted`, `rejected`, `not_sent`, `unknown` (the request left, no ' +
        'answer), `found` (an unknown outcome resolved: it was in Sent Items), `held`, `abandoned`.',
    }),
    step: z
      .string()
      .nullable()
      .meta({ description: '`sendMail`, `createDraft`, `uploadAttachment`, `sendDraft`, `lookup`, `smtp`.' }),
    claimedAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    durationMs: z.number().nullable(),
    httpStatus: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Microsoft's HTTP status (or the relay's SMTP code)." }),
    graphCode: z.string().nullable(),
    requestId: z.string().nullable().meta({ description: "Graph's `request-id`, for Microsoft support." }),
    clientRequestId: z.string().nullable(),
    detail: z.string().nullable().meta({ description: 'What Microsoft (or the relay) said.' }),
    retryAfterMs: z.number().nullable(),
    evidence: z.record(z.string(), z.unknown()).nullable(),
  })
  .register(apiComponents, { id: 'MessageAttempt' });

export const messageSchema = z
  .object({
    id: z.string(),
    status: z.enum(MESSAGE_STATUSES as [string, ...string[]]).meta({
      description:
        '`queued` → `sending` → `sent`; `failed` (see `failure`); `outcome_unknown` (the request left and no answer ' +
        'came: not sent again, see the README "Delivery guarantees"); `held` (the account needs reconnecting or ' +
        'admin approval; released automatically); `canceled`; `bounced` (after `sent`: a non-delivery report for it ' +
        "arrived in the sender's Inbox, see `bounce` and `failure`; only for accounts that can read mail).",
    }),
    provider: z.enum(['microsoft', 'default']),
    accountId: z.string().nullable(),
    ownerId: z.string().nullable(),
    from: z.string(),
    to: z.array(mailAddressSchema),
    cc: z.array(mailAddressSchema),
    bcc: z.array(mailAddressSchema),
    replyTo: z.array(mailAddressSchema),
    subject: z.string(),
    hasText: z.boolean(),
    hasHtml: z.boolean(),
    headers: z.array(z.object({ name: z.string(), value: z.string() })),
    attachments: z.array(z.object({ name: z.string(), contentType: z.string(), sizeBytes: z.number().int() })),
    recipientCount: z.number().int(),
    sizeBytes: z.number().int(),
    internetMessageId: z.string().meta({ description: 'Our Message-ID, `<mb.{id}@{host}>`, as recipients see it.' }),
    idempotencyKey: z.string().nullable(),
    sendAt: timestamp.nullable(),
    nextAttemptAt: timestamp.nullable(),
    attemptCount: z.number().int(),
    sentAt: timestamp.nullable(),
    canceledAt: timestamp.nullable(),
    failure: z
      .object({ reason: z.string(), message: z.string().nullable(), remediation: z.unknown() })
      .nullable()
      .meta({
        description:
          '`reason`: `rejected_by_microsoft`, `rejected_by_relay`, `mailbox_unusable`, `account_disconnected`, ' +
          '`account_deleted`, `held_expired`, `retries_exhausted`, `outcome_unknown`; for `bounced`: ' +
          '`recipient_unknown` (5.1.1, 5.1.10), `restricted_sender` (5.1.8), `daily_limit` (5.1.90), `mailbox_full` ' +
          '(5.2.2), `rejected` (another permanent code).',
      }),
    bounce: z
      .object({
        status: z.string().meta({ description: "The report's enhanced status code, e.g. `5.1.90`." }),
        at: timestamp.meta({ description: 'When mailbridge found the report.' }),
      })
      .nullable(),
    held: z
      .object({
        reason: z.string(),
        detail: z.string().nullable(),
        since: timestamp.nullable(),
        expiresAt: timestamp.nullable(),
      })
      .nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    attempts: z.array(messageAttemptSchema).optional().meta({ description: 'The attempt log (on GET by id).' }),
  })
  .register(apiComponents, { id: 'Message' });

export const messageListSchema = z
  .object({
    data: z.array(messageSchema),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last.' }),
  })
  .register(apiComponents, { id: 'MessageList' });

export const messageParams = z.strictObject({
  id: z
    .string()
    .regex(/^msg_[0-9a-z]{26}$/)
    .meta({ description: 'Message id, `msg_…`.' }),
});

export const listMessagesQueryDoc = z.strictObject({
  status: z.enum(MESSAGE_STATUSES as [string, ...string[]]).optional(),
  accountId: z.string().optional(),
  ownerId: ownerIdSchema.optional(),
  after: z.string().optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  cursor: z
    .string()
    .optional()
    .meta({ description: 'Deprecated: the old name of `after`, still accepted.', deprecated: true }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const BODY_ERROR_CODES: ApiErrorCode[] = [
  'REQUEST_INVALID',
  'REQUEST_JSON_INVALID',
  'REQUEST_CONTENT_TYPE_UNSUPPORTED',
  'REQUEST_BODY_TOO_LARGE',
];

/** Every validation code of the body (all of the outbox's 4xx but those about other things). */
const VALIDATION_CODES: OutboxErrorCode[] = [
  'OUTBOX_BODY_INVALID',
  'OUTBOX_FIELD_UNKNOWN',
  'OUTBOX_FIELD_INVALID',
  'OUTBOX_ADDRESS_INVALID',
  'OUTBOX_ADDRESS_NAME_INVALID',
  'OUTBOX_NO_RECIPIENTS',
  'OUTBOX_TOO_MANY_RECIPIENTS',
  'OUTBOX_SUBJECT_INVALID',
  'OUTBOX_SUBJECT_TOO_LONG',
  'OUTBOX_CONTENT_MISSING',
  'OUTBOX_CONTENT_TOO_LARGE',
  'OUTBOX_TOO_MANY_HEADERS',
  'OUTBOX_HEADER_NAME_NOT_CUSTOM',
  'OUTBOX_HEADER_NAME_INVALID',
  'OUTBOX_HEADER_VALUE_INVALID',
  'OUTBOX_HEADER_DUPLICATE',
  'OUTBOX_TOO_MANY_ATTACHMENTS',
  'OUTBOX_ATTACHMENT_NAME_INVALID',
  'OUTBOX_ATTACHMENT_TYPE_INVALID',
  'OUTBOX_ATTACHMENT_BASE64_INVALID',
  'OUTBOX_ATTACHMENT_EMPTY',
  'OUTBOX_ATTACHMENT_TOO_LARGE',
  'OUTBOX_MESSAGE_TOO_LARGE',
  'OUTBOX_SEND_AT_INVALID',
  'OUTBOX_SEND_AT_IMPOSSIBLE',
  'OUTBOX_SEND_AT_IN_PAST',
  'OUTBOX_SEND_AT_TOO_FAR',
  'OUTBOX_IDEMPOTENCY_KEY_INVALID',
  'IDEMPOTENCY_KEY_REUSED',
];

/** Request headers of the send operations. */
const idempotencyHeaders = z.strictObject({
  'Idempotency-Key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/)
    .optional()
    .meta({
      description:
        'Makes a retry safe: the same key with the same request answers the original message (200); with another ' +
        'request, 409 `IDEMPOTENCY_KEY_REUSED`. 1 to 255 printable ASCII characters (a UUID is a good choice); ' +
        'keys are per organisation.',
    }),
});

/** The answer to a repeated `Idempotency-Key`: the message the first request created, as it is now. */
const IDEMPOTENT_REPLAY = {
  status: 200,
  description: 'A repeated `Idempotency-Key` with the same request: the original message, as it is now (same shape).',
} as const;

const SEND_DESCRIPTION =
  'Queues a message; `202` means it is committed (it survives any crash). Send `Idempotency-Key: <unique>` to make ' +
  'a retry safe: the same key with the same request returns the original message with `200`; with another request ' +
  'it is `409 IDEMPOTENCY_KEY_REUSED` (keys are per organisation). Every bad input is refused with its own code ' +
  "before anything is stored. Delivery: paced per mailbox under Microsoft's limits, retried only where it cannot " +
  'duplicate; see the README "Delivery guarantees". Events: `message.sent`, `message.failed`, `message.held`, ' +
  '`message.released`, `message.canceled`, `message.bounced`.';

export const MESSAGE_API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/v1/accounts/{id}/messages',
    operationId: 'sendMessageFromAccount',
    summary: 'Send from a connected Microsoft account',
    description:
      `${SEND_DESCRIPTION} The sender is the account's own address. An account that needs reconnecting or admin ` +
      'approval accepts the message and holds it (`status: "held"`); a disconnected or unusable one refuses it (409).',
    authenticated: true,
    params: accountParams,
    body: sendMessageBody,
    headers: idempotencyHeaders,
    response: { status: 202, description: 'The queued (or held) message.', schema: messageSchema },
    otherResponses: [IDEMPOTENT_REPLAY],
    errors: [...BODY_ERROR_CODES, ...VALIDATION_CODES, 'ACCOUNT_NOT_FOUND', 'OUTBOX_ACCOUNT_NOT_SENDABLE'],
  },
  {
    method: 'post',
    path: '/v1/owners/{ownerId}/messages',
    operationId: 'sendMessageForOwner',
    summary: "Send through the owner's preferred provider",
    description:
      `${SEND_DESCRIPTION} With email provider \`microsoft\` ("Personal Outlook") the message goes out from the ` +
      "owner's connected Microsoft account; otherwise (or when none can send) through the default provider, the " +
      "operator's SMTP relay, from `SMTP_FROM`. An owner unknown to mailbridge (never named by a connect session " +
      'or `PUT /v1/owners/{ownerId}/email-provider`) is `404 OWNER_NOT_FOUND`.',
    authenticated: true,
    params: ownerParams,
    body: sendMessageBody,
    headers: idempotencyHeaders,
    response: { status: 202, description: 'The queued (or held) message.', schema: messageSchema },
    otherResponses: [IDEMPOTENT_REPLAY],
    errors: [...BODY_ERROR_CODES, ...VALIDATION_CODES, 'OWNER_NOT_FOUND', 'OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED'],
  },
  {
    method: 'get',
    path: '/v1/messages',
    operationId: 'listMessages',
    summary: 'List messages',
    description: 'Newest first; filter by status, account or owner; page with `limit` and `after`.',
    authenticated: true,
    query: listMessagesQueryDoc,
    response: { status: 200, description: 'One page of messages.', schema: messageListSchema },
    errors: ['REQUEST_INVALID'],
  },
  {
    method: 'get',
    path: '/v1/messages/{id}',
    operationId: 'getMessage',
    summary: 'Get a message with its attempt log',
    authenticated: true,
    params: messageParams,
    response: { status: 200, description: 'The message and its attempts.', schema: messageSchema },
    errors: ['OUTBOX_MESSAGE_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/messages/{id}/cancel',
    operationId: 'cancelMessage',
    summary: 'Cancel a queued or held message',
    description: 'Repeating a cancel returns the canceled message. A message being sent, or sent, cannot be canceled.',
    authenticated: true,
    params: messageParams,
    response: { status: 200, description: 'The canceled message.', schema: messageSchema },
    errors: ['OUTBOX_MESSAGE_NOT_FOUND', 'OUTBOX_MESSAGE_NOT_CANCELABLE'],
  },
];
