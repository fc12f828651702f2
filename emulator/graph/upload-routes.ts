import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { headerValue } from '../errors.js';
import { applyFaultBeforeHandler, takeFault } from '../faults.js';
import { digest } from '../state/world.js';
import { GraphError, invalidValue, itemNotFound } from './graph-error.js';
import { findMessage, findMessageOrThrow, isoNow, touchMessage } from './mail-store.js';
import { isPlainObject, MAX_INLINE_ATTACHMENT_BYTES, propertyOf } from './message-input.js';
import { graphDate } from './message-view.js';
import { graphRoute, jsonBodyOrThrow, SCOPES, sendGraphFailure, sendGraphResult } from './pipeline.js';
import { graphRuntime, type UploadSession } from './runtime.js';

/**
 * Large attachments (docs/graph.md §3.1): `createUploadSession` answers 201 with an opaque,
 * pre-authenticated `uploadUrl` on another host than Graph: `https://outlook.office.com/api/gv1.0/users('oid@tid')
 * /messages('id')/AttachmentSessions('id')?authtoken=…` [OBS] (the
 * emulator's `urls.outlook`). The client PUTs the bytes in order with `Content-Range` and no Authorization header:
 * 200 with `nextExpectedRanges` for each middle chunk, 201 with `Location` and an empty body for the last. DELETE on
 * the URL cancels (204). A request that does carry the Graph bearer token is refused with 401
 * InvalidAudienceForResource, as Outlook refuses it (the Java SDK shipped that bug).
 */

const MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024;
/** "For better performance, keep each byte range less than 4 MB" — the emulator holds clients to it. */
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Sessions in the documented example live about 1 h 40 min; two hours here. */
const SESSION_LIFETIME_MS = 2 * 3600_000;

function readAttachmentItemOrThrow(raw: unknown) {
  if (!isPlainObject(raw))
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'AttachmentItem' is empty.");
  const item = propertyOf(raw, 'AttachmentItem');
  if (!isPlainObject(item))
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'AttachmentItem' is empty.");
  const type = propertyOf(item, 'attachmentType');
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'file')) {
    throw new GraphError(
      400,
      'ErrorInvalidRequest',
      'Only file attachments can be uploaded through an upload session.',
    );
  }
  const name = propertyOf(item, 'name');
  const size = propertyOf(item, 'size');
  if (typeof name !== 'string' || name === '') throw invalidValue('name', 'Edm.String');
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw invalidValue('size', 'Edm.Int64');
  if (size < MAX_INLINE_ATTACHMENT_BYTES) {
    // Documented: files under 3 MB are attached with a single POST, not an upload session.
    throw new GraphError(
      400,
      'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize',
      'Attachment size must be greater than the minimum size.',
    );
  }
  if (size > MAX_ATTACHMENT_BYTES) {
    throw new GraphError(
      400,
      'ErrorAttachmentSizeLimitExceeded',
      'The file attachment exceeds the maximum supported size.',
    );
  }
  const contentType = propertyOf(item, 'contentType');
  const isInline = propertyOf(item, 'isInline');
  const contentId = propertyOf(item, 'contentId');
  return {
    name,
    size,
    contentType: typeof contentType === 'string' && contentType ? contentType : 'application/octet-stream',
    isInline: isInline === true,
    contentId: typeof contentId === 'string' ? contentId : null,
  };
}

function sessionUrl(
  ctx: EmulatorContext,
  tenantId: string,
  session: UploadSession,
  messageId: string,
  token: string,
): string {
  return `${ctx.urls.outlook}/api/gv1.0/users('${session.userId}@${tenantId}')/messages('${messageId}')/AttachmentSessions('${session.id}')?authtoken=${token}`;
}

/**
 * The upload URL is pre-authenticated for Outlook's audience; a Graph bearer token sent along is checked first and
 * refused, with Outlook's words [OBS]. @see docs/graph.md §3.1
 */
function refuseAuthorizationHeader(ctx: EmulatorContext, request: FastifyRequest): void {
  if (headerValue(request, 'authorization') === undefined) return;
  request.emulatorNote = 'upload:authorization-header';
  const url = `${ctx.urls.outlook}${request.url.split('?', 1)[0]}`;
  throw new GraphError(
    401,
    'InvalidAudienceForResource',
    `The audience claim value is invalid for current resource. Audience claim is 'https://graph.microsoft.com/', request url is '${url}' and resource type is 'Exchange'.`,
    { innerError: { errorUrl: 'https://aka.ms/autherrors#error-InvalidResource' } },
  );
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

async function uploadChunk(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply) {
  refuseAuthorizationHeader(ctx, request);
  const session = sessionOrThrow(ctx, request);
  const fault = takeFault(ctx, 'graph', session.userId);
  if (fault && (await applyFaultBeforeHandler(ctx, request, reply, fault, 'graph')) === 'answered') return reply;
  const range = CONTENT_RANGE.exec(headerValue(request, 'content-range')?.trim() ?? '');
  if (!range)
    throw new GraphError(
      400,
      'InvalidContentRange',
      "The Content-Range header is missing or malformed; expected 'bytes {start}-{end}/{total}'.",
    );
  const start = Number(range[1]);
  const end = Number(range[2]);
  const total = Number(range[3]);
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (total !== session.size) {
    throw new GraphError(
      400,
      'InvalidContentRange',
      'The Content-Range total does not match the size of the upload session.',
    );
  }
  if (end < start || end >= total || body.length !== end - start + 1) {
    throw new GraphError(
      400,
      'InvalidContentRange',
      'The Content-Range header length does not match the provided number of bytes.',
    );
  }
  if (body.length > MAX_CHUNK_BYTES) {
    throw new GraphError(413, 'RequestEntityTooLarge', 'Each uploaded byte range must be smaller than 4 MB.');
  }
  if (start !== session.received) {
    // Bytes must arrive in order; the answer names where to resume.
    throw new GraphError(
      416,
      'InvalidRange',
      `The uploaded range does not start at the next expected byte (${session.received}).`,
      {
        innerError: { nextExpectedRanges: [`${session.received}-`] },
      },
    );
  }
  session.chunks.push(body);
  session.received += body.length;
  if (session.received < session.size) {
    return sendGraphResult(ctx, request, reply, {
      status: 200,
      body: {
        '@odata.context': `${ctx.urls.outlook}/api/gv1.0/$metadata#users('${session.userId}')/messages('${session.messageImmutableId}')/AttachmentSessions/$entity`,
        // Outlook's casing in the documented answer.
        ExpirationDateTime: new Date(session.expiresAt).toISOString(),
        nextExpectedRanges: [`${session.received}`],
      },
    });
  }
  const mailbox = ctx.world.mailboxes[session.userId];
  const message = mailbox ? findMessage(ctx, mailbox, session.messageImmutableId) : undefined;
  graphRuntime(ctx).uploadSessions.delete(session.id);
  if (!message) throw itemNotFound();
  const bytes = Buffer.concat(session.chunks);
  const attachmentId = `AAMkAtt${ctx.random.token(24)}`;
  message.attachments.push({
    id: attachmentId,
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: session.name,
    contentType: session.contentType,
    size: bytes.length,
    isInline: session.isInline,
    contentBytes: bytes.toString('base64'),
    lastModifiedDateTime: isoNow(ctx),
  });
  touchMessage(ctx, message);
  const user = ctx.world.users[session.userId];
  return sendGraphResult(ctx, request, reply, {
    status: 201,
    headers: {
      location: `${ctx.urls.outlook}/api/gv1.0/users('${session.userId}@${user?.tenantId ?? ''}')/messages('${message.id}')/Attachments('${attachmentId}')`,
    },
  });
}

function sessionOrThrow(ctx: EmulatorContext, request: FastifyRequest): UploadSession {
  const match = /AttachmentSessions\('([^']+)'\)/i.exec(decodeURIComponent(request.url.split('?')[0]!));
  const session = match ? graphRuntime(ctx).uploadSessions.get(match[1]!) : undefined;
  if (!session) throw itemNotFound();
  const token = (request.query as Record<string, unknown>).authtoken;
  if (typeof token !== 'string' || digest(token) !== session.tokenHash) {
    throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token validation failure.');
  }
  request.emulatorActor = { clientId: null, userId: session.userId };
  if (session.expiresAt <= ctx.clock.now()) {
    graphRuntime(ctx).uploadSessions.delete(session.id);
    throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token has expired or is not yet valid.');
  }
  return session;
}

export function registerUploadRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(
    scope,
    ctx,
    { method: 'POST', path: '/messages/:messageId/attachments/createUploadSession', scopes: SCOPES.mailWrite },
    (call) => {
      const message = findMessageOrThrow(call.ctx, call.mailbox, call.params.messageId!);
      const item = readAttachmentItemOrThrow(jsonBodyOrThrow(call));
      const token = call.ctx.random.token(48);
      const session: UploadSession = {
        id: `AAMkSes${call.ctx.random.token(18)}`,
        tokenHash: digest(token),
        userId: call.user.id,
        messageImmutableId: message.immutableId,
        ...item,
        chunks: [],
        received: 0,
        expiresAt: call.ctx.clock.now() + SESSION_LIFETIME_MS,
      };
      graphRuntime(call.ctx).uploadSessions.set(session.id, session);
      return {
        status: 201,
        body: {
          '@odata.context': `${call.ctx.urls.graph}/v1.0/$metadata#microsoft.graph.uploadSession`,
          uploadUrl: sessionUrl(call.ctx, call.user.tenantId, session, message.id, token),
          expirationDateTime: graphDate(new Date(session.expiresAt).toISOString()),
          nextExpectedRanges: ['0-'],
        },
      };
    },
  );

  const guarded =
    (work: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        return await work(request, reply);
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        return sendGraphFailure(ctx, request, reply, error);
      }
    };
  scope.put(
    '/api/*',
    guarded((request, reply) => uploadChunk(ctx, request, reply)),
  );
  scope.delete(
    '/api/*',
    guarded(async (request, reply) => {
      refuseAuthorizationHeader(ctx, request);
      const session = sessionOrThrow(ctx, request);
      graphRuntime(ctx).uploadSessions.delete(session.id);
      return sendGraphResult(ctx, request, reply, { status: 204 });
    }),
  );
}
