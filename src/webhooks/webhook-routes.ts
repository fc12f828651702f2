import type { FastifyInstance } from 'fastify';
import { parseRequestOrThrow } from '../http/request-validation.js';
import { apiAuthOf } from '../orgs/api-auth.js';
import type { ServiceDeps } from '../services.js';
import { listWebhookDeliveriesQuery, webhookDeliveryParams } from './webhook-api.js';
import { listWebhookDeliveries, retryWebhookDeliveryOrThrow } from './webhook-deliveries.js';

/**
 * `GET /v1/webhook-deliveries` and `POST /v1/webhook-deliveries/:id/retry` (documented in webhook-api.ts), scoped to
 * the API key's organisation. Registered by `src/api/routes.ts` inside its authenticated `/v1` scope, so the API's
 * key check, error answers and body rules apply; `apiAuthOf` throws if a route ever runs outside it.
 */
export function registerWebhookRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  api.get('/webhook-deliveries', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const query = parseRequestOrThrow(listWebhookDeliveriesQuery, request.query, 'query');
    // One more than asked tells whether another page exists.
    const rows = await listWebhookDeliveries(deps.db, organizationId, {
      limit: query.limit + 1,
      ...(query.eventId ? { eventId: query.eventId } : {}),
      ...(query.endpointId ? { endpointId: query.endpointId } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.after ? { after: query.after } : {}),
    });
    const data = rows.slice(0, query.limit);
    return { data, nextCursor: rows.length > query.limit ? (data.at(-1)?.id ?? null) : null };
  });

  api.post('/webhook-deliveries/:id/retry', async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(webhookDeliveryParams, request.params, 'path');
    const delivery = await retryWebhookDeliveryOrThrow(deps.db, deps.clock, organizationId, id);
    return reply.code(202).send(delivery);
  });
}
