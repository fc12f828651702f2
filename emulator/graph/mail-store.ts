import { createHash } from 'node:crypto';
import type { EmulatorContext } from '../context.js';
import { newGraphId } from '../state/builders.js';
import type { Mailbox, MailFolder, MailMessage, Recipient } from '../state/model.js';
import { findFolder } from '../state/world.js';
import { logCreated, logRemoved, logUpdated } from './change-log.js';
import { itemNotFound } from './graph-error.js';
import { graphRuntime, nextSequence } from './runtime.js';

/**
 * Messages inside a mailbox: `mailbox.messages` is keyed by the current (move-changing) id; an index maps
 * immutable ids to current ids so either kind of id finds a message in O(1) (docs/graph.md §3.1: ids change on
 * move unless the client asks for ImmutableId).
 */

export function isoNow(ctx: EmulatorContext): string {
  return new Date(ctx.clock.now()).toISOString();
}

function immutableIndexOf(ctx: EmulatorContext, mailbox: Mailbox): Map<string, string> {
  const runtime = graphRuntime(ctx);
  let index = runtime.immutableIndex.get(mailbox);
  if (!index) {
    index = new Map();
    for (const message of Object.values(mailbox.messages)) index.set(message.immutableId, message.id);
    runtime.immutableIndex.set(mailbox, index);
  }
  return index;
}

export function newMessageId(ctx: EmulatorContext): string {
  return newGraphId(ctx);
}

export function newImmutableId(ctx: EmulatorContext): string {
  return `AAkALg${ctx.random.token(36)}`;
}

export function newChangeKey(ctx: EmulatorContext): string {
  return `CQAAABYAAA${ctx.random.token(15)}`;
}

/** A conversation id shared by every copy of a thread, in every mailbox, derived from the thread's first message. */
export function conversationIdFor(rootInternetMessageId: string): string {
  return `AAQk${createHash('sha256').update(rootInternetMessageId).digest('base64url').slice(0, 40)}`;
}

/**
 * An `internetMessageId` in Exchange Online's shape, e.g.
 * `<DM6PR11MB4236D1E6A2C3B4F5A6B7C8D9E0F1A2B3@DM6PR11MB4236.namprd11.prod.outlook.com>`.
 */
export function newInternetMessageId(ctx: EmulatorContext, personal: boolean): string {
  const host = `${personal ? 'PH7P' : 'DM6P'}R${ctx.random.int(10, 19)}MB${ctx.random.int(1000, 9999)}`;
  const region = personal ? 'namprd02' : 'namprd11';
  return `<${host}${ctx.random.bytes(16).toString('hex').toUpperCase()}@${host}.${region}.prod.outlook.com>`;
}

export interface NewMessageFields {
  folder: MailFolder;
  subject: string;
  body: MailMessage['body'];
  from: Recipient | null;
  sender: Recipient | null;
  toRecipients: Recipient[];
  ccRecipients: Recipient[];
  bccRecipients: Recipient[];
  replyTo: Recipient[];
  internetMessageHeaders: MailMessage['internetMessageHeaders'];
  attachments: MailMessage['attachments'];
  internetMessageId: string;
  conversationId: string;
  isDraft: boolean;
  isRead: boolean;
  importance: MailMessage['importance'];
  flag?: MailMessage['flag'];
  categories?: string[];
  inferenceClassification?: MailMessage['inferenceClassification'];
  sentDateTime: string | null;
  inReplyTo: string | null;
  senderUserId?: string | null;
  replyToImmutableId?: string | null;
}

/** Creates a message in `fields.folder` of the mailbox, with fresh ids. */
export function createMessage(ctx: EmulatorContext, mailbox: Mailbox, fields: NewMessageFields): MailMessage {
  const now = isoNow(ctx);
  const message: MailMessage = {
    id: newMessageId(ctx),
    immutableId: newImmutableId(ctx),
    parentFolderId: fields.folder.id,
    internetMessageId: fields.internetMessageId,
    conversationId: fields.conversationId,
    subject: fields.subject,
    body: fields.body,
    bodyPreview: previewOf(fields.body),
    from: fields.from,
    sender: fields.sender,
    toRecipients: fields.toRecipients,
    ccRecipients: fields.ccRecipients,
    bccRecipients: fields.bccRecipients,
    replyTo: fields.replyTo,
    internetMessageHeaders: fields.internetMessageHeaders,
    attachments: fields.attachments,
    isDraft: fields.isDraft,
    isRead: fields.isRead,
    importance: fields.importance,
    flag: fields.flag ?? { flagStatus: 'notFlagged' },
    categories: fields.categories ?? [],
    inferenceClassification: fields.inferenceClassification ?? 'focused',
    createdDateTime: now,
    lastModifiedDateTime: now,
    receivedDateTime: now,
    sentDateTime: fields.sentDateTime,
    changeKey: newChangeKey(ctx),
    inReplyTo: fields.inReplyTo,
    senderUserId: fields.senderUserId ?? null,
    replyToImmutableId: fields.replyToImmutableId ?? null,
    sequence: nextSequence(ctx),
  };
  mailbox.messages[message.id] = message;
  immutableIndexOf(ctx, mailbox).set(message.immutableId, message.id);
  graphRuntime(ctx).messageOwners.set(message, mailbox);
  logCreated(ctx, mailbox, message);
  return message;
}

/** The message with this id (current or immutable), if the mailbox has it. */
export function findMessage(ctx: EmulatorContext, mailbox: Mailbox, id: string): MailMessage | undefined {
  const byId = mailbox.messages[id];
  if (byId) return byId;
  const index = immutableIndexOf(ctx, mailbox);
  const currentId = index.get(id);
  if (currentId !== undefined) {
    const message = mailbox.messages[currentId];
    if (message && message.immutableId === id) return message;
  }
  // Messages added to the world without this module (a restored snapshot, the control API) rebuild the index.
  graphRuntime(ctx).immutableIndex.delete(mailbox);
  const rebuilt = immutableIndexOf(ctx, mailbox).get(id);
  return rebuilt === undefined ? undefined : mailbox.messages[rebuilt];
}

export function findMessageOrThrow(ctx: EmulatorContext, mailbox: Mailbox, id: string): MailMessage {
  const message = findMessage(ctx, mailbox, id);
  if (!message) throw itemNotFound();
  return message;
}

function stamp(ctx: EmulatorContext, message: MailMessage): void {
  message.changeKey = newChangeKey(ctx);
  message.lastModifiedDateTime = isoNow(ctx);
}

/**
 * Records a change: a new changeKey and lastModifiedDateTime, as Exchange does on every update, and an entry in
 * the mailbox's change log (delta queries report it).
 */
export function touchMessage(ctx: EmulatorContext, message: MailMessage): void {
  stamp(ctx, message);
  const mailbox = ownerOf(ctx, message);
  if (mailbox) logUpdated(ctx, mailbox, message);
}

/**
 * The mailbox holding a message, in O(1): remembered when this module creates the message; a message it did not
 * create (a restored snapshot) is found once by a scan, which remembers every message of that mailbox.
 */
function ownerOf(ctx: EmulatorContext, message: MailMessage): Mailbox | undefined {
  const owners = graphRuntime(ctx).messageOwners;
  const known = owners.get(message);
  if (known && known.messages[message.id] === message) return known;
  for (const mailbox of Object.values(ctx.world.mailboxes)) {
    if (mailbox.messages[message.id] !== message) continue;
    for (const each of Object.values(mailbox.messages)) owners.set(each, mailbox);
    return mailbox;
  }
  return undefined;
}

/** Moves a message to another folder; it gets a new id (the old one stops resolving), its immutable id stays. */
export function moveMessage(
  ctx: EmulatorContext,
  mailbox: Mailbox,
  message: MailMessage,
  folder: MailFolder,
): MailMessage {
  if (message.parentFolderId === folder.id) return message;
  logRemoved(ctx, mailbox, { folderId: message.parentFolderId, id: message.id, immutableId: message.immutableId });
  delete mailbox.messages[message.id];
  message.id = newMessageId(ctx);
  message.parentFolderId = folder.id;
  stamp(ctx, message);
  mailbox.messages[message.id] = message;
  immutableIndexOf(ctx, mailbox).set(message.immutableId, message.id);
  logCreated(ctx, mailbox, message);
  return message;
}

export function removeMessage(ctx: EmulatorContext, mailbox: Mailbox, message: MailMessage): void {
  logRemoved(ctx, mailbox, { folderId: message.parentFolderId, id: message.id, immutableId: message.immutableId });
  delete mailbox.messages[message.id];
  immutableIndexOf(ctx, mailbox).delete(message.immutableId);
}

export function wellKnownFolderOrThrow(mailbox: Mailbox, name: string): MailFolder {
  const folder = findFolder(mailbox, name);
  if (!folder) throw itemNotFound();
  return folder;
}

/** `bodyPreview`: the first 255 characters of the text, whitespace collapsed (Exchange's rule). */
export function previewOf(body: MailMessage['body']): string {
  const text = body.contentType === 'html' ? htmlToText(body.content) : body.content;
  return text.replace(/\s+/g, ' ').trim().slice(0, 255);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'", nbsp: ' ' };

export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>/gi, '\r\n')
    .replace(/<\/(p|div|tr|li|h[1-6])>/gi, '\r\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&(amp|lt|gt|quot|#39|apos|nbsp);/g, (_m, name: string) => ENTITIES[name] ?? '')
    .replace(/\r\n(\r\n)+/g, '\r\n\r\n')
    .trim();
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** How Exchange stores a plain-text body when asked for HTML. */
export function textToHtml(text: string): string {
  const lines = escapeHtml(text).split(/\r?\n/).join('<br>\r\n');
  return `<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n<div>${lines}</div>\r\n</body>\r\n</html>\r\n`;
}
