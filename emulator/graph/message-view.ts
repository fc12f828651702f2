import type { FastifyRequest } from 'fastify';
import type { FileAttachment, Mailbox, MailFolder, MailMessage, Recipient } from '../state/model.js';
import { htmlToText, previewOf, textToHtml } from './mail-store.js';

/** What the client asked for in `Prefer` (docs/graph.md §3.1): immutable ids, text bodies. */
export interface Preferences {
  immutableIds: boolean;
  bodyAsText: boolean;
}

export function readPreferences(request: FastifyRequest): Preferences {
  const raw = request.headers.prefer;
  const value = (Array.isArray(raw) ? raw.join(',') : (raw ?? '')).toLowerCase();
  return {
    immutableIds: /idtype\s*=\s*"?immutableid"?/.test(value),
    bodyAsText: /outlook\.body-content-type\s*=\s*"?text"?/.test(value),
  };
}

/** Graph writes dates without fractional seconds: `2024-05-01T09:30:00Z`. */
export function graphDate(iso: string | null): string | null {
  return iso === null ? null : iso.replace(/\.\d+Z$/, 'Z');
}

function recipient(value: Recipient): Recipient {
  const { address, name } = value.emailAddress;
  return { emailAddress: { name: name ?? address, address } };
}

function recipients(values: Recipient[]): Recipient[] {
  return values.map(recipient);
}

export function renderAttachment(attachment: FileAttachment, withContent = true): Record<string, unknown> {
  const view: Record<string, unknown> = {
    '@odata.type': '#microsoft.graph.fileAttachment',
    '@odata.mediaContentType': attachment.contentType,
    id: attachment.id,
    lastModifiedDateTime: graphDate(attachment.lastModifiedDateTime),
    name: attachment.name,
    contentType: attachment.contentType,
    size: attachment.size,
    isInline: attachment.isInline,
    contentId: null,
    contentLocation: null,
  };
  if (withContent) view.contentBytes = attachment.contentBytes;
  return view;
}

/** Every property of Graph's message resource this emulator models, in Graph's order. */
export const MESSAGE_PROPERTIES = [
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'categories',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'internetMessageId',
  'subject',
  'bodyPreview',
  'importance',
  'parentFolderId',
  'conversationId',
  'conversationIndex',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'isRead',
  'isDraft',
  'webLink',
  'inferenceClassification',
  'body',
  'uniqueBody',
  'sender',
  'from',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'flag',
  'internetMessageHeaders',
] as const;

/** Returned only when selected (Graph leaves them out of the default projection). */
const SELECT_ONLY = new Set(['uniqueBody', 'internetMessageHeaders']);

export interface RenderOptions extends Preferences {
  /** Property names (already validated, Graph's casing); undefined: the default projection. */
  select?: string[];
  expandAttachments?: boolean;
  /** `@odata.context` for single-entity answers. */
  context?: string;
}

function bodyFor(message: MailMessage, asText: boolean): MailMessage['body'] {
  if (asText) {
    return message.body.contentType === 'text'
      ? message.body
      : { contentType: 'text', content: htmlToText(message.body.content) };
  }
  return message.body.contentType === 'html'
    ? message.body
    : { contentType: 'html', content: textToHtml(message.body.content) };
}

function propertyValue(message: MailMessage, name: string, options: RenderOptions): unknown {
  switch (name) {
    case 'id':
      return options.immutableIds ? message.immutableId : message.id;
    case 'createdDateTime':
    case 'lastModifiedDateTime':
    case 'receivedDateTime':
    case 'sentDateTime':
      return graphDate(message[name]);
    case 'hasAttachments':
      return message.attachments.some((attachment) => !attachment.isInline);
    case 'bodyPreview':
      return message.bodyPreview || previewOf(message.body);
    case 'conversationIndex':
      return Buffer.from(message.conversationId.slice(4, 26)).toString('base64');
    case 'isDeliveryReceiptRequested':
      return false;
    case 'isReadReceiptRequested':
      return false;
    case 'webLink':
      return `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(message.id)}&exvsurl=1&viewmodel=ReadMessageItem`;
    case 'body':
    case 'uniqueBody':
      return bodyFor(message, options.bodyAsText);
    case 'sender':
    case 'from':
      return message[name] ? recipient(message[name]) : null;
    case 'toRecipients':
    case 'ccRecipients':
    case 'bccRecipients':
    case 'replyTo':
      return recipients(message[name]);
    case 'flag':
      return { ...message.flag };
    case 'categories':
      return [...message.categories];
    case 'internetMessageHeaders':
      return message.internetMessageHeaders.map((header) => ({ ...header }));
    default:
      return (message as unknown as Record<string, unknown>)[name];
  }
}

/** A message as Graph returns it: `@odata.etag` first, then the projection. */
export function renderMessage(message: MailMessage, options: RenderOptions): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  if (options.context) view['@odata.context'] = options.context;
  view['@odata.etag'] = `W/"${message.changeKey}"`;
  const names = options.select
    ? ['id', ...options.select.filter((name) => name !== 'id')]
    : MESSAGE_PROPERTIES.filter((name) => !SELECT_ONLY.has(name));
  for (const name of names) view[name] = propertyValue(message, name, options);
  if (options.expandAttachments) view.attachments = message.attachments.map((each) => renderAttachment(each));
  return view;
}

export const HIDDEN_WELL_KNOWN = new Set(['recoverableitemsdeletions', 'searchfolders', 'scheduled']);

export interface FolderStats {
  total: number;
  unread: number;
  children: number;
}

/** Item counts of every folder of a mailbox, in one pass over its messages and folders. */
export function folderStats(mailbox: Mailbox): Map<string, FolderStats> {
  const stats = new Map<string, FolderStats>();
  const of = (id: string) => {
    let entry = stats.get(id);
    if (!entry) {
      entry = { total: 0, unread: 0, children: 0 };
      stats.set(id, entry);
    }
    return entry;
  };
  for (const message of Object.values(mailbox.messages)) {
    const entry = of(message.parentFolderId);
    entry.total++;
    if (!message.isRead) entry.unread++;
  }
  for (const folder of Object.values(mailbox.folders)) if (folder.parentFolderId) of(folder.parentFolderId).children++;
  return stats;
}

export function renderFolder(
  mailbox: Mailbox,
  folder: MailFolder,
  context?: string,
  stats: Map<string, FolderStats> = folderStats(mailbox),
): Record<string, unknown> {
  const entry = stats.get(folder.id) ?? { total: 0, unread: 0, children: 0 };
  const view: Record<string, unknown> = {};
  if (context) view['@odata.context'] = context;
  Object.assign(view, {
    id: folder.id,
    displayName: folder.displayName,
    parentFolderId: folder.parentFolderId,
    childFolderCount: entry.children,
    unreadItemCount: entry.unread,
    totalItemCount: entry.total,
    isHidden: folder.wellKnownName !== null && HIDDEN_WELL_KNOWN.has(folder.wellKnownName),
  });
  return view;
}
