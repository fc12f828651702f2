import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { Mailbox, MailFolder, MailMessage } from '../state/model.js';
import { findFolder } from '../state/world.js';
import { noteOwnerMove, recordEngagement } from './delivery.js';
import { GraphError, invalidValue, itemNotFound } from './graph-error.js';
import {
  createMessage,
  findMessageOrThrow,
  moveMessage,
  newInternetMessageId,
  previewOf,
  touchMessage,
  wellKnownFolderOrThrow,
} from './mail-store.js';
import { isPlainObject, parseMessageInputOrThrow, propertyOf, readFileAttachment } from './message-input.js';
import { messageSchema, newestFirst } from './message-query.js';
import { renderAttachment, renderMessage } from './message-view.js';
import { nextLink, parseCollectionQuery, sortItems } from './odata.js';
import { type GraphCall, graphRoute, jsonBodyOrThrow, SCOPES } from './pipeline.js';

/**
 * Messages (docs/graph.md §3.1): create drafts, list with OData, get, update, delete, move and copy, and inline
 * file attachments.
 */

/** A folder named in a URL or a `destinationId`: an id or a well-known name. */
export function folderOrThrow(mailbox: Mailbox, idOrName: string): MailFolder {
  const folder = findFolder(mailbox, idOrName);
  if (folder) return folder;
  if (/^AA[A-Za-z0-9_-]{20,}={0,2}$/.test(idOrName)) throw itemNotFound();
  throw new GraphError(400, 'ErrorInvalidIdMalformed', 'Id is malformed.');
}

function messageContext(call: GraphCall): string {
  return `${call.contextBase}/messages/$entity`;
}

function renderOne(call: GraphCall, message: MailMessage, status: number) {
  const query = call.request.query as Record<string, unknown>;
  const parsed = parseCollectionQuery(query, messageSchema);
  return {
    status,
    body: renderMessage(message, {
      ...call.prefs,
      context: messageContext(call),
      ...(parsed.select ? { select: parsed.select } : {}),
      expandAttachments: parsed.expand.includes('attachments'),
    }),
  };
}

function listMessages(call: GraphCall, folder: MailFolder | null, folderParam: string | null) {
  const query = parseCollectionQuery(call.request.query as Record<string, unknown>, messageSchema);
  const hidden = findFolder(call.mailbox, 'recoverableitemsdeletions')?.id;
  let items: MailMessage[] = [];
  for (const message of Object.values(call.mailbox.messages)) {
    if (folder ? message.parentFolderId !== folder.id : message.parentFolderId === hidden) continue;
    if (query.filter && !query.filter(message)) continue;
    items.push(message);
  }
  items = sortItems(items, messageSchema, query.orderBy, newestFirst);
  const page = items.slice(query.skip, query.skip + query.top);
  const selectSuffix = query.select ? `(${query.select.join(',')})` : '';
  const collection = folderParam ? `mailFolders('${folderParam}')/messages` : 'messages';
  const body: Record<string, unknown> = { '@odata.context': `${call.contextBase}/${collection}${selectSuffix}` };
  if (query.count) body['@odata.count'] = items.length;
  body.value = page.map((message) =>
    renderMessage(message, {
      ...call.prefs,
      ...(query.select ? { select: query.select } : {}),
      expandAttachments: query.expand.includes('attachments'),
    }),
  );
  if (query.skip + query.top < items.length) {
    body['@odata.nextLink'] = nextLink(call.ctx.urls.graph, call.request.url, query.skip, query.top);
  }
  return { status: 200, body };
}

function createDraft(call: GraphCall, folder: MailFolder) {
  const input = parseMessageInputOrThrow(call.ctx, jsonBodyOrThrow(call) ?? {});
  const body = input.body ?? { contentType: 'text' as const, content: '' };
  const message = createMessage(call.ctx, call.mailbox, {
    folder,
    subject: input.subject ?? '',
    body,
    from: input.from ?? null,
    sender: input.sender ?? null,
    toRecipients: input.toRecipients ?? [],
    ccRecipients: input.ccRecipients ?? [],
    bccRecipients: input.bccRecipients ?? [],
    replyTo: input.replyTo ?? [],
    internetMessageHeaders: input.internetMessageHeaders ?? [],
    attachments: input.attachments ?? [],
    // Exchange gives a draft its Message-ID when it is saved, and keeps it when the draft is sent.
    internetMessageId: input.internetMessageId ?? newInternetMessageId(call.ctx, call.user.kind === 'personal'),
    conversationId: '',
    isDraft: true,
    isRead: input.isRead ?? true,
    importance: input.importance ?? 'normal',
    ...(input.flag ? { flag: input.flag } : {}),
    ...(input.categories ? { categories: input.categories } : {}),
    ...(input.inferenceClassification ? { inferenceClassification: input.inferenceClassification } : {}),
    sentDateTime: null,
    inReplyTo: null,
  });
  message.conversationId = `AAQk${message.immutableId.slice(6, 46)}`;
  return renderOne(call, message, 201);
}

/** Updatable only while `isDraft` (isRead, flag, importance, categories, inferenceClassification: always). */
const DRAFT_ONLY = new Set([
  'subject',
  'body',
  'torecipients',
  'ccrecipients',
  'bccrecipients',
  'replyto',
  'from',
  'sender',
  'internetmessageid',
  'internetmessageheaders',
]);

function updateMessage(call: GraphCall) {
  const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
  const raw = jsonBodyOrThrow(call);
  if (!isPlainObject(raw)) throw invalidValue('message', 'microsoft.graph.message');
  const input = parseMessageInputOrThrow(call.ctx, raw);
  for (const key of Object.keys(raw)) {
    const lower = key.toLowerCase();
    if (DRAFT_ONLY.has(lower) && !message.isDraft) {
      // Draft-only properties (docs/graph.md §3.1); EWS's code for the attempt on a sent or received item.
      throw new GraphError(
        400,
        'ErrorInvalidPropertyUpdateSentMessage',
        'Update operation is invalid for property of a sent message.',
      );
    }
    if (lower === 'attachments') {
      throw new GraphError(
        400,
        'ErrorInvalidRequest',
        'Attachments cannot be updated with PATCH; use the attachments navigation property.',
      );
    }
  }
  if (input.isRead !== undefined) {
    // Opening a delivered copy is engagement too (the reputation model, delivery.ts): once per copy.
    if (input.isRead) recordEngagement(call.ctx, message, 'read');
    message.isRead = input.isRead;
  }
  if (input.flag) {
    message.flag = input.flag;
    if (input.flag.flagStatus === 'flagged') recordEngagement(call.ctx, message, 'flag');
  }
  if (input.importance) {
    message.importance = input.importance;
    if (input.importance === 'high') recordEngagement(call.ctx, message, 'important');
  }
  if (input.categories) message.categories = input.categories;
  if (input.inferenceClassification) message.inferenceClassification = input.inferenceClassification;
  if (message.isDraft) {
    if (input.subject !== undefined) message.subject = input.subject;
    if (input.body) {
      message.body = input.body;
      message.bodyPreview = previewOf(input.body);
    }
    if (input.toRecipients) message.toRecipients = input.toRecipients;
    if (input.ccRecipients) message.ccRecipients = input.ccRecipients;
    if (input.bccRecipients) message.bccRecipients = input.bccRecipients;
    if (input.replyTo) message.replyTo = input.replyTo;
    if (input.from !== undefined) message.from = input.from;
    if (input.sender !== undefined) message.sender = input.sender;
    if (input.internetMessageId) message.internetMessageId = input.internetMessageId;
    if (input.internetMessageHeaders) message.internetMessageHeaders = input.internetMessageHeaders;
  }
  touchMessage(call.ctx, message);
  return renderOne(call, message, 200);
}

function destinationOrThrow(call: GraphCall): MailFolder {
  const raw = jsonBodyOrThrow(call);
  if (!isPlainObject(raw))
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'DestinationId' is empty.");
  for (const key of Object.keys(raw)) {
    if (key.toLowerCase() !== 'destinationid' && !key.startsWith('@odata')) {
      throw new GraphError(
        400,
        'RequestBodyRead',
        `The parameter '${key}' in the request payload is not a valid parameter for the operation 'move'.`,
      );
    }
  }
  const destination = propertyOf(raw, 'destinationId');
  if (typeof destination !== 'string' || destination === '') {
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'DestinationId' is empty.");
  }
  return folderOrThrow(call.mailbox, destination);
}

export function registerMessageRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(scope, ctx, { method: 'GET', path: '/messages', scopes: SCOPES.mailRead }, (call) =>
    listMessages(call, null, null),
  );
  graphRoute(scope, ctx, { method: 'GET', path: '/mailFolders/:folderId/messages', scopes: SCOPES.mailRead }, (call) =>
    listMessages(call, folderOrThrow(call.mailbox, call.params.folderId!), call.params.folderId!),
  );
  graphRoute(scope, ctx, { method: 'POST', path: '/messages', scopes: SCOPES.mailWrite }, (call) =>
    createDraft(call, wellKnownFolderOrThrow(call.mailbox, 'drafts')),
  );
  graphRoute(
    scope,
    ctx,
    { method: 'POST', path: '/mailFolders/:folderId/messages', scopes: SCOPES.mailWrite },
    (call) => createDraft(call, folderOrThrow(call.mailbox, call.params.folderId!)),
  );
  graphRoute(scope, ctx, { method: 'GET', path: '/messages/:messageId', scopes: SCOPES.mailRead }, (call) =>
    renderOne(call, findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!), 200),
  );
  graphRoute(
    scope,
    ctx,
    { method: 'GET', path: '/mailFolders/:folderId/messages/:messageId', scopes: SCOPES.mailRead },
    (call) => {
      const folder = folderOrThrow(call.mailbox, call.params.folderId!);
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      if (message.parentFolderId !== folder.id) throw itemNotFound();
      return renderOne(call, message, 200);
    },
  );
  graphRoute(scope, ctx, { method: 'PATCH', path: '/messages/:messageId', scopes: SCOPES.mailWrite }, updateMessage);
  graphRoute(scope, ctx, { method: 'DELETE', path: '/messages/:messageId', scopes: SCOPES.mailWrite }, (call) => {
    const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
    // Graph's DELETE is a soft delete into Recoverable Items, out of every folder a client lists.
    moveMessage(call.ctx, call.mailbox, message, wellKnownFolderOrThrow(call.mailbox, 'recoverableitemsdeletions'));
    return { status: 204 };
  });
  graphRoute(scope, ctx, { method: 'POST', path: '/messages/:messageId/move', scopes: SCOPES.mailWrite }, (call) => {
    const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
    const destination = destinationOrThrow(call);
    const from = message.parentFolderId;
    const moved = moveMessage(call.ctx, call.mailbox, message, destination);
    noteOwnerMove(call.ctx, call.mailbox, moved, from);
    return renderOne(call, moved, 201);
  });
  graphRoute(scope, ctx, { method: 'POST', path: '/messages/:messageId/copy', scopes: SCOPES.mailWrite }, (call) => {
    const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
    const destination = destinationOrThrow(call);
    const copy = createMessage(call.ctx, call.mailbox, {
      ...message,
      folder: destination,
      flag: { ...message.flag },
      categories: [...message.categories],
      attachments: message.attachments.map((each) => ({ ...each })),
      senderUserId: null,
    });
    return renderOne(call, copy, 201);
  });

  graphRoute(
    scope,
    ctx,
    { method: 'GET', path: '/messages/:messageId/attachments', scopes: SCOPES.mailRead },
    (call) => {
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      return {
        status: 200,
        body: {
          '@odata.context': `${call.contextBase}/messages('${call.params.messageId}')/attachments`,
          value: message.attachments.map((each) => renderAttachment(each)),
        },
      };
    },
  );
  graphRoute(
    scope,
    ctx,
    { method: 'GET', path: '/messages/:messageId/attachments/:attachmentId', scopes: SCOPES.mailRead },
    (call) => {
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      const attachment = message.attachments.find((each) => each.id === call.params.attachmentId);
      if (!attachment) throw itemNotFound();
      return {
        status: 200,
        body: {
          '@odata.context': `${call.contextBase}/messages('${call.params.messageId}')/attachments/$entity`,
          ...renderAttachment(attachment),
        },
      };
    },
  );
  graphRoute(
    scope,
    ctx,
    { method: 'DELETE', path: '/messages/:messageId/attachments/:attachmentId', scopes: SCOPES.mailWrite },
    (call) => {
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      const index = message.attachments.findIndex((each) => each.id === call.params.attachmentId);
      if (index < 0) throw itemNotFound();
      message.attachments.splice(index, 1);
      touchMessage(call.ctx, message);
      return { status: 204 };
    },
  );
  graphRoute(
    scope,
    ctx,
    { method: 'POST', path: '/messages/:messageId/attachments', scopes: SCOPES.mailWrite },
    (call) => {
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      const attachment = readFileAttachment(call.ctx, jsonBodyOrThrow(call));
      message.attachments.push(attachment);
      touchMessage(call.ctx, message);
      return {
        status: 201,
        body: {
          '@odata.context': `${call.contextBase}/messages('${call.params.messageId}')/attachments/$entity`,
          ...renderAttachment(attachment),
        },
      };
    },
  );
}
