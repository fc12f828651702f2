import { z } from 'zod';
import type { ApiOperation } from '../api/openapi.js';
import { WEBHOOK_SECRET_MIN_LENGTH } from '../config/webhook-secret-rule.js';
import { EVENT_TYPES } from '../events/event-recorder.js';
import { BODY_ERRORS } from '../http/common-errors.js';
import { apiComponents, idSchema, timestamp } from '../http/common-schemas.js';
import {
  DEFAULT_ROTATION_OVERLAP_SECONDS,
  MAX_ROTATION_OVERLAP_SECONDS,
  MAX_WEBHOOK_ENDPOINTS,
} from './webhook-endpoints.js';

/**
 * Webhook endpoints in the host API: request and response shapes (zod, registered for the OpenAPI document) and the
 * operations, which `src/api/openapi.ts` lists with its own. Every operation needs a key with the `admin` scope.
 */

export const webhookEndpointIdSchema = idSchema('whe', 'a webhook endpoint');

const eventTypesField = z
  .array(z.enum(EVENT_TYPES))
  .min(1)
  .max(EVENT_TYPES.length)
  .nullable()
  .meta({ description: 'The event types this endpoint receives; null (or left out when creating): every type.' });

export const webhookEndpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(z.enum(EVENT_TYPES)).nullable().meta({ description: 'null: every event type.' }),
    enabled: z.boolean().meta({ description: 'A disabled endpoint gets no new deliveries; pending ones fail.' }),
    previousSecretExpiresAt: timestamp.nullable().meta({
      description:
        'During a rotation overlap: until when deliveries carry a second `v1=` signature made with the previous ' +
        'secret. null otherwise.',
    }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .register(apiComponents, { id: 'WebhookEndpoint' });

export const webhookEndpointWithSecretSchema = webhookEndpointSchema
  .extend({
    secret: z.string().meta({
      description:
        'The signing secret: shown in this answer only (mailbridge keeps it encrypted, to sign with). Verify ' +
        '`Mailbridge-Signature` with it.',
    }),
  })
  .register(apiComponents, { id: 'WebhookEndpointWithSecret' });

export const webhookEndpointListSchema = z
  .object({ data: z.array(webhookEndpointSchema) })
  .register(apiComponents, { id: 'WebhookEndpointList' });

const secretField = z
  .string()
  .optional()
  .meta({
    description:
      `Your own signing secret (${WEBHOOK_SECRET_MIN_LENGTH} to 256 characters); left out, mailbridge generates ` +
      'one (64 hex characters).',
  });

export const createWebhookEndpointBody = z
  .strictObject({
    url: z.string().max(2048).meta({ description: 'https (http only for localhost); no query or fragment.' }),
    eventTypes: eventTypesField.optional(),
    enabled: z.boolean().default(true),
    secret: secretField,
  })
  .register(apiComponents, { id: 'CreateWebhookEndpoint' });

export const updateWebhookEndpointBody = z
  .strictObject({
    url: z.string().max(2048).optional(),
    eventTypes: eventTypesField.optional(),
    enabled: z.boolean().optional(),
  })
  .register(apiComponents, { id: 'UpdateWebhookEndpoint' });

export const rotateWebhookSecretBody = z
  .strictObject({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_ROTATION_OVERLAP_SECONDS)
      .default(DEFAULT_ROTATION_OVERLAP_SECONDS)
      .meta({
        description:
          'How long the previous secret keeps signing beside the new one (default a day, at most a week; 0: not ' +
          'at all).',
      }),
    secret: secretField,
  })
  .register(apiComponents, { id: 'RotateWebhookSecret' });

export const webhookEndpointParams = z.strictObject({ id: webhookEndpointIdSchema });

const ADMIN_ERRORS = ['API_KEY_SCOPE_INSUFFICIENT'] as const;
const SECRET_ERRORS = ['WEBHOOK_SECRET_TOO_SHORT', 'WEBHOOK_SECRET_TOO_LONG'] as const;

export const WEBHOOK_ENDPOINT_API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/webhook-endpoints',
    operationId: 'listWebhookEndpoints',
    summary: "The organisation's webhook endpoints",
    description: 'Oldest first. Never a secret.',
    authenticated: true,
    response: { status: 200, description: 'The endpoints.', schema: webhookEndpointListSchema },
    errors: [...ADMIN_ERRORS],
  },
  {
    method: 'post',
    path: '/v1/webhook-endpoints',
    operationId: 'createWebhookEndpoint',
    summary: 'Add a webhook endpoint',
    description:
      `Every later event of the organisation whose type the endpoint wants is POSTed to it, signed with its own ` +
      `secret (answered once, here). At most ${MAX_WEBHOOK_ENDPOINTS} per organisation.`,
    authenticated: true,
    body: createWebhookEndpointBody,
    response: { status: 201, description: 'The endpoint, with its secret.', schema: webhookEndpointWithSecretSchema },
    errors: [
      ...ADMIN_ERRORS,
      ...BODY_ERRORS,
      'WEBHOOK_ENDPOINT_URL_INVALID',
      'WEBHOOK_ENDPOINTS_TOO_MANY',
      ...SECRET_ERRORS,
    ],
  },
  {
    method: 'get',
    path: '/v1/webhook-endpoints/{id}',
    operationId: 'getWebhookEndpoint',
    summary: 'Get a webhook endpoint',
    authenticated: true,
    params: webhookEndpointParams,
    response: { status: 200, description: 'The endpoint.', schema: webhookEndpointSchema },
    errors: [...ADMIN_ERRORS, 'REQUEST_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'],
  },
  {
    method: 'patch',
    path: '/v1/webhook-endpoints/{id}',
    operationId: 'updateWebhookEndpoint',
    summary: 'Change its URL, event types, or enable / disable it',
    authenticated: true,
    params: webhookEndpointParams,
    body: updateWebhookEndpointBody,
    response: { status: 200, description: 'The endpoint as it is now.', schema: webhookEndpointSchema },
    errors: [...ADMIN_ERRORS, ...BODY_ERRORS, 'WEBHOOK_ENDPOINT_URL_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/v1/webhook-endpoints/{id}',
    operationId: 'deleteWebhookEndpoint',
    summary: 'Delete a webhook endpoint',
    description: 'Its secret is destroyed at once; its delivery log stays, and pending deliveries fail.',
    authenticated: true,
    params: webhookEndpointParams,
    response: { status: 204, description: 'Deleted.' },
    errors: [...ADMIN_ERRORS, 'REQUEST_INVALID', 'WEBHOOK_ENDPOINT_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/webhook-endpoints/{id}/rotate-secret',
    operationId: 'rotateWebhookEndpointSecret',
    summary: "Rotate the endpoint's signing secret",
    description:
      'Answers the new secret once. Until `previousSecretExpiresAt`, every delivery carries two `v1=` signatures ' +
      '(new secret first, then the previous one), so your receiver keeps verifying while you deploy the new secret.',
    authenticated: true,
    params: webhookEndpointParams,
    body: rotateWebhookSecretBody,
    response: {
      status: 200,
      description: 'The endpoint, with its new secret.',
      schema: webhookEndpointWithSecretSchema,
    },
    errors: [
      ...ADMIN_ERRORS,
      ...BODY_ERRORS,
      'WEBHOOK_ENDPOINT_NOT_FOUND',
      'WEBHOOK_ROTATION_OVERLAP_INVALID',
      ...SECRET_ERRORS,
    ],
  },
];
