import type { EmulatorContext } from '../context.js';
import type { FileAttachment, InternetMessageHeader, MailMessage, Recipient } from '../state/model.js';
import { GraphError, invalidValue, unknownProperty } from './graph-error.js';
import { isoNow } from './mail-store.js';

/**
 * Reading Graph's `message` JSON the way Graph does (docs/graph.md §3.1 message shape): property names are matched
 * case-insensitively, unknown properties are refused (400 RequestBodyRead), values are type-checked, custom
 * headers must be `x-` headers (at most 5), inline attachments stay under 3 MB.
 */

const MESSAGE_TYPE = 'microsoft.graph.message';

/** Writable message properties Graph knows, by lower-case name. Read-only ones are accepted and ignored. */
const WRITABLE = [
  'subject',
  'body',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'from',
  'sender',
  'importance',
  'flag',
  'categories',
  'internetMessageHeaders',
  'internetMessageId',
  'isRead',
  'inferenceClassification',
  'attachments',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'singleValueExtendedProperties',
  'multiValueExtendedProperties',
  'extensions',
] as const;

const IGNORED = [
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'bodyPreview',
  'parentFolderId',
  'conversationId',
  'conversationIndex',
  'isDraft',
  'webLink',
  'uniqueBody',
];

type WritableName = (typeof WRITABLE)[number];
const WRITABLE_BY_LOWER = new Map<string, WritableName>(WRITABLE.map((name) => [name.toLowerCase(), name]));
const IGNORED_LOWER = new Set(IGNORED.map((name) => name.toLowerCase()));

/** Inline attachments must be under 3 MB; larger files go through an upload session (outlook-large-attachments). */
export const MAX_INLINE_ATTACHMENT_BYTES = 3 * 1024 * 1024;

export interface MessageInput {
  subject?: string;
  body?: MailMessage['body'];
  toRecipients?: Recipient[];
  ccRecipients?: Recipient[];
  bccRecipients?: Recipient[];
  replyTo?: Recipient[];
  from?: Recipient | null;
  sender?: Recipient | null;
  importance?: MailMessage['importance'];
  flag?: MailMessage['flag'];
  categories?: string[];
  internetMessageHeaders?: InternetMessageHeader[];
  internetMessageId?: string;
  isRead?: boolean;
  inferenceClassification?: MailMessage['inferenceClassification'];
  attachments?: FileAttachment[];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A property of a JSON object by case-insensitive name. */
export function propertyOf(source: Record<string, unknown>, name: string): unknown {
  if (name in source) return source[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(source)) if (key.toLowerCase() === lower) return source[key];
  return undefined;
}

function readString(property: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidValue(property, 'Edm.String');
  return value;
}

function readBoolean(property: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidValue(property, 'Edm.Boolean');
  return value;
}

function readEnum<T extends string>(property: string, value: unknown, allowed: readonly T[], type: string): T {
  if (typeof value !== 'string') throw invalidValue(property, type);
  const found = allowed.find((each) => each.toLowerCase() === value.toLowerCase());
  if (!found) {
    throw new GraphError(400, 'RequestBodyRead', `Requested value '${value}' was not found.`, {
      innerError: { property, type },
    });
  }
  return found;
}

function readRecipient(property: string, value: unknown): Recipient {
  if (!isPlainObject(value)) throw invalidValue(property, 'microsoft.graph.recipient');
  for (const key of Object.keys(value)) {
    if (key.toLowerCase() !== 'emailaddress' && !key.startsWith('@odata')) {
      throw unknownProperty(key, 'microsoft.graph.recipient');
    }
  }
  const email = propertyOf(value, 'emailAddress');
  if (!isPlainObject(email)) throw invalidValue(`${property}/emailAddress`, 'microsoft.graph.emailAddress');
  let address = '';
  let name: string | undefined;
  for (const [key, raw] of Object.entries(email)) {
    const lower = key.toLowerCase();
    if (lower === 'address') address = raw === null ? '' : readString('address', raw);
    else if (lower === 'name') name = raw === null ? undefined : readString('name', raw);
    else if (!key.startsWith('@odata')) throw unknownProperty(key, 'microsoft.graph.emailAddress');
  }
  return name === undefined
    ? { emailAddress: { address: address.trim() } }
    : { emailAddress: { address: address.trim(), name } };
}

function readRecipients(property: string, value: unknown): Recipient[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(property, 'Collection(microsoft.graph.recipient)');
  return value.map((each) => readRecipient(property, each));
}

function readBody(value: unknown): MailMessage['body'] {
  if (!isPlainObject(value)) throw invalidValue('body', 'microsoft.graph.itemBody');
  let contentType: 'text' | 'html' = 'text';
  let content = '';
  for (const [key, raw] of Object.entries(value)) {
    const lower = key.toLowerCase();
    if (lower === 'contenttype')
      contentType = readEnum('contentType', raw, ['text', 'html'] as const, 'microsoft.graph.bodyType');
    else if (lower === 'content') content = raw === null ? '' : readString('content', raw);
    else if (!key.startsWith('@odata')) throw unknownProperty(key, 'microsoft.graph.itemBody');
  }
  return { contentType, content };
}

/** `x-` headers only, at most five (docs/graph.md §3.1, [OBS] codes and messages). */
export function validateHeadersOrThrow(headers: InternetMessageHeader[]): void {
  if (headers.length > 5) {
    throw new GraphError(
      400,
      'InvalidInternetMessageHeaderCollection',
      'Maximum number of headers in one message should be less than or equal to 5.',
    );
  }
  for (const header of headers) {
    if (!/^x-/i.test(header.name)) {
      throw new GraphError(
        400,
        'InvalidInternetMessageHeader',
        `The internet message header name '${header.name}' should start with 'x-' or 'X-'.`,
      );
    }
  }
}

function readHeaders(value: unknown): InternetMessageHeader[] {
  if (value === null) return [];
  if (!Array.isArray(value))
    throw invalidValue('internetMessageHeaders', 'Collection(microsoft.graph.internetMessageHeader)');
  const headers = value.map((each) => {
    if (!isPlainObject(each)) throw invalidValue('internetMessageHeaders', 'microsoft.graph.internetMessageHeader');
    const name = propertyOf(each, 'name');
    const headerValue = propertyOf(each, 'value');
    return { name: readString('name', name), value: headerValue === null ? '' : readString('value', headerValue) };
  });
  validateHeadersOrThrow(headers);
  return headers;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A `#microsoft.graph.fileAttachment` from JSON. Item and reference attachments are not emulated. */
export function readFileAttachment(ctx: EmulatorContext, value: unknown): FileAttachment {
  if (!isPlainObject(value)) throw invalidValue('attachments', 'microsoft.graph.attachment');
  const type = propertyOf(value, '@odata.type');
  if (typeof type !== 'string' || type.replace(/^#/, '').toLowerCase() !== 'microsoft.graph.fileattachment') {
    throw new GraphError(
      400,
      'ErrorInvalidRequest',
      'Only #microsoft.graph.fileAttachment attachments are supported by this emulator.',
    );
  }
  const name = propertyOf(value, 'name');
  const contentBytes = propertyOf(value, 'contentBytes');
  if (typeof contentBytes !== 'string' || !BASE64.test(contentBytes.replace(/\s/g, ''))) {
    throw invalidValue('contentBytes', 'Edm.Binary');
  }
  const bytes = Buffer.from(contentBytes, 'base64');
  if (bytes.length > MAX_INLINE_ATTACHMENT_BYTES) {
    // The documented ceiling for inline attachments; Graph's exact answer varies (413 / 400 / 500) [OBS].
    throw new GraphError(
      413,
      'RequestEntityTooLarge',
      'The attachment is larger than 3 MB; attach files between 3 MB and 150 MB through an upload session.',
    );
  }
  const contentType = propertyOf(value, 'contentType');
  const isInline = propertyOf(value, 'isInline');
  return {
    id: `AAMkAtt${ctx.random.token(24)}`,
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: typeof name === 'string' && name ? name : 'attachment',
    contentType: typeof contentType === 'string' && contentType ? contentType : 'application/octet-stream',
    size: bytes.length,
    isInline: isInline === true,
    contentBytes: bytes.toString('base64'),
    lastModifiedDateTime: isoNow(ctx),
  };
}

/** Parses a `message` object; throws `GraphError` the way Graph refuses one. */
export function parseMessageInputOrThrow(ctx: EmulatorContext, raw: unknown): MessageInput {
  if (!isPlainObject(raw)) throw invalidValue('message', MESSAGE_TYPE);
  const input: MessageInput = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('@odata') || key.includes('@odata.')) continue;
    const name = WRITABLE_BY_LOWER.get(key.toLowerCase());
    if (!name) {
      if (IGNORED_LOWER.has(key.toLowerCase())) continue;
      throw unknownProperty(key, MESSAGE_TYPE);
    }
    switch (name) {
      case 'subject':
        input.subject = value === null ? '' : readString(key, value);
        break;
      case 'body':
        input.body = readBody(value);
        break;
      case 'toRecipients':
      case 'ccRecipients':
      case 'bccRecipients':
      case 'replyTo':
        input[name] = readRecipients(key, value);
        break;
      case 'from':
      case 'sender':
        input[name] = value === null ? null : readRecipient(key, value);
        break;
      case 'importance':
        input.importance = readEnum(key, value, ['low', 'normal', 'high'] as const, 'microsoft.graph.importance');
        break;
      case 'flag': {
        if (!isPlainObject(value)) throw invalidValue(key, 'microsoft.graph.followupFlag');
        const status = propertyOf(value, 'flagStatus');
        input.flag = {
          flagStatus:
            status === undefined
              ? 'notFlagged'
              : readEnum(
                  'flagStatus',
                  status,
                  ['notFlagged', 'flagged', 'complete'] as const,
                  'microsoft.graph.followupFlagStatus',
                ),
        };
        break;
      }
      case 'categories':
        if (!Array.isArray(value) || value.some((each) => typeof each !== 'string')) {
          throw invalidValue(key, 'Collection(Edm.String)');
        }
        input.categories = [...(value as string[])];
        break;
      case 'internetMessageHeaders':
        input.internetMessageHeaders = readHeaders(value);
        break;
      case 'internetMessageId': {
        const id = readString(key, value).trim();
        if (!/^<[^<>\s@]+@[^<>\s@]+>$/.test(id)) {
          // [GUESS] code and wording: Exchange needs an RFC 5322 msg-id, `<left@right>`.
          throw new GraphError(400, 'ErrorInvalidInternetMessageId', `The internet message id '${id}' is not valid.`);
        }
        input.internetMessageId = id;
        break;
      }
      case 'isRead':
        input.isRead = readBoolean(key, value);
        break;
      case 'inferenceClassification':
        input.inferenceClassification = readEnum(
          key,
          value,
          ['focused', 'other'] as const,
          'microsoft.graph.inferenceClassificationType',
        );
        break;
      case 'attachments':
        if (value === null) break;
        if (!Array.isArray(value)) throw invalidValue(key, 'Collection(microsoft.graph.attachment)');
        input.attachments = value.map((each) => readFileAttachment(ctx, each));
        break;
      default:
        // Receipts and extended properties are accepted and not modelled.
        break;
    }
  }
  return input;
}

/**
 * RFC 5321 mailbox syntax as Exchange resolves it: a dot-atom local part (no leading, trailing or double dot;
 * Exchange refuses `name.@domain`, [OBS]) and a dotted domain.
 */
export function isValidAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1 || address.length > 254) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(local)) return false;
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  return /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/.test(domain);
}

/** At least one recipient, every one resolvable, as Exchange requires before submission. */
export function validateRecipientsOrThrow(recipients: Recipient[]): void {
  if (recipients.length === 0) {
    throw new GraphError(
      400,
      'ErrorInvalidRecipients',
      "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
    );
  }
  for (const recipient of recipients) {
    const address = recipient.emailAddress.address;
    if (!isValidAddress(address)) {
      throw new GraphError(
        400,
        'ErrorInvalidRecipients',
        `At least one recipient is not valid., Recipient '${address}' is not resolved. All recipients must be resolved before a message can be submitted.`,
      );
    }
  }
}

/** 403 ErrorSendAsDenied when `from`/`sender` names someone other than the mailbox owner (no send-as rights here). */
export function validateSenderOrThrow(ownerAddress: string, ...claimed: Array<Recipient | null | undefined>): void {
  for (const recipient of claimed) {
    if (!recipient) continue;
    if (recipient.emailAddress.address.toLowerCase() !== ownerAddress.toLowerCase()) {
      throw new GraphError(
        403,
        'ErrorSendAsDenied',
        'The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.',
      );
    }
  }
}
