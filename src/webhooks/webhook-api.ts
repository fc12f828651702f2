import { z } from 'zod';
import type { ApiOperation } from '../api/openapi.js';
import { EVENT_TYPES } from '../events/event-recorder.js';
import { apiComponents, idSchema, limitSchema, timestamp } from '../http/common-schemas.js';
import { WEBHOOK_DELIVERY_STATUSES } from './webhook-deliveries.js';
import { WEBHOOK_MAX_ATTEMPTS } from './webhook-dispatcher.js';

/**
 * The delivery log in the host API: request and response shapes (zod, registered for the OpenAPI document) and the
 * operations, which `src/api/openapi.ts` lists with its own.
 */

export const webhookDeliveryIdSchema = idSchema('whd', 'a webhook delivery');

export const webhookDeliverySchema = z
  .object({
    id: z.string(),
    eventId: z.string().meta({ description: 'The event delivered (= the `Mailbridge-Event-Id` header).' }),
    eventType: z.enum(EVENT_TYPES),
    endpointId: z.string().nullable().meta({
      description: "The organisation's webhook endpoint it goes to; null: the Default organisation's WEBHOOK_URL.",
    }),
    url: z.string().meta({ description: 'Where the last attempt went (the URL configured at the time).' }),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES).meta({
      description:
        `\`pending\` (waiting for its next attempt, or being attempted), \`delivered\` (a 2xx answer), \`failed\` ` +
        `(no 2xx after ${WEBHOOK_MAX_ATTEMPTS} attempts over about 25 hours; retry it with POST …/retry).`,
    }),
    attempts: z.number().int(),
    nextAttemptAt: timestamp.nullable(),
    lastStatusCode: z.number().int().nullable().meta({ description: 'The HTTP status of the last answer, if any.' }),
    lastError: z.string().nullable().meta({
      description: '`HTTP 500`, `timeout: …`, `network error: ECONNREFUSED`; null after a success.',
    }),
    createdAt: timestamp,
    deliveredAt: timestamp.nullable(),
  })
  .register(apiComponents, { id: 'WebhookDelivery' });

export const webhookDeliveryListSchema = z
  .object({
    data: z.array(webhookDeliverySchema),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last.' }),
  })
  .register(apiComponents, { id: 'WebhookDeliveryList' });

export const listWebhookDeliveriesQuery = z.strictObject({
  eventId: idSchema('evt', 'an event').optional().meta({ description: 'Only the deliveries of this event.' }),
  endpointId: idSchema('whe', 'a webhook endpoint')
    .optional()
    .meta({ description: 'Only the deliveries to this endpoint.' }),
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
  after: webhookDeliveryIdSchema
    .optional()
    .meta({ description: 'Return deliveries after this cursor: the `nextCursor` of the previous page.' }),
  limit: limitSchema,
});

export const webhookDeliveryParams = z.strictObject({ id: webhookDeliveryIdSchema });

export const WEBHOOK_API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/webhook-deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'The webhook delivery log',
    description:
      "The organisation's webhook deliveries, oldest first: one per event and endpoint that wants it (and, for the " +
      'Default organisation, WEBHOOK_URL), with its attempts, the last HTTP status or error, and when the next ' +
      'attempt is due. Each delivery is a POST of the event as JSON, signed in `Mailbridge-Signature` ' +
      '(`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, a second `v1=` during a secret rotation), with ' +
      '`Mailbridge-Event-Id` and `Mailbridge-Event-Type`. Delivery is at least once: dedupe by event id, and reject ' +
      'signatures older than 5 minutes.',
    authenticated: true,
    query: listWebhookDeliveriesQuery,
    response: { status: 200, description: 'One page of deliveries.', schema: webhookDeliveryListSchema },
    errors: ['REQUEST_INVALID'],
  },
  {
    method: 'post',
    path: '/v1/webhook-deliveries/{id}/retry',
    operationId: 'retryWebhookDelivery',
    summary: 'Send a failed (or delivered) webhook again',
    description:
      'Schedules the delivery for an attempt now, with a fresh retry schedule. A delivered event is sent again ' +
      '(with the same event id). A pending delivery cannot be retried: it is already scheduled.',
    authenticated: true,
    params: webhookDeliveryParams,
    response: { status: 202, description: 'The delivery, now pending.', schema: webhookDeliverySchema },
    errors: ['REQUEST_INVALID', 'WEBHOOK_DELIVERY_NOT_FOUND', 'WEBHOOK_DELIVERY_ALREADY_PENDING'],
  },
];
