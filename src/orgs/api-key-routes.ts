import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/app-error.js';
import { parseRequestOrThrow } from '../http/request-validation.js';
import type { ServiceDeps } from '../services.js';
import { adminAuthOf } from './api-auth.js';
import { apiKeyParams, createApiKeyBody } from './api-key-api.js';
import { createApiKey, findApiKey, listApiKeys, revokeApiKey } from './api-keys.js';

/**
 * `GET /v1/api-keys`, `POST /v1/api-keys`, `DELETE /v1/api-keys/:id` (documented in api-key-api.ts), scoped to the
 * API key's organisation and open to `admin` keys only. Registered by `src/api/routes.ts` inside its authenticated
 * `/v1` scope.
 */
export function registerApiKeyRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  api.get('/api-keys', async (request) => {
    const { organizationId } = adminAuthOf(request);
    return { data: await listApiKeys(deps.db, deps.clock, organizationId) };
  });

  api.post('/api-keys', async (request, reply) => {
    const { organizationId, apiKeyId } = adminAuthOf(request);
    const body = parseRequestOrThrow(createApiKeyBody, request.body, 'body');
    const created = await createApiKey(deps.db, deps.clock, organizationId, body.name, {
      scope: body.scope,
      expiresAt: body.expiresAt === undefined ? null : Date.parse(body.expiresAt),
      createdBy: `api:${apiKeyId}`,
    });
    const summary = await findApiKey(deps.db, deps.clock, organizationId, created.id);
    return reply.code(201).send({ ...summary, key: created.key });
  });

  api.delete('/api-keys/:id', async (request) => {
    const { organizationId } = adminAuthOf(request);
    const { id } = parseRequestOrThrow(apiKeyParams, request.params, 'path');
    const revoked = await revokeApiKey(deps.db, deps.clock, organizationId, id);
    if (!revoked) {
      throw new AppError('API_KEY_NOT_FOUND', 'No API key with this id in your organisation.', { status: 404 });
    }
    return revoked;
  });
}
