import { z } from 'zod';
import type { ApiOperation } from '../api/openapi.js';
import { apiComponents, idSchema, timestamp } from '../http/common-schemas.js';
import { API_KEY_SCOPES, API_KEY_STATUSES } from './api-keys.js';

/**
 * API key management in the host API: request and response shapes (zod, registered for the OpenAPI document) and
 * the operations, which `src/api/openapi.ts` lists with its own. Every operation needs a key with the `admin` scope.
 */

export const apiKeyIdSchema = idSchema('key', 'an API key');

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().meta({ description: 'The first characters of the key (`mb_live_` + 6), to tell keys apart.' }),
    scope: z.enum(API_KEY_SCOPES).meta({
      description: '`standard`: the host API. `admin`: also lists, creates and revokes the organisation’s keys.',
    }),
    status: z.enum(API_KEY_STATUSES),
    createdAt: timestamp,
    createdBy: z.string().meta({ description: '`cli`, `dashboard:<user email>` or `api:<key id>`.' }),
    lastUsedAt: timestamp.nullable().meta({ description: 'Updated at most once a minute per key.' }),
    expiresAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .register(apiComponents, { id: 'ApiKey' });

export const createdApiKeySchema = apiKeySchema
  .extend({
    key: z.string().meta({
      description: 'The whole key, `mb_live_…`: shown in this answer only. mailbridge keeps only its SHA-256.',
    }),
  })
  .register(apiComponents, { id: 'CreatedApiKey' });

export const apiKeyListSchema = z.object({ data: z.array(apiKeySchema) }).register(apiComponents, { id: 'ApiKeyList' });

export const createApiKeyBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ description: 'A label for people, 1 to 200 characters.' }),
    scope: z.enum(API_KEY_SCOPES).default('standard'),
    expiresAt: timestamp.optional().meta({
      description: 'When the key stops working (ISO 8601, in the future). Without it the key works until revoked.',
    }),
  })
  .register(apiComponents, { id: 'CreateApiKey' });

export const apiKeyParams = z.strictObject({ id: apiKeyIdSchema });

const ADMIN_ERRORS = ['API_KEY_SCOPE_INSUFFICIENT'] as const;

export const API_KEY_API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/api-keys',
    operationId: 'listApiKeys',
    summary: "The organisation's API keys",
    description: 'Every key of the organisation, oldest first, revoked and expired ones included. Never the secret.',
    authenticated: true,
    response: { status: 200, description: 'The keys.', schema: apiKeyListSchema },
    errors: [...ADMIN_ERRORS],
  },
  {
    method: 'post',
    path: '/v1/api-keys',
    operationId: 'createApiKey',
    summary: 'Create an API key',
    description: 'Creates a key for the organisation and answers it once. Store it: it cannot be shown again.',
    authenticated: true,
    body: createApiKeyBody,
    response: { status: 201, description: 'The new key, with its secret.', schema: createdApiKeySchema },
    errors: [
      ...ADMIN_ERRORS,
      'REQUEST_INVALID',
      'REQUEST_JSON_INVALID',
      'REQUEST_CONTENT_TYPE_UNSUPPORTED',
      'API_KEY_EXPIRY_INVALID',
    ],
  },
  {
    method: 'delete',
    path: '/v1/api-keys/{id}',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key',
    description:
      'The key is refused from the next request on, by every mailbridge process (each request checks the ' +
      'database). Revoking a revoked key answers it unchanged. A key may revoke itself.',
    authenticated: true,
    params: apiKeyParams,
    response: { status: 200, description: 'The key, now revoked.', schema: apiKeySchema },
    errors: [...ADMIN_ERRORS, 'REQUEST_INVALID', 'API_KEY_NOT_FOUND'],
  },
];
