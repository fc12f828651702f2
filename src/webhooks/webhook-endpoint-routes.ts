import type { FastifyInstance } from 'fastify';
import { parseRequestOrThrow } from '../http/request-validation.js';
import { adminAuthOf } from '../orgs/api-auth.js';
import type { ServiceDeps } from '../services.js';
import {
  createWebhookEndpointBody,
  rotateWebhookSecretBody,
  updateWebhookEndpointBody,
  webhookEndpointParams,
} from './webhook-endpoint-api.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  findWebhookEndpointOrThrow,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  updateWebhookEndpoint,
  type WebhookEndpointWithSecret,
} from './webhook-endpoints.js';

/**
 * `/v1/webhook-endpoints` (documented in webhook-endpoint-api.ts), scoped to the API key's organisation and open to
 * `admin` keys only. Registered by `src/api/routes.ts` inside its authenticated `/v1` scope.
 */
export function registerWebhookEndpointRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  api.get('/webhook-endpoints', async (request) => {
    const { organizationId } = adminAuthOf(request);
    return { data: await listWebhookEndpoints(deps.db, deps.clock, organizationId) };
  });

  api.post('/webhook-endpoints', async (request, reply) => {
    const { organizationId } = adminAuthOf(request);
    const body = parseRequestOrThrow(createWebhookEndpointBody, request.body, 'body');
    const created = await createWebhookEndpoint(deps, organizationId, body);
    return reply.code(201).send(withSecret(created));
  });

  api.get('/webhook-endpoints/:id', async (request) => {
    const { organizationId } = adminAuthOf(request);
    const { id } = parseRequestOrThrow(webhookEndpointParams, request.params, 'path');
    return findWebhookEndpointOrThrow(deps.db, deps.clock, organizationId, id);
  });

  api.patch('/webhook-endpoints/:id', async (request) => {
    const { organizationId } = adminAuthOf(request);
    const { id } = parseRequestOrThrow(webhookEndpointParams, request.params, 'path');
    const body = parseRequestOrThrow(updateWebhookEndpointBody, request.body, 'body');
    return updateWebhookEndpoint(deps.db, deps.clock, organizationId, id, body);
  });

  api.delete('/webhook-endpoints/:id', async (request, reply) => {
    const { organizationId } = adminAuthOf(request);
    const { id } = parseRequestOrThrow(webhookEndpointParams, request.params, 'path');
    await deleteWebhookEndpoint(deps, organizationId, id);
    return reply.code(204).send();
  });

  api.post('/webhook-endpoints/:id/rotate-secret', async (request) => {
    const { organizationId } = adminAuthOf(request);
    const { id } = parseRequestOrThrow(webhookEndpointParams, request.params, 'path');
    // An empty body is a rotation with the defaults.
    const body = parseRequestOrThrow(rotateWebhookSecretBody, request.body ?? {}, 'body');
    return withSecret(await rotateWebhookEndpointSecret(deps, organizationId, id, body));
  });
}

function withSecret(answer: WebhookEndpointWithSecret) {
  return { ...answer.endpoint, secret: answer.secret };
}
