import type { EmulatorContext } from '../context.js';
import type {
  DeliveryRecord,
  EmailAddress,
  FileAttachment,
  InternetMessageHeader,
  Mailbox,
  MailMessage,
  OutsideMessage,
  PendingDelivery,
  Recipient,
  User,
} from '../state/model.js';
import { findFolder } from '../state/world.js';
import { applyInboxRules } from './inbox-rules.js';
import {
  conversationIdFor,
  createMessage,
  findMessage,
  isoNow,
  moveMessage,
  newInternetMessageId,
  removeMessage,
  touchMessage,
  wellKnownFolderOrThrow,
} from './mail-store.js';
import { deliverNonDeliveryReport, NDR_REASONS, type NdrReason } from './non-delivery.js';
import { currentReputation, noteBounces, noteMarkedJunk, noteSent, raiseReputation } from './reputation.js';
import { findTenantForDomain, findUserByAddress } from './runtime.js';

/**
 * The emulated mail transport: what happens after Graph (or the SMTP sink) accepted a message.
 *
 * - Each recipient (to, cc, bcc; duplicates once) that is an emulated user gets a copy in Inbox or Junk Email. The
 *   junk verdict is `random.chance("junk|<internetMessageId>|<recipient>", pJunk)` with
 *   `pJunk = junkBase × (1 − sender reputation)` (settings.delivery), so it depends on the seed and the message,
 *   never on request order. Mail inside one organisation, and mail to oneself, skips the filter.
 * - Inbox rules then file Inbox mail; junk mail is not processed by rules.
 * - An address in an emulated domain (a tenant's verified domain, outlook.com, hotmail.com, live.com) without
 *   such a user bounces: one non-delivery report to the sender's Inbox (`550 5.1.10 RESOLVER.ADR.RecipientNotFound`,
 *   non-delivery.ts).
 * - Mail over the sender's per-minute rate is held and delivered later; a restricted sender's mail and mail over
 *   the daily recipient limit is reported undeliverable (`TransportOptions`).
 * - Any other address leaves the world: one `OutsideMessage` per submission in `world.outside`.
 * - Every submission appends exactly one `DeliveryRecord` to `world.deliveries`.
 *
 * Reputation (`mailbox.reputation`, 0..1) rises when recipients engage with a sender's mail: a reply, a rescue
 * from Junk to Inbox, a flag, marking it important, opening it (marking it read). Each kind counts once per delivered
 * copy; the gain is `r += gain × (1 − r)` with the gains in settings.delivery.reputationGain (defaults reply 0.06,
 * rescue 0.08, flag 0.02, important 0.02, read 0.02), so reputation approaches 1 and never exceeds it. It falls with
 * volume spikes, bounces and mail filed as junk, and drifts back when idle: the model is in reputation.ts.
 */

export interface SubmittedMessage {
  subject: string;
  body: MailMessage['body'];
  toRecipients: Recipient[];
  ccRecipients: Recipient[];
  bccRecipients: Recipient[];
  replyTo: Recipient[];
  internetMessageHeaders: InternetMessageHeader[];
  attachments: FileAttachment[];
  importance: MailMessage['importance'];
  categories?: string[];
  /** Kept when the client (a draft, a MIME Message-ID) set one; otherwise Exchange assigns one. */
  internetMessageId?: string;
  conversationId?: string;
  inReplyTo?: string | null;
}

export interface Submission {
  via: DeliveryRecord['via'];
  /** The sending mailbox owner; null for SMTP mail from no emulated user. */
  sender: User | null;
  /** The address and name recipients see in `from` and `sender` (the owner's, for Graph sends). */
  from: EmailAddress;
  message: SubmittedMessage;
  /** Save a copy to the sender's Sent Items (Graph's `saveToSentItems`, default true). */
  saveToSentItems: boolean;
  /** A draft of the sender that becomes the sent item (`/send`), instead of a new copy. */
  draft?: MailMessage;
  /** Immutable id (in the sender's mailbox) of the message this one replies to: credits the reply. */
  replyToImmutableId?: string | null;
}

export interface DeliveryOutcome {
  /** What the transport did; null while the recipients' copies are held for later (`deliverAt`). */
  record: DeliveryRecord | null;
  /** The copy in the sender's Sent Items, if one was kept. */
  sentItem: MailMessage | null;
}

type EngagementKind = Exclude<NonNullable<MailMessage['engagement']>[number], 'junk'>;

/** The junk probability for mail from a sender of this reputation (clamped to [0, 1]). */
export function junkProbability(ctx: EmulatorContext, reputation: number): number {
  const p = ctx.settings.delivery.junkBase * (1 - reputation);
  return Math.min(1, Math.max(0, p));
}

/** The deterministic junk verdict for one message and recipient. */
export function isJunkVerdict(
  ctx: EmulatorContext,
  internetMessageId: string,
  recipient: string,
  reputation: number,
): boolean {
  return ctx.random.chance(`junk|${internetMessageId}|${recipient.toLowerCase()}`, junkProbability(ctx, reputation));
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Whether mail for this address is handled inside the emulated world (even when nobody has the address). */
export function isEmulatedDomain(ctx: EmulatorContext, address: string): boolean {
  return findTenantForDomain(ctx, domainOf(address)) !== undefined;
}

export type RecipientResolution = { kind: 'user'; user: User } | { kind: 'unknown' } | { kind: 'outside' };

/** Where mail for an address goes: an emulated user, a bounce (emulated domain, no such user), or outside. */
export function resolveRecipient(ctx: EmulatorContext, address: string): RecipientResolution {
  const user = findUserByAddress(ctx, address);
  if (user) return { kind: 'user', user };
  return isEmulatedDomain(ctx, address) ? { kind: 'unknown' } : { kind: 'outside' };
}

function sameOrganisation(ctx: EmulatorContext, a: User, b: User): boolean {
  return a.tenantId === b.tenantId && ctx.world.tenants[a.tenantId]?.kind === 'organization';
}

function senderMailboxOf(ctx: EmulatorContext, sender: User | null, from: EmailAddress): Mailbox | undefined {
  const owner = sender ?? findUserByAddress(ctx, from.address);
  return owner ? ctx.world.mailboxes[owner.id] : undefined;
}

function copyRecipients(list: Recipient[]): Recipient[] {
  return list.map((each) => ({ emailAddress: { ...each.emailAddress } }));
}

function stripHeaders(
  ctx: EmulatorContext,
  recipient: User,
  headers: InternetMessageHeader[],
): InternetMessageHeader[] {
  const mode = ctx.settings.delivery.stripCustomHeaders;
  if (mode === 'all' || (mode === 'personal' && recipient.kind === 'personal')) return [];
  return headers.map((header) => ({ ...header }));
}

function transportHeaders(internetMessageId: string, inReplyTo: string | null | undefined): InternetMessageHeader[] {
  const headers: InternetMessageHeader[] = [{ name: 'Message-ID', value: internetMessageId }];
  if (inReplyTo) {
    headers.push({ name: 'In-Reply-To', value: inReplyTo });
    headers.push({ name: 'References', value: inReplyTo });
  }
  return headers;
}

/**
 * How the transport treats an accepted submission (the sending limits decide, see limits.ts):
 * - `deliverAt` later than now: Exchange holds it and delivers it then (mail over 30 a minute is delayed into the
 *   following minutes, docs/graph.md §3.3); `deliverDueMail` hands it on once the emulator clock gets there;
 * - `report`: it is never delivered; the sender gets a non-delivery report for every recipient (a restricted
 *   sender's 5.1.8, the daily recipient limit's 5.1.90).
 */
export interface TransportOptions {
  deliverAt?: number;
  report?: NdrReason;
}

/**
 * Hands an accepted message to the emulated transport: the sender's copy is filed at once (Sent Items), the
 * recipients' copies now, later (`deliverAt`), or never (`report`).
 */
export function deliverSubmission(
  ctx: EmulatorContext,
  submission: Submission,
  options: TransportOptions = {},
): DeliveryOutcome {
  const message = submission.message;
  const senderMailbox = submission.sender ? ctx.world.mailboxes[submission.sender.id] : undefined;
  const internetMessageId =
    message.internetMessageId ?? newInternetMessageId(ctx, submission.sender?.kind === 'personal');
  const conversationId = message.conversationId ?? conversationIdFor(internetMessageId);
  const now = isoNow(ctx);
  const fromRecipient: Recipient = { emailAddress: { ...submission.from } };

  // The sender's copy: the draft itself moves to Sent Items, or a new item is saved there.
  let sentItem: MailMessage | null = null;
  if (senderMailbox && submission.draft) {
    const draft = submission.draft;
    if (submission.saveToSentItems) {
      sentItem = moveMessage(ctx, senderMailbox, draft, wellKnownFolderOrThrow(senderMailbox, 'sentitems'));
      Object.assign(sentItem, {
        isDraft: false,
        isRead: true,
        from: fromRecipient,
        sender: fromRecipient,
        internetMessageId,
        conversationId,
        sentDateTime: now,
        receivedDateTime: now,
      });
      touchMessage(ctx, sentItem);
    } else {
      removeMessage(ctx, senderMailbox, draft);
    }
  } else if (senderMailbox && submission.saveToSentItems) {
    sentItem = createMessage(ctx, senderMailbox, {
      folder: wellKnownFolderOrThrow(senderMailbox, 'sentitems'),
      subject: message.subject,
      body: message.body,
      from: fromRecipient,
      sender: fromRecipient,
      toRecipients: copyRecipients(message.toRecipients),
      ccRecipients: copyRecipients(message.ccRecipients),
      bccRecipients: copyRecipients(message.bccRecipients),
      replyTo: copyRecipients(message.replyTo),
      internetMessageHeaders: message.internetMessageHeaders.map((header) => ({ ...header })),
      attachments: message.attachments.map((attachment) => ({ ...attachment })),
      internetMessageId,
      conversationId,
      isDraft: false,
      isRead: true,
      importance: message.importance,
      categories: message.categories ? [...message.categories] : [],
      sentDateTime: now,
      inReplyTo: message.inReplyTo ?? null,
    });
  }

  // A reply credits the sender of the message it answers.
  if (senderMailbox && submission.replyToImmutableId) {
    const original = findMessage(ctx, senderMailbox, submission.replyToImmutableId);
    if (original) recordEngagement(ctx, original, 'reply');
  }

  const pending: PendingDelivery = {
    id: ctx.random.guid(),
    submittedAt: ctx.clock.now(),
    dueAt: Math.max(ctx.clock.now(), options.deliverAt ?? 0),
    senderUserId: submission.sender?.id ?? null,
    from: { ...submission.from },
    via: submission.via,
    message: { ...message, internetMessageId, conversationId },
  };
  if (!options.report && pending.dueAt > ctx.clock.now()) {
    holdForLater(ctx, pending);
    return { record: null, sentItem };
  }
  return { record: transport(ctx, pending, options.report), sentItem };
}

/** Keeps a delayed submission in `world.pendingDeliveries`, ordered by when it is due (FIFO among equals). */
function holdForLater(ctx: EmulatorContext, pending: PendingDelivery): void {
  ctx.world.pendingDeliveries ??= [];
  const list = ctx.world.pendingDeliveries;
  let index = list.length;
  while (index > 0 && list[index - 1]!.dueAt > pending.dueAt) index -= 1;
  list.splice(index, 0, pending);
}

/**
 * Delivers every held submission whose time has come on the emulator clock, in order. Called before each request
 * the emulator serves (app.ts), so whoever looks (a Graph client, the control API) sees the world as of now.
 */
export function deliverDueMail(ctx: EmulatorContext): number {
  const list = ctx.world.pendingDeliveries;
  if (!list || list.length === 0) return 0;
  const now = ctx.clock.now();
  let due = 0;
  while (due < list.length && list[due]!.dueAt <= now) due += 1;
  if (due === 0) return 0;
  for (const pending of list.splice(0, due)) transport(ctx, pending);
  return due;
}

/** The recipients' side of a submission: placement, bounces, the outside sink, and one delivery record. */
function transport(ctx: EmulatorContext, pending: PendingDelivery, report?: NdrReason): DeliveryRecord {
  const message = pending.message;
  const internetMessageId = message.internetMessageId!;
  const conversationId = message.conversationId!;
  const sender = pending.senderUserId ? (ctx.world.users[pending.senderUserId] ?? null) : null;
  const fromRecipient: Recipient = { emailAddress: { ...pending.from } };
  const sentDateTime = new Date(pending.submittedAt).toISOString();

  const seen = new Set<string>();
  const recipients: string[] = [];
  for (const each of [...message.toRecipients, ...message.ccRecipients, ...message.bccRecipients]) {
    const address = each.emailAddress.address.trim().toLowerCase();
    if (!address || seen.has(address)) continue;
    seen.add(address);
    recipients.push(address);
  }
  const bcc = new Set(message.bccRecipients.map((each) => each.emailAddress.address.trim().toLowerCase()));

  const placements: DeliveryRecord['placements'] = [];
  const unknown: string[] = [];
  /** Recipients whose mailbox is over quota: a report of their own (5.2.2), and no mark on the sender. */
  const full: string[] = [];
  const outside: string[] = [];
  const reputationMailbox = senderMailboxOf(ctx, sender, pending.from);
  // Mail the transport refuses to send (a restricted sender, the daily limit) is not volume the filter sees.
  if (reputationMailbox && !report) noteSent(ctx, reputationMailbox);
  const reputation = reputationMailbox ? currentReputation(ctx, reputationMailbox) : 0.5;
  for (const address of report ? [] : recipients) {
    const resolution = resolveRecipient(ctx, address);
    if (resolution.kind === 'unknown') {
      unknown.push(address);
      placements.push({ address, outcome: 'ndr', status: NDR_REASONS.recipientNotFound.status });
      continue;
    }
    if (resolution.kind === 'outside') {
      outside.push(address);
      placements.push({ address, outcome: 'outside' });
      continue;
    }
    const recipient = resolution.user;
    const mailbox = ctx.world.mailboxes[recipient.id];
    if (!mailbox || !recipient.mailboxEnabled) {
      unknown.push(address);
      placements.push({ address, outcome: 'ndr', status: NDR_REASONS.recipientNotFound.status });
      continue;
    }
    if (recipient.mailboxFull) {
      full.push(address);
      placements.push({ address, outcome: 'ndr', status: NDR_REASONS.mailboxFull.status });
      continue;
    }
    const skipFilter =
      (sender !== null && sender.id === recipient.id) ||
      (ctx.settings.delivery.internalBypassesJunk && sender !== null && sameOrganisation(ctx, sender, recipient));
    const junk = !skipFilter && isJunkVerdict(ctx, internetMessageId, address, reputation);
    const folder = wellKnownFolderOrThrow(mailbox, junk ? 'junkemail' : 'inbox');
    const copy = createMessage(ctx, mailbox, {
      folder,
      subject: message.subject,
      body: { ...message.body },
      from: fromRecipient,
      sender: fromRecipient,
      toRecipients: copyRecipients(message.toRecipients),
      ccRecipients: copyRecipients(message.ccRecipients),
      bccRecipients: bcc.has(address) ? [{ emailAddress: { address } }] : [],
      replyTo: copyRecipients(message.replyTo),
      internetMessageHeaders: [
        ...transportHeaders(internetMessageId, message.inReplyTo),
        ...stripHeaders(ctx, recipient, message.internetMessageHeaders),
      ],
      attachments: message.attachments.map((attachment) => ({ ...attachment })),
      internetMessageId,
      conversationId,
      isDraft: false,
      isRead: false,
      importance: message.importance,
      inferenceClassification: junk ? 'other' : 'focused',
      sentDateTime,
      inReplyTo: message.inReplyTo ?? null,
      senderUserId: sender?.id ?? null,
    });
    if (junk) {
      placements.push({ address, outcome: 'junkemail' });
      continue;
    }
    const ruled = applyInboxRules(ctx, mailbox, copy, recipient.email);
    placements.push({ address, outcome: ruled === 'inbox' ? 'inbox' : 'folder' });
  }
  if (report) {
    for (const address of recipients) placements.push({ address, outcome: 'ndr', status: report.status });
  }

  if (reputationMailbox && unknown.length > 0) noteBounces(ctx, reputationMailbox, unknown.length);
  const bounceTo = sender ?? findUserByAddress(ctx, pending.from.address) ?? null;
  const rejected = {
    from: pending.from,
    subject: message.subject,
    internetMessageId,
    to: message.toRecipients.map((each) => each.emailAddress.address),
    submittedAt: pending.submittedAt,
  };
  const failed = report ? recipients : unknown;
  if (bounceTo && failed.length > 0) {
    deliverNonDeliveryReport(ctx, bounceTo, rejected, failed, report ?? NDR_REASONS.recipientNotFound);
  }
  if (bounceTo && full.length > 0) {
    deliverNonDeliveryReport(ctx, bounceTo, rejected, full, NDR_REASONS.mailboxFull);
  }

  if (outside.length > 0) {
    const copy: OutsideMessage = {
      id: ctx.random.guid(),
      at: ctx.clock.now(),
      from: pending.from.address,
      to: message.toRecipients.map((each) => each.emailAddress.address),
      cc: message.ccRecipients.map((each) => each.emailAddress.address),
      bcc: message.bccRecipients
        .map((each) => each.emailAddress.address)
        .filter((address) => outside.includes(address.toLowerCase())),
      replyTo: message.replyTo.map((each) => each.emailAddress.address),
      subject: message.subject,
      body: { ...message.body },
      headers: [...transportHeaders(internetMessageId, message.inReplyTo), ...message.internetMessageHeaders],
      internetMessageId,
      attachments: message.attachments.map((each) => ({
        name: each.name,
        contentType: each.contentType,
        size: each.size,
      })),
      via: pending.via,
      envelopeTo: outside,
    };
    ctx.world.outside.push(copy);
  }

  const record: DeliveryRecord = {
    id: pending.id,
    at: ctx.clock.now(),
    submittedAt: pending.submittedAt,
    senderUserId: pending.senderUserId,
    from: pending.from.address,
    replyTo: message.replyTo.map((each) => each.emailAddress.address),
    recipients,
    subject: message.subject,
    internetMessageId,
    via: pending.via,
    placements,
  };
  ctx.world.deliveries.push(record);
  return record;
}

/**
 * Credits the sender of a delivered copy for one kind of engagement (once per kind per copy). Returns whether
 * reputation changed.
 */
export function recordEngagement(ctx: EmulatorContext, message: MailMessage, kind: EngagementKind): boolean {
  const senderId = message.senderUserId;
  if (!senderId) return false;
  const engagement = message.engagement ?? [];
  if (engagement.includes(kind)) return false;
  const mailbox: Mailbox | undefined = ctx.world.mailboxes[senderId];
  if (!mailbox) return false;
  message.engagement = [...engagement, kind];
  raiseReputation(ctx, mailbox, ctx.settings.delivery.reputationGain[kind] ?? 0);
  return true;
}

/**
 * A move by the mailbox owner: a move from Junk Email to Inbox is a rescue (credited to the sender); a move into
 * Junk Email from anywhere else files the sender's mail as junk (costs the sender, once per copy, unless the
 * recipient had rescued that copy before).
 */
export function noteOwnerMove(
  ctx: EmulatorContext,
  mailbox: Mailbox,
  message: MailMessage,
  fromFolderId: string,
): void {
  const junk = findFolder(mailbox, 'junkemail');
  const inbox = findFolder(mailbox, 'inbox');
  if (junk && inbox && fromFolderId === junk.id && message.parentFolderId === inbox.id) {
    recordEngagement(ctx, message, 'rescue');
  }
  if (junk && fromFolderId !== junk.id && message.parentFolderId === junk.id && message.senderUserId) {
    const engagement = message.engagement ?? [];
    const sender = ctx.world.mailboxes[message.senderUserId];
    // The recipient's first verdict on a copy counts: a copy already rescued keeps its credit [model choice].
    if (!engagement.includes('junk') && !engagement.includes('rescue') && sender) {
      message.engagement = [...engagement, 'junk'];
      noteMarkedJunk(ctx, sender);
    }
  }
}
