import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { apiAuthOf } from '../api/api-auth.js';
import { accountParams, ownerIdSchema, ownerParams } from '../api/api-schemas.js';
import { parseRequestOrThrow } from '../api/request-validation.js';
import type { ServiceDeps } from '../services.js';
import {
  checkFitsCarrierOrThrow,
  MAX_REQUEST_BODY_BYTES,
  readIdempotencyKeyOrThrow,
  validateMessageOrThrow,
} from './message-input.js';
import {
  acceptMessage,
  cancelMessage,
  findIdempotentMessageOrThrow,
  getMessageViewOrThrow,
  type IdempotentRequest,
  listMessageViews,
  MESSAGE_STATUSES,
  requestHash,
  toMessageView,
} from './message-store.js';
import { type MessageTarget, resolveAccountTargetOrThrow, resolveOwnerTargetOrThrow } from './message-target.js';
import { outboxError } from './outbox-errors.js';

const messageIdPattern = /^msg_[0-9a-z]{26}$/;

const listMessagesQuery = z.strictObject({
  status: z.enum(MESSAGE_STATUSES as [string, ...string[]]).optional(),
  accountId: z
    .string()
    .regex(/^acc_[0-9a-z]{26}$/, { message: 'must be an account id (acc_…)' })
    .optional(),
  ownerId: ownerIdSchema.optional(),
  cursor: z.string().regex(messageIdPattern, { message: 'must be a nextCursor value from a previous page' }).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/**
 * The message API (issue 4 item 1), registered inside the host API's authenticated `/v1` scope (API key, JSON
 * bodies, API error shapes):
 * - `POST /accounts/{id}/messages`, `POST /owners/{ownerId}/messages` → 202 `{ id, status, … }` once committed
 *   (200 with the original message for a repeated `Idempotency-Key`);
 * - `GET /messages/{id}` (with its attempt log), `GET /messages?status&accountId&ownerId&cursor&limit`;
 * - `POST /messages/{id}/cancel`.
 * Every bad input is refused with a precise code (outbox-errors.ts) before anything is written.
 */
export function registerMessageRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  const sendOptions = { bodyLimit: MAX_REQUEST_BODY_BYTES };

  api.post('/accounts/:id/messages', sendOptions, async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
    const answer = await send(deps, request, organizationId, `accounts/${id}`, () =>
      resolveAccountTargetOrThrow(deps.db, organizationId, id),
    );
    return reply.code(answer.status).send(answer.body);
  });

  api.post('/owners/:ownerId/messages', sendOptions, async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { ownerId } = parseRequestOrThrow(ownerParams, request.params, 'path');
    const answer = await send(deps, request, organizationId, `owners/${ownerId}`, () =>
      resolveOwnerTargetOrThrow(deps, organizationId, ownerId),
    );
    return reply.code(answer.status).send(answer.body);
  });

  api.get('/messages/:id', async (request) => {
    const { organizationId } = apiAuthOf(request);
    return getMessageViewOrThrow(deps.db, organizationId, messageIdOrThrow(request));
  });

  api.get('/messages', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const query = parseRequestOrThrow(listMessagesQuery, request.query, 'query');
    return listMessageViews(deps.db, organizationId, {
      status: query.status as (typeof MESSAGE_STATUSES)[number] | undefined,
      accountId: query.accountId,
      ownerId: query.ownerId,
      before: query.cursor,
      limit: query.limit,
    });
  });

  api.post('/messages/:id/cancel', async (request) => {
    const { organizationId } = apiAuthOf(request);
    return cancelMessage(deps, organizationId, messageIdOrThrow(request));
  });
}

function messageIdOrThrow(request: FastifyRequest): string {
  const { id } = request.params as { id: string };
  // Our ids have one shape; anything else names no message.
  if (!messageIdPattern.test(id))
    throw outboxError('OUTBOX_MESSAGE_NOT_FOUND', 'No such message in this organisation.');
  return id;
}

/**
 * The send path: the idempotency key first (a retry of an accepted request gets its message back even if the
 * account changed since), then the target (404 / 409), the body, what the account can carry, and the write.
 */
async function send(
  deps: ServiceDeps,
  request: FastifyRequest,
  organizationId: string,
  targetPath: string,
  resolveTarget: () => Promise<MessageTarget>,
): Promise<{ status: number; body: unknown }> {
  const key = readIdempotencyKeyOrThrow(request.headers['idempotency-key']);
  const idempotency: IdempotentRequest | undefined =
    key === undefined ? undefined : { key, hash: requestHash(targetPath, request.body ?? null) };
  if (idempotency) {
    const existing = await findIdempotentMessageOrThrow(deps.db, organizationId, idempotency);
    if (existing) return { status: 200, body: await getMessageViewOrThrow(deps.db, organizationId, existing.id) };
  }
  const target = await resolveTarget();
  const message = validateMessageOrThrow(
    request.body,
    { maxRecipientsPerMessage: deps.config.outbox.maxRecipientsPerMessage },
    deps.clock.now(),
  );
  checkFitsCarrierOrThrow(message, target.carrier);
  const { row, created } = await acceptMessage(deps, target, message, idempotency);
  if (!created) return { status: 200, body: await getMessageViewOrThrow(deps.db, organizationId, row.id) };
  const attachments = message.attachments.map((each) => ({
    name: each.name,
    content_type: each.contentType,
    size_bytes: each.sizeBytes,
  }));
  return { status: 202, body: toMessageView(row, attachments) };
}
