import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { accountParams, ownerIdSchema, ownerParams } from '../http/common-schemas.js';
import { parseRequestOrThrow } from '../http/request-validation.js';
import { accountReadWithKey, apiAuthOf } from '../orgs/api-auth.js';
import type { ServiceDeps } from '../services.js';
import { MAX_REQUEST_BODY_BYTES, readIdempotencyKeyOrThrow } from './message-input.js';
import { cancelMessage, getMessageViewOrThrow, listMessageViews, MESSAGE_STATUSES } from './message-store.js';
import { outboxError } from './outbox-errors.js';
import { submitMessage } from './submit-message.js';

const messageIdPattern = /^msg_[0-9a-z]{26}$/;

const pageCursor = z.string().regex(messageIdPattern, { message: 'must be a nextCursor value from a previous page' });

const listMessagesQuery = z.strictObject({
  status: z.enum(MESSAGE_STATUSES as [string, ...string[]]).optional(),
  accountId: z
    .string()
    .regex(/^acc_[0-9a-z]{26}$/, { message: 'must be an account id (acc_…)' })
    .optional(),
  ownerId: ownerIdSchema.optional(),
  after: pageCursor.optional(),
  /** The old name of `after`, still accepted (OpenAPI marks it deprecated). */
  cursor: pageCursor.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/**
 * The message API (issue 4 item 1), registered inside the host API's authenticated `/v1` scope (API key, JSON
 * bodies, API error shapes):
 * - `POST /accounts/{id}/messages`, `POST /owners/{ownerId}/messages` → 202 `{ id, status, … }` once committed
 *   (200 with the original message for a repeated `Idempotency-Key`);
 * - `GET /messages/{id}` (with its attempt log), `GET /messages?status&accountId&ownerId&after&limit`;
 * - `POST /messages/{id}/cancel`.
 * Every bad input is refused with a precise code (outbox-errors.ts) before anything is written.
 */
export function registerMessageRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  const sendOptions = { bodyLimit: MAX_REQUEST_BODY_BYTES };

  // The account is read with the API key, in one statement (issue 14).
  const accountSendOptions = { ...sendOptions, config: { readsAccountWithKey: true } };
  api.post('/accounts/:id/messages', accountSendOptions, async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
    const idempotencyKey = readIdempotencyKeyOrThrow(request.headers['idempotency-key']);
    const destination = { accountId: id, account: accountReadWithKey(request, id) };
    const answer = await submitMessage(deps, organizationId, destination, request.body, { idempotencyKey });
    return reply.code(answer.created ? 202 : 200).send(answer.message);
  });

  api.post('/owners/:ownerId/messages', sendOptions, async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { ownerId } = parseRequestOrThrow(ownerParams, request.params, 'path');
    const idempotencyKey = readIdempotencyKeyOrThrow(request.headers['idempotency-key']);
    const answer = await submitMessage(deps, organizationId, { ownerId }, request.body, { idempotencyKey });
    return reply.code(answer.created ? 202 : 200).send(answer.message);
  });

  api.get('/messages/:id', async (request) => {
    const { organizationId } = apiAuthOf(request);
    return getMessageViewOrThrow(deps.db, organizationId, messageIdOrThrow(request));
  });

  api.get('/messages', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const query = parseRequestOrThrow(listMessagesQuery, request.query, 'query');
    if (query.after !== undefined && query.cursor !== undefined && query.after !== query.cursor) {
      throw new AppError('REQUEST_INVALID', 'Give the page cursor once, as `after` (`cursor` is its old name).', {
        status: 400,
        details: { issues: [{ location: 'query', field: 'cursor', code: 'conflict', message: 'differs from after' }] },
      });
    }
    return listMessageViews(deps.db, organizationId, {
      status: query.status as (typeof MESSAGE_STATUSES)[number] | undefined,
      accountId: query.accountId,
      ownerId: query.ownerId,
      // Newest first: the next page holds messages created before the cursor.
      before: query.after ?? query.cursor,
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
